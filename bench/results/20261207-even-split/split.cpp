// Two segments (A rows, then n-A rows) searched as the server does: A with ef, B bounded by A's
// covered distance with beam = formula. Recall@10 of the merge and us per query.
// ./split A [N]: N rows (1,000,000), the first A in the first segment. At 1 M it runs every ef twice
// with the three beams (`1m-*.txt`); otherwise once with the scan's beam (the images and truth
// ab.cpp reads).
#include "split_images.h"
#include <cmath>
using namespace split;
int main(int argc,char**argv){
  size_t a=strtoull(argv[1],0,10), n=argc>2?strtoull(argv[2],0,10):1000000; const bool one_m=n==1000000;
  Dataset d=synthetic_rows(n); Truth t=truth(d);
  auto ia=image(d,0,a);
  std::vector<uint8_t> ib; if(a<n) ib=image(d,a,n);
  SegmentView sa,sb; std::string err; SegmentView::open(ia.data(),ia.size(),&sa,&err); if(a<n) SegmentView::open(ib.data(),ib.size(),&sb,&err);
  Searcher s; std::vector<Neighbor> ra,rb;
  const char* names[]={"linear","sqrt","full"};
  std::vector<int> efs=one_m?std::vector<int>{20,40,80,120,160,200,300}:std::vector<int>{20,40,60,80,120,160,200};
  int modes = a<n&&one_m?3:1;
  for(int rep=0;rep<(one_m?2:1);rep++) for(int ef: efs) for(int mode=0;mode<modes;mode++){
    size_t hits=0,want=0,vis=0; double t0=now();
    std::vector<std::vector<uint32_t>> found(d.nq);
    for(size_t q=0;q<d.nq;q++){
      float cov=s.search(sa,d.query(q),ef,nullptr,&ra); vis+=s.visited();
      std::vector<std::pair<float,uint32_t>> all; for(auto&x:ra) if(x.distance<=cov) all.push_back({x.distance,uint32_t(sa.payload(x.id))});
      if(a<n){
        double share=double(n-a)/a; size_t beam = mode==0? secondary_beam(ef,n-a,a) : mode==1? std::min<size_t>(ef,std::max<size_t>(8,size_t(std::ceil(ef*std::sqrt(share))))) : ef;
        s.search(sb,d.query(q),ef,nullptr,&rb,cov,beam); vis+=s.visited();
        for(auto&x:rb) all.push_back({x.distance,uint32_t(sb.payload(x.id))});
      }
      std::sort(all.begin(),all.end());
      for(size_t i=0;i<all.size()&&i<10;i++) found[q].push_back(all[i].second);
    }
    double el=now()-t0;
    for(size_t q=0;q<d.nq;q++) score(d,t,q,found[q],10,&hits,&want);
    printf("a %zu rep %d ef %3d %-6s recall %.4f us/q %.1f visited %.0f\n",a,rep,ef,a<n?names[mode]:"one",double(hits)/want,el*1e6/d.nq,double(vis)/d.nq);
    fflush(stdout);
  }
}
