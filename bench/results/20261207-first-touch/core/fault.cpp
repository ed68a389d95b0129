// A backend sees the pool as a shared mapping whose pages it has not touched: every first touch of a
// 4 kB page is a minor fault. Parent fills a MAP_SHARED image; a forked child (as a backend) runs
// 1,000 queries twice, either straight away or after preparing the image: `./fault` with
// madvise(MADV_POPULATE_READ) (fault.txt), `./fault touch` by reading one byte of every 4 kB page
// (touch.txt).
#include "driver_data.h"
#include "kyrodb/hnsw.h"
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
using namespace kyrodb; using namespace kyrodb_bench;
static double now(){return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();}
static long minflt(){ rusage r; getrusage(RUSAGE_SELF,&r); return r.ru_minflt; }
int main(int argc,char**argv){
  const bool touch=argc>1&&!strcmp(argv[1],"touch");
  Dataset d; d.name="syn"; d.dim=128; d.n=1000000; d.queries=synthetic(1000,128,2); d.nq=1000;
  std::ifstream f("/tmp/exp/img1000000_0_0",std::ios::binary); f.seekg(0,std::ios::end); size_t sz=f.tellg(); f.seekg(0);
  uint8_t*b=(uint8_t*)mmap(0,sz,PROT_READ|PROT_WRITE,MAP_SHARED|MAP_ANONYMOUS,-1,0); f.read((char*)b,sz);
  for(int round=0;round<2;round++) for(int pop=0;pop<2;pop++){
    if(fork()==0){
      SegmentView sg; std::string err; SegmentView::attach(b,sz,&sg,&err);
      Searcher s; s.set_use_sq8(false); std::vector<Neighbor> out;
      long f0=minflt(); double t0=now();
      if(pop&&touch){ volatile uint8_t x=0; for(size_t o=0;o<sz;o+=4096) x+=b[o]; }
      else if(pop){ if(madvise(b,sz,MADV_POPULATE_READ)) perror("madvise"); }
      double tp=now()-t0; long fp=minflt()-f0;
      for(int pass=0;pass<2;pass++){ long f1=minflt(); double t1=now(), worst=0;
        for(size_t q=0;q<d.nq;q++){ double a=now(); s.search(sg,d.query(q),40,nullptr,&out); worst=std::max(worst,now()-a);} 
        printf("%s pass %d: %.1f us/q, worst %.0f us, %.0f faults/q%s\n", pop?(touch?"touched  ":"populated"):"as is    ", pass+1,(now()-t1)*1e6/d.nq, worst*1e6, double(minflt()-f1)/d.nq,
               pass==0&&pop? ((touch?" (touch: ":" (populate: ")+std::to_string(int(tp*1000))+" ms, "+std::to_string(fp)+" faults)").c_str():""); }
      fflush(stdout); _exit(0);
    }
    wait(nullptr);
  }
}
