// Scalar distance kernels (the fallback and the reference) and run-time dispatch.
// Compiled without -m flags, so nothing here may use instructions beyond the baseline ISA.
#include "kyrodb/distance.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#if defined(__x86_64__) || defined(__i386__)
#define KYRODB_X86 1
#endif

namespace kyrodb {
namespace detail {
#ifdef KYRODB_X86
// Defined in distance_avx2.cpp / distance_avx512.cpp (constant-initialized tables).
extern const DistanceKernels avx2_kernels;
extern const DistanceKernels avx512_kernels;
#endif
}  // namespace detail

namespace {

// One float accumulator, in order: the same arithmetic as pgvector's C loops.
float l2_squared_scalar(const float *a, const float *b, std::size_t n) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < n; i++) {
        float d = a[i] - b[i];
        sum += d * d;
    }
    return sum;
}

float inner_product_scalar(const float *a, const float *b, std::size_t n) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < n; i++) sum += a[i] * b[i];
    return sum;
}

float l1_scalar(const float *a, const float *b, std::size_t n) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < n; i++) sum += std::fabs(a[i] - b[i]);
    return sum;
}

void cosine_parts_scalar(const float *a, const float *b, std::size_t n, float *dot, float *norm_a,
                         float *norm_b) {
    float d = 0.0f, na = 0.0f, nb = 0.0f;
    for (std::size_t i = 0; i < n; i++) {
        d += a[i] * b[i];
        na += a[i] * a[i];
        nb += b[i] * b[i];
    }
    *dot = d;
    *norm_a = na;
    *norm_b = nb;
}

float sq8_l2_squared_scalar(const float *a, const float *s, const uint8_t *c, std::size_t n) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < n; i++) {
        float d = a[i] - s[i] * float(c[i]);
        sum += d * d;
    }
    return sum;
}

float sq8_dot_scalar(const float *w, const uint8_t *c, std::size_t n) {
    float sum = 0.0f;
    for (std::size_t i = 0; i < n; i++) sum += w[i] * float(c[i]);
    return sum;
}

void code7_dots_scalar(const uint8_t *q, const uint8_t *rows, std::size_t dim, std::size_t n, uint32_t *out) {
    for (std::size_t r = 0; r < n; r++) {
        uint32_t sum = 0;
        for (std::size_t i = 0; i < dim; i++) sum += uint32_t(q[i]) * rows[r * dim + i];
        out[r] = sum;
    }
}

const DistanceKernels scalar_kernels = {Isa::Scalar,          "scalar",  l2_squared_scalar,
                                        inner_product_scalar, l1_scalar, cosine_parts_scalar,
                                        sq8_l2_squared_scalar, sq8_dot_scalar, code7_dots_scalar};

bool cpu_supports(Isa isa) {
    switch (isa) {
    case Isa::Scalar:
        return true;
#ifdef KYRODB_X86
    // __builtin_cpu_supports also checks that the OS saves the YMM/ZMM state (XCR0).
    case Isa::Avx2:
        __builtin_cpu_init();  // we may run before libgcc's own constructor
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::Avx512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f");
#endif
    default:
        return false;
    }
}

const DistanceKernels *select_kernels() {
    Isa cap = Isa::Avx512;
    if (const char *env = std::getenv("KYRODB_ISA")) {
        if (std::strcmp(env, "scalar") == 0) cap = Isa::Scalar;
        else if (std::strcmp(env, "avx2") == 0) cap = Isa::Avx2;
    }
    const Isa best_first[] = {Isa::Avx512, Isa::Avx2};
    for (Isa isa : best_first) {
        if (isa <= cap) {
            if (const DistanceKernels *k = kernels_for(isa)) return k;
        }
    }
    return &scalar_kernels;
}

}  // namespace

// Never null: constant initialization (before any dynamic initializer, including those of other
// translation units that might call kernels()) gives the scalar table; the dynamic initializer
// below upgrades it.
namespace detail { const DistanceKernels *active_kernels = &scalar_kernels; }

namespace {
const bool kernels_selected = (detail::active_kernels = select_kernels(), true);
}  // namespace

const DistanceKernels *kernels_for(Isa isa) {
    if (!cpu_supports(isa)) return nullptr;
    switch (isa) {
    case Isa::Scalar:
        return &scalar_kernels;
#ifdef KYRODB_X86
    case Isa::Avx2:
        return &detail::avx2_kernels;
    case Isa::Avx512:
        return &detail::avx512_kernels;
#endif
    default:
        return nullptr;
    }
}

double cosine_distance(const float *a, const float *b, std::size_t n) {
    float dot, na, nb;
    kernels().cosine_parts(a, b, n, &dot, &na, &nb);
    // Explicit check rather than relying on 0/0: a tiny vector whose squares underflow to 0 would
    // otherwise give dot/0 = +-inf and be clamped to a distance of 0 or 2.
    if (na == 0.0f || nb == 0.0f) return std::numeric_limits<double>::quiet_NaN();
    double similarity = (double)dot / std::sqrt((double)na * (double)nb);
    // Rounding can push |similarity| slightly past 1; NaN (from NaN inputs) passes through.
    if (similarity > 1.0) similarity = 1.0;
    else if (similarity < -1.0) similarity = -1.0;
    return 1.0 - similarity;
}

}  // namespace kyrodb
