// Distance kernels of the kyrodb core (pure C++, no Postgres headers).
//
// Each instruction set has its own table of kernels, compiled in its own translation unit with
// the matching -m flags (distance_avx2.cpp, distance_avx512.cpp); distance.cpp holds the scalar
// kernels, which are the fallback and the reference, and picks the best table for the CPU once,
// at load time (static initializer using __builtin_cpu_supports: the AVX2 table needs avx2 and
// fma, the AVX-512 table needs avx512f). Before that initializer runs kernels() already returns
// the scalar table, so it is safe to call from other static initializers.
//
// Environment: KYRODB_ISA=scalar|avx2|avx512 caps the dispatch at load time (for testing and
// benchmarking); it never selects an instruction set the CPU lacks. Other values are ignored.
//
// All kernels accept any n (including 0, which gives 0) and unaligned pointers, and accumulate
// in float like pgvector, so results of different instruction sets agree only within float
// rounding (the summation order differs).
#pragma once
#include <cstddef>
#include <cstdint>

namespace kyrodb {

enum class Isa { Scalar, Avx2, Avx512 };

struct DistanceKernels {
    Isa isa;
    const char *name;  // "scalar", "avx2", "avx512"
    float (*l2_squared)(const float *a, const float *b, std::size_t n);     // sum (a-b)^2
    float (*inner_product)(const float *a, const float *b, std::size_t n);  // sum a*b
    float (*l1)(const float *a, const float *b, std::size_t n);             // sum |a-b|
    // one pass computing sum a*b, sum a*a, sum b*b
    void (*cosine_parts)(const float *a, const float *b, std::size_t n, float *dot, float *norm_a,
                         float *norm_b);
    // Asymmetric 8-bit (sq8) kernels: a float vector against n codes 0..255, with the per-dimension
    // scale folded into the float operands once per query (see sq8_prepare_query in metric.h), so
    // that the inner loop is one widening load of codes and one or two FMAs per 8 (16) dimensions.
    float (*sq8_l2_squared)(const float *a, const float *s, const uint8_t *c, std::size_t n);  // sum (a - s*c)^2
    float (*sq8_dot)(const float *w, const uint8_t *c, std::size_t n);                       // sum w*c
    // 7-bit codes (0..127), for a first pass over many rows: out[r] = sum q*row_r over `dim`
    // codes, for `n` rows stored one after the other. Exact in integers (dim up to 266,000).
    void (*code7_dots)(const uint8_t *q, const uint8_t *rows, std::size_t dim, std::size_t n, uint32_t *out);
};

namespace detail { extern const DistanceKernels *active_kernels; }

// Best kernels for the CPU we run on (capped by KYRODB_ISA), chosen once at load time.
inline const DistanceKernels &kernels() { return *detail::active_kernels; }

// Kernels of one instruction set, or nullptr when this CPU cannot run it (KYRODB_ISA is not
// consulted). For tests and benchmarks.
const DistanceKernels *kernels_for(Isa isa);

// Cosine distance with pgvector's semantics: similarity = dot / sqrt((double)na * (double)nb),
// clamped to [-1, 1], result 1 - similarity; NaN when either vector has zero norm (or n == 0).
double cosine_distance(const float *a, const float *b, std::size_t n);

}  // namespace kyrodb
