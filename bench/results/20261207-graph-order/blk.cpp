#include "kyrodb/hnsw.h"
#include <cstdio>
#include <fstream>
#include <set>
using namespace kyrodb;
int main(int argc,char**argv){
  std::vector<uint8_t> img; { std::ifstream f(argv[1],std::ios::binary); f.seekg(0,std::ios::end); img.resize(f.tellg()); f.seekg(0); f.read((char*)img.data(),img.size()); }
  SegmentView seg; std::string err; if(!SegmentView::open(img.data(),img.size(),&seg,&err)){fprintf(stderr,"%s\n",err.c_str());return 1;}
  double sum=0, sum8=0, self=0; for(uint32_t i=0;i<seg.count();i++){ uint32_t k; const uint32_t*ids=seg.neighbours(i,0,&k); std::set<uint32_t> b,b8; for(uint32_t t=0;t<k;t++){b.insert(ids[t]/32); b8.insert(ids[t]/8); if(ids[t]/32==i/32) self++;} sum+=b.size(); sum8+=b8.size(); }
  printf("%s: blocks32 %.2f blocks8 %.2f same-block-as-self %.3f per list\n",argv[1],sum/seg.count(),sum8/seg.count(),self/seg.count());
}
