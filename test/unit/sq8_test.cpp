// Unit tests of 8-bit scalar quantization (SQ8): the asymmetric kernels of every instruction set
// against a double reference, the image format, and search with SQ8 traversal and exact re-ranking.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "clustered_data.h"
#include "kyrodb/distance.h"
#include "kyrodb/hnsw.h"

namespace {

using kyrodb::BuildParams;
using kyrodb::DistanceKernels;
using kyrodb::Isa;
using kyrodb::Metric;
using kyrodb::Neighbor;
using kyrodb::Quantization;
using kyrodb::Searcher;
using kyrodb::SegmentHeader;
using kyrodb::SegmentView;

// ---------------------------------------------------------------------------------------------
// Kernels

const std::size_t kKernelDims[] = {0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 128, 385};

// Each kernel against the double sum of the same terms: relative 1e-5 of sum |terms| (the
// float-rounding margin distance_test.cpp explains) plus 1e-6.
TEST(Sq8Kernels, MatchScalarReferenceOnEveryIsa) {
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<float> uni(-2.0f, 2.0f), pos(0.0f, 0.05f);
    std::uniform_int_distribution<int> code(0, 255);
    int isas = 0;
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
        const DistanceKernels *k = kyrodb::kernels_for(isa);
        if (!k) continue;
        isas++;
        for (std::size_t n : kKernelDims) {
            for (int rep = 0; rep < 20; rep++) {
                // Exactly n elements on the heap, so that ASan catches a read past the end.
                std::unique_ptr<float[]> a(new float[n + 1]), s(new float[n + 1]);
                std::unique_ptr<uint8_t[]> c(new uint8_t[n + 1]);
                for (std::size_t j = 0; j < n; j++) {
                    a[j] = uni(rng);
                    s[j] = rep == 0 ? 0.0f : pos(rng);
                    c[j] = uint8_t(rep == 1 ? 255 : code(rng));
                }
                double l2 = 0, l2_abs = 0, dot = 0, dot_abs = 0;
                for (std::size_t j = 0; j < n; j++) {
                    double d = double(a[j]) - double(s[j]) * c[j];
                    l2 += d * d;
                    l2_abs += d * d;
                    dot += double(a[j]) * c[j];
                    dot_abs += std::fabs(double(a[j]) * c[j]);
                }
                SCOPED_TRACE(std::string(k->name) + " n=" + std::to_string(n));
                EXPECT_NEAR(k->sq8_l2_squared(a.get(), s.get(), c.get(), n), l2, 1e-5 * l2_abs + 1e-6);
                EXPECT_NEAR(k->sq8_dot(a.get(), c.get(), n), dot, 1e-5 * dot_abs + 1e-6);
            }
        }
    }
    EXPECT_GE(isas, 1);
}

// The prepared-query form follows index_distance's definition on the decoded vector.
TEST(Sq8Kernels, IndexDistanceOfDecodedVector) {
    std::mt19937_64 rng(6);
    std::normal_distribution<float> normal;
    std::uniform_real_distribution<float> pos(0.001f, 0.02f);
    std::uniform_int_distribution<int> code(0, 255);
    for (std::size_t dim : {1, 3, 17, 128, 385}) {
        std::vector<float> q(dim), lo(dim), step(dim), decoded(dim), prepared(dim);
        std::vector<uint8_t> c(dim);
        for (std::size_t j = 0; j < dim; j++) {
            q[j] = normal(rng);
            lo[j] = -1.0f + 0.1f * normal(rng);
            step[j] = j % 5 == 0 ? 0.0f : pos(rng);
            c[j] = uint8_t(code(rng));
            decoded[j] = float(double(lo[j]) + double(step[j]) * c[j]);
        }
        for (Metric m : {Metric::L2, Metric::InnerProduct, Metric::Cosine}) {
            float bias = kyrodb::sq8_prepare_query(m, q.data(), lo.data(), step.data(), dim, prepared.data());
            float approx = kyrodb::sq8_index_distance(m, prepared.data(), bias, step.data(), c.data(), dim);
            double ref = 0, scale = 0;
            for (std::size_t j = 0; j < dim; j++) {
                if (m == Metric::L2) ref += (double(q[j]) - decoded[j]) * (double(q[j]) - decoded[j]);
                else ref += double(q[j]) * decoded[j];
                scale += std::fabs(double(q[j])) * (std::fabs(double(decoded[j])) + std::fabs(double(lo[j])));
            }
            if (m == Metric::InnerProduct) ref = -ref;
            if (m == Metric::Cosine) ref = 1.0 - ref;
            SCOPED_TRACE("metric " + std::to_string(int(m)) + " dim " + std::to_string(dim));
            EXPECT_NEAR(approx, ref, 1e-5 * (scale + std::fabs(ref)) + 1e-5);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Format

uint64_t align64(uint64_t x) { return (x + 63) / 64 * 64; }

std::vector<float> uniform_vectors(std::size_t n, uint32_t dim, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> uni(-3.0f, 5.0f);
    std::vector<float> v(n * dim);
    for (float &x : v) x = uni(rng);
    return v;
}

std::vector<uint8_t> build_image(Metric metric, const std::vector<float> &vectors, std::size_t n, uint32_t dim,
                                 Quantization q, uint32_t m = 8, unsigned threads = 1) {
    std::vector<uint64_t> payloads(n);
    for (std::size_t i = 0; i < n; i++) payloads[i] = 7000 + i;
    BuildParams p{metric, dim};
    p.m = m;
    p.ef_construction = 64;
    p.threads = threads;
    p.quantization = q;
    return kyrodb::build_segment(p, vectors.data(), payloads.data(), n, nullptr);
}

TEST(Sq8Format, RoundTrip) {
    for (std::size_t n : {0, 1, 2, 1000}) {
        const uint32_t dim = 17;
        std::vector<float> v = uniform_vectors(n, dim, 11 + n);
        std::vector<uint8_t> image = build_image(Metric::L2, v, n, dim, Quantization::SQ8);
        SegmentView seg;
        std::string error;
        ASSERT_TRUE(SegmentView::open(image.data(), image.size(), &seg, &error)) << error;
        const SegmentHeader &h = seg.header();
        EXPECT_EQ(seg.quantization(), Quantization::SQ8);
        EXPECT_EQ(h.quantization, 1u);
        const uint64_t lo_at = align64(h.payload_offset + uint64_t(n) * 8);
        const uint64_t codes_at = align64(lo_at + 2 * dim * sizeof(float));
        EXPECT_EQ(kyrodb::sq8_offset(h), lo_at);
        EXPECT_EQ(kyrodb::sq8_codes_offset(h), codes_at);
        EXPECT_EQ(h.total_size, codes_at + uint64_t(n) * dim);
        EXPECT_EQ(h.total_size, image.size());
        EXPECT_EQ(reinterpret_cast<const uint8_t *>(seg.sq8_lo()), image.data() + lo_at);
        EXPECT_EQ(seg.sq8_step(), seg.sq8_lo() + dim);
        EXPECT_EQ(seg.sq8_codes(0), image.data() + codes_at);
        // The same layout as segment_layout computes.
        SegmentHeader expect = kyrodb::segment_layout(Metric::L2, dim, 8, uint32_t(n), 0, Quantization::SQ8);
        EXPECT_EQ(expect.payload_offset <= h.payload_offset, true);
        if (n == 0) continue;
        for (uint32_t j = 0; j < dim; j++) {
            float lo = v[j], hi = v[j];
            for (std::size_t i = 0; i < n; i++) {
                lo = std::min(lo, v[i * dim + j]);
                hi = std::max(hi, v[i * dim + j]);
            }
            EXPECT_EQ(seg.sq8_lo()[j], lo);
            EXPECT_FLOAT_EQ(seg.sq8_step()[j], (hi - lo) / 255.0f);
        }
        int min_code = 255, max_code = 0;
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *c = seg.sq8_codes(i);
            for (uint32_t j = 0; j < dim; j++) {
                min_code = std::min<int>(min_code, c[j]);
                max_code = std::max<int>(max_code, c[j]);
                const float step = seg.sq8_step()[j];
                const double decoded = double(seg.sq8_lo()[j]) + double(step) * c[j];
                EXPECT_LE(std::fabs(decoded - v[i * dim + j]), step / 2 * (1 + 1e-5) + 1e-6)
                    << "element " << i << " dim " << j;
            }
        }
        if (n > 1) {
            EXPECT_EQ(min_code, 0);
            EXPECT_EQ(max_code, 255);
        }
    }
}

TEST(Sq8Format, OldImagesStillOpen) {
    const uint32_t dim = 9;
    std::vector<float> v = uniform_vectors(300, dim, 3);
    std::vector<uint8_t> image = build_image(Metric::L2, v, 300, dim, Quantization::None);
    SegmentHeader h;
    std::memcpy(&h, image.data(), sizeof h);
    EXPECT_EQ(h.quantization, 0u);  // the former `reserved` word
    SegmentView seg;
    std::string error;
    ASSERT_TRUE(SegmentView::open(image.data(), image.size(), &seg, &error)) << error;
    EXPECT_EQ(seg.quantization(), Quantization::None);
    EXPECT_EQ(seg.sq8_lo(), nullptr);
    EXPECT_EQ(seg.sq8_step(), nullptr);
    // The None layout has not changed: payloads end the image.
    EXPECT_EQ(h.total_size, h.payload_offset + 300 * 8);
    EXPECT_EQ(kyrodb::segment_layout(Metric::L2, dim, 8, 300, 0).total_size,
              kyrodb::segment_layout(Metric::L2, dim, 8, 300, 0, Quantization::None).total_size);
    // An SQ8 search setting on a float image searches the floats.
    Searcher s;
    std::vector<Neighbor> out, ref;
    s.search(seg, v.data(), 10, nullptr, &out);
    s.set_use_sq8(false);
    s.search(seg, v.data(), 10, nullptr, &ref);
    ASSERT_EQ(out.size(), ref.size());
    for (std::size_t i = 0; i < out.size(); i++) EXPECT_EQ(out[i].id, ref[i].id);
}

TEST(Sq8Format, RejectsUnknownQuantizationAndBadTotalSize) {
    const uint32_t dim = 9;
    std::vector<float> v = uniform_vectors(300, dim, 4);
    std::vector<uint8_t> sq8 = build_image(Metric::L2, v, 300, dim, Quantization::SQ8);
    std::vector<uint8_t> plain = build_image(Metric::L2, v, 300, dim, Quantization::None);
    SegmentView seg;
    std::string error;
    auto with = [](std::vector<uint8_t> image, auto edit) {
        SegmentHeader h;
        std::memcpy(&h, image.data(), sizeof h);
        edit(h);
        std::memcpy(image.data(), &h, sizeof h);
        return image;
    };
    for (uint32_t q : {2u, 3u, 0x8000u, 0xFFFFu}) {
        for (const auto *base : {&sq8, &plain}) {
            std::vector<uint8_t> bad = with(*base, [q](SegmentHeader &h) { h.quantization = uint16_t(q); });
            EXPECT_FALSE(SegmentView::open(bad.data(), bad.size(), &seg, &error));
            EXPECT_NE(error.find("quantization"), std::string::npos) << error;
            EXPECT_FALSE(SegmentView::attach(bad.data(), bad.size(), &seg, &error));
            EXPECT_FALSE(kyrodb::check_segment_header(*reinterpret_cast<const SegmentHeader *>(bad.data()),
                                                      bad.size(), &error));
        }
    }
    // The field after it counts attributes: more than an index can have, or some the image has
    // no section for, are rejected.
    for (uint16_t a : {uint16_t(1), uint16_t(32), uint16_t(0xFFFF)}) {
        std::vector<uint8_t> bad = with(plain, [a](SegmentHeader &h) { h.attributes = a; });
        EXPECT_FALSE(SegmentView::open(bad.data(), bad.size(), &seg, &error));
    }
    // A float image claiming SQ8: the section is missing, total_size does not match.
    std::vector<uint8_t> bad = with(plain, [](SegmentHeader &h) { h.quantization = 1; });
    EXPECT_FALSE(SegmentView::open(bad.data(), bad.size(), &seg, &error));
    EXPECT_NE(error.find("total_size"), std::string::npos) << error;
    // An SQ8 image whose total_size is one byte short or long of its section.
    for (int64_t delta : {-1, 1, 64}) {
        std::vector<uint8_t> b = with(sq8, [delta](SegmentHeader &h) { h.total_size += delta; });
        b.resize(b.size() + 64);
        EXPECT_FALSE(SegmentView::open(b.data(), b.size(), &seg, &error)) << delta;
        EXPECT_NE(error.find("total_size"), std::string::npos) << error;
    }
    // Truncated: the codes run past the end.
    EXPECT_FALSE(SegmentView::open(sq8.data(), sq8.size() - 1, &seg, &error));
    EXPECT_TRUE(SegmentView::open(sq8.data(), sq8.size(), &seg, &error)) << error;
    EXPECT_TRUE(SegmentView::attach(sq8.data(), sq8.size(), &seg, &error)) << error;
    EXPECT_THROW(kyrodb::segment_layout(Metric::L2, dim, 8, 10, 0, Quantization(7)), std::invalid_argument);
}

// PagedSegment reads SQ8 images (on floats): the same results as the view searched on floats.
class VectorReader : public kyrodb::ImageReader {
  public:
    explicit VectorReader(const std::vector<uint8_t> &image) : image_(image) {}
    void read(uint64_t offset, std::size_t size, void *dst) override {
        std::memcpy(dst, image_.data() + offset, size);
    }

  private:
    const std::vector<uint8_t> &image_;
};

TEST(Sq8Format, PagedSegmentAcceptsSq8) {
    const uint32_t dim = 12;
    std::vector<float> v = uniform_vectors(2000, dim, 8);
    std::vector<uint8_t> image = build_image(Metric::L2, v, 2000, dim, Quantization::SQ8);
    VectorReader reader(image);
    kyrodb::PagedSegment paged;
    std::string error;
    ASSERT_TRUE(kyrodb::PagedSegment::open(&reader, image.size(), &paged, &error)) << error;
    SegmentView seg;
    ASSERT_TRUE(SegmentView::open(image.data(), image.size(), &seg, &error)) << error;
    Searcher s, floats;
    floats.set_use_sq8(false);
    std::vector<Neighbor> a, b;
    for (std::size_t q = 0; q < 20; q++) {
        s.search(paged, &v[q * 37 * dim], 20, nullptr, &a);
        floats.search(seg, &v[q * 37 * dim], 20, nullptr, &b);
        ASSERT_EQ(a.size(), b.size());
        for (std::size_t i = 0; i < a.size(); i++) {
            EXPECT_EQ(a[i].id, b[i].id);
            EXPECT_EQ(a[i].distance, b[i].distance);
        }
    }
    EXPECT_FALSE(paged.corrupt());
}

// ---------------------------------------------------------------------------------------------
// Search

constexpr uint32_t kDim = kyrodb_test::kClusteredDim;
constexpr std::size_t kN = 20000, kQueries = 200, kK = 10;

using Data = kyrodb_test::ClusteredData;

struct Built {
    Data data;
    std::vector<uint8_t> image;
    SegmentView seg;
};

const Built &built(Metric metric) {
    static std::map<Metric, std::unique_ptr<Built>> cache;
    std::unique_ptr<Built> &b = cache[metric];
    if (!b) {
        b = std::make_unique<Built>();
        b->data = kyrodb_test::clustered_data(metric, kN, kQueries);
        b->image = build_image(metric, b->data.vectors, kN, kDim, Quantization::SQ8, 16, 2);
        std::string error;
        EXPECT_TRUE(SegmentView::open(b->image.data(), b->image.size(), &b->seg, &error)) << error;
    }
    return *b;
}

class Sq8Search : public ::testing::TestWithParam<Metric> {};

// Every distance returned is the float ranking distance, bit for bit, and the order is exact()'s.
void expect_exact_distances(const SegmentView &seg, Metric metric, const float *query,
                            const std::vector<Neighbor> &out) {
    for (std::size_t i = 0; i < out.size(); i++) {
        EXPECT_EQ(out[i].distance, kyrodb::index_distance(metric, query, seg.vector(out[i].id), seg.dim()));
        if (i > 0) {
            EXPECT_TRUE(out[i - 1].distance < out[i].distance ||
                        (out[i - 1].distance == out[i].distance && out[i - 1].id < out[i].id));
        }
    }
}

TEST_P(Sq8Search, WholeSegmentIsExact) {
    const Metric metric = GetParam();
    const std::size_t n = 500;
    Data d = kyrodb_test::clustered_data(metric, n, 20);
    std::vector<uint8_t> image = build_image(metric, d.vectors, n, kDim, Quantization::SQ8);
    SegmentView seg;
    std::string error;
    ASSERT_TRUE(SegmentView::open(image.data(), image.size(), &seg, &error)) << error;
    std::vector<uint64_t> deleted((n + 63) / 64, 0);
    for (uint32_t i = 0; i < n; i += 7) deleted[i / 64] |= uint64_t(1) << (i % 64);
    Searcher s;
    std::vector<Neighbor> approx, truth;
    for (std::size_t q = 0; q < 20; q++) {
        const float *query = &d.queries[q * kDim];
        const uint64_t *none = nullptr, *some = deleted.data();
        for (const uint64_t *del : {none, some}) {
            for (std::size_t ef : {n, n + 1, 4 * n}) {
                s.search(seg, query, ef, del, &approx);
                s.exact(seg, query, del, &truth);
                ASSERT_EQ(approx.size(), truth.size());
                for (std::size_t i = 0; i < truth.size(); i++) {
                    EXPECT_EQ(approx[i].id, truth[i].id);
                    EXPECT_EQ(approx[i].distance, truth[i].distance);
                }
            }
            // Live elements fewer than ef < count: the walk and the scan find all of them, and the
            // re-rank orders them as exact() does.
            if (del) {
                s.search(seg, query, n - 1, del, &approx);
                s.exact(seg, query, del, &truth);
                ASSERT_EQ(approx.size(), truth.size());
                for (std::size_t i = 0; i < truth.size(); i++) {
                    EXPECT_EQ(approx[i].id, truth[i].id);
                    EXPECT_EQ(approx[i].distance, truth[i].distance);
                }
            }
        }
    }
}

TEST_P(Sq8Search, RecallCloseToFloat) {
    const Metric metric = GetParam();
    const Built &b = built(metric);
    ASSERT_EQ(b.seg.quantization(), Quantization::SQ8);
    Searcher sq8, floats;
    floats.set_use_sq8(false);
    EXPECT_TRUE(sq8.use_sq8());
    std::vector<Neighbor> a, f, truth;
    std::size_t hits_sq8 = 0, hits_float = 0, visited_sq8 = 0, visited_float = 0, walks_differ = 0;
    for (std::size_t q = 0; q < kQueries; q++) {
        const float *query = &b.data.queries[q * kDim];
        float covered = sq8.search(b.seg, query, 40, nullptr, &a);
        visited_sq8 += sq8.visited();
        floats.search(b.seg, query, 40, nullptr, &f);
        visited_float += floats.visited();
        walks_differ += sq8.visited() != floats.visited();
        sq8.exact(b.seg, query, nullptr, &truth);
        ASSERT_EQ(a.size(), 40u);
        expect_exact_distances(b.seg, metric, query, a);
        EXPECT_EQ(covered, a.back().distance);  // ef kept: the farthest exact distance
        std::set<uint32_t> want;
        for (std::size_t i = 0; i < kK; i++) want.insert(truth[i].id);
        for (std::size_t i = 0; i < kK; i++) {
            hits_sq8 += want.count(a[i].id);
            hits_float += want.count(f[i].id);
        }
    }
    const double r_sq8 = double(hits_sq8) / (kQueries * kK), r_float = double(hits_float) / (kQueries * kK);
    std::printf("[ sq8      ] metric %u: recall@10 at ef 40: sq8 %.4f, float %.4f; visited %.1f vs %.1f "
                "(%zu of %zu walks differ)\n",
                unsigned(metric), r_sq8, r_float, double(visited_sq8) / kQueries, double(visited_float) / kQueries,
                walks_differ, kQueries);
    EXPECT_GE(r_sq8, 0.9);
    EXPECT_GE(r_sq8, r_float - 0.02);
}

// Banded search: the covered distance is an exact distance, within `radius`.
TEST_P(Sq8Search, BandedCoveredIsExact) {
    const Metric metric = GetParam();
    const Built &b = built(metric);
    Searcher s;
    std::vector<Neighbor> out, full;
    for (std::size_t q = 0; q < 50; q++) {
        const float *query = &b.data.queries[q * kDim];
        s.search(b.seg, query, 40, nullptr, &full);
        // A radius at the 20th exact result: the band keeps elements within it.
        const float radius = full[19].distance;
        float covered = s.search(b.seg, query, 40, nullptr, &out, radius, 10);
        expect_exact_distances(b.seg, metric, query, out);
        ASSERT_FALSE(out.empty());
        EXPECT_LE(covered, radius);
        if (out.size() >= 40) EXPECT_EQ(covered, std::min(radius, out.back().distance));
        else EXPECT_EQ(covered, radius);
        // A radius beyond everything: ef results, covered = the farthest exact one.
        covered = s.search(b.seg, query, 40, nullptr, &out, 1e30f, 10);
        ASSERT_EQ(out.size(), 40u);
        EXPECT_EQ(covered, out.back().distance);
    }
}

INSTANTIATE_TEST_SUITE_P(Metrics, Sq8Search, ::testing::Values(Metric::L2, Metric::InnerProduct, Metric::Cosine),
                         [](const ::testing::TestParamInfo<Metric> &info) {
                             return std::string(info.param == Metric::L2             ? "L2"
                                                : info.param == Metric::InnerProduct ? "InnerProduct"
                                                                                     : "Cosine");
                         });

// A dimension constant over the segment: step 0, codes 0, decoded exactly; search still works.
TEST(Sq8Search, ConstantDimension) {
    const std::size_t n = 3000;
    Data d = kyrodb_test::clustered_data(Metric::L2, n, 50, /*constant_dim=*/true);
    std::vector<uint8_t> image = build_image(Metric::L2, d.vectors, n, kDim, Quantization::SQ8, 16);
    SegmentView seg;
    std::string error;
    ASSERT_TRUE(SegmentView::open(image.data(), image.size(), &seg, &error)) << error;
    EXPECT_EQ(seg.sq8_step()[5], 0.0f);
    EXPECT_EQ(seg.sq8_lo()[5], 1.5f);
    for (uint32_t i = 0; i < n; i++) ASSERT_EQ(seg.sq8_codes(i)[5], 0);
    Searcher s;
    std::vector<Neighbor> out, truth;
    std::size_t hits = 0;
    for (std::size_t q = 0; q < 50; q++) {
        const float *query = &d.queries[q * kDim];
        s.search(seg, query, 40, nullptr, &out);
        s.exact(seg, query, nullptr, &truth);
        expect_exact_distances(seg, Metric::L2, query, out);
        std::set<uint32_t> want;
        for (std::size_t i = 0; i < kK; i++) want.insert(truth[i].id);
        for (std::size_t i = 0; i < kK; i++) hits += want.count(out[i].id);
    }
    EXPECT_GE(double(hits) / (50 * kK), 0.9);
    // An image whose only element(s) are equal in every dimension: all steps 0.
    std::vector<float> same(4 * kDim, 0.25f);
    image = build_image(Metric::L2, same, 4, kDim, Quantization::SQ8);
    ASSERT_TRUE(SegmentView::open(image.data(), image.size(), &seg, &error)) << error;
    for (uint32_t j = 0; j < kDim; j++) EXPECT_EQ(seg.sq8_step()[j], 0.0f);
    s.search(seg, d.queries.data(), 2, nullptr, &out);
    ASSERT_EQ(out.size(), 2u);
    expect_exact_distances(seg, Metric::L2, d.queries.data(), out);
}

TEST(Sq8Build, BytesPerElementCountsCodes) {
    EXPECT_EQ(kyrodb::build_bytes_per_element(64, 16), kyrodb::build_bytes_per_element(64, 16, Quantization::None));
    EXPECT_GE(kyrodb::build_bytes_per_element(128, 16, Quantization::SQ8),
              kyrodb::build_bytes_per_element(128, 16) + 128);
}

}  // namespace
