// Unit tests of the HNSW builder and searcher: recall against exact search for each metric,
// deletions, cancellation, threads, and the exact-equality guarantees.
#include <dirent.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "clustered_data.h"
#include "kyrodb/hnsw.h"

namespace {

using kyrodb::BuildParams;
using kyrodb::Metric;
using kyrodb::Neighbor;
using kyrodb::Searcher;
using kyrodb::SegmentView;

constexpr uint32_t kDim = kyrodb_test::kClusteredDim;
constexpr std::size_t kN = 20000, kQueries = 200, kK = 10, kEf = 64;

// Clustered embedding-like data (clustered_data.h), with payloads.
struct Data : kyrodb_test::ClusteredData {
    std::vector<uint64_t> payloads;
};

Data make_data(Metric metric) {
    Data data;
    static_cast<kyrodb_test::ClusteredData &>(data) = kyrodb_test::clustered_data(metric, kN, kQueries);
    for (std::size_t i = 0; i < kN; i++) data.payloads.push_back(1000000 + i);
    return data;
}

struct Built {
    Data data;
    std::vector<uint8_t> image;
    SegmentView seg;
};

// Images are built once per (metric, threads) and shared by the tests.
const Built &built(Metric metric, unsigned threads = 2) {
    static std::map<std::pair<Metric, unsigned>, std::unique_ptr<Built>> cache;
    std::unique_ptr<Built> &b = cache[{metric, threads}];
    if (!b) {
        b = std::make_unique<Built>();
        b->data = make_data(metric);
        BuildParams p{metric, kDim};
        p.m = 16;
        p.ef_construction = 64;
        p.threads = threads;
        auto start = std::chrono::steady_clock::now();
        b->image = kyrodb::build_segment(p, b->data.vectors.data(), b->data.payloads.data(), kN, nullptr);
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("[ build    ] metric %u, threads %u: %.2f s\n", unsigned(metric), threads, secs);
        std::string error;
        EXPECT_TRUE(SegmentView::open(b->image.data(), b->image.size(), &b->seg, &error)) << error;
    }
    return *b;
}

// Mean recall@k of search(ef) against exact(), both under `deleted`; also checks that no deleted
// id is returned and that every distance is index_distance's, bit for bit.
double recall(const Built &b, std::size_t ef, const uint64_t *deleted = nullptr) {
    Searcher searcher;
    std::vector<Neighbor> approx, truth;
    std::size_t hits = 0, total = 0;
    for (std::size_t q = 0; q < kQueries; q++) {
        const float *query = &b.data.queries[q * kDim];
        searcher.search(b.seg, query, ef, deleted, &approx);
        searcher.exact(b.seg, query, deleted, &truth);
        EXPECT_EQ(approx.size(), std::min(ef, truth.size()));
        std::set<uint32_t> want;
        for (std::size_t i = 0; i < std::min(kK, truth.size()); i++) want.insert(truth[i].id);
        for (std::size_t i = 0; i < approx.size(); i++) {
            const Neighbor &r = approx[i];
            if (deleted) {
                EXPECT_FALSE((deleted[r.id / 64] >> (r.id % 64)) & 1) << "deleted id " << r.id;
            }
            EXPECT_EQ(r.distance, kyrodb::index_distance(b.seg.metric(), query, b.seg.vector(r.id), kDim));
            if (i > 0) {
                EXPECT_LE(approx[i - 1].distance, r.distance);
            }
            if (i < kK) hits += want.count(r.id);
        }
        total += want.size();
    }
    return double(hits) / double(total);
}

void expect_recall(Metric metric, unsigned threads) {
    double r = recall(built(metric, threads), kEf);
    double r10 = recall(built(metric, threads), kK);  // for information: more sensitive to graph quality
    std::printf("[ recall   ] metric %u, threads %u: recall@10 = %.4f at ef %zu, %.4f at ef %zu\n", unsigned(metric),
                threads, r, kEf, r10, kK);
    EXPECT_GE(r, 0.95);
}

TEST(HnswRecall, L2) { expect_recall(Metric::L2, 2); }
TEST(HnswRecall, InnerProduct) { expect_recall(Metric::InnerProduct, 2); }
TEST(HnswRecall, Cosine) { expect_recall(Metric::Cosine, 2); }
TEST(HnswRecall, SingleThreadBuild) { expect_recall(Metric::L2, 1); }

TEST(HnswSearch, LargeEfEqualsExact) {
    const Built &b = built(Metric::L2);
    // A 3000-element prefix image: ef >= count must give exactly exact()'s answer.
    BuildParams p{Metric::L2, kDim};
    const std::size_t n = 3000;
    std::vector<uint8_t> image = kyrodb::build_segment(p, b.data.vectors.data(), b.data.payloads.data(), n, nullptr);
    SegmentView seg;
    ASSERT_TRUE(SegmentView::open(image.data(), image.size(), &seg, nullptr));
    std::vector<uint64_t> deleted((n + 63) / 64);
    for (std::size_t i = 0; i < n; i += 3) deleted[i / 64] |= uint64_t(1) << (i % 64);
    Searcher searcher;
    std::vector<Neighbor> approx, truth;
    for (std::size_t q = 0; q < 20; q++) {
        const float *query = &b.data.queries[q * kDim];
        for (const uint64_t *del : {static_cast<const uint64_t *>(nullptr), static_cast<const uint64_t *>(deleted.data())}) {
            searcher.exact(seg, query, del, &truth);
            for (std::size_t ef : {n, n + 1, n * 10}) {
                searcher.search(seg, query, ef, del, &approx);
                ASSERT_EQ(approx.size(), truth.size());
                for (std::size_t i = 0; i < truth.size(); i++) {
                    ASSERT_EQ(approx[i].id, truth[i].id);
                    ASSERT_EQ(std::memcmp(&approx[i].distance, &truth[i].distance, sizeof(float)), 0);
                }
            }
        }
    }
}

TEST(HnswSearch, HalfDeleted) {
    const Built &b = built(Metric::L2);
    std::vector<uint64_t> deleted((kN + 63) / 64);
    std::mt19937 rng(5);
    for (std::size_t i = 0; i < kN; i++)
        if (rng() & 1) deleted[i / 64] |= uint64_t(1) << (i % 64);
    double r = recall(b, kEf, deleted.data());
    std::printf("[ recall   ] half deleted: recall@10 = %.4f (ef %zu)\n", r, kEf);
    EXPECT_GE(r, 0.9);
}

TEST(HnswSearch, AllButFiveDeleted) {
    const Built &b = built(Metric::L2);
    std::vector<uint64_t> deleted((kN + 63) / 64, ~uint64_t(0));
    std::set<uint32_t> live = {0, 7, 4242, 12345, kN - 1};
    for (uint32_t id : live) deleted[id / 64] &= ~(uint64_t(1) << (id % 64));
    Searcher searcher;
    std::vector<Neighbor> approx, truth;
    for (std::size_t q = 0; q < 5; q++) {
        const float *query = &b.data.queries[q * kDim];
        searcher.exact(b.seg, query, deleted.data(), &truth);
        ASSERT_EQ(truth.size(), 5u);
        for (std::size_t ef : {1, 5, 10, 64}) {
            searcher.search(b.seg, query, ef, deleted.data(), &approx);
            ASSERT_EQ(approx.size(), std::min<std::size_t>(ef, 5));
            for (std::size_t i = 0; i < approx.size(); i++) {
                EXPECT_EQ(approx[i].id, truth[i].id);
                EXPECT_TRUE(live.count(approx[i].id));
            }
        }
    }
}

TEST(HnswSearch, SearcherReusedAcrossSegments) {
    const Built &big = built(Metric::L2);
    BuildParams p{Metric::L2, kDim};
    const std::size_t n = 500;
    std::vector<uint8_t> image =
        kyrodb::build_segment(p, big.data.vectors.data() + 1000 * kDim, big.data.payloads.data(), n, nullptr);
    SegmentView small;
    ASSERT_TRUE(SegmentView::open(image.data(), image.size(), &small, nullptr));
    Searcher reused;
    std::vector<Neighbor> a, b;
    for (std::size_t q = 0; q < 20; q++) {
        const float *query = &big.data.queries[q * kDim];
        const SegmentView &seg = q % 2 ? small : big.seg;
        reused.search(seg, query, 32, nullptr, &a);
        Searcher fresh;
        fresh.search(seg, query, 32, nullptr, &b);
        ASSERT_EQ(a.size(), b.size());
        for (std::size_t i = 0; i < a.size(); i++) EXPECT_EQ(a[i].id, b[i].id);
    }
}

// An index stores an image as a byte stream over pages (8,160 data bytes each, so elements cross
// page boundaries) and every process loads it to its own address: the reassembled image, opened
// or attached (the shared-memory path, which skips the graph checks), must search exactly as the
// built one.
TEST(HnswSearch, ImageReassembledFromPagesSearchesIdentically) {
    const Built &b = built(Metric::L2);
    constexpr std::size_t kPageData = 8160;
    std::vector<std::vector<uint8_t>> pages;
    for (std::size_t off = 0; off < b.image.size(); off += kPageData)
        pages.emplace_back(b.image.begin() + off, b.image.begin() + std::min(b.image.size(), off + kPageData));
    // 64 bytes past a 4 kB boundary, like an image inside the shared arena
    std::vector<uint8_t> arena(b.image.size() + 8192);
    uint8_t *at = arena.data() + (4096 - reinterpret_cast<uintptr_t>(arena.data()) % 4096) % 4096 + 64;
    std::size_t filled = 0;
    for (const auto &page : pages) {
        std::memcpy(at + filled, page.data(), page.size());
        filled += page.size();
    }
    ASSERT_EQ(filled, b.image.size());
    SegmentView opened, attached;
    std::string error;
    ASSERT_TRUE(SegmentView::open(at, filled, &opened, &error)) << error;
    ASSERT_TRUE(SegmentView::attach(at, filled, &attached, &error)) << error;
    EXPECT_EQ(std::memcmp(&opened.header(), &b.seg.header(), sizeof(kyrodb::SegmentHeader)), 0);
    Searcher searcher;
    std::vector<Neighbor> want, got_opened, got_attached;
    for (std::size_t q = 0; q < kQueries; q++) {
        const float *query = &b.data.queries[q * kDim];
        for (std::size_t ef : {10, 40, 200}) {
            searcher.search(b.seg, query, ef, nullptr, &want);
            searcher.search(opened, query, ef, nullptr, &got_opened);
            searcher.search(attached, query, ef, nullptr, &got_attached);
            ASSERT_EQ(want.size(), got_opened.size());
            ASSERT_EQ(want.size(), got_attached.size());
            for (std::size_t i = 0; i < want.size(); i++) {
                EXPECT_EQ(want[i].id, got_opened[i].id);
                EXPECT_EQ(want[i].distance, got_opened[i].distance);
                EXPECT_EQ(want[i].id, got_attached[i].id);
                EXPECT_EQ(b.seg.payload(want[i].id), attached.payload(got_attached[i].id));
            }
        }
    }
    // attach still refuses what is not an image
    std::vector<uint8_t> garbage(4096, 0x5a);
    EXPECT_FALSE(SegmentView::attach(garbage.data(), garbage.size(), &attached, &error));
    EXPECT_FALSE(SegmentView::attach(at, filled / 2, &attached, &error));
}

// Reads an image from memory in page-sized pieces, as the adapter reads index pages, and counts
// the reads.
class PieceReader : public kyrodb::ImageReader {
  public:
    explicit PieceReader(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
    void read(uint64_t offset, std::size_t size, void *dst) override {
        ASSERT_LE(offset + size, bytes_.size());  // PagedSegment never reads outside the image
        std::memcpy(dst, bytes_.data() + offset, size);
        reads++;
    }
    std::vector<uint8_t> bytes_;
    std::size_t reads = 0;
};

TEST(HnswSearch, PagedSegmentSearchesIdentically) {
    const Built &b = built(Metric::L2);
    PieceReader reader(b.image);
    kyrodb::PagedSegment paged;
    std::string error;
    ASSERT_TRUE(kyrodb::PagedSegment::open(&reader, b.image.size(), &paged, &error)) << error;
    Searcher searcher;
    std::vector<Neighbor> want, got;
    std::vector<uint64_t> deleted((b.seg.count() + 63) / 64, 0);
    for (uint32_t i = 0; i < b.seg.count(); i += 3) deleted[i / 64] |= uint64_t(1) << (i % 64);
    for (std::size_t q = 0; q < kQueries; q++) {
        const float *query = &b.data.queries[q * kDim];
        for (std::size_t ef : {10, 40, 200}) {
            const uint64_t *none = nullptr;
            for (const uint64_t *del : {none, static_cast<const uint64_t *>(deleted.data())}) {
                searcher.search(b.seg, query, ef, del, &want);
                searcher.search(paged, query, ef, del, &got);
                ASSERT_EQ(want.size(), got.size());
                for (std::size_t i = 0; i < want.size(); i++) {
                    EXPECT_EQ(want[i].id, got[i].id);
                    EXPECT_EQ(want[i].distance, got[i].distance);
                    EXPECT_EQ(b.seg.payload(want[i].id), paged.payload(got[i].id));
                }
            }
        }
    }
    searcher.exact(b.seg, b.data.queries.data(), nullptr, &want);
    searcher.exact(paged, b.data.queries.data(), nullptr, &got);
    ASSERT_EQ(want.size(), got.size());
    for (std::size_t i = 0; i < want.size(); i++) EXPECT_EQ(want[i].id, got[i].id);
    EXPECT_FALSE(paged.corrupt());
    EXPECT_GT(reader.reads, 0u);
}

TEST(HnswSearch, PagedSegmentFlagsGarbageWithoutReadingOutside) {
    const Built &b = built(Metric::L2);
    // Overwrite the graph (as pages reused under a search would be): every read stays inside the
    // image, the search ends, and the segment says it read nonsense.
    std::vector<uint8_t> bytes = b.image;
    const kyrodb::SegmentHeader &h = b.seg.header();
    std::mt19937 rng(7);
    for (uint64_t off = h.level0_offset; off < h.payload_offset; off++) bytes[off] = uint8_t(rng());
    PieceReader reader(bytes);
    kyrodb::PagedSegment paged;
    std::string error;
    ASSERT_TRUE(kyrodb::PagedSegment::open(&reader, bytes.size(), &paged, &error)) << error;
    Searcher searcher;
    std::vector<Neighbor> got;
    searcher.search(paged, b.data.queries.data(), 40, nullptr, &got);
    EXPECT_TRUE(paged.corrupt());
    // a header that is not one is refused
    std::vector<uint8_t> garbage(4096, 0x5a);
    PieceReader bad(garbage);
    EXPECT_FALSE(kyrodb::PagedSegment::open(&bad, garbage.size(), &paged, &error));
}

TEST(HnswSearch, EmptyAndSingleton) {
    BuildParams p{Metric::Cosine, 3};
    float v[3] = {1, 2, 3};
    uint64_t payload = 9;
    ASSERT_TRUE(kyrodb::prepare_vector(Metric::Cosine, v, 3));
    Searcher searcher;
    std::vector<Neighbor> out(3);
    for (std::size_t n : {0, 1}) {
        std::vector<uint8_t> image = kyrodb::build_segment(p, v, &payload, n, nullptr);
        SegmentView seg;
        ASSERT_TRUE(SegmentView::open(image.data(), image.size(), &seg, nullptr));
        searcher.search(seg, v, 10, nullptr, &out);
        ASSERT_EQ(out.size(), n);
        if (n) {
            EXPECT_EQ(out[0].id, 0u);
        }
        searcher.search(seg, v, 0, nullptr, &out);
        EXPECT_TRUE(out.empty());
    }
}

std::size_t thread_count() {
    std::size_t n = 0;
    if (DIR *dir = opendir("/proc/self/task")) {
        while (dirent *e = readdir(dir))
            if (e->d_name[0] != '.') n++;
        closedir(dir);
    }
    return n;
}

struct Cancelled : std::runtime_error {
    using std::runtime_error::runtime_error;
};

TEST(HnswBuild, PollCancelsPromptly) {
    const Built &b = built(Metric::L2);
    const std::size_t threads_before = thread_count();
    BuildParams p{Metric::L2, kDim};
    p.threads = 2;
    std::chrono::steady_clock::time_point thrown;
    std::size_t calls = 0;
    auto poll = [&](std::size_t done) {
        calls++;
        if (done >= 2000) {
            thrown = std::chrono::steady_clock::now();
            throw Cancelled("query canceled");
        }
    };
    try {
        kyrodb::build_segment(p, b.data.vectors.data(), b.data.payloads.data(), kN, poll);
        FAIL() << "build_segment did not rethrow";
    } catch (const Cancelled &e) {
        EXPECT_STREQ(e.what(), "query canceled");
    }
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - thrown).count();
    std::printf("[ cancel   ] returned %.1f ms after poll threw (%zu polls)\n", ms, calls);
    EXPECT_LT(ms, 500.0);
    EXPECT_EQ(thread_count(), threads_before);
}

TEST(HnswBuild, PollReportsProgress) {
    const Built &b = built(Metric::L2);
    BuildParams p{Metric::L2, kDim};
    p.threads = 2;
    std::vector<std::size_t> seen;
    const std::size_t n = 8000;
    kyrodb::build_segment(p, b.data.vectors.data(), b.data.payloads.data(), n,
                          [&](std::size_t done) { seen.push_back(done); });
    ASSERT_GE(seen.size(), 2u);
    EXPECT_EQ(seen.back(), n);
    for (std::size_t i = 1; i < seen.size(); i++) EXPECT_LE(seen[i - 1], seen[i]);
}

TEST(HnswBuild, RejectsBadInput) {
    float v[4] = {1, 2, NAN, 4};
    uint64_t payloads[2] = {1, 2};
    BuildParams p{Metric::L2, 2};
    EXPECT_THROW(kyrodb::build_segment(p, v, payloads, 2, nullptr), std::invalid_argument);
    v[2] = INFINITY;
    EXPECT_THROW(kyrodb::build_segment(p, v, payloads, 2, nullptr), std::invalid_argument);
    v[2] = 3;
    p.m = 1;
    EXPECT_THROW(kyrodb::build_segment(p, v, payloads, 2, nullptr), std::invalid_argument);
    p.m = 16;
    p.dim = 0;
    EXPECT_THROW(kyrodb::build_segment(p, v, payloads, 2, nullptr), std::invalid_argument);
    EXPECT_GT(kyrodb::build_bytes_per_element(64, 16), 64u * 4 * 2);
}

// A segment over the first n rows of `data`, opened: the base the HnswExtend tests extend.
struct Prefix {
    std::vector<uint8_t> image;
    SegmentView view;
    bool opened;
    Prefix(const BuildParams &p, const Data &data, std::size_t n)
        : image(kyrodb::build_segment(p, data.vectors.data(), data.payloads.data(), n, nullptr)),
          opened(SegmentView::open(image.data(), image.size(), &view, nullptr)) {}
};

// A segment of the first half extended by the second half: every element keeps its id, vector and
// payload, the image passes open()'s full check, and recall (with and without deletions among the
// base's elements) is that of a segment built over all rows in one go.
TEST(HnswExtend, MatchesAFreshBuild) {
    for (Metric metric : {Metric::L2, Metric::Cosine}) {
        const Built &full = built(metric);
        BuildParams p{metric, kDim};
        p.threads = 2;
        const std::size_t half = kN / 2;
        const Prefix prefix(p, full.data, half);
        ASSERT_TRUE(prefix.opened);
        const SegmentView &base = prefix.view;
        std::size_t last_poll = 0;
        Built grown;
        grown.data = full.data;
        grown.image = kyrodb::extend_segment(p, base, &full.data.vectors[half * kDim], &full.data.payloads[half],
                                             kN - half, [&](std::size_t done) { last_poll = done; });
        EXPECT_EQ(last_poll, kN - half);
        std::string error;
        ASSERT_TRUE(SegmentView::open(grown.image.data(), grown.image.size(), &grown.seg, &error)) << error;
        ASSERT_EQ(grown.seg.count(), kN);
        for (uint32_t i = 0; i < kN; i++) {
            ASSERT_EQ(std::memcmp(grown.seg.vector(i), &full.data.vectors[i * kDim], kDim * sizeof(float)), 0);
            ASSERT_EQ(grown.seg.payload(i), full.data.payloads[i]);
            if (i < half) {
                ASSERT_EQ(grown.seg.level(i), base.level(i));
            }
        }
        std::vector<uint64_t> deleted((kN + 63) / 64);
        for (std::size_t i = 0; i < half; i += 4) deleted[i / 64] |= uint64_t(1) << (i % 64);
        const double r = recall(grown, kEf), r_fresh = recall(full, kEf);
        const double r_del = recall(grown, kEf, deleted.data()), r10 = recall(grown, kK),
                     r10_fresh = recall(full, kK);
        std::printf("[ extend   ] metric %u: recall@10 at ef %zu %.4f (fresh %.4f), a quarter of the base deleted "
                    "%.4f; at ef %zu %.4f (fresh %.4f)\n",
                    unsigned(metric), kEf, r, r_fresh, r_del, kK, r10, r10_fresh);
        EXPECT_GE(r, 0.95);
        EXPECT_GE(r_del, 0.95);
        EXPECT_GE(r10, r10_fresh - 0.03);
    }
}

// Extending by nothing reproduces the base's graph; SQ8 codes are computed over the extended
// image whatever the base had.
TEST(HnswExtend, ByNothingAndToSq8) {
    const Built &full = built(Metric::L2);
    BuildParams p{Metric::L2, kDim};
    const std::size_t n = 3000;
    const Prefix prefix(p, full.data, n);
    ASSERT_TRUE(prefix.opened);
    const SegmentView &base = prefix.view;
    const float *more = &full.data.vectors[n * kDim];
    const uint64_t *more_payloads = &full.data.payloads[n];
    std::vector<uint8_t> same_image = kyrodb::extend_segment(p, base, more, more_payloads, 0, nullptr);
    EXPECT_EQ(same_image, prefix.image);
    SegmentView coded;
    p.quantization = kyrodb::Quantization::SQ8;
    std::vector<uint8_t> coded_image = kyrodb::extend_segment(p, base, more, more_payloads, 500, nullptr);
    ASSERT_TRUE(SegmentView::open(coded_image.data(), coded_image.size(), &coded, nullptr));
    EXPECT_EQ(coded.quantization(), kyrodb::Quantization::SQ8);
    EXPECT_EQ(coded.count(), n + 500);
    Searcher searcher;
    std::vector<Neighbor> approx, truth;
    searcher.search(coded, &full.data.queries[0], coded.count(), nullptr, &approx);
    searcher.exact(coded, &full.data.queries[0], nullptr, &truth);
    ASSERT_EQ(approx.size(), truth.size());
    for (std::size_t i = 0; i < truth.size(); i++) EXPECT_EQ(approx[i].id, truth[i].id);
}

// A graph that points at the vectors is the graph that copies them: on one thread (where the
// build is deterministic) both give the same image, built or extended, for every metric and with
// attribute rows between the vectors; and the estimate is lower by the vector less a pointer.
TEST(HnswBuild, VectorsByReferenceGiveTheSameImage) {
    for (Metric metric : {Metric::L2, Metric::InnerProduct, Metric::Cosine}) {
        const Built &full = built(metric);
        BuildParams p{metric, kDim};
        p.threads = 1;
        const std::size_t n = 3000, more = 1000;
        BuildParams by_ref = p;
        by_ref.vectors_by_reference = true;
        const Prefix copied(p, full.data, n), referenced(by_ref, full.data, n);
        ASSERT_TRUE(copied.opened && referenced.opened);
        EXPECT_EQ(copied.image, referenced.image) << "metric " << unsigned(metric);
        const float *rows = &full.data.vectors[n * kDim];
        const uint64_t *payloads = &full.data.payloads[n];
        EXPECT_EQ(kyrodb::extend_segment(p, copied.view, rows, payloads, more, nullptr),
                  kyrodb::extend_segment(by_ref, copied.view, rows, payloads, more, nullptr))
            << "metric " << unsigned(metric);
    }
    // Rows with attributes: the pointer must skip them, as the copy does.
    const Built &full = built(Metric::L2);
    const std::size_t n = 2000, stride = kyrodb::row_floats(kDim, 1);
    std::vector<float> rows(n * stride);
    for (std::size_t i = 0; i < n; i++) {
        std::memcpy(&rows[i * stride], &full.data.vectors[i * kDim], kDim * sizeof(float));
        const uint64_t attr_row[2] = {0, uint64_t(i % 7)};
        std::memcpy(&rows[i * stride + kDim], attr_row, sizeof attr_row);
    }
    BuildParams p{Metric::L2, kDim};
    p.threads = 1;
    p.attributes = 1;
    BuildParams by_ref = p;
    by_ref.vectors_by_reference = true;
    EXPECT_EQ(kyrodb::build_segment(p, rows.data(), full.data.payloads.data(), n, nullptr),
              kyrodb::build_segment(by_ref, rows.data(), full.data.payloads.data(), n, nullptr));
    const std::size_t saved = kyrodb::build_bytes_per_element(128, 16) -
                              kyrodb::build_bytes_per_element(128, 16, kyrodb::Quantization::None, 0, true);
    EXPECT_GE(saved, 512u - 8u);
    EXPECT_LE(saved, 520u);
}

// The parameters must be the base's, and the new rows finite.
TEST(HnswExtend, RejectsMismatches) {
    const Built &full = built(Metric::L2);
    BuildParams p{Metric::L2, kDim};
    const std::size_t n = 1000;
    const Prefix prefix(p, full.data, n);
    ASSERT_TRUE(prefix.opened);
    const SegmentView &base = prefix.view;
    std::vector<float> rows(full.data.vectors.begin() + n * kDim, full.data.vectors.begin() + 2 * n * kDim);
    std::vector<uint64_t> payloads(full.data.payloads.begin() + n, full.data.payloads.begin() + 2 * n);
    EXPECT_NO_THROW(kyrodb::extend_segment(p, base, rows.data(), payloads.data(), n, nullptr));
    rows[(n - 1) * kDim + 3] = std::nanf("");
    EXPECT_THROW(kyrodb::extend_segment(p, base, rows.data(), payloads.data(), n, nullptr), std::invalid_argument);
    rows[(n - 1) * kDim + 3] = 0.5f;
    p.m = 8;
    EXPECT_THROW(kyrodb::extend_segment(p, base, rows.data(), payloads.data(), n, nullptr), std::invalid_argument);
    p.m = 16;
    p.metric = Metric::InnerProduct;
    EXPECT_THROW(kyrodb::extend_segment(p, base, rows.data(), payloads.data(), n, nullptr), std::invalid_argument);
    p.metric = Metric::L2;
    p.attributes = 1;
    EXPECT_THROW(kyrodb::extend_segment(p, base, rows.data(), payloads.data(), n, nullptr), std::invalid_argument);
}

// With attribute columns: the base's attribute rows come from its image, the new ones from the
// input, and every element's row and postings are as a build over all rows gives them.
TEST(HnswExtend, KeepsAttributeRows) {
    const std::size_t dim = 8, n = 600, half = 250, words = kyrodb::attr_row_words(2);
    BuildParams p{Metric::L2, dim};
    p.attributes = 2;
    const std::size_t stride = kyrodb::row_floats(dim, 2);
    std::vector<float> rows(n * stride);
    std::vector<uint64_t> payloads(n);
    for (std::size_t i = 0; i < n; i++) {
        for (std::size_t d = 0; d < dim; d++) rows[i * stride + d] = std::sin(float(i * dim + d));
        // the null bits (attribute 1 null every 7th row), then the two values
        uint64_t attr[3] = {i % 7 == 0 ? uint64_t(2) : 0, i % 5, uint64_t(int64_t(i) - 300)};
        ASSERT_EQ(words, 3u);
        std::memcpy(&rows[i * stride + dim], attr, sizeof attr);
        payloads[i] = 1000 + i;
    }
    std::vector<uint8_t> base_image = kyrodb::build_segment(p, rows.data(), payloads.data(), half, nullptr);
    SegmentView base, grown, fresh;
    ASSERT_TRUE(SegmentView::open(base_image.data(), base_image.size(), &base, nullptr));
    std::vector<uint8_t> grown_image =
        kyrodb::extend_segment(p, base, &rows[half * stride], &payloads[half], n - half, nullptr);
    std::vector<uint8_t> fresh_image = kyrodb::build_segment(p, rows.data(), payloads.data(), n, nullptr);
    std::string error;
    ASSERT_TRUE(SegmentView::open(grown_image.data(), grown_image.size(), &grown, &error)) << error;
    ASSERT_TRUE(SegmentView::open(fresh_image.data(), fresh_image.size(), &fresh, nullptr));
    ASSERT_EQ(grown.count(), n);
    for (uint32_t i = 0; i < n; i++) {
        ASSERT_EQ(std::memcmp(grown.attr_row(i), &rows[i * stride + dim], words * 8), 0) << "element " << i;
        ASSERT_EQ(grown.payload(i), payloads[i]);
    }
    for (uint32_t a = 0; a < 2; a++)
        ASSERT_EQ(std::memcmp(grown.postings(a), fresh.postings(a), n * sizeof(kyrodb::Posting)), 0)
            << "attribute " << a;
}

// `renumbered` is `in_order` (built from the same rows on one thread, so the same graph) with ids
// permuted: every element has its input row's vector, codes, attribute row and payload, its level and
// its neighbour lists map onto the other's, ids below `keep` are unchanged, the postings agree with the
// rows, and searches on floats and on codes return the same rows at the same distances.
void expect_renumbering(const SegmentView &in_order, const SegmentView &renumbered, uint32_t keep,
                        const std::vector<float> &queries) {
    const uint32_t n = in_order.count(), dim = in_order.dim();
    ASSERT_EQ(renumbered.count(), n);
    std::map<uint64_t, uint32_t> id_by_payload;
    for (uint32_t i = 0; i < n; i++) id_by_payload[in_order.payload(i)] = i;
    ASSERT_EQ(id_by_payload.size(), n);
    std::vector<uint32_t> old_id(n);
    std::set<uint32_t> seen;
    for (uint32_t r = 0; r < n; r++) {
        auto it = id_by_payload.find(renumbered.payload(r));
        ASSERT_NE(it, id_by_payload.end()) << "element " << r;
        const uint32_t o = old_id[r] = it->second;
        ASSERT_TRUE(seen.insert(o).second) << "element " << r;
        if (r < keep) {
            ASSERT_EQ(o, r);
        }
        ASSERT_EQ(std::memcmp(renumbered.vector(r), in_order.vector(o), dim * sizeof(float)), 0) << r;
        ASSERT_EQ(renumbered.level(r), in_order.level(o)) << r;
        if (in_order.quantization() == kyrodb::Quantization::SQ8) {
            ASSERT_EQ(std::memcmp(renumbered.sq8_codes(r), in_order.sq8_codes(o), dim), 0) << r;
        }
        if (in_order.attributes() > 0) {
            const std::size_t bytes = kyrodb::attr_row_words(in_order.attributes()) * 8;
            ASSERT_EQ(std::memcmp(renumbered.attr_row(r), in_order.attr_row(o), bytes), 0) << r;
        }
    }
    EXPECT_EQ(old_id[renumbered.header().entry_point], in_order.header().entry_point);
    for (uint32_t r = 0; r < n; r++)
        for (int level = 0; level <= renumbered.level(r); level++) {
            uint32_t k = 0, k_old = 0;
            const uint32_t *ids = renumbered.neighbours(r, level, &k);
            const uint32_t *ids_old = in_order.neighbours(old_id[r], level, &k_old);
            ASSERT_EQ(k, k_old) << "element " << r << " level " << level;
            for (uint32_t t = 0; t < k; t++) ASSERT_EQ(old_id[ids[t]], ids_old[t]) << r;
        }
    for (uint32_t a = 0; a < renumbered.attributes(); a++)
        for (uint32_t t = 0; t < n; t++) {
            const kyrodb::Posting &post = renumbered.postings(a)[t];
            const uint64_t *row = renumbered.attr_row(post.id);
            ASSERT_EQ(post.is_null, (row[0] >> a) & 1) << "attribute " << a;
            if (!post.is_null) {
                ASSERT_EQ(post.value, int64_t(row[1 + a])) << "attribute " << a;
            }
        }
    for (bool codes : {false, true}) {
        if (codes && in_order.quantization() != kyrodb::Quantization::SQ8) continue;
        Searcher searcher;
        searcher.set_use_sq8(codes);
        std::vector<Neighbor> a, b;
        for (std::size_t q = 0; q * dim < queries.size(); q++) {
            searcher.search(in_order, &queries[q * dim], 40, nullptr, &a);
            searcher.search(renumbered, &queries[q * dim], 40, nullptr, &b);
            ASSERT_EQ(a.size(), b.size());
            for (std::size_t i = 0; i < a.size(); i++) {
                EXPECT_EQ(in_order.payload(a[i].id), renumbered.payload(b[i].id)) << "query " << q;
                EXPECT_EQ(a[i].distance, b[i].distance) << "query " << q;
            }
        }
    }
}

// Mean number of distinct blocks of 32 ids (a 4 kB page of 128-byte codes) a level-0 list's
// neighbours lie in: the pages a walk touches to score one element's neighbours.
double blocks_per_list(const SegmentView &seg) {
    double sum = 0;
    for (uint32_t i = 0; i < seg.count(); i++) {
        uint32_t k = 0;
        const uint32_t *ids = seg.neighbours(i, 0, &k);
        std::set<uint32_t> blocks;
        for (uint32_t t = 0; t < k; t++) blocks.insert(ids[t] / 32);
        sum += double(blocks.size());
    }
    return seg.count() ? sum / seg.count() : 0;
}

// graph_order renumbers the elements of a build (and the new ones of an extension) without
// changing the graph, and puts an element's neighbours on fewer pages than the input order does.
TEST(HnswBuild, GraphOrderRenumbersTheSameGraph) {
    const Built &full = built(Metric::L2);
    const std::size_t n = 5000, more = 2000, stride = kyrodb::row_floats(kDim, 1);
    std::vector<float> rows((n + more) * stride);
    for (std::size_t i = 0; i < n + more; i++) {
        std::memcpy(&rows[i * stride], &full.data.vectors[i * kDim], kDim * sizeof(float));
        const uint64_t attr_row[2] = {i % 11 == 0 ? uint64_t(1) : 0, uint64_t(i % 7)};
        std::memcpy(&rows[i * stride + kDim], attr_row, sizeof attr_row);
    }
    const std::vector<float> queries(full.data.queries.begin(), full.data.queries.begin() + 50 * kDim);
    BuildParams p{Metric::L2, kDim};
    p.threads = 1;
    p.attributes = 1;
    p.quantization = kyrodb::Quantization::SQ8;
    BuildParams ordered = p;
    ordered.graph_order = true;
    const uint64_t *payloads = full.data.payloads.data();
    std::vector<uint8_t> a = kyrodb::build_segment(p, rows.data(), payloads, n, nullptr);
    std::vector<uint8_t> b = kyrodb::build_segment(ordered, rows.data(), payloads, n, nullptr);
    SegmentView in_order, renumbered;
    ASSERT_TRUE(SegmentView::open(a.data(), a.size(), &in_order, nullptr));
    ASSERT_TRUE(SegmentView::open(b.data(), b.size(), &renumbered, nullptr));
    expect_renumbering(in_order, renumbered, 0, queries);
    const double blocks = blocks_per_list(in_order), ordered_blocks = blocks_per_list(renumbered);
    std::printf("[ order    ] blocks of 32 ids a level-0 list spans: %.1f in input order, %.1f in graph order\n",
                blocks, ordered_blocks);
    EXPECT_LT(ordered_blocks, blocks * 0.9);

    // Extended (the graph-ordered base by the next rows): base ids stay, the new ones are renumbered.
    std::vector<uint8_t> c = kyrodb::extend_segment(p, renumbered, &rows[n * stride], payloads + n, more, nullptr);
    std::vector<uint8_t> d = kyrodb::extend_segment(ordered, renumbered, &rows[n * stride], payloads + n, more, nullptr);
    SegmentView grown_in_order, grown;
    ASSERT_TRUE(SegmentView::open(c.data(), c.size(), &grown_in_order, nullptr));
    ASSERT_TRUE(SegmentView::open(d.data(), d.size(), &grown, nullptr));
    expect_renumbering(grown_in_order, grown, uint32_t(n), queries);
    EXPECT_NE(c, d);
}

TEST(HnswMetric, CosinePrepareAndRange) {
    float zero[5] = {0, 0, 0, 0, 0};
    EXPECT_FALSE(kyrodb::prepare_vector(Metric::Cosine, zero, 5));
    EXPECT_TRUE(kyrodb::prepare_vector(Metric::L2, zero, 5));
    float v[3] = {3, 0, 4};
    ASSERT_TRUE(kyrodb::prepare_vector(Metric::Cosine, v, 3));
    EXPECT_FLOAT_EQ(v[0], 0.6f);
    EXPECT_FLOAT_EQ(v[2], 0.8f);
    float w[3] = {-3, 0, -4};
    ASSERT_TRUE(kyrodb::prepare_vector(Metric::Cosine, w, 3));
    EXPECT_NEAR(kyrodb::index_distance(Metric::Cosine, v, w, 3), 2.0f, 1e-6);
    EXPECT_NEAR(kyrodb::index_distance(Metric::Cosine, v, v, 3), 0.0f, 1e-6);
    EXPECT_FLOAT_EQ(kyrodb::index_distance(Metric::InnerProduct, v, v, 3), -1.0f);
    EXPECT_FLOAT_EQ(kyrodb::index_distance(Metric::L2, v, w, 3), 4.0f);

    // Over the cosine segment: every distance lies in [0, 2] (up to float rounding).
    const Built &b = built(Metric::Cosine);
    Searcher searcher;
    std::vector<Neighbor> all;
    for (std::size_t q = 0; q < 3; q++) {
        searcher.exact(b.seg, &b.data.queries[q * kDim], nullptr, &all);
        ASSERT_EQ(all.size(), kN);
        EXPECT_GE(all.front().distance, -1e-6f);
        EXPECT_LE(all.back().distance, 2.0f + 1e-6f);
    }
    for (std::size_t i = 0; i < kN; i += 97) {
        double norm = 0;
        for (uint32_t d = 0; d < kDim; d++) norm += double(b.seg.vector(i)[d]) * b.seg.vector(i)[d];
        EXPECT_NEAR(norm, 1.0, 1e-5);
    }
}

}  // namespace

// A search bounded by a radius (a smaller segment searched after a larger one) finds the elements
// within the radius that a full search finds, says how far its answer is complete, and with an
// unbounded radius is the plain search.
TEST(HnswSearch, RadiusBoundedSearch) {
    const Built &b = built(Metric::L2);
    Searcher searcher;
    std::vector<Neighbor> full, banded, truth;
    std::size_t found = 0, wanted = 0, visited_full = 0, visited_banded = 0;
    for (std::size_t q = 0; q < kQueries; q++) {
        const float *query = &b.data.queries[q * kDim];
        // the radius a larger segment would have set: here the 20th nearest element's distance
        searcher.exact(b.seg, query, nullptr, &truth);
        const float radius = truth[19].distance;
        float covered = searcher.search(b.seg, query, kEf, nullptr, &full);
        EXPECT_EQ(covered, full.back().distance) << "a full beam is complete up to its farthest result";
        visited_full += searcher.visited();
        covered = searcher.search(b.seg, query, kEf, nullptr, &banded, radius, 8);
        visited_banded += searcher.visited();
        EXPECT_LE(covered, radius);
        EXPECT_TRUE(std::is_sorted(banded.begin(), banded.end(), [](const Neighbor &x, const Neighbor &y) {
            return x.distance < y.distance;
        }));
        for (const Neighbor &n : banded)
            EXPECT_EQ(n.distance, kyrodb::index_distance(Metric::L2, query, b.seg.vector(n.id), kDim));
        for (std::size_t i = 0; i < 20; i++) {
            wanted++;
            for (const Neighbor &n : banded) found += n.id == truth[i].id && n.distance <= covered;
        }
        std::vector<Neighbor> unbounded;
        searcher.search(b.seg, query, kEf, nullptr, &unbounded, Searcher::kUnbounded, 8);
        ASSERT_EQ(unbounded.size(), full.size());
        for (std::size_t i = 0; i < full.size(); i++) EXPECT_EQ(unbounded[i].id, full[i].id);
    }
    double recall = double(found) / double(wanted);
    std::printf("[ banded   ] recall within the radius %.4f, nodes visited %.0f (full beam %.0f)\n", recall,
                double(visited_banded) / kQueries, double(visited_full) / kQueries);
    EXPECT_GE(recall, 0.95);
    EXPECT_LT(visited_banded, visited_full) << "a bounded search costs less than a full beam";
}

// The sizes of the segments a build of n rows writes at `capacity` rows a segment, the estimate of
// the rows still to come being off by `error` (0.05: 5 % too many).
static std::vector<std::size_t> build_split(std::size_t n, std::size_t capacity, double error) {
    std::vector<std::size_t> sizes;
    std::size_t gathered = 0;
    for (std::size_t read = 1; read <= n; read++) {
        gathered++;
        if (kyrodb::segment_complete(gathered, double(n - read) * (1 + error), capacity) || read == n) {
            sizes.push_back(gathered);
            gathered = 0;
        }
    }
    return sizes;
}

TEST(SegmentSplit, EvenSegmentsAsFewAsCapacityAllows) {
    using Sizes = std::vector<std::size_t>;
    EXPECT_EQ(build_split(10000000, 7216007, 0), (Sizes{5000000, 5000000}));
    EXPECT_EQ(build_split(3000, 1079, 0), (Sizes{1000, 1000, 1000}));
    EXPECT_EQ(build_split(1000, 1000, 0), (Sizes{1000}));
    EXPECT_EQ(build_split(999, 1000, 0), (Sizes{999}));
    EXPECT_EQ(build_split(1001, 1000, 0), (Sizes{501, 500}));
    EXPECT_EQ(build_split(7, 1, 0), Sizes(7, 1));
    EXPECT_EQ(build_split(123457, 1079, 0).size(), 115u);
    // An estimate off by up to 10 %: at most two more segments than the fewest, none over capacity;
    // one too high leaves no small last segment (one too low may: the rows it missed).
    for (double error : {-0.1, -0.03, -0.01, 0.01, 0.03, 0.1}) {
        for (std::size_t n : {3000u, 10001u, 123457u}) {
            Sizes sizes = build_split(n, 1079, error);
            const std::size_t fewest = (n + 1078) / 1079;
            EXPECT_LE(sizes.size(), fewest + 2) << n << " " << error;
            for (std::size_t s : sizes) EXPECT_LE(s, 1079u);
            if (error > 0) {
                EXPECT_GE(sizes.back() * 2, *std::max_element(sizes.begin(), sizes.end())) << n << " " << error;
            }
        }
    }
    // Without an estimate, full segments.
    std::size_t gathered = 0, cuts = 0;
    for (std::size_t read = 1; read <= 3000; read++)
        if (kyrodb::segment_complete(++gathered, -1, 1079)) cuts++, gathered = 0;
    EXPECT_EQ(cuts, 2u);
    EXPECT_EQ(gathered, 3000u - 2 * 1079);
}
