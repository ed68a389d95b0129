#include "driver_data.h"  // bench/
#include "kyrodb/hnsw.h"
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>
using namespace kyrodb; using namespace kyrodb_bench;
static double now(){return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();}
int main(int argc,char**argv){
  size_t n = argc>1? strtoull(argv[1],0,10):1000000;
  int reorder = argc>2? atoi(argv[2]):0;
  Dataset d; d.name="syn"; d.dim=128; d.n=n; d.rows=synthetic(n,128,1); d.queries=synthetic(1000,128,2); d.nq=1000;
  std::vector<uint64_t> pay(n); for(size_t i=0;i<n;i++) pay[i]=i+1;
  std::vector<float> built = d.rows;
  if(reorder){
    double t0=now();
    const size_t K=reorder; std::vector<const float*> cen(K); std::mt19937_64 r(7);
    for(size_t k=0;k<K;k++) cen[k]=d.row(1+r()%n);
    std::vector<uint32_t> cell(n);
    auto work=[&](size_t part){ for(size_t i=part;i<n;i+=2){ float best=1e30; uint32_t bk=0; for(size_t k=0;k<K;k++){ float dd=kernels().l2_squared(d.row(i+1),cen[k],128); if(dd<best){best=dd;bk=k;} } cell[i]=bk; } };
    std::thread a(work,0), b(work,1); a.join(); b.join();
    std::vector<uint32_t> perm(n); for(size_t i=0;i<n;i++) perm[i]=i;
    std::stable_sort(perm.begin(),perm.end(),[&](uint32_t x,uint32_t y){return cell[x]<cell[y];});
    for(size_t i=0;i<n;i++){ pay[i]=perm[i]+1; std::copy(d.row(perm[i]+1),d.row(perm[i]+1)+128,&built[i*128]); }
    fprintf(stderr,"reorder %.1fs\n",now()-t0);
  }
  Truth t; std::string tp="/tmp/exp/truth"+std::to_string(n);
  if(!load_truth(tp,d,10,&t)){ t=brute_force(d,10,[](size_t,uint32_t){return true;}); save_truth(tp,t,d.nq);}
  std::vector<uint8_t> img; std::string ip="/tmp/exp/img"+std::to_string(n)+"_"+std::to_string(reorder)+"_"+(getenv("KX_REORDER")?getenv("KX_REORDER"):"0");
  { std::ifstream f(ip,std::ios::binary); if(f){ f.seekg(0,std::ios::end); img.resize(f.tellg()); f.seekg(0); f.read((char*)img.data(),img.size()); } }
  if(img.empty()){
    BuildParams p; p.metric=kyrodb::Metric::L2; p.dim=128; p.threads=2; p.quantization=Quantization::SQ8;
    double t0=now(); img=build_segment(p,built.data(),pay.data(),n,nullptr); fprintf(stderr,"build %.1fs\n",now()-t0);
    std::ofstream f(ip,std::ios::binary); f.write((char*)img.data(),img.size());
  }
  SegmentView seg; std::string err; if(!SegmentView::open(img.data(),img.size(),&seg,&err)){fprintf(stderr,"%s\n",err.c_str());return 1;}
  Searcher s; std::vector<Neighbor> out;
  int efs[]={20,30,40,60,80};
  for(int rep=0;rep<3;rep++) for(int ef: efs) for(int mode=0;mode<2;mode++){
    s.set_use_sq8(mode==1);
    size_t hits=0,want=0,vis=0; double t0=now();
    std::vector<std::vector<uint32_t>> found(d.nq);
    for(size_t q=0;q<d.nq;q++){ s.search(seg,d.query(q),ef,nullptr,&out); vis+=s.visited();
      for(size_t i=0;i<out.size()&&i<10;i++) found[q].push_back(uint32_t(seg.payload(out[i].id))); }
    double el=now()-t0;
    for(size_t q=0;q<d.nq;q++) score(d,t,q,found[q],10,&hits,&want);
    printf("rep %d ef %3d %s recall %.4f us/q %.1f visited %.0f\n",rep,ef,mode?"sq8 ":"none",double(hits)/want,el*1e6/d.nq,double(vis)/d.nq);
  }
}
