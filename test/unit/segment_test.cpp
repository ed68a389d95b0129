// Unit tests of the segment image: structure of built images and SegmentView::open's validation.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kyrodb/hnsw.h"
#include "kyrodb/segment.h"

namespace {

using kyrodb::BuildParams;
using kyrodb::Metric;
using kyrodb::SegmentHeader;
using kyrodb::SegmentView;

struct Input {
    std::vector<float> vectors;
    std::vector<uint64_t> payloads;
};

Input random_input(std::size_t n, uint32_t dim, uint32_t seed) {
    Input in;
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal;
    in.vectors.resize(n * dim);
    for (float &x : in.vectors) x = normal(rng);
    for (std::size_t i = 0; i < n; i++) in.payloads.push_back(0x1234567800000000ull + i * 7919);
    return in;
}

std::vector<uint8_t> build(const Input &in, std::size_t n, uint32_t dim, uint32_t m = 8) {
    BuildParams p{Metric::L2, dim};
    p.m = m;
    p.ef_construction = 32;
    p.threads = 2;
    return kyrodb::build_segment(p, in.vectors.data(), in.payloads.data(), n, nullptr);
}

bool opens(const std::vector<uint8_t> &image, std::size_t size, std::string *error) {
    SegmentView view;
    return SegmentView::open(image.data(), size, &view, error);
}

class SegmentBuild : public ::testing::TestWithParam<std::size_t> {};

TEST_P(SegmentBuild, StructureMatchesInput) {
    const std::size_t n = GetParam();
    const uint32_t dim = 12, m = 8;
    Input in = random_input(n, dim, 7);
    std::vector<uint8_t> image = build(in, n, dim, m);
    SegmentView seg;
    std::string error;
    ASSERT_TRUE(SegmentView::open(image.data(), image.size(), &seg, &error)) << error;

    const SegmentHeader &h = seg.header();
    EXPECT_EQ(h.total_size, image.size());
    EXPECT_EQ(seg.count(), n);
    EXPECT_EQ(seg.dim(), dim);
    EXPECT_EQ(seg.metric(), Metric::L2);
    EXPECT_EQ(h.m, m);
    EXPECT_EQ(h.m0, 2 * m);
    for (uint64_t off : {h.vectors_offset, h.level0_offset, h.levels_offset, h.upper_index_offset,
                         h.upper_offset, h.payload_offset})
        EXPECT_EQ(off % 64, 0u);
    if (n == 0) {
        EXPECT_EQ(h.max_level, -1);
        EXPECT_EQ(h.entry_point, 0u);
        return;
    }
    EXPECT_EQ(seg.level(h.entry_point), h.max_level);

    int max_seen = 0;
    std::size_t edges = 0;
    for (uint32_t i = 0; i < n; i++) {
        ASSERT_EQ(std::memcmp(seg.vector(i), &in.vectors[i * dim], dim * sizeof(float)), 0) << i;
        ASSERT_EQ(seg.payload(i), in.payloads[i]);
        max_seen = std::max(max_seen, seg.level(i));
        ASSERT_LE(seg.level(i), h.max_level);
        for (int level = 0; level <= seg.level(i); level++) {
            uint32_t k;
            const uint32_t *ids = seg.neighbours(i, level, &k);
            ASSERT_LE(k, level == 0 ? h.m0 : h.m);
            for (uint32_t j = 0; j < k; j++) {
                ASSERT_LT(ids[j], n);
                ASSERT_NE(ids[j], i) << "self loop";
                ASSERT_GE(seg.level(ids[j]), level) << "neighbour does not reach the level";
            }
            edges += k;
        }
    }
    EXPECT_EQ(max_seen, h.max_level);
    if (n > 1) {
        EXPECT_GT(edges, 0u);
    }
}

INSTANTIATE_TEST_SUITE_P(SegmentSizes, SegmentBuild, ::testing::Values(0, 1, 2, 100, 5000));

// A 5000-element image (several levels) and its header, for the rejection tests.
class SegmentOpen : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        Input in = random_input(5000, 8, 3);
        image_ = new std::vector<uint8_t>(build(in, 5000, 8, 4));  // m = 4: many upper levels
    }
    static void TearDownTestSuite() { delete image_; }
    void SetUp() override {
        copy_ = *image_;
        std::memcpy(&h_, copy_.data(), sizeof h_);
    }
    void store_header() { std::memcpy(copy_.data(), &h_, sizeof h_); }
    template <class T>
    T *at(uint64_t offset) {
        return reinterpret_cast<T *>(copy_.data() + offset);
    }
    bool open_copy() { return opens(copy_, copy_.size(), &error_); }

    static std::vector<uint8_t> *image_;
    std::vector<uint8_t> copy_;
    SegmentHeader h_;
    std::string error_;
};
std::vector<uint8_t> *SegmentOpen::image_ = nullptr;

TEST_F(SegmentOpen, AcceptsIntact) {
    EXPECT_TRUE(open_copy()) << error_;
    EXPECT_GT(h_.max_level, 1);
}

TEST_F(SegmentOpen, RejectsBadMagic) {
    h_.magic ^= 1;
    store_header();
    EXPECT_FALSE(open_copy());
    EXPECT_NE(error_.find("magic"), std::string::npos) << error_;
}

TEST_F(SegmentOpen, RejectsBadVersion) {
    h_.version = kyrodb::kSegmentVersion + 1;
    store_header();
    EXPECT_FALSE(open_copy());
    EXPECT_NE(error_.find("version"), std::string::npos) << error_;
}

TEST_F(SegmentOpen, RejectsTruncated) {
    EXPECT_FALSE(opens(copy_, copy_.size() - 1, &error_));
    EXPECT_FALSE(opens(copy_, 50, &error_));
    EXPECT_FALSE(opens(copy_, 0, &error_));
}

TEST_F(SegmentOpen, RejectsCorruptLevel0Id) {
    uint32_t *list = at<uint32_t>(h_.level0_offset) + 17 * (1 + h_.m0);
    ASSERT_GT(list[0], 0u);
    list[1] = h_.count;
    EXPECT_FALSE(open_copy());
    EXPECT_NE(error_.find("neighbour"), std::string::npos) << error_;
}

TEST_F(SegmentOpen, RejectsCorruptUpperId) {
    ASSERT_GT(h_.max_level, 0);
    uint32_t *list = at<uint32_t>(h_.upper_offset + 4 * (1 + h_.m) * sizeof(uint32_t));
    ASSERT_GT(list[0], 0u);
    list[1] = 0xFFFFFFF0u;
    EXPECT_FALSE(open_copy());
}

TEST_F(SegmentOpen, RejectsTooLongList) {
    at<uint32_t>(h_.level0_offset)[0] = h_.m0 + 1;
    EXPECT_FALSE(open_copy());
}

TEST_F(SegmentOpen, RejectsOffsetPastEnd) {
    h_.payload_offset = h_.total_size - 64 * 4;  // the payloads would run past the end
    store_header();
    EXPECT_FALSE(open_copy());
    SetUp();
    h_.vectors_offset = uint64_t(1) << 62;
    store_header();
    EXPECT_FALSE(open_copy());
    SetUp();
    h_.upper_offset = h_.total_size + 64;
    store_header();
    EXPECT_FALSE(open_copy());
}

// Found by test/fuzz/segment_fuzz: an upper_offset of 2^64-1 in an otherwise valid header made open()
// form base + upper_offset before checking it, a pointer overflow (undefined behaviour, UBSan).
// open() and attach() now bound the offset with the other sections.
TEST_F(SegmentOpen, RejectsUpperOffsetThatOverflowsThePointer) {
    h_.upper_offset = UINT64_MAX;
    store_header();
    EXPECT_FALSE(open_copy());
    EXPECT_NE(error_.find("outside the image"), std::string::npos) << error_;
    SegmentView view;
    EXPECT_FALSE(SegmentView::attach(copy_.data(), copy_.size(), &view, &error_));
}

TEST_F(SegmentOpen, RejectsMisalignedOffset) {
    h_.level0_offset += 4;
    store_header();
    EXPECT_FALSE(open_copy());
}

TEST_F(SegmentOpen, RejectsBadLevelsAndEntryPoint) {
    at<uint8_t>(h_.levels_offset)[3] = uint8_t(h_.max_level + 1);
    EXPECT_FALSE(open_copy());
    SetUp();
    h_.entry_point = h_.count;
    store_header();
    EXPECT_FALSE(open_copy());
    SetUp();
    // An element on level 0 whose upper index points somewhere.
    for (uint32_t i = 0; i < h_.count; i++) {
        if (at<uint8_t>(h_.levels_offset)[i] == 0) {
            at<uint32_t>(h_.upper_index_offset)[i] = 0;
            break;
        }
    }
    EXPECT_FALSE(open_copy());
}

TEST_F(SegmentOpen, RejectsMetricAndDim) {
    h_.metric = 9;
    store_header();
    EXPECT_FALSE(open_copy());
    SetUp();
    h_.dim = 0;
    store_header();
    EXPECT_FALSE(open_copy());
}

// Levels are drawn from the seed, not by the threads: one thread gives the same image every time,
// and two threads give the same levels (the graph itself depends on the interleaving).
TEST(SegmentBuildDeterminism, SeedFixesLevels) {
    const std::size_t n = 3000;
    const uint32_t dim = 8;
    Input in = random_input(n, dim, 11);
    BuildParams p{Metric::InnerProduct, dim};
    p.m = 6;
    p.threads = 1;
    std::vector<uint8_t> a = kyrodb::build_segment(p, in.vectors.data(), in.payloads.data(), n, nullptr);
    std::vector<uint8_t> b = kyrodb::build_segment(p, in.vectors.data(), in.payloads.data(), n, nullptr);
    EXPECT_EQ(a, b);
    p.threads = 2;
    std::vector<uint8_t> c = kyrodb::build_segment(p, in.vectors.data(), in.payloads.data(), n, nullptr);
    SegmentView va, vc;
    ASSERT_TRUE(SegmentView::open(a.data(), a.size(), &va, nullptr));
    ASSERT_TRUE(SegmentView::open(c.data(), c.size(), &vc, nullptr));
    std::size_t upper = 0;
    for (uint32_t i = 0; i < n; i++) {
        ASSERT_EQ(va.level(i), vc.level(i));
        upper += va.level(i) > 0;
    }
    EXPECT_EQ(va.header().max_level, vc.header().max_level);
    // P(level >= 1) = 1/m
    EXPECT_NEAR(double(upper) / n, 1.0 / p.m, 0.03);
    p.seed = 43;
    std::vector<uint8_t> d = kyrodb::build_segment(p, in.vectors.data(), in.payloads.data(), n, nullptr);
    EXPECT_NE(a, d);
}

TEST(SegmentLayout, EmptyImageOpens) {
    SegmentHeader h = kyrodb::segment_layout(Metric::Cosine, 3, 16, 0, 0);
    std::vector<uint8_t> image(h.total_size);
    std::memcpy(image.data(), &h, sizeof h);
    std::string error;
    EXPECT_TRUE(opens(image, image.size(), &error)) << error;
    EXPECT_THROW(kyrodb::segment_layout(Metric::L2, 3, 16, 10, UINT32_MAX), std::length_error);
}

}  // namespace
