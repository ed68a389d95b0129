// Interleaved A/B of two splits of the same n rows: layout X (a rows + rest) and Y (b rows + rest),
// each searched as the server does (second segment bounded by the first's covered distance, beam by
// secondary_beam). Prints recall, us/query, visited per ef, alternating X and Y, several rounds.
#include "split_images.h"
using namespace split;
struct Layout { size_t a; std::vector<uint8_t> ia, ib; SegmentView sa, sb; };
int main(int argc,char**argv){
  size_t n=strtoull(argv[1],0,10); int rounds=atoi(argv[4]);
  Dataset d=synthetic_rows(n); Truth t=truth(d);
  Layout L[2]; L[0].a=strtoull(argv[2],0,10); L[1].a=strtoull(argv[3],0,10);
  for(auto &l: L){ l.ia=image(d,0,l.a); l.ib=image(d,l.a,n);
    std::string e; SegmentView::open(l.ia.data(),l.ia.size(),&l.sa,&e); SegmentView::open(l.ib.data(),l.ib.size(),&l.sb,&e); }
  Searcher s; std::vector<Neighbor> ra,rb;
  int efs[]={20,30,40,50,60,80,100};
  for(int r=0;r<rounds;r++) for(int ef: efs) for(int x=0;x<2;x++){
    Layout &l=L[(x+r)%2];
    size_t hits=0,want=0,vis=0; double t0=now(); std::vector<std::vector<uint32_t>> found(d.nq);
    for(size_t q=0;q<d.nq;q++){
      float cov=s.search(l.sa,d.query(q),ef,nullptr,&ra); vis+=s.visited();
      std::vector<std::pair<float,uint32_t>> all; for(auto&y:ra) all.push_back({y.distance,uint32_t(l.sa.payload(y.id))});
      s.search(l.sb,d.query(q),ef,nullptr,&rb,cov,secondary_beam(ef,n-l.a,l.a)); vis+=s.visited();
      for(auto&y:rb) all.push_back({y.distance,uint32_t(l.sb.payload(y.id))});
      std::sort(all.begin(),all.end()); for(size_t i=0;i<all.size()&&i<10;i++) found[q].push_back(all[i].second);
    }
    double el=now()-t0; for(size_t q=0;q<d.nq;q++) score(d,t,q,found[q],10,&hits,&want);
    printf("round %d a %zu ef %3d recall %.4f us/q %.1f visited %.0f\n",r,l.a,ef,double(hits)/want,el*1e6/d.nq,double(vis)/d.nq); fflush(stdout);
  }
}
