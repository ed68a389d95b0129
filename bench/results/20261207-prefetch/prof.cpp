#include "driver_data.h"
#include "kyrodb/hnsw.h"
#include <chrono>
#include <cstdio>
#include <fstream>
using namespace kyrodb; using namespace kyrodb_bench;
int main(int argc,char**argv){
  size_t n=strtoull(argv[1],0,10); int ef=atoi(argv[2]); int reps=atoi(argv[3]); bool sq=argc>4;
  std::string ip=getenv("IMG")?getenv("IMG"):"/tmp/exp/img"+std::to_string(n)+"_0_0";  // IMG: another image (../20261207-graph-order)
  std::vector<uint8_t> img; { std::ifstream f(ip,std::ios::binary); f.seekg(0,std::ios::end); img.resize(f.tellg()); f.seekg(0); f.read((char*)img.data(),img.size()); }
  auto qs=synthetic(1000,128,2);
  SegmentView seg; std::string err; if(!SegmentView::open(img.data(),img.size(),&seg,&err)){fprintf(stderr,"%s\n",err.c_str());return 1;}
  Searcher s; s.set_use_sq8(sq); std::vector<Neighbor> out; size_t vis=0;
  auto t0=std::chrono::steady_clock::now();
  for(int r=0;r<reps;r++) for(size_t q=0;q<1000;q++){ s.search(seg,&qs[q*128],ef,nullptr,&out); vis+=s.visited(); }
  double el=std::chrono::duration<double>(std::chrono::steady_clock::now()-t0).count();
  printf("%.1f us/q, %.1f ns/visited\n", el*1e6/reps/1000, el*1e9/vis);
}
