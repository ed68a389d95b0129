// Why does the server walk cost more than the core's? Same image, same Searcher, varying what the
// server adds: a MAP_SHARED mapping shared with another process, and a process switch per query.
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
  int mode=argc>1?atoi(argv[1]):0; size_t pollute=argc>2?strtoull(argv[2],0,10)<<10:0; int ef=argc>3?atoi(argv[3]):40;
  size_t n=1000000; Dataset d; d.name="syn"; d.dim=128; d.n=n; d.queries=synthetic(1000,128,2); d.nq=1000;
  std::ifstream f("/tmp/exp/img1000000_0_0",std::ios::binary); f.seekg(0,std::ios::end); size_t sz=f.tellg(); f.seekg(0);
  uint8_t*img=(uint8_t*)mmap(0,sz,PROT_READ|PROT_WRITE,((mode&1)?MAP_SHARED:MAP_PRIVATE)|MAP_ANONYMOUS,-1,0);
  f.read((char*)img,sz);
  SegmentView seg; std::string err; if(!SegmentView::open(img,sz,&seg,&err)){fprintf(stderr,"%s\n",err.c_str());return 1;}
  if((mode&1) && fork()==0){ // another process maps (and touched) the same pages, as the postmaster's children do
    volatile long s=0; for(size_t o=0;o<sz;o+=4096) s+=img[o]; pause(); _exit(0);} 
  int p1[2],p2[2]; if(pipe(p1)||pipe(p2)) return 1; 
  if((mode&2) && fork()==0){ std::vector<char> junk(pollute+64,1); char c; while(read(p1[0],&c,1)==1){ long s=0; for(size_t i=0;i<pollute;i+=64) s+=junk[i]; junk[s&63]++; if(write(p2[1],&c,1)!=1)break;} _exit(0);} 
  Searcher s; s.set_use_sq8(false); std::vector<Neighbor> out;
  for(int rep=0;rep<4;rep++){
    double t0=now(), ts=0; 
    for(size_t q=0;q<d.nq;q++){ if(mode&2){char c=1; if(write(p1[1],&c,1)!=1||read(p2[0],&c,1)!=1) return 1;} double a=now(); s.search(seg,d.query(q),ef,nullptr,&out); ts+=now()-a; }
    double el=now()-t0;
    if(rep) printf("mode %d pollute %zuk ef %d search us/q %.1f (wall %.1f)\n",mode,pollute>>10,ef,ts*1e6/d.nq,el*1e6/d.nq);
  }
  fflush(stdout); kill(0,SIGTERM); return 0;
}
