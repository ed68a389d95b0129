// GCC 12.2 deletes this loop of prefetches: g++ -O2 -c leaves no prefetch instruction, -O3 one.
#include <cstddef>
#include <algorithm>
inline void prefetch_vector(const void *v, std::size_t bytes) {
    const char *p = reinterpret_cast<const char *>(v);
    std::size_t lines = std::min<std::size_t>((bytes + 63) / 64, 8);
    for (std::size_t l = 0; l < lines; l++) __builtin_prefetch(p + 64 * l);
}
void f(const float *base, const unsigned *ids, int n, std::size_t bytes) {
    for (int j = 0; j < n; j++) prefetch_vector(base + ids[j] * 128, bytes);
}
