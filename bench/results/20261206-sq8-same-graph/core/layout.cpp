#include "driver_data.h"  // bench/
#include "kyrodb/hnsw.h"
#include <chrono>
#include <cstdio>
#include <fstream>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>
#include <signal.h>
using namespace kyrodb; using namespace kyrodb_bench;
static double now(){return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();}
struct N { float d; uint32_t id; };
struct MinC { bool operator()(const N&a,const N&b)const{return a.d>b.d;} };
struct MaxR { bool operator()(const N&a,const N&b)const{return a.d<b.d;} };
static inline void pf(const void*p,size_t bytes){ const char*c=(const char*)p; for(size_t o=0;o<bytes;o+=64) __builtin_prefetch(c+o); }

template<class L>
void search(const SegmentView&seg,L&lay,const float*q,size_t ef,std::vector<uint16_t>&vis,uint16_t ep,std::vector<N>&res){
  // descent on floats
  uint32_t cur=seg.header().entry_point; float cd=kernels().l2_squared(q,seg.vector(cur),128);
  for(int lv=seg.header().max_level;lv>0;lv--){ for(bool ch=true;ch;){ch=false; uint32_t n; const uint32_t*ids=seg.neighbours(cur,lv,&n);
    for(uint32_t j=0;j<n;j++){ float d=kernels().l2_squared(q,seg.vector(ids[j]),128); if(d<cd){cd=d;cur=ids[j];ch=true;} } } }
  lay.prepare(q);
  cd=lay.dist(cur);
  std::vector<N> cand; res.clear(); cand.push_back({cd,cur}); res.push_back({cd,cur}); vis[cur]=ep; float bound=cd;
  uint32_t batch[64];
  while(!cand.empty()){
    N c=cand.front(); if(c.d>bound && res.size()>=ef) break;
    std::pop_heap(cand.begin(),cand.end(),MinC()); cand.pop_back();
    uint32_t n; const uint32_t*ids=lay.list(c.id,&n); uint32_t nb=0;
    for(uint32_t j=0;j<n;j++){ uint32_t id=ids[j]; if(vis[id]==ep) continue; vis[id]=ep; batch[nb++]=id; lay.prefetch(id); }
    if(!cand.empty()) lay.prefetch_list(cand.front().id);
    for(uint32_t j=0;j<nb;j++){ uint32_t id=batch[j]; float d=lay.dist(id);
      if(res.size()<ef||d<bound){ cand.push_back({d,id}); std::push_heap(cand.begin(),cand.end(),MinC());
        res.push_back({d,id}); std::push_heap(res.begin(),res.end(),MaxR()); if(res.size()>ef){std::pop_heap(res.begin(),res.end(),MaxR()); res.pop_back();} bound=res.front().d; } }
  }
  if(!lay.exact){ for(auto&r:res) pf(seg.vector(r.id),512); for(auto&r:res) r.d=kernels().l2_squared(q,seg.vector(r.id),128); }
  std::sort(res.begin(),res.end(),[](const N&a,const N&b){return a.d<b.d||(a.d==b.d&&a.id<b.id);});
}
struct SepF { const SegmentView&s; const float*q=nullptr; bool exact=true;
  void prepare(const float*qq){q=qq;} float dist(uint32_t i)const{return kernels().l2_squared(q,s.vector(i),128);}
  const uint32_t*list(uint32_t i,uint32_t*n)const{return s.neighbours(i,0,n);} void prefetch(uint32_t i)const{pf(s.vector(i),512);}
  void prefetch_list(uint32_t i)const{uint32_t n; __builtin_prefetch(s.neighbours(i,0,&n));} };
struct SepQ { const SegmentView&s; std::vector<float> p; bool exact=false;
  void prepare(const float*q){p.resize(128); for(int j=0;j<128;j++) p[j]=q[j]-s.sq8_lo()[j];}
  float dist(uint32_t i)const{return kernels().sq8_l2_squared(p.data(),s.sq8_step(),s.sq8_codes(i),128);}
  const uint32_t*list(uint32_t i,uint32_t*n)const{return s.neighbours(i,0,n);} void prefetch(uint32_t i)const{pf(s.sq8_codes(i),128);}
  void prefetch_list(uint32_t i)const{uint32_t n; __builtin_prefetch(s.neighbours(i,0,&n));} };
// interleaved: [list 33 u32 padded to 192 B][payload bytes]
struct IntF { const SegmentView&s; uint8_t*b; size_t stride; const float*q=nullptr; bool exact=true;
  void prepare(const float*qq){q=qq;} float dist(uint32_t i)const{return kernels().l2_squared(q,(const float*)(b+i*stride+192),128);}
  const uint32_t*list(uint32_t i,uint32_t*n)const{const uint32_t*l=(const uint32_t*)(b+i*stride); *n=l[0]; return l+1;}
  void prefetch(uint32_t i)const{pf(b+i*stride+192,512);} void prefetch_list(uint32_t i)const{pf(b+i*stride,192);} };
struct IntQ { const SegmentView&s; uint8_t*b; size_t stride; std::vector<float> p; bool exact=false;
  void prepare(const float*q){p.resize(128); for(int j=0;j<128;j++) p[j]=q[j]-s.sq8_lo()[j];}
  float dist(uint32_t i)const{return kernels().sq8_l2_squared(p.data(),s.sq8_step(),b+i*stride+192,128);}
  const uint32_t*list(uint32_t i,uint32_t*n)const{const uint32_t*l=(const uint32_t*)(b+i*stride); *n=l[0]; return l+1;}
  void prefetch(uint32_t i)const{pf(b+i*stride+192,128);} void prefetch_list(uint32_t i)const{pf(b+i*stride,192);} };

int main(int argc,char**argv){
  size_t n=1000000; bool huge=false; int mode=argc>1?atoi(argv[1]):0;
  Dataset d; d.name="syn"; d.dim=128; d.n=n; d.rows=synthetic(n,128,1); d.queries=synthetic(1000,128,2); d.nq=1000;
  Truth t; load_truth("/tmp/exp/truth1000000",d,10,&t);
  std::ifstream f("/tmp/exp/img1000000_0_0",std::ios::binary); f.seekg(0,std::ios::end); size_t sz=f.tellg(); f.seekg(0);
  uint8_t*img=(uint8_t*)mmap(0,sz,PROT_READ|PROT_WRITE,(mode&1?MAP_SHARED:MAP_PRIVATE)|MAP_ANONYMOUS,-1,0); if(huge) madvise(img,sz,MADV_HUGEPAGE); f.read((char*)img,sz);
  SegmentView seg; std::string err; SegmentView::open(img,sz,&seg,&err);
  size_t sF=704,sQ=320; uint8_t*bF=(uint8_t*)mmap(0,n*sF,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0); uint8_t*bQ=(uint8_t*)mmap(0,n*sQ,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);
  if(huge){madvise(bF,n*sF,MADV_HUGEPAGE);madvise(bQ,n*sQ,MADV_HUGEPAGE);}
  for(uint32_t i=0;i<n;i++){ uint32_t k; const uint32_t*ids=seg.neighbours(i,0,&k);
    for(uint8_t*b:{bF+i*sF,bQ+i*sQ}){ uint32_t*l=(uint32_t*)b; l[0]=k; memcpy(l+1,ids,k*4);} memcpy(bF+i*sF+192,seg.vector(i),512); memcpy(bQ+i*sQ+192,seg.sq8_codes(i),128); }
  int p1[2],p2[2]; pipe(p1); pipe(p2); std::vector<char> junk(4<<20,1);
  if((mode&2) && fork()==0){ char c; while(read(p1[0],&c,1)==1){ long s=0; for(size_t i=0;i<junk.size();i+=64) s+=junk[i]; junk[s&1023]++; write(p2[1],&c,1);} _exit(0);} 
  if((mode&1) && fork()==0){ sleep(100000); _exit(0);} // share the mapping with another process
  std::vector<uint16_t> vis(n,0); uint16_t ep=0; std::vector<N> res;
  SepF a{seg}; SepQ b{seg}; IntF c{seg,bF,sF}; IntQ e{seg,bQ,sQ};
  auto run=[&](const char*name,auto&lay,size_t ef){ size_t hits=0,want=0; double t0=now(); std::vector<std::vector<uint32_t>> fo(d.nq);
    for(size_t q=0;q<d.nq;q++){ if(++ep==0){std::fill(vis.begin(),vis.end(),0);ep=1;} if(mode&2){char c=1; write(p1[1],&c,1); read(p2[0],&c,1);} search(seg,lay,d.query(q),ef,vis,ep,res); for(size_t i=0;i<res.size()&&i<10;i++) fo[q].push_back(seg.payload(res[i].id)); }
    double el=now()-t0; for(size_t q=0;q<d.nq;q++) score(d,t,q,fo[q],10,&hits,&want);
    printf("%s ef %3zu recall %.4f us/q %.1f\n",name,ef,double(hits)/want,el*1e6/d.nq); };
  for(int rep=0;rep<3;rep++) for(size_t ef:{40}){ run("sepF",a,ef); run("sepQ",b,ef);}
  fflush(stdout); kill(0,SIGTERM); 
}
