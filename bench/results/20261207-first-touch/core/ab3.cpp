// Drift-free, in one process: what a pause between queries does to the next walk. Between queries:
// 0 nothing, 1 sleep 100 us (the vCPU may halt, as a backend's does while its client works),
// 2 spin 100 us (the CPU stays busy). Blocks of 100 queries, the three alternating.
#include "driver_data.h"
#include "kyrodb/hnsw.h"
#include <chrono>
#include <cstdio>
#include <fstream>
#include <time.h>
using namespace kyrodb; using namespace kyrodb_bench;
static double now(){return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();}
int main(){
  Dataset d; d.name="syn"; d.dim=128; d.n=1000000; d.queries=synthetic(1000,128,2); d.nq=1000;
  std::ifstream f("/tmp/exp/img1000000_0_0",std::ios::binary); f.seekg(0,std::ios::end); size_t sz=f.tellg(); f.seekg(0);
  std::vector<uint8_t> img(sz); f.read((char*)img.data(),sz);
  SegmentView sg; std::string err; SegmentView::open(img.data(),sz,&sg,&err);
  Searcher s; s.set_use_sq8(false); std::vector<Neighbor> out; double t[3]={0,0,0};
  const char*names[3]={"back to back","sleep 100us","spin 100us"};
  for(int rep=0;rep<8;rep++) for(size_t q0=0;q0<d.nq;q0+=100) for(int m=0;m<3;m++){
    double acc=0;
    for(size_t q=q0;q<q0+100;q++){
      if(m==1){ timespec ts{0,100000}; nanosleep(&ts,nullptr);} else if(m==2){ double e=now()+100e-6; while(now()<e){} }
      double a=now(); s.search(sg,d.query(q),40,nullptr,&out); acc+=now()-a; }
    if(rep>=1) t[m]+=acc; }
  for(int m=0;m<3;m++) printf("%-13s %.1f us/q\n",names[m],t[m]*1e6/7000);
}
