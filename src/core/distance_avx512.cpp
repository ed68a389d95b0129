// AVX-512F distance kernels. Compiled with -mavx512f: everything here besides the table must
// stay internal (anonymous namespace, no shared inline/template code) so the linker can never
// pick an AVX-512-encoded copy of a function for use on a CPU without it.
#if !defined(__AVX512F__)
#error "distance_avx512.cpp must be compiled with -mavx512f"
#endif

// GCC 12 falsely warns "'__Y' is used uninitialized" inside the AVX-512 intrinsics that take
// _mm*_undefined_*() (GCC PR 105593, e.g. _mm512_reduce_add_ps; "may be used uninitialized" for
// _mm512_cvtepu8_epi32 / _mm512_cvtepi32_ps); silence it for the header only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>
#include <cstring>

#include "kyrodb/distance.h"

namespace kyrodb {
namespace {

// Two loads per FMA and two loads per cycle: 4 accumulators of 16 lanes cover the FMA latency.
constexpr std::size_t kLanes = 16;
constexpr std::size_t kStep = 4 * kLanes;

// The first k (0..15) lanes, for the tail: masked-off lanes are neither read (no fault
// outside the vector) nor nonzero.
__mmask16 first_lanes(std::size_t k) { return static_cast<__mmask16>((1u << k) - 1u); }

float l2_squared_avx512(const float *a, const float *b, std::size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    std::size_t i = 0;
    for (; i + kStep <= n; i += kStep) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
        __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
        s2 = _mm512_fmadd_ps(d2, d2, s2);
        s3 = _mm512_fmadd_ps(d3, d3, s3);
    }
    for (; i + kLanes <= n; i += kLanes) {
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        s0 = _mm512_fmadd_ps(d, d, s0);
    }
    if (i < n) {
        __mmask16 m = first_lanes(n - i);
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        s1 = _mm512_fmadd_ps(d, d, s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

float inner_product_avx512(const float *a, const float *b, std::size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    std::size_t i = 0;
    for (; i + kStep <= n; i += kStep) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i + kLanes <= n; i += kLanes)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 m = first_lanes(n - i);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

float l1_avx512(const float *a, const float *b, std::size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    std::size_t i = 0;
    for (; i + kStep <= n; i += kStep) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
        __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
        s0 = _mm512_add_ps(s0, _mm512_abs_ps(d0));
        s1 = _mm512_add_ps(s1, _mm512_abs_ps(d1));
        s2 = _mm512_add_ps(s2, _mm512_abs_ps(d2));
        s3 = _mm512_add_ps(s3, _mm512_abs_ps(d3));
    }
    for (; i + kLanes <= n; i += kLanes) {
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        s0 = _mm512_add_ps(s0, _mm512_abs_ps(d));
    }
    if (i < n) {
        __mmask16 m = first_lanes(n - i);
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        s1 = _mm512_add_ps(s1, _mm512_abs_ps(d));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

void cosine_parts_avx512(const float *a, const float *b, std::size_t n, float *dot,
                         float *norm_a, float *norm_b) {
    // Three sums x 2 accumulators = 6 independent FMA chains, enough to keep the FMA units busy.
    __m512 d0 = _mm512_setzero_ps(), d1 = d0, a0 = d0, a1 = d0, b0 = d0, b1 = d0;
    std::size_t i = 0;
    for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
        __m512 x0 = _mm512_loadu_ps(a + i), y0 = _mm512_loadu_ps(b + i);
        __m512 x1 = _mm512_loadu_ps(a + i + 16), y1 = _mm512_loadu_ps(b + i + 16);
        d0 = _mm512_fmadd_ps(x0, y0, d0);
        a0 = _mm512_fmadd_ps(x0, x0, a0);
        b0 = _mm512_fmadd_ps(y0, y0, b0);
        d1 = _mm512_fmadd_ps(x1, y1, d1);
        a1 = _mm512_fmadd_ps(x1, x1, a1);
        b1 = _mm512_fmadd_ps(y1, y1, b1);
    }
    if (i + kLanes <= n) {
        __m512 x = _mm512_loadu_ps(a + i), y = _mm512_loadu_ps(b + i);
        d0 = _mm512_fmadd_ps(x, y, d0);
        a0 = _mm512_fmadd_ps(x, x, a0);
        b0 = _mm512_fmadd_ps(y, y, b0);
        i += kLanes;
    }
    if (i < n) {
        __mmask16 m = first_lanes(n - i);
        __m512 x = _mm512_maskz_loadu_ps(m, a + i), y = _mm512_maskz_loadu_ps(m, b + i);
        d1 = _mm512_fmadd_ps(x, y, d1);
        a1 = _mm512_fmadd_ps(x, x, a1);
        b1 = _mm512_fmadd_ps(y, y, b1);
    }
    *dot = _mm512_reduce_add_ps(_mm512_add_ps(d0, d1));
    *norm_a = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    *norm_b = _mm512_reduce_add_ps(_mm512_add_ps(b0, b1));
}

// 16 codes widened to 16 floats. The tail (rem < 16 codes) is copied first: a masked byte load
// needs AVX-512BW, and reading 16 bytes could run past the end of the image.
__m512 codes16(const uint8_t *c) {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(c))));
}
__m512 codes_tail(const uint8_t *c, std::size_t rem) {
    uint8_t buf[16] = {};
    std::memcpy(buf, c, rem);
    return codes16(buf);
}

float sq8_l2_squared_avx512(const float *a, const float *s, const uint8_t *c, std::size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    std::size_t i = 0;
    for (; i + kStep <= n; i += kStep) {
        __m512 d0 = _mm512_fnmadd_ps(_mm512_loadu_ps(s + i), codes16(c + i), _mm512_loadu_ps(a + i));
        __m512 d1 = _mm512_fnmadd_ps(_mm512_loadu_ps(s + i + 16), codes16(c + i + 16), _mm512_loadu_ps(a + i + 16));
        __m512 d2 = _mm512_fnmadd_ps(_mm512_loadu_ps(s + i + 32), codes16(c + i + 32), _mm512_loadu_ps(a + i + 32));
        __m512 d3 = _mm512_fnmadd_ps(_mm512_loadu_ps(s + i + 48), codes16(c + i + 48), _mm512_loadu_ps(a + i + 48));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
        s2 = _mm512_fmadd_ps(d2, d2, s2);
        s3 = _mm512_fmadd_ps(d3, d3, s3);
    }
    for (; i + kLanes <= n; i += kLanes) {
        __m512 d = _mm512_fnmadd_ps(_mm512_loadu_ps(s + i), codes16(c + i), _mm512_loadu_ps(a + i));
        s0 = _mm512_fmadd_ps(d, d, s0);
    }
    if (i < n) {
        __mmask16 m = first_lanes(n - i);
        __m512 d = _mm512_fnmadd_ps(_mm512_maskz_loadu_ps(m, s + i), codes_tail(c + i, n - i),
                                    _mm512_maskz_loadu_ps(m, a + i));
        s1 = _mm512_fmadd_ps(d, d, s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

float sq8_dot_avx512(const float *w, const uint8_t *c, std::size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    std::size_t i = 0;
    for (; i + kStep <= n; i += kStep) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), codes16(c + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), codes16(c + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 32), codes16(c + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 48), codes16(c + i + 48), s3);
    }
    for (; i + kLanes <= n; i += kLanes) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), codes16(c + i), s0);
    if (i < n)
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(first_lanes(n - i), w + i), codes_tail(c + i, n - i), s1);
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

}  // namespace

void code7_dots_avx2(const uint8_t *q, const uint8_t *rows, std::size_t dim, std::size_t n, uint32_t *out);  // distance_avx2.cpp

namespace detail {
extern const DistanceKernels avx512_kernels = {Isa::Avx512,         "avx512",  l2_squared_avx512,
                                               inner_product_avx512, l1_avx512, cosine_parts_avx512,
                                               sq8_l2_squared_avx512, sq8_dot_avx512, code7_dots_avx2};
}  // namespace detail

}  // namespace kyrodb
