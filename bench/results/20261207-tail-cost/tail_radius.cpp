// A large segment and a tail (1/9 of the rows): level-0 nodes visited in each, recall@10, by the
// tail's beam floor; and one segment of all rows for reference.
#include "driver_data.h"
#include "kyrodb/hnsw.h"
#include <chrono>
#include <cstdio>
#include <fstream>
using namespace kyrodb; using namespace kyrodb_bench;
static double now(){return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();}
static std::vector<uint8_t> image(const std::string &path, const Dataset &d, size_t from, size_t to){
  std::vector<uint8_t> img; std::ifstream f(path,std::ios::binary);
  if(f){ f.seekg(0,std::ios::end); img.resize(f.tellg()); f.seekg(0); f.read((char*)img.data(),img.size()); return img; }
  std::vector<uint64_t> pay(to-from); for(size_t i=from;i<to;i++) pay[i-from]=i+1;
  BuildParams p; p.metric=kyrodb::Metric::L2; p.dim=128; p.threads=2; p.graph_order=true;
  img=build_segment(p,d.row(from+1),pay.data(),to-from,nullptr);
  std::ofstream o(path,std::ios::binary); o.write((char*)img.data(),img.size()); return img;
}
int main(){
  size_t n=1000000, a=888889;
  Dataset d; d.name="syn"; d.dim=128; d.n=n; d.rows=synthetic(n,128,1); d.queries=synthetic(1000,128,2); d.nq=1000;
  Truth t; if(!load_truth("/tmp/split/truth1000000",d,10,&t) && !load_truth("/tmp/exp/truth1000000",d,10,&t)) return 1;
  auto i1=image("/tmp/split/seg_0_1000000",d,0,n), ia=image("/tmp/split/seg_0_888889",d,0,a), ib=image("/tmp/split/seg_888889_1000000",d,a,n);
  SegmentView s1,sa,sb; std::string e; SegmentView::open(i1.data(),i1.size(),&s1,&e); SegmentView::open(ia.data(),ia.size(),&sa,&e); SegmentView::open(ib.data(),ib.size(),&sb,&e);
  Searcher s; std::vector<Neighbor> ra,rb;
  for(int ef: {20,30,40,60}) for(int div: {1,2,4}) { int floor=8;
    size_t hits=0,want=0,va=0,vb=0; std::vector<std::vector<uint32_t>> found(d.nq); double t0=now();
    for(size_t q=0;q<d.nq;q++){
      std::vector<std::pair<float,uint32_t>> all;
      if(floor<0){ s.search(s1,d.query(q),ef,nullptr,&ra); va+=s.visited(); for(auto&y:ra) all.push_back({y.distance,uint32_t(s1.payload(y.id))}); }
      else {
        float cov=s.search(sa,d.query(q),ef,nullptr,&ra); va+=s.visited(); size_t j=std::max<size_t>(ef/div,10); float rad = j>=ra.size()? cov : std::min(cov, ra[j-1].distance);
        for(auto&y:ra) all.push_back({y.distance,uint32_t(sa.payload(y.id))});
        size_t share=(size_t(ef)*(n-a)+a-1)/a; size_t beam=floor==0? ef : std::min<size_t>(ef,std::max<size_t>(share,floor));
        s.search(sb,d.query(q),ef,nullptr,&rb,rad,beam); vb+=s.visited();
        for(auto&y:rb) all.push_back({y.distance,uint32_t(sb.payload(y.id))});
      }
      std::sort(all.begin(),all.end()); for(size_t i=0;i<all.size()&&i<10;i++) found[q].push_back(all[i].second);
    }
    double el=now()-t0; for(size_t q=0;q<d.nq;q++) score(d,t,q,found[q],10,&hits,&want);
    printf("ef %3d %-8s recall %.4f visited big %.0f tail %.0f us/q %.1f\n",ef,("radius_ef/"+std::to_string(div)).c_str(),double(hits)/want,double(va)/d.nq,double(vb)/d.nq,el*1e6/d.nq); fflush(stdout);
  }
}
