// RowCodes: the lower bounds never exceed the exact distances the float kernels compute, also
// for rows and queries outside the grid, and on embedding-like data they rule out most rows.
#include "kyrodb/row_codes.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kyrodb/distance.h"
#include "kyrodb/metric.h"

namespace {

using kyrodb::RowCodes;

std::vector<float> gaussian_rows(std::size_t n, std::size_t dim, std::size_t stride, unsigned seed, float scale = 1) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0, scale);
    std::vector<float> rows(n * stride, 7.0f);  // the floats past dim (attributes) are not vector
    for (std::size_t r = 0; r < n; r++)
        for (std::size_t d = 0; d < dim; d++) rows[r * stride + d] = g(rng);
    return rows;
}

// index_distance's expression with the kernels of one ISA.
float distance(const kyrodb::DistanceKernels &k, kyrodb::Metric m, const float *a, const float *b, std::size_t dim) {
    switch (m) {
    case kyrodb::Metric::L2:
        return k.l2_squared(a, b, dim);
    case kyrodb::Metric::InnerProduct:
        return -k.inner_product(a, b, dim);
    case kyrodb::Metric::Cosine:
        return 1.0f - k.inner_product(a, b, dim);
    }
    return 0;
}

// Every bound at or below the distance the kernels of every ISA this CPU has compute, for every
// metric (cosine on unit vectors, as prepare_vector leaves rows and queries).
void expect_bounds_hold(const RowCodes &codes, const std::vector<float> &rows, std::size_t dim, std::size_t stride,
                        const float *query, std::size_t *ruled_out = nullptr,
                        kyrodb::Metric metric = kyrodb::Metric::L2) {
    std::vector<float> lb(codes.size());
    codes.lower_bounds(metric, query, lb.data());
    for (std::size_t r = 0; r < codes.size(); r++)
        for (kyrodb::Isa isa : {kyrodb::Isa::Scalar, kyrodb::Isa::Avx2, kyrodb::Isa::Avx512}) {
            const kyrodb::DistanceKernels *k = kyrodb::kernels_for(isa);
            if (k == nullptr) continue;
            ASSERT_LE(lb[r], distance(*k, metric, query, &rows[r * stride], dim)) << "row " << r << " isa " << k->name;
        }
    if (ruled_out != nullptr) {  // rows the bound puts past the 10th nearest
        std::vector<float> exact(codes.size());
        for (std::size_t r = 0; r < codes.size(); r++)
            exact[r] = kyrodb::index_distance(metric, query, &rows[r * stride], dim);
        std::nth_element(exact.begin(), exact.begin() + 9, exact.end());
        *ruled_out = std::count_if(lb.begin(), lb.end(), [&](float b) { return b > exact[9]; });
    }
}

TEST(Code7Dots, EveryIsaMatchesExactSums) {
    std::mt19937 rng(3);
    std::uniform_int_distribution<int> code(0, 127);
    for (std::size_t dim : {0, 1, 31, 32, 33, 64, 128, 200, 1536}) {
        const std::size_t n = 9;  // two blocks of four rows and one more
        std::vector<uint8_t> q(dim), rows(n * dim);
        for (auto &c : q) c = uint8_t(code(rng));
        for (auto &c : rows) c = uint8_t(code(rng));
        if (dim > 0) {  // the largest products, in every row: no saturation in 16 bits
            std::fill(q.begin(), q.end(), 127);
            std::fill(rows.begin(), rows.begin() + std::ptrdiff_t(dim), 127);
        }
        std::vector<uint32_t> want(n);
        for (std::size_t r = 0; r < n; r++)
            for (std::size_t i = 0; i < dim; i++) want[r] += uint32_t(q[i]) * rows[r * dim + i];
        for (kyrodb::Isa isa : {kyrodb::Isa::Scalar, kyrodb::Isa::Avx2, kyrodb::Isa::Avx512}) {
            const kyrodb::DistanceKernels *k = kyrodb::kernels_for(isa);
            if (k == nullptr) continue;
            std::vector<uint32_t> got(n, 12345);
            k->code7_dots(q.data(), rows.data(), dim, n, got.data());
            EXPECT_EQ(got, want) << "dim " << dim << " " << k->name;
        }
    }
}

TEST(RowCodes, BoundsHoldAndRuleOutMostRows) {
    const std::size_t dim = 128, stride = 130, n = 5000;
    std::vector<float> rows = gaussian_rows(n, dim, stride, 1);
    RowCodes codes;
    codes.update(dim, rows.data(), n, stride);
    ASSERT_TRUE(codes.usable());
    ASSERT_EQ(codes.size(), n);
    std::vector<float> queries = gaussian_rows(20, dim, dim, 2);
    std::size_t needed = 0;
    for (std::size_t q = 0; q < 20; q++) {
        const float *query = &queries[q * dim];
        expect_bounds_hold(codes, rows, dim, stride, query);
        // the rows a top-10 search must still compute exactly: bound within the 10th distance
        std::vector<float> exact(n), lb(n);
        for (std::size_t r = 0; r < n; r++) exact[r] = kyrodb::kernels().l2_squared(query, &rows[r * stride], dim);
        std::nth_element(exact.begin(), exact.begin() + 9, exact.end());
        codes.lower_bounds(kyrodb::Metric::L2, query, lb.data());
        needed += std::count_if(lb.begin(), lb.end(), [&](float b) { return b <= exact[9]; });
    }
    EXPECT_LT(needed, 20 * n / 20) << "more than 5 % of the rows left for an exact distance";
}

// Inner product on raw rows, cosine on unit rows and queries: the bounds hold and, on
// embedding-like (clustered) rows, rule out most of them for a top-10.
TEST(RowCodes, InnerProductAndCosine) {
    const std::size_t dim = 96, n = 3000;
    std::mt19937 rng(11);
    std::normal_distribution<float> g(0, 1);
    std::vector<float> centres(20 * dim);
    for (float &c : centres) c = g(rng);
    std::vector<float> rows(n * dim), queries(10 * dim);
    for (std::size_t r = 0; r < n + 10; r++) {
        float *v = r < n ? &rows[r * dim] : &queries[(r - n) * dim];
        for (std::size_t d = 0; d < dim; d++) v[d] = centres[(r % 20) * dim + d] + 0.2f * g(rng);
    }
    RowCodes raw;
    raw.update(dim, rows.data(), n, dim);
    std::size_t ruled_out = 0;
    for (std::size_t q = 0; q < 10; q++) {
        expect_bounds_hold(raw, rows, dim, dim, &queries[q * dim], nullptr, kyrodb::Metric::InnerProduct);
        expect_bounds_hold(raw, rows, dim, dim, &rows[q * 97 * dim], nullptr, kyrodb::Metric::InnerProduct);
    }
    std::vector<float> unit_rows(rows), unit_queries(queries);
    for (std::size_t r = 0; r < n; r++) kyrodb::prepare_vector(kyrodb::Metric::Cosine, &unit_rows[r * dim], dim);
    for (std::size_t q = 0; q < 10; q++) kyrodb::prepare_vector(kyrodb::Metric::Cosine, &unit_queries[q * dim], dim);
    RowCodes unit;
    unit.update(dim, unit_rows.data(), n, dim);
    std::size_t total = 0;
    for (std::size_t q = 0; q < 10; q++) {
        expect_bounds_hold(unit, unit_rows, dim, dim, &unit_queries[q * dim], &ruled_out, kyrodb::Metric::Cosine);
        total += ruled_out;
        expect_bounds_hold(unit, unit_rows, dim, dim, &unit_rows[q * 97 * dim], nullptr, kyrodb::Metric::Cosine);
    }
    EXPECT_GT(total, 10 * n * 9 / 10) << "cosine bounds ruled out fewer than 90 % of the rows";
}

TEST(RowCodes, RowsAndQueriesOutsideTheGrid) {
    const std::size_t dim = 24, stride = 24;
    std::vector<float> rows = gaussian_rows(300, dim, stride, 4);
    RowCodes codes;
    codes.update(dim, rows.data(), 300, stride);
    // later rows far outside the grid chosen from the first ones (clamped codes)
    std::vector<float> far = gaussian_rows(10, dim, stride, 5, 50);
    rows.insert(rows.end(), far.begin(), far.end());
    codes.update(dim, rows.data(), 310, stride);
    ASSERT_EQ(codes.size(), 310u);
    std::vector<float> queries = gaussian_rows(5, dim, dim, 6, 30);
    for (std::size_t q = 0; q < 5; q++)
        for (kyrodb::Metric m : {kyrodb::Metric::L2, kyrodb::Metric::InnerProduct})
            expect_bounds_hold(codes, rows, dim, stride, &queries[q * dim], nullptr, m);
    expect_bounds_hold(codes, rows, dim, stride, &rows[305 * stride]);  // a row itself: bound 0 or near
}

TEST(RowCodes, GridFromOneRowIsChosenAgain) {
    const std::size_t dim = 64;
    std::vector<float> rows = gaussian_rows(2000, dim, dim, 7);
    RowCodes codes;
    codes.update(dim, rows.data(), 1, dim);  // every value of one row: a poor grid
    for (std::size_t n = 2; n <= 2000; n += 37) codes.update(dim, rows.data(), n, dim);
    codes.update(dim, rows.data(), 2000, dim);
    std::size_t ruled_out = 0;
    expect_bounds_hold(codes, rows, dim, dim, &rows[0], &ruled_out);
    EXPECT_GT(ruled_out, 1900u) << "the grid was not chosen again as rows came";
}

// The L2 bound of every row for `query`.
std::vector<float> l2_bounds(const RowCodes &codes, const float *query) {
    std::vector<float> out(codes.size());
    codes.lower_bounds(kyrodb::Metric::L2, query, out.data());
    return out;
}

TEST(RowCodes, EraseFrontKeepsTheRest) {
    const std::size_t dim = 32;
    std::vector<float> rows = gaussian_rows(500, dim, dim, 8);
    RowCodes codes;
    codes.update(dim, rows.data(), 500, dim);
    const std::vector<float> before = l2_bounds(codes, &rows[0]);
    codes.erase_front(100);
    ASSERT_EQ(codes.size(), 400u);
    const std::vector<float> after = l2_bounds(codes, &rows[0]);
    for (std::size_t r = 0; r < 400; r++) EXPECT_EQ(after[r], before[r + 100]);
    // and new rows append after the kept ones (the caller's rows moved up by 100 as well)
    std::vector<float> kept(rows.begin() + 100 * dim, rows.end());
    std::vector<float> more = gaussian_rows(50, dim, dim, 9);
    kept.insert(kept.end(), more.begin(), more.end());
    codes.update(dim, kept.data(), 450, dim);
    expect_bounds_hold(codes, kept, dim, dim, &more[0]);
}

// A read undone (truncate) leaves the rows before it as they were, and rows read again append
// after them.
TEST(RowCodes, TruncateKeepsTheFirstRows) {
    const std::size_t dim = 32;
    std::vector<float> rows = gaussian_rows(800, dim, dim, 11);
    RowCodes codes;
    codes.update(dim, rows.data(), 500, dim);
    const std::vector<float> before = l2_bounds(codes, &rows[0]);
    codes.update(dim, rows.data(), 800, dim);
    codes.truncate(300);
    ASSERT_EQ(codes.size(), 300u);
    const std::vector<float> after = l2_bounds(codes, &rows[0]);
    for (std::size_t r = 0; r < 300; r++) EXPECT_EQ(after[r], before[r]);
    codes.update(dim, rows.data(), 800, dim);
    ASSERT_EQ(codes.size(), 800u);
    expect_bounds_hold(codes, rows, dim, dim, &rows[700 * dim]);
}

// Room reserved ahead (a hot tier past its flush threshold) changes no bound, also when it was
// reserved before any row came and when rows arrive past it.
TEST(RowCodes, ReserveChangesNoBound) {
    const std::size_t dim = 48;
    std::vector<float> rows = gaussian_rows(6000, dim, dim, 10);
    RowCodes plain, reserved;
    reserved.reserve(dim, 5000);
    for (std::size_t n = 100; n <= 6000; n += 700) {
        plain.update(dim, rows.data(), n, dim);
        reserved.update(dim, rows.data(), n, dim);
        if (n == 2900) reserved.reserve(dim, 9000);
    }
    plain.update(dim, rows.data(), 6000, dim);
    reserved.update(dim, rows.data(), 6000, dim);
    ASSERT_EQ(reserved.size(), 6000u);
    EXPECT_EQ(l2_bounds(plain, &rows[5 * dim]), l2_bounds(reserved, &rows[5 * dim]));
    expect_bounds_hold(reserved, rows, dim, dim, &rows[5 * dim]);
}

// Giving back reserved room (a backlog flushed) frees memory, keeps every row and bound, and the
// rows that come after still encode as without it.
TEST(RowCodes, ShrinkKeepsRowsAndGivesBackRoom) {
    const std::size_t dim = 48;
    std::vector<float> rows = gaussian_rows(6000, dim, dim, 11);
    RowCodes plain, shrunk;
    shrunk.reserve(dim, 50000);
    plain.update(dim, rows.data(), 3000, dim);
    shrunk.update(dim, rows.data(), 3000, dim);
    const std::size_t reserved = shrunk.reserved_bytes();
    EXPECT_GE(reserved, 50000 * dim);
    shrunk.shrink_to(1000);  // never below the rows held
    ASSERT_EQ(shrunk.size(), 3000u);
    EXPECT_LT(shrunk.reserved_bytes(), reserved / 10);
    EXPECT_GE(shrunk.reserved_bytes(), 3000 * dim);
    EXPECT_EQ(l2_bounds(plain, &rows[5 * dim]), l2_bounds(shrunk, &rows[5 * dim]));
    plain.update(dim, rows.data(), 6000, dim);
    shrunk.update(dim, rows.data(), 6000, dim);
    EXPECT_EQ(l2_bounds(plain, &rows[7 * dim]), l2_bounds(shrunk, &rows[7 * dim]));
    expect_bounds_hold(shrunk, rows, dim, dim, &rows[7 * dim]);
}

// Rows whose |x|^2 overflows a float and a zero query: no bound is NaN (a scan would never reach
// such a row), and each is still at or below the kernels' distance.
TEST(RowCodes, NoNaNForHugeRowsOrZeroQuery) {
    const std::size_t dim = 8;
    std::vector<float> rows(4 * dim, 0.0f);
    for (std::size_t d = 0; d < dim; d++) rows[dim + d] = 1e20f, rows[2 * dim + d] = -3e19f, rows[3 * dim + d] = 1.0f;
    RowCodes codes;
    codes.update(dim, rows.data(), 4, dim);
    ASSERT_TRUE(codes.usable());
    std::vector<float> zero(dim, 0.0f), one(dim, 1.0f), lb(4);
    for (const std::vector<float> *q : {&zero, &one})
        for (kyrodb::Metric m : {kyrodb::Metric::L2, kyrodb::Metric::InnerProduct}) {
            codes.lower_bounds(m, q->data(), lb.data());
            for (std::size_t r = 0; r < 4; r++) {
                EXPECT_FALSE(std::isnan(lb[r])) << "row " << r;
                const float exact = kyrodb::index_distance(m, q->data(), &rows[r * dim], dim);
                if (!std::isnan(exact)) {
                    EXPECT_LE(lb[r], exact) << "row " << r;
                }
            }
        }
}

TEST(RowCodes, EqualValues) {
    const std::size_t dim = 16;
    std::vector<float> rows(10 * dim, 0.25f);
    RowCodes codes;
    codes.update(dim, rows.data(), 10, dim);
    ASSERT_TRUE(codes.usable());
    std::vector<float> query(dim, 0.25f), other(dim, -3.0f);
    expect_bounds_hold(codes, rows, dim, dim, query.data());
    expect_bounds_hold(codes, rows, dim, dim, other.data());
}

}  // namespace
