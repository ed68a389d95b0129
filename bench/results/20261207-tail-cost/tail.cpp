// A large segment and a tail (1/9 of the rows): level-0 nodes visited in each, recall@10, and one
// segment of all rows for reference. `./tail`: by the tail's beam floor (tail.txt); `./tail radius`:
// beam floor 8, the tail bounded by the large segment's (ef/div)-th distance, at least its 10th,
// instead of its ef-th (tail_radius.txt).
#include "../20261207-even-split/split_images.h"
#include <string>
using namespace split;
int main(int argc,char**argv){
  const bool by_radius = argc>1 && std::string(argv[1])=="radius";
  size_t n=1000000, a=888889;
  Dataset d=synthetic_rows(n); Truth t=truth(d);
  auto i1=image(d,0,n), ia=image(d,0,a), ib=image(d,a,n);
  SegmentView s1,sa,sb; std::string e; SegmentView::open(i1.data(),i1.size(),&s1,&e); SegmentView::open(ia.data(),ia.size(),&sa,&e); SegmentView::open(ib.data(),ib.size(),&sb,&e);
  Searcher s; std::vector<Neighbor> ra,rb;
  // A variant: floor (-1: one segment, 0: the full ef) and div (the radius's rank is ef/div).
  std::vector<std::pair<int,int>> variants;
  if(by_radius) for(int div: {1,2,4}) variants.push_back({8,div});
  else for(int floor: {-1,0,1,2,4,8}) variants.push_back({floor,1});
  for(int ef: {20,30,40,60}) for(auto [floor,div]: variants) {
    size_t hits=0,want=0,va=0,vb=0; std::vector<std::vector<uint32_t>> found(d.nq); double t0=now();
    for(size_t q=0;q<d.nq;q++){
      std::vector<std::pair<float,uint32_t>> all;
      if(floor<0){ s.search(s1,d.query(q),ef,nullptr,&ra); va+=s.visited(); for(auto&y:ra) all.push_back({y.distance,uint32_t(s1.payload(y.id))}); }
      else {
        float cov=s.search(sa,d.query(q),ef,nullptr,&ra); va+=s.visited();
        size_t j=std::max<size_t>(ef/div,10); float rad = j>=ra.size()? cov : std::min(cov, ra[j-1].distance);
        for(auto&y:ra) all.push_back({y.distance,uint32_t(sa.payload(y.id))});
        size_t share=(size_t(ef)*(n-a)+a-1)/a; size_t beam=floor==0? ef : std::min<size_t>(ef,std::max<size_t>(share,floor));
        s.search(sb,d.query(q),ef,nullptr,&rb,rad,beam); vb+=s.visited();
        for(auto&y:rb) all.push_back({y.distance,uint32_t(sb.payload(y.id))});
      }
      std::sort(all.begin(),all.end()); for(size_t i=0;i<all.size()&&i<10;i++) found[q].push_back(all[i].second);
    }
    double el=now()-t0; for(size_t q=0;q<d.nq;q++) score(d,t,q,found[q],10,&hits,&want);
    std::string name = by_radius ? "radius_ef/"+std::to_string(div) : floor<0?"one":floor==0?"fullbeam":"floor"+std::to_string(floor);
    printf("ef %3d %-8s recall %.4f visited big %.0f tail %.0f us/q %.1f\n",ef,name.c_str(),double(hits)/want,double(va)/d.nq,double(vb)/d.nq,el*1e6/d.nq); fflush(stdout);
  }
}
