// Filter attributes: the Filter's conditions, the segment image's attribute rows and postings,
// and filtered searches checked against brute force with the same filter.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "clustered_data.h"
#include "kyrodb/filter.h"
#include "kyrodb/hnsw.h"
#include "kyrodb/segment.h"

namespace {

using kyrodb::Filter;
using kyrodb::Metric;
using kyrodb::Neighbor;
using kyrodb::SegmentView;

// Rows of dim floats and an attribute row: attribute 0 = i % 100 (NULL when i % 37 == 0),
// attribute 1 = i % 7 - 3, attribute 2 = i (never NULL).
constexpr uint32_t kAttrs = 3;

std::vector<uint64_t> attr_row(std::size_t i) {
    std::vector<uint64_t> row(kyrodb::attr_row_words(kAttrs), 0);
    if (i % 37 == 0)
        row[0] |= 1;
    else
        row[1] = uint64_t(int64_t(i % 100));
    row[2] = uint64_t(int64_t(i % 7) - 3);
    row[3] = uint64_t(i);
    return row;
}

std::vector<float> with_attributes(const std::vector<float> &vectors, std::size_t n, uint32_t dim) {
    const std::size_t stride = kyrodb::row_floats(dim, kAttrs);
    std::vector<float> rows(n * stride);
    for (std::size_t i = 0; i < n; i++) {
        std::copy(vectors.begin() + i * dim, vectors.begin() + (i + 1) * dim, rows.begin() + i * stride);
        std::vector<uint64_t> a = attr_row(i);
        std::memcpy(&rows[i * stride + dim], a.data(), a.size() * 8);
    }
    return rows;
}

TEST(Filter, ConditionsCombine) {
    std::vector<uint64_t> row = attr_row(42);  // a0 = 42, a1 = 0 - 3 = -3... 42 % 7 = 0
    Filter f;
    EXPECT_FALSE(f.active());
    f.require_range(0, 40, 50);
    EXPECT_TRUE(f.matches(row.data()));
    f.require_range(0, 43, 100);
    EXPECT_FALSE(f.matches(row.data()));
    EXPECT_FALSE(f.impossible());
    f.require_range(0, 0, 42);
    EXPECT_TRUE(f.impossible());

    Filter in;
    in.require_in(1, {5, -3, 5, 9});
    EXPECT_TRUE(in.matches(row.data()));
    in.require_in(1, {9, 5});
    EXPECT_FALSE(in.matches(row.data()));
    in.require_range(1, 6, 100);  // leaves {9}
    EXPECT_FALSE(in.impossible());
    EXPECT_FALSE(in.conditions()[0].in_set);
    EXPECT_EQ(in.conditions()[0].lo, 9);

    std::vector<uint64_t> null_row = attr_row(37);
    Filter is_null;
    is_null.require_null(0, true);
    EXPECT_TRUE(is_null.matches(null_row.data()));
    EXPECT_FALSE(is_null.matches(row.data()));
    Filter not_null;
    not_null.require_null(0, false);
    EXPECT_FALSE(not_null.matches(null_row.data()));
    EXPECT_TRUE(not_null.matches(row.data()));
    Filter range_on_null;
    range_on_null.require_range(0, INT64_MIN, INT64_MAX);
    EXPECT_FALSE(range_on_null.matches(null_row.data()));  // a comparison never holds for NULL
    is_null.require_range(0, 1, 2);
    EXPECT_TRUE(is_null.impossible());
    Filter empty_in;
    empty_in.require_in(2, {});
    EXPECT_TRUE(empty_in.impossible());
}

TEST(Filter, SignaturesAnswerOverlapAndContainment) {
    // attribute 0 holds the signature of the set {3, 5}
    std::vector<uint64_t> row(kyrodb::attr_row_words(1), 0);
    row[1] = kyrodb::signature_bits(3) | kyrodb::signature_bits(5);
    Filter contains;
    contains.require_all_bits(0, kyrodb::signature_bits(3) | kyrodb::signature_bits(5));
    EXPECT_TRUE(contains.matches(row.data()));
    contains.require_all_bits(0, kyrodb::signature_bits(62 | (61 << 6)));
    EXPECT_FALSE(contains.matches(row.data()));
    Filter overlap;
    overlap.require_overlap(0, {kyrodb::signature_bits(62 | (61 << 6)), kyrodb::signature_bits(5)});
    EXPECT_TRUE(overlap.matches(row.data()));
    Filter disjoint;
    disjoint.require_overlap(0, {kyrodb::signature_bits(62 | (61 << 6))});
    EXPECT_FALSE(disjoint.matches(row.data()));
    Filter nothing;
    nothing.require_overlap(0, {});
    EXPECT_TRUE(nothing.impossible());
    std::vector<uint64_t> null_row(kyrodb::attr_row_words(1), 0);
    null_row[0] = 1;
    EXPECT_FALSE(overlap.matches(null_row.data()));
    std::vector<uint8_t> bytes;
    overlap.serialize(&bytes);
    Filter back;
    ASSERT_TRUE(Filter::parse(bytes.data(), bytes.size(), &back));
    EXPECT_TRUE(back.matches(row.data()));
    EXPECT_FALSE(back.matches(null_row.data()));
}

TEST(Filter, SerializeRoundTrip) {
    Filter f;
    f.require_in(2, {7, 1, 3});
    f.require_range(0, -5, 5);
    f.require_null(1, true);
    std::vector<uint8_t> bytes;
    f.serialize(&bytes);
    Filter g;
    ASSERT_TRUE(Filter::parse(bytes.data(), bytes.size(), &g));
    std::vector<uint8_t> again;
    g.serialize(&again);
    EXPECT_EQ(bytes, again);
    for (std::size_t cut = 0; cut < bytes.size(); cut++) EXPECT_FALSE(Filter::parse(bytes.data(), cut, &g));
    // The same conditions in another order give the same bytes.
    Filter h;
    h.require_null(1, true);
    h.require_range(0, -5, 5);
    h.require_in(2, {3, 7, 1, 3});
    std::vector<uint8_t> other;
    h.serialize(&other);
    EXPECT_EQ(bytes, other);
}

struct FilteredSegment : ::testing::Test {
    static constexpr std::size_t kN = 6000;
    static constexpr uint32_t kDim = kyrodb_test::kClusteredDim;
    void SetUp() override {
        data = kyrodb_test::clustered_data(Metric::L2, kN, 20);
        rows = with_attributes(data.vectors, kN, kDim);
        for (std::size_t i = 0; i < kN; i++) payloads.push_back(1000 + i);
        kyrodb::BuildParams p{Metric::L2, kDim};
        p.m = 12;
        p.ef_construction = 64;
        p.threads = 2;
        p.attributes = kAttrs;
        image = kyrodb::build_segment(p, rows.data(), payloads.data(), kN, nullptr);
        std::string error;
        ASSERT_TRUE(SegmentView::open(image.data(), image.size(), &seg, &error)) << error;
    }
    // Brute force: ids of live matching elements, nearest first.
    std::vector<uint32_t> truth(const float *q, const Filter &f, const uint64_t *deleted = nullptr) {
        std::vector<Neighbor> all;
        for (uint32_t i = 0; i < kN; i++) {
            if (deleted && ((deleted[i / 64] >> (i % 64)) & 1)) continue;
            std::vector<uint64_t> a = attr_row(i);
            if (f.matches(a.data()))
                all.push_back({kyrodb::index_distance(Metric::L2, q, &data.vectors[i * kDim], kDim), i});
        }
        std::sort(all.begin(), all.end(), [](const Neighbor &x, const Neighbor &y) {
            return x.distance < y.distance || (x.distance == y.distance && x.id < y.id);
        });
        std::vector<uint32_t> ids;
        for (const Neighbor &n : all) ids.push_back(n.id);
        return ids;
    }
    kyrodb_test::ClusteredData data;
    std::vector<float> rows;
    std::vector<uint64_t> payloads;
    std::vector<uint8_t> image;
    SegmentView seg;
};

TEST_F(FilteredSegment, ImageHoldsRowsAndSortedPostings) {
    EXPECT_EQ(seg.attributes(), kAttrs);
    for (uint32_t i = 0; i < kN; i += 97) {
        std::vector<uint64_t> a = attr_row(i);
        EXPECT_TRUE(std::equal(a.begin(), a.end(), seg.attr_row(i)));
        EXPECT_EQ(seg.payload(i), 1000 + i);
        EXPECT_TRUE(std::equal(seg.vector(i), seg.vector(i) + kDim, &data.vectors[i * kDim]));
    }
    const kyrodb::Posting *p = seg.postings(0);
    std::size_t nulls = 0;
    for (uint32_t k = 0; k < kN; k++) {
        nulls += p[k].is_null;
        if (k > 0) {
            EXPECT_LE(std::make_pair(p[k - 1].is_null, p[k - 1].value), std::make_pair(p[k].is_null, p[k].value));
        }
    }
    EXPECT_EQ(nulls, (kN + 36) / 37);
    // A posting out of order is caught by open().
    std::vector<uint8_t> broken = image;
    auto *bp = reinterpret_cast<kyrodb::Posting *>(broken.data() + kyrodb::attr_postings_offset(seg.header()));
    std::swap(bp[0], bp[kN / 2]);
    SegmentView view;
    std::string error;
    EXPECT_FALSE(SegmentView::open(broken.data(), broken.size(), &view, &error));
}

TEST_F(FilteredSegment, ExactAndSearchMatchBruteForce) {
    kyrodb::Searcher searcher;
    std::vector<Filter> filters(6);
    filters[0].require_range(0, 3, 3);                     // 1 %
    filters[1].require_range(0, 0, 9);                     // 10 %
    filters[2].require_range(1, -3, 0);                    // ~57 %
    filters[3].require_in(0, {5, 50, 77});                 // 3 %
    filters[3].require_range(1, -1, 3);                    // and
    filters[4].require_null(0, true);                      // 2.7 %
    filters[5].require_range(2, 100, 160);                 // 61 elements by id
    std::vector<uint64_t> deleted((kN + 63) / 64, 0);
    for (uint32_t i = 0; i < kN; i += 5) deleted[i / 64] |= 1ull << (i % 64);
    std::vector<Neighbor> out;
    double hits = 0, wanted = 0;
    for (const Filter &f : filters) {
        for (std::size_t q = 0; q < 20; q++) {
            const float *query = &data.queries[q * kDim];
            const std::vector<const uint64_t *> deletions{nullptr, deleted.data()};
            for (const uint64_t *del : deletions) {
                std::vector<uint32_t> want = truth(query, f, del);
                // exact(): every matching live element in order
                searcher.exact(seg, query, del, &out, &f);
                ASSERT_EQ(out.size(), want.size());
                for (std::size_t k = 0; k < out.size(); k++) ASSERT_EQ(out[k].id, want[k]);
                // search(): the unfiltered search's matching results, with its covered distance
                std::vector<Neighbor> all;
                const float covered_all = searcher.search(seg, query, 40, del, &all);
                const float covered = searcher.search(seg, query, 40, del, &f, &out);
                EXPECT_EQ(covered, covered_all);
                std::vector<uint32_t> expected;
                for (const Neighbor &n : all)
                    if (f.matches(attr_row(n.id).data())) expected.push_back(n.id);
                ASSERT_EQ(out.size(), expected.size());
                for (std::size_t k = 0; k < out.size(); k++) ASSERT_EQ(out[k].id, expected[k]);
                // ... which, wide enough, finds the nearest matching elements
                searcher.search(seg, query, 4000, del, &f, &out);
                std::size_t k = std::min<std::size_t>(10, want.size());
                for (std::size_t j = 0; j < k; j++)
                    hits += std::any_of(out.begin(), out.begin() + std::min(k, out.size()),
                                        [&](const Neighbor &n) { return n.id == want[j]; });
                wanted += double(k);
            }
        }
        EXPECT_LE(searcher.matching_estimate(seg, f), kN);
    }
    EXPECT_GE(hits / wanted, 0.95);
    // The estimate is the postings of the most selective condition.
    EXPECT_EQ(searcher.matching_estimate(seg, filters[5]), 61u);
    Filter nothing;
    nothing.require_range(0, 200, 300);
    searcher.search(seg, &data.queries[0], 40, nullptr, &nothing, &out);
    EXPECT_TRUE(out.empty());
    Filter unknown;
    unknown.require_range(5, 0, 1);
    EXPECT_THROW(searcher.search(seg, &data.queries[0], 40, nullptr, &unknown, &out), std::invalid_argument);
}

}  // namespace
