// Segment images and truth for the split experiments (split.cpp, ab.cpp, ../20261207-tail-cost/):
// the DATA.md synthetic rows (seed 1) and 1,000 queries (seed 2), images and truth under /tmp/split/.
#pragma once
#include "driver_data.h"
#include "kyrodb/hnsw.h"
#include <chrono>
#include <cstdio>
#include <fstream>

namespace split {
using namespace kyrodb; using namespace kyrodb_bench;
inline double now(){return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();}
inline Dataset synthetic_rows(size_t n){ Dataset d; d.name="syn"; d.dim=128; d.n=n; d.rows=synthetic(n,128,1); d.queries=synthetic(1000,128,2); d.nq=1000; return d; }
inline Truth truth(const Dataset &d){
  Truth t; std::string tp="/tmp/split/truth"+std::to_string(d.n);
  if(!load_truth(tp,d,10,&t)){ t=brute_force(d,10,[](size_t,uint32_t){return true;}); save_truth(tp,t,d.nq); }
  return t;
}
// Rows [from, to) of n: the image of a first segment (from 0) or of the rest, built (graph order,
// 2 threads, m 16, ef_construction 64) and saved when not there yet.
inline std::vector<uint8_t> image(const Dataset &d, size_t from, size_t to){
  std::string path= from==0 ? "/tmp/split/seg_0_"+std::to_string(to)+"_of_"+std::to_string(d.n) : "/tmp/split/seg_"+std::to_string(from)+"_"+std::to_string(to);
  std::vector<uint8_t> img; std::ifstream f(path,std::ios::binary);
  if(f){ f.seekg(0,std::ios::end); img.resize(f.tellg()); f.seekg(0); f.read((char*)img.data(),img.size()); return img; }
  std::vector<uint64_t> pay(to-from); for(size_t i=from;i<to;i++) pay[i-from]=i+1;
  BuildParams p; p.metric=kyrodb::Metric::L2; p.dim=128; p.threads=2; p.graph_order=true;
  double t0=now(); img=build_segment(p,d.row(from+1),pay.data(),to-from,nullptr); fprintf(stderr,"build %zu %.1fs\n",to-from,now()-t0);
  std::ofstream o(path,std::ios::binary); o.write((char*)img.data(),img.size()); return img;
}
}  // namespace split
