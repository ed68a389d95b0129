// Unit tests of the distance kernels: every instruction set this CPU supports against a
// double-precision reference, plus dispatch and cosine_distance semantics.
#include "kyrodb/distance.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

using kyrodb::DistanceKernels;
using kyrodb::Isa;

constexpr std::size_t kMaxDim = 2048;

// Value and sum of |terms| of a reference sum computed in double.
struct Ref {
    double value = 0, abs_sum = 0;
    void add(double term) {
        value += term;
        abs_sum += std::fabs(term);
    }
};

Ref ref_l2(const float *a, const float *b, std::size_t n) {
    Ref r;
    for (std::size_t i = 0; i < n; i++) r.add(((double)a[i] - b[i]) * ((double)a[i] - b[i]));
    return r;
}
Ref ref_ip(const float *a, const float *b, std::size_t n) {
    Ref r;
    for (std::size_t i = 0; i < n; i++) r.add((double)a[i] * b[i]);
    return r;
}
Ref ref_l1(const float *a, const float *b, std::size_t n) {
    Ref r;
    for (std::size_t i = 0; i < n; i++) r.add(std::fabs((double)a[i] - b[i]));
    return r;
}

// Each kernel rounds every term (relative error <= u = 2^-24 ~ 6e-8) and sums n terms in float
// in some order. The worst-case summation bound, (n-1) u sum|terms| (1.2e-4 at n = 2048), is too
// loose to catch anything; but rounding errors behave like a random walk, so the typical error is
// ~ u sqrt(n) sum|terms| ~ 3e-6 sum|terms| for the scalar loop at n = 2048 (less for the SIMD
// paths, which sum many shorter chains). 1e-5 leaves a margin over that, while a lost or
// duplicated element changes the result by ~ sum|terms| / n >= 5e-4 sum|terms|. The absolute
// 1e-6 only matters when all terms are ~0.
constexpr double kRelTol = 1e-5, kAbsTol = 1e-6;

double tolerance(const Ref &r) { return kRelTol * r.abs_sum + kAbsTol; }

// Largest |got - ref| / sum|terms| seen, to show the margin left by kRelTol.
struct WorstError {
    double ratio = 0;
    void note(double got, const Ref &r) {
        if (r.abs_sum > 0) ratio = std::max(ratio, std::fabs(got - r.value) / r.abs_sum);
    }
};

struct FreeDeleter {
    void operator()(float *p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<float[], FreeDeleter>;

AlignedBuffer aligned_floats(std::size_t count) {
    std::size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
    return AlignedBuffer(static_cast<float *>(std::aligned_alloc(64, bytes)));
}

const char *isa_name(Isa isa) {
    switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    }
    return "?";
}

class DistanceKernelTest : public ::testing::TestWithParam<Isa> {
protected:
    void SetUp() override {
        k_ = kyrodb::kernels_for(GetParam());
        if (k_ == nullptr) GTEST_SKIP() << "CPU does not support " << isa_name(GetParam());
        ASSERT_EQ(k_->isa, GetParam());
        ASSERT_STREQ(k_->name, isa_name(GetParam()));
    }

    // Checks all four kernels on (a, b, n) against the reference.
    void check(const float *a, const float *b, std::size_t n) {
        SCOPED_TRACE(::testing::Message() << "n=" << n << " a%64=" << (uintptr_t)a % 64
                                          << " b%64=" << (uintptr_t)b % 64);
        Ref l2 = ref_l2(a, b, n), ip = ref_ip(a, b, n), l1 = ref_l1(a, b, n);
        Ref aa = ref_ip(a, a, n), bb = ref_ip(b, b, n);

        float got = k_->l2_squared(a, b, n);
        EXPECT_NEAR(got, l2.value, tolerance(l2)) << "l2_squared";
        worst_[0].note(got, l2);
        got = k_->inner_product(a, b, n);
        EXPECT_NEAR(got, ip.value, tolerance(ip)) << "inner_product";
        worst_[1].note(got, ip);
        got = k_->l1(a, b, n);
        EXPECT_NEAR(got, l1.value, tolerance(l1)) << "l1";
        worst_[2].note(got, l1);

        float dot = -1, na = -1, nb = -1;
        k_->cosine_parts(a, b, n, &dot, &na, &nb);
        EXPECT_NEAR(dot, ip.value, tolerance(ip)) << "cosine_parts dot";
        EXPECT_NEAR(na, aa.value, tolerance(aa)) << "cosine_parts norm_a";
        EXPECT_NEAR(nb, bb.value, tolerance(bb)) << "cosine_parts norm_b";
        worst_[3].note(dot, ip);
        worst_[3].note(na, aa);
        worst_[3].note(nb, bb);
    }

    void report_worst() const {
        std::cout << "  max |err|/sum|terms| (" << k_->name << "): l2 " << worst_[0].ratio
                  << ", ip " << worst_[1].ratio << ", l1 " << worst_[2].ratio << ", cosine_parts "
                  << worst_[3].ratio << "  (tolerance " << kRelTol << ")\n";
    }

    const DistanceKernels *k_ = nullptr;
    WorstError worst_[4];
};

TEST_P(DistanceKernelTest, EmptyVectorsGiveZero) {
    // n == 0 must not touch memory, so null pointers are fine.
    EXPECT_EQ(k_->l2_squared(nullptr, nullptr, 0), 0.0f);
    EXPECT_EQ(k_->inner_product(nullptr, nullptr, 0), 0.0f);
    EXPECT_EQ(k_->l1(nullptr, nullptr, 0), 0.0f);
    float dot = -1, na = -1, nb = -1;
    k_->cosine_parts(nullptr, nullptr, 0, &dot, &na, &nb);
    EXPECT_EQ(dot, 0.0f);
    EXPECT_EQ(na, 0.0f);
    EXPECT_EQ(nb, 0.0f);
}

// Every n from 0 to 2048 (all main-loop / remainder / tail combinations), all 9 pairs of
// misalignments of 1..3 floats from a 64-byte boundary, plus one pair of offsets varying with n
// (0..15 floats, covering every head length of the AVX-512 alignment peel); values in [-1, 1]
// and [-1000, 1000].
TEST_P(DistanceKernelTest, MatchesDoubleReference) {
    AlignedBuffer abuf = aligned_floats(kMaxDim + 16), bbuf = aligned_floats(kMaxDim + 16);
    std::mt19937 rng(12345);
    for (float scale : {1.0f, 1000.0f}) {
        std::uniform_real_distribution<float> dist(-scale, scale);
        for (std::size_t n = 0; n <= kMaxDim; n++) {
            for (std::size_t i = 0; i < n + 16; i++) {
                abuf[i] = dist(rng);
                bbuf[i] = dist(rng);
            }
            for (std::size_t oa = 1; oa <= 3; oa++)
                for (std::size_t ob = 1; ob <= 3; ob++) check(abuf.get() + oa, bbuf.get() + ob, n);
            check(abuf.get() + n % 16, bbuf.get() + n / 16 % 16, n);
            if (HasFailure()) return;  // one failing n is enough output
        }
    }
    report_worst();
}

// Vectors starting right after, or ending right before, an inaccessible page: any read outside
// the vector (e.g. an unmasked head or tail load) crashes the test.
TEST_P(DistanceKernelTest, NoReadOutsideVectors) {
    // Pages: guard | a | guard | b | guard
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    char *mem = static_cast<char *>(
        mmap(nullptr, 5 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(mem, MAP_FAILED);
    for (int g : {0, 2, 4}) ASSERT_EQ(mprotect(mem + g * page, page, PROT_NONE), 0);
    float *a_page = reinterpret_cast<float *>(mem + page);
    float *b_page = reinterpret_cast<float *>(mem + 3 * page);
    const std::size_t floats = page / sizeof(float);

    std::mt19937 rng(777);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (std::size_t n = 0; n <= 200; n++) {
        for (bool at_end : {false, true}) {
            float *a = at_end ? a_page + floats - n : a_page;
            float *b = at_end ? b_page + floats - n : b_page;
            for (std::size_t i = 0; i < n; i++) {
                a[i] = dist(rng);
                b[i] = dist(rng);
            }
            check(a, b, n);
        }
    }
    munmap(mem, 5 * page);
}

// A distance must not depend on where the vectors sit in memory: SQL and the
// index compute the same pair from different copies and must agree exactly.
TEST_P(DistanceKernelTest, SameResultAtEveryAlignment) {
    std::mt19937 rng(4242);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (std::size_t n : {1, 15, 16, 17, 63, 64, 65, 128, 384, 1000, 1536}) {
        std::vector<float> a(n + 16), b(n + 16);
        for (auto &x : a) x = dist(rng);
        for (auto &x : b) x = dist(rng);
        float l2 = k_->l2_squared(a.data(), b.data(), n);
        float ip = k_->inner_product(a.data(), b.data(), n);
        float l1 = k_->l1(a.data(), b.data(), n);
        for (std::size_t shift = 1; shift < 16; shift++) {
            std::vector<float> a2(n + 16), b2(n + 16);
            std::copy(a.begin(), a.begin() + n, a2.begin() + shift);
            std::copy(b.begin(), b.begin() + n, b2.begin() + (16 - shift));
            EXPECT_EQ(k_->l2_squared(a2.data() + shift, b2.data() + 16 - shift, n), l2) << n << " " << shift;
            EXPECT_EQ(k_->inner_product(a2.data() + shift, b2.data() + 16 - shift, n), ip) << n << " " << shift;
            EXPECT_EQ(k_->l1(a2.data() + shift, b2.data() + 16 - shift, n), l1) << n << " " << shift;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Isa, DistanceKernelTest,
                         ::testing::Values(Isa::Scalar, Isa::Avx2, Isa::Avx512),
                         [](const ::testing::TestParamInfo<Isa> &info) {
                             return std::string(isa_name(info.param));
                         });

TEST(Dispatch, ScalarAlwaysAvailable) {
    const DistanceKernels *k = kyrodb::kernels_for(Isa::Scalar);
    ASSERT_NE(k, nullptr);
    EXPECT_EQ(k->isa, Isa::Scalar);
}

// kernels() is the best supported set not above the KYRODB_ISA cap (if any).
TEST(Dispatch, ActiveKernelsAreBestAllowed) {
    Isa cap = Isa::Avx512;
    const char *env = std::getenv("KYRODB_ISA");
    if (env != nullptr && std::strcmp(env, "scalar") == 0) cap = Isa::Scalar;
    if (env != nullptr && std::strcmp(env, "avx2") == 0) cap = Isa::Avx2;

    const DistanceKernels *expected = kyrodb::kernels_for(Isa::Scalar);
    for (Isa isa : {Isa::Avx2, Isa::Avx512})
        if (isa <= cap && kyrodb::kernels_for(isa) != nullptr) expected = kyrodb::kernels_for(isa);
    EXPECT_EQ(&kyrodb::kernels(), expected);
    std::cout << "  active kernels: " << kyrodb::kernels().name
              << " (KYRODB_ISA=" << (env ? env : "<unset>") << ")\n";
}

// cosine_distance goes through kernels(); run the suite with KYRODB_ISA=scalar to cover that path.
class CosineDistance : public ::testing::Test {
protected:
    static constexpr std::size_t kDims[] = {1, 3, 8, 37, 128, 1536};
};

TEST_F(CosineDistance, IdenticalAndScaledVectorsAreZero) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (std::size_t n : kDims) {
        std::vector<float> a(n), b(n);
        for (std::size_t i = 0; i < n; i++) {
            a[i] = dist(rng);
            b[i] = 3.0f * a[i];
        }
        // a.a is computed exactly like |a|^2, so the similarity is exactly 1.
        EXPECT_EQ(kyrodb::cosine_distance(a.data(), a.data(), n), 0.0) << n;
        double d = kyrodb::cosine_distance(a.data(), b.data(), n);
        EXPECT_GE(d, 0.0) << n;  // clamped, never slightly negative
        EXPECT_NEAR(d, 0.0, 1e-6) << n;
    }
}

TEST_F(CosineDistance, OppositeVectorsAreTwo) {
    std::mt19937 rng(2);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (std::size_t n : kDims) {
        std::vector<float> a(n), b(n);
        for (std::size_t i = 0; i < n; i++) {
            a[i] = dist(rng);
            b[i] = -a[i];
        }
        EXPECT_EQ(kyrodb::cosine_distance(a.data(), b.data(), n), 2.0) << n;
    }
}

TEST_F(CosineDistance, OrthogonalVectorsAreOne) {
    for (std::size_t n : kDims) {
        if (n < 2) continue;
        std::vector<float> a(n, 0.0f), b(n, 0.0f);
        for (std::size_t i = 0; i + 1 < n; i += 2) {
            a[i] = a[i + 1] = 0.5f;  // a = (x, x, ...), b = (y, -y, ...): dot is exactly 0
            b[i] = 2.0f;
            b[i + 1] = -2.0f;
        }
        EXPECT_EQ(kyrodb::cosine_distance(a.data(), b.data(), n), 1.0) << n;
    }
}

TEST_F(CosineDistance, ZeroNormIsNaN) {
    std::vector<float> zero(64, 0.0f), x(64, 1.0f);
    EXPECT_TRUE(std::isnan(kyrodb::cosine_distance(zero.data(), x.data(), 64)));
    EXPECT_TRUE(std::isnan(kyrodb::cosine_distance(x.data(), zero.data(), 64)));
    EXPECT_TRUE(std::isnan(kyrodb::cosine_distance(zero.data(), zero.data(), 64)));
    EXPECT_TRUE(std::isnan(kyrodb::cosine_distance(x.data(), x.data(), 0)));
    // Squares underflow to 0 in float although the vector is not zero: still NaN, not +-inf.
    std::vector<float> tiny(64, 1e-30f), huge(64, 1e10f);
    EXPECT_TRUE(std::isnan(kyrodb::cosine_distance(tiny.data(), huge.data(), 64)));
}

TEST_F(CosineDistance, MatchesDoubleReference) {
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (std::size_t n : kDims) {
        for (int rep = 0; rep < 20; rep++) {
            std::vector<float> a(n), b(n);
            for (std::size_t i = 0; i < n; i++) {
                a[i] = dist(rng);
                b[i] = dist(rng);
            }
            double dot = ref_ip(a.data(), b.data(), n).value;
            double na = ref_ip(a.data(), a.data(), n).value, nb = ref_ip(b.data(), b.data(), n).value;
            double want = 1.0 - std::clamp(dot / std::sqrt(na * nb), -1.0, 1.0);
            double got = kyrodb::cosine_distance(a.data(), b.data(), n);
            // Errors of dot and the norms are <= kRelTol relative to sqrt(na * nb)
            // (Cauchy-Schwarz bounds sum|a b|), so the similarity is off by at most ~2 kRelTol.
            EXPECT_NEAR(got, want, 3 * kRelTol) << n;
            EXPECT_GE(got, 0.0);
            EXPECT_LE(got, 2.0);
        }
    }
}

}  // namespace
