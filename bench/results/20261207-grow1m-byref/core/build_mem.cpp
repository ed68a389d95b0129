// build timing + peak RSS: bb N mode(0 build, 1 extend half)
#include "kyrodb/hnsw.h"
#include <sys/resource.h>
#include <chrono>
#include <cstdio>
#include <random>
#include <cstdlib>
#include <cstring>
using namespace kyrodb;
static long rss_kb(){ FILE*f=fopen("/proc/self/status","r"); char l[256]; long v=0; while(fgets(l,256,f)) if(!strncmp(l,"VmHWM:",6)) v=atol(l+6); fclose(f); return v;}
static void reset_hwm(){ FILE*f=fopen("/proc/self/clear_refs","w"); fputs("5",f); fclose(f);}
int main(int argc,char**argv){
  size_t n=atol(argv[1]); int mode=atoi(argv[2]); bool ref=argc>3&&atoi(argv[3]); unsigned dim=128, r=32;
  std::mt19937_64 g(7); std::normal_distribution<float> nd;
  std::vector<float> M(r*dim); for(auto&x:M)x=nd(g);
  std::vector<float> v(n*dim); std::vector<uint64_t> pay(n);
  for(size_t i=0;i<n;i++){ float z[32]; for(auto&x:z)x=nd(g); for(unsigned j=0;j<dim;j++){float s=0.1f*nd(g); for(unsigned k=0;k<r;k++) s+=z[k]*M[k*dim+j]; v[i*dim+j]=s;} pay[i]=i;}
  BuildParams p{Metric::L2, dim}; p.m=16; p.ef_construction=64; p.vectors_by_reference=ref; printf("ref=%d ",ref);
  auto t0=std::chrono::steady_clock::now();
  std::vector<uint8_t> img;
  if(mode==0){ reset_hwm(); long b=rss_kb(); img=build_segment(p,v.data(),pay.data(),n,nullptr);
    auto t1=std::chrono::steady_clock::now();
    printf("build n=%zu: %.2f s, peak over base %.1f B/elem (estimate %zu)\n",n,std::chrono::duration<double>(t1-t0).count(),(rss_kb()-b)*1024.0/n,build_bytes_per_element(dim,16,Quantization::None,0,ref));
  } else {
    size_t h=n/2; auto base=build_segment(p,v.data(),pay.data(),h,nullptr); SegmentView sv; SegmentView::open(base.data(),base.size(),&sv,nullptr);
    reset_hwm(); long b=rss_kb(); t0=std::chrono::steady_clock::now();
    img=extend_segment(p,sv,v.data()+h*dim,pay.data()+h,n-h,nullptr);
    auto t1=std::chrono::steady_clock::now();
    printf("extend %zu+%zu: %.2f s, peak over base %.1f B/elem total\n",h,n-h,std::chrono::duration<double>(t1-t0).count(),(rss_kb()-b)*1024.0/n);
  }
  // recall check vs brute force on 200 queries
  SegmentView sv; SegmentView::open(img.data(),img.size(),&sv,nullptr); Searcher s; std::vector<Neighbor> out, ex; size_t hit=0;
  for(int q=0;q<200;q++){ std::vector<float> qv(dim); const float*src=&v[(size_t(q)*7919%n)*dim]; for(unsigned j=0;j<dim;j++) qv[j]=src[j]+0.3f*nd(g);
    s.search(sv,qv.data(),40,nullptr,&out); s.exact(sv,qv.data(),nullptr,&ex); for(int a=0;a<10;a++) for(int b2=0;b2<10&&b2<(int)out.size();b2++) if(out[b2].id==ex[a].id){hit++;break;} }
  printf("recall@10 ef40: %.4f\n",hit/2000.0);
}
