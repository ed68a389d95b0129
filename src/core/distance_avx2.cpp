// AVX2 + FMA distance kernels. Compiled with -mavx2 -mfma: everything here besides the table
// must stay internal (anonymous namespace, no shared inline/template code) so the linker can
// never pick an AVX-encoded copy of a function for use on a CPU without AVX2.
#if !defined(__AVX2__) || !defined(__FMA__)
#error "distance_avx2.cpp must be compiled with -mavx2 -mfma"
#endif

#include <immintrin.h>

#include <cstring>

#include "kyrodb/distance.h"

namespace kyrodb {
namespace {

// Each FMA needs two loads and a core does two loads per cycle, so at most one FMA per cycle:
// 4 independent accumulators of 8 lanes cover the ~4-cycle FMA latency.
constexpr std::size_t kLanes = 8;
constexpr std::size_t kStep = 4 * kLanes;

float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Mask selecting the first `rem` (0..7) lanes, for the tail. Masked-off lanes are neither read
// (no fault past the end of the vector) nor nonzero.
__m256i tail_mask(std::size_t rem) {
    static const int kBits[2 * kLanes] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256(reinterpret_cast<const __m256i *>(kBits + kLanes - rem));
}

float l2_squared_avx2(const float *a, const float *b, std::size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    std::size_t i = 0;
    for (; i + kStep <= n; i += kStep) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
        __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
        s2 = _mm256_fmadd_ps(d2, d2, s2);
        s3 = _mm256_fmadd_ps(d3, d3, s3);
    }
    for (; i + kLanes <= n; i += kLanes) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_fmadd_ps(d, d, s0);
    }
    if (i < n) {
        __m256i m = tail_mask(n - i);
        __m256 d = _mm256_sub_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m));
        s1 = _mm256_fmadd_ps(d, d, s1);
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

float inner_product_avx2(const float *a, const float *b, std::size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    std::size_t i = 0;
    for (; i + kStep <= n; i += kStep) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + kLanes <= n; i += kLanes)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    if (i < n) {
        __m256i m = tail_mask(n - i);
        s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), s1);
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

float l1_avx2(const float *a, const float *b, std::size_t n) {
    // |x| = x with the sign bit cleared.
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    std::size_t i = 0;
    for (; i + kStep <= n; i += kStep) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
        __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
        s0 = _mm256_add_ps(s0, _mm256_andnot_ps(sign, d0));
        s1 = _mm256_add_ps(s1, _mm256_andnot_ps(sign, d1));
        s2 = _mm256_add_ps(s2, _mm256_andnot_ps(sign, d2));
        s3 = _mm256_add_ps(s3, _mm256_andnot_ps(sign, d3));
    }
    for (; i + kLanes <= n; i += kLanes) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_add_ps(s0, _mm256_andnot_ps(sign, d));
    }
    if (i < n) {
        __m256i m = tail_mask(n - i);
        __m256 d = _mm256_sub_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m));
        s1 = _mm256_add_ps(s1, _mm256_andnot_ps(sign, d));
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

void cosine_parts_avx2(const float *a, const float *b, std::size_t n, float *dot, float *norm_a,
                       float *norm_b) {
    // Three sums x 2 accumulators = 6 independent FMA chains; with the 4 loaded values they fit
    // the 16 YMM registers without spilling (4 accumulators each would not).
    __m256 d0 = _mm256_setzero_ps(), d1 = d0, a0 = d0, a1 = d0, b0 = d0, b1 = d0;
    std::size_t i = 0;
    for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
        __m256 x0 = _mm256_loadu_ps(a + i), y0 = _mm256_loadu_ps(b + i);
        __m256 x1 = _mm256_loadu_ps(a + i + 8), y1 = _mm256_loadu_ps(b + i + 8);
        d0 = _mm256_fmadd_ps(x0, y0, d0);
        a0 = _mm256_fmadd_ps(x0, x0, a0);
        b0 = _mm256_fmadd_ps(y0, y0, b0);
        d1 = _mm256_fmadd_ps(x1, y1, d1);
        a1 = _mm256_fmadd_ps(x1, x1, a1);
        b1 = _mm256_fmadd_ps(y1, y1, b1);
    }
    if (i + kLanes <= n) {
        __m256 x = _mm256_loadu_ps(a + i), y = _mm256_loadu_ps(b + i);
        d0 = _mm256_fmadd_ps(x, y, d0);
        a0 = _mm256_fmadd_ps(x, x, a0);
        b0 = _mm256_fmadd_ps(y, y, b0);
        i += kLanes;
    }
    if (i < n) {
        __m256i m = tail_mask(n - i);
        __m256 x = _mm256_maskload_ps(a + i, m), y = _mm256_maskload_ps(b + i, m);
        d1 = _mm256_fmadd_ps(x, y, d1);
        a1 = _mm256_fmadd_ps(x, x, a1);
        b1 = _mm256_fmadd_ps(y, y, b1);
    }
    *dot = hsum(_mm256_add_ps(d0, d1));
    *norm_a = hsum(_mm256_add_ps(a0, a1));
    *norm_b = hsum(_mm256_add_ps(b0, b1));
}

// 8 codes widened to 8 floats. The tail (rem < 8 codes) is copied first: reading 8 bytes could
// run past the end of the image.
__m256 codes8(const uint8_t *c) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(c))));
}
__m256 codes_tail(const uint8_t *c, std::size_t rem) {
    uint8_t buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(buf, c, rem);
    return codes8(buf);
}

float sq8_l2_squared_avx2(const float *a, const float *s, const uint8_t *c, std::size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    std::size_t i = 0;
    for (; i + kStep <= n; i += kStep) {
        __m256 d0 = _mm256_fnmadd_ps(_mm256_loadu_ps(s + i), codes8(c + i), _mm256_loadu_ps(a + i));
        __m256 d1 = _mm256_fnmadd_ps(_mm256_loadu_ps(s + i + 8), codes8(c + i + 8), _mm256_loadu_ps(a + i + 8));
        __m256 d2 = _mm256_fnmadd_ps(_mm256_loadu_ps(s + i + 16), codes8(c + i + 16), _mm256_loadu_ps(a + i + 16));
        __m256 d3 = _mm256_fnmadd_ps(_mm256_loadu_ps(s + i + 24), codes8(c + i + 24), _mm256_loadu_ps(a + i + 24));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
        s2 = _mm256_fmadd_ps(d2, d2, s2);
        s3 = _mm256_fmadd_ps(d3, d3, s3);
    }
    for (; i + kLanes <= n; i += kLanes) {
        __m256 d = _mm256_fnmadd_ps(_mm256_loadu_ps(s + i), codes8(c + i), _mm256_loadu_ps(a + i));
        s0 = _mm256_fmadd_ps(d, d, s0);
    }
    if (i < n) {
        __m256i m = tail_mask(n - i);
        __m256 d = _mm256_fnmadd_ps(_mm256_maskload_ps(s + i, m), codes_tail(c + i, n - i), _mm256_maskload_ps(a + i, m));
        s1 = _mm256_fmadd_ps(d, d, s1);
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

float sq8_dot_avx2(const float *w, const uint8_t *c, std::size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    std::size_t i = 0;
    for (; i + kStep <= n; i += kStep) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), codes8(c + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), codes8(c + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), codes8(c + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), codes8(c + i + 24), s3);
    }
    for (; i + kLanes <= n; i += kLanes) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), codes8(c + i), s0);
    if (i < n) s1 = _mm256_fmadd_ps(_mm256_maskload_ps(w + i, tail_mask(n - i)), codes_tail(c + i, n - i), s1);
    return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

// 32 codes per step: vpmaddubsw multiplies unsigned by signed bytes and adds pairs into 16 bits
// (at most 2 * 127 * 127: no saturation with 7-bit codes), vpmaddwd adds pairs again into 32-bit
// lanes. Also the AVX-512 table's kernel (every AVX-512 CPU has AVX2).
__m256i code7_products(const uint8_t *x, __m256i q) {
    const __m256i pairs = _mm256_maddubs_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(x)), q);
    return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

uint32_t code7_tail(const uint8_t *row, const uint8_t *q, std::size_t body, std::size_t dim) {
    uint32_t sum = 0;
    for (std::size_t i = body; i < dim; i++) sum += uint32_t(q[i]) * row[i];
    return sum;
}

}  // namespace

// Four rows at a time: at 128 dims a row is only four steps, so reducing each row's lanes on its
// own would cost about as much as its products; two rounds of hadd reduce four rows at once.
void code7_dots_avx2(const uint8_t *q, const uint8_t *rows, std::size_t dim, std::size_t n, uint32_t *out) {
    const std::size_t body = dim / 32 * 32;
    std::size_t r = 0;
    for (; r + 4 <= n; r += 4) {
        const uint8_t *row = rows + r * dim;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        for (std::size_t i = 0; i < body; i += 32) {
            const __m256i qi = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(q + i));
            a0 = _mm256_add_epi32(a0, code7_products(row + i, qi));
            a1 = _mm256_add_epi32(a1, code7_products(row + dim + i, qi));
            a2 = _mm256_add_epi32(a2, code7_products(row + 2 * dim + i, qi));
            a3 = _mm256_add_epi32(a3, code7_products(row + 3 * dim + i, qi));
        }
        // per 128-bit half, lane k: row k's sum over that half's lanes
        const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        if (body < dim)
            s = _mm_add_epi32(s, _mm_setr_epi32(int(code7_tail(row, q, body, dim)), int(code7_tail(row + dim, q, body, dim)),
                                                int(code7_tail(row + 2 * dim, q, body, dim)),
                                                int(code7_tail(row + 3 * dim, q, body, dim))));
        _mm_storeu_si128(reinterpret_cast<__m128i *>(out + r), s);
    }
    for (; r < n; r++) {
        const uint8_t *row = rows + r * dim;
        __m256i acc = _mm256_setzero_si256();
        for (std::size_t i = 0; i < body; i += 32)
            acc = _mm256_add_epi32(acc, code7_products(row + i, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(q + i))));
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
        out[r] = uint32_t(_mm_cvtsi128_si32(s)) + code7_tail(row, q, body, dim);
    }
}

namespace detail {
extern const DistanceKernels avx2_kernels = {Isa::Avx2,         "avx2",  l2_squared_avx2,
                                             inner_product_avx2, l1_avx2, cosine_parts_avx2,
                                             sq8_l2_squared_avx2, sq8_dot_avx2, code7_dots_avx2};
}  // namespace detail

}  // namespace kyrodb
