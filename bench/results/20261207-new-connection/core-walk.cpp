// Walk speed on the 1 M x 128 image: steady (one Searcher, blocks of 100 queries at ef 40 and 200)
// and a new Searcher's first search (its marks allocated then), for A/B builds of the core.
#include "driver_data.h"
#include "kyrodb/hnsw.h"
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
using namespace kyrodb; using namespace kyrodb_bench;
static double now(){return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();}
int main(int argc,char**argv){
  double secs=argc>1?atof(argv[1]):3;
  Dataset d; d.name="syn"; d.dim=128; d.n=1000000; d.queries=synthetic(1000,128,2); d.nq=1000;
  std::ifstream f("/tmp/exp/img1000000_0_0",std::ios::binary); f.seekg(0,std::ios::end); size_t sz=f.tellg(); f.seekg(0);
  uint8_t*a=(uint8_t*)aligned_alloc(64,(sz+63)/64*64); f.read((char*)a,sz);
  SegmentView sv; std::string err; if(!SegmentView::open(a,sz,&sv,&err)){puts(err.c_str());return 1;}
  Searcher s; s.set_use_sq8(false); std::vector<Neighbor> out;
  for(size_t q=0;q<d.nq;q++) s.search(sv,d.query(q),200,nullptr,&out);  // warm the image
  for(int ef: {40,200}){ size_t n=0; double t0=now(); while(now()-t0<secs){ for(size_t q=0;q<100;q++) s.search(sv,d.query((n+q)%d.nq),ef,nullptr,&out); n+=100; }
    printf("ef %d: %.1f us/q  ", ef, (now()-t0)*1e6/n); }
  double tf=0; for(int k=0;k<50;k++){ auto ns=std::make_unique<Searcher>(); ns->set_use_sq8(false); double t0=now(); ns->search(sv,d.query(k),40,nullptr,&out); tf+=now()-t0; }
  printf("new searcher's first search: %.1f us\n", tf*1e6/50);
}
