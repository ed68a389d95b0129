// libFuzzer target: kyrodb::SegmentView::open and kyrodb::PagedSegment on arbitrary bytes. segment.h promises that after a
// successful open no accessor can read outside the image, whatever its contents; under ASan and
// UBSan this walks every accessor and runs searches over whatever opened, to check that claim.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "kyrodb/hnsw.h"
#include "kyrodb/segment.h"

namespace {

// An exact-size copy at the alignment pages give an image, so that ASan flags a read of even one
// byte past the end.
struct AlignedImage {
    explicit AlignedImage(const uint8_t *data, std::size_t size)
        : bytes(static_cast<uint8_t *>(::operator new(size, std::align_val_t(kyrodb::kSegmentAlign)))) {
        if (size > 0) std::memcpy(bytes, data, size);
    }
    ~AlignedImage() { ::operator delete(bytes, std::align_val_t(kyrodb::kSegmentAlign)); }
    uint8_t *bytes;
};

// Reads every byte an accessor points at; the sum keeps the reads from being optimized away.
uint64_t walk(const kyrodb::SegmentView &seg) {
    const kyrodb::SegmentHeader &h = seg.header();
    uint64_t sum = 0;
    for (uint32_t i = 0; i < seg.count(); i++) {
        const float *v = seg.vector(i);
        for (uint32_t d = 0; d < seg.dim(); d++) {
            uint32_t bits;
            std::memcpy(&bits, &v[d], sizeof bits);
            sum += bits;
        }
        sum += seg.payload(i);
        int level = seg.level(i);
        FUZZ_CHECK(level >= 0 && level <= h.max_level);
        for (int l = 0; l <= level; l++) {
            uint32_t n;
            const uint32_t *ids = seg.neighbours(i, l, &n);
            FUZZ_CHECK(n <= (l == 0 ? h.m0 : h.m));
            for (uint32_t j = 0; j < n; j++) {
                FUZZ_CHECK(ids[j] < seg.count());
                FUZZ_CHECK(seg.level(ids[j]) >= l);  // the descent may read that neighbour's list on l
            }
        }
    }
    return sum;
}

void check_result(const kyrodb::SegmentView &seg, const std::vector<kyrodb::Neighbor> &result, std::size_t limit,
                  const uint64_t *deleted) {
    FUZZ_CHECK(result.size() <= limit);
    std::vector<bool> seen(seg.count());
    for (const kyrodb::Neighbor &r : result) {
        FUZZ_CHECK(r.id < seg.count() && !seen[r.id]);
        seen[r.id] = true;
        FUZZ_CHECK(deleted == nullptr || ((deleted[r.id / 64] >> (r.id % 64)) & 1) == 0);
    }
}

// Reads the fuzzer's bytes for a PagedSegment; PagedSegment promises never to read outside the
// image it was opened on.
class BytesReader : public kyrodb::ImageReader {
  public:
    BytesReader(const uint8_t *bytes, std::size_t size) : bytes_(bytes), size_(size) {}
    void read(uint64_t offset, std::size_t size, void *dst) override {
        FUZZ_CHECK(offset <= size_ && size <= size_ - offset);
        std::memcpy(dst, bytes_ + offset, size);
    }

  private:
    const uint8_t *bytes_;
    std::size_t size_;
};

// The paged search trusts no graph (its header checks are attach()'s): whatever the bytes, it
// stays inside them and returns ids of live elements; on an image open() accepts it answers
// exactly as the search in memory.
void check_paged(const uint8_t *bytes, std::size_t size, const kyrodb::SegmentView *opened) {
    BytesReader reader(bytes, size);
    kyrodb::PagedSegment paged;
    std::string error;
    if (!kyrodb::PagedSegment::open(&reader, size, &paged, &error)) {
        FUZZ_CHECK(opened == nullptr);
        return;
    }
    if (paged.count() == 0) return;
    std::vector<float> query(paged.dim());
    for (std::size_t d = 0; d < query.size(); d++) query[d] = float(d % 5) * 0.5f - 1.0f;
    static kyrodb::Searcher searcher;
    std::vector<kyrodb::Neighbor> got, want;
    for (std::size_t ef : {std::size_t(1), std::size_t(4)}) {
        searcher.search(paged, query.data(), ef, nullptr, &got);
        FUZZ_CHECK(got.size() <= std::max<std::size_t>(ef, 1));
        for (const kyrodb::Neighbor &n : got) FUZZ_CHECK(n.id < paged.count());
        if (opened != nullptr) {
            searcher.search(*opened, query.data(), ef, nullptr, &want);
            FUZZ_CHECK(!paged.corrupt() && got.size() == want.size());
            for (std::size_t i = 0; i < got.size(); i++) FUZZ_CHECK(got[i].id == want[i].id);
        }
    }
    if (uint64_t(paged.count()) * paged.dim() <= 1 << 16) {  // an exact scan reads every vector
        searcher.exact(paged, query.data(), nullptr, &got);
        FUZZ_CHECK(got.size() == paged.count());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, std::size_t size) {
    AlignedImage image(data, size);
    kyrodb::SegmentView seg;
    std::string error;
    if (!kyrodb::SegmentView::open(image.bytes, size, &seg, &error)) {
        FUZZ_CHECK(!error.empty());
        check_paged(image.bytes, size, nullptr);
        return 0;
    }
    check_paged(image.bytes, size, &seg);
    kyrodb::SegmentView attached;
    FUZZ_CHECK(kyrodb::SegmentView::attach(image.bytes, size, &attached, &error));
    FUZZ_CHECK(seg.header().total_size <= size && seg.data() == image.bytes);

    volatile uint64_t sink = walk(seg);  // volatile: the optimizer cannot drop the reads ASan checks
    (void)sink;
    if (seg.count() == 0) return 0;

    // open() bounds dim by the image size here (count > 0), so the query is small.
    std::vector<float> query(seg.dim());
    for (std::size_t d = 0; d < query.size(); d++) query[d] = float(d % 7) * 0.25f - 0.5f;
    std::vector<uint64_t> every_third((seg.count() + 63) / 64);
    for (uint32_t i = 0; i < seg.count(); i += 3) every_third[i / 64] |= uint64_t(1) << (i % 64);
    std::size_t live = seg.count() - (seg.count() + 2) / 3;

    // One Searcher for every input, as a backend reuses its own across segments of any size.
    static kyrodb::Searcher searcher;
    std::vector<kyrodb::Neighbor> out;
    for (std::size_t ef : {std::size_t(1), std::size_t(4), std::size_t(seg.count())}) {
        searcher.search(seg, query.data(), ef, nullptr, &out);
        check_result(seg, out, ef, nullptr);
        FUZZ_CHECK(out.size() == std::min<std::size_t>(ef, seg.count()));
        searcher.search(seg, query.data(), ef, every_third.data(), &out);
        check_result(seg, out, ef, every_third.data());
        FUZZ_CHECK(out.size() == std::min(ef, live));
    }
    searcher.exact(seg, query.data(), nullptr, &out);
    check_result(seg, out, seg.count(), nullptr);
    FUZZ_CHECK(out.size() == seg.count());
    searcher.exact(attached, query.data(), every_third.data(), &out);
    check_result(seg, out, live, every_third.data());
    FUZZ_CHECK(out.size() == live);
    return 0;
}
