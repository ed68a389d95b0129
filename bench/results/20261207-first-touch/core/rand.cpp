// Random 64-byte reads over a shared anonymous region of S GB, every page touched first: ns per read,
// pass after pass. Does a large region stay slow after its first touch (shadow paging capacity)?
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <random>
#include <sys/mman.h>
static double now(){return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();}
int main(int argc,char**argv){
  double gb=atof(argv[1]); int huge=argc>2?atoi(argv[2]):0; size_t sz=size_t(gb*(1ull<<30));
  uint8_t*b=(uint8_t*)mmap(0,sz,PROT_READ|PROT_WRITE,(huge?MAP_PRIVATE:MAP_SHARED)|MAP_ANONYMOUS,-1,0);
  if(huge) madvise(b,sz,MADV_HUGEPAGE);
  double t0=now(); for(size_t o=0;o<sz;o+=4096) b[o]=1; printf("%.1f GB%s: first touch %.2f s (%.2f us/page)\n",gb,huge?" (THP, private)":"",now()-t0,(now()-t0)*1e6/(sz/4096));
  std::mt19937_64 r(1); const size_t N=2000000; uint64_t sum=0;
  for(int pass=0;pass<4;pass++){ double t=now();
    for(size_t i=0;i<N;i++){ size_t o=(r()%(sz/64))*64; sum+=b[o]; }
    printf("  pass %d: %.0f ns per random read\n",pass+1,(now()-t)*1e9/N); }
  return int(sum&1);
}
