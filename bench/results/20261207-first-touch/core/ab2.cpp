// Drift-free A/B in one process: the same image in private anonymous memory and in a shared mapping
// that `kids` other processes have also touched (as the server's pool is), alternating blocks of queries.
#include "driver_data.h"
#include "kyrodb/hnsw.h"
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sys/mman.h>
#include <unistd.h>
#include <signal.h>
using namespace kyrodb; using namespace kyrodb_bench;
static double now(){return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();}
int main(int argc,char**argv){
  int kids=argc>1?atoi(argv[1]):0; int huge=argc>2?atoi(argv[2]):0;
  Dataset d; d.name="syn"; d.dim=128; d.n=1000000; d.queries=synthetic(1000,128,2); d.nq=1000;
  std::ifstream f("/tmp/exp/img1000000_0_0",std::ios::binary); f.seekg(0,std::ios::end); size_t sz=f.tellg(); f.seekg(0);
  uint8_t*a=(uint8_t*)mmap(0,sz,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);
  if(huge) madvise(a,sz,MADV_HUGEPAGE);
  uint8_t*b=(uint8_t*)mmap(0,sz,PROT_READ|PROT_WRITE,MAP_SHARED|MAP_ANONYMOUS,-1,0);
  f.read((char*)a,sz); memcpy(b,a,sz);
  int pp[2]; if(pipe(pp)) return 1; for(int k=0;k<kids;k++) if(fork()==0){ volatile long s=0; for(size_t o=0;o<sz;o+=4096) s+=b[o]; char c=1; if(write(pp[1],&c,1)){} pause(); _exit(0);} 
  for(int k=0;k<kids;k++){ char c; if(read(pp[0],&c,1)!=1) return 1; } sleep(1);
  if(huge){ char l[256]; FILE*m=fopen("/proc/self/smaps_rollup","r"); while(fgets(l,256,m)) if(strstr(l,"AnonHuge")) fputs(l,stdout); fclose(m);} 
  SegmentView sa,sb; std::string err; SegmentView::open(a,sz,&sa,&err); SegmentView::open(b,sz,&sb,&err);
  Searcher s; s.set_use_sq8(false); std::vector<Neighbor> out; double ta=0,tb=0;
  for(int rep=0;rep<12;rep++) for(size_t q0=0;q0<d.nq;q0+=100){
    for(int side=0;side<2;side++){ const SegmentView&sg=side?sb:sa; double t0=now();
      for(size_t q=q0;q<q0+100;q++) s.search(sg,d.query(q),40,nullptr,&out);
      if(rep>=2) (side?tb:ta)+=now()-t0; }
  }
  printf("kids %d huge %d: private %.1f us/q, shared %.1f us/q\n",kids,huge,ta*1e6/10000,tb*1e6/10000);
  fflush(stdout); kill(0,SIGTERM); return 0;
}
