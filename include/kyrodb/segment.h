// The segment image: an immutable, flat HNSW graph with its vectors and payloads in one contiguous
// byte buffer with fixed strides, so it can be written to pages, mapped anywhere (no pointers, only
// offsets) and searched in place. Built by build_segment (hnsw.h), read through SegmentView.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kyrodb/filter.h"
#include "kyrodb/metric.h"

namespace kyrodb {

constexpr uint32_t kSegmentMagic = 0x4B59534Du;  // "KYSM"
constexpr uint32_t kSegmentVersion = 1;
constexpr std::size_t kSegmentAlign = 64;       // of every section offset
constexpr uint32_t kSegmentNoUpper = UINT32_MAX;  // upper_index of an element on level 0 only

// How the image stores a compressed copy of its vectors for graph traversal (the float vectors are
// always there, for exact distances). The header's `quantization` field; 0 in images written
// before it existed (the field was reserved and zeroed), so those read as None.
enum class Quantization : uint32_t {
    None = 0,
    // 8-bit scalar quantization, per dimension: x ~ lo[j] + step[j] * code, code in 0..255.
    SQ8 = 1,
};

// The image starts with this header; every section offset is in bytes from the image start and
// 64-byte aligned.
struct SegmentHeader {
    uint32_t magic, version;
    uint32_t metric, dim;
    uint32_t m, m0;               // max neighbours per upper level / on level 0 (m0 = 2*m)
    uint32_t count;               // elements
    uint32_t entry_point;         // element id (0 when count == 0)
    int32_t max_level;            // -1 when count == 0
    uint16_t quantization;        // a Quantization (0 = None in images older than the field)
    uint16_t attributes;          // filter attributes per element (0 in images older than the field)
    uint64_t vectors_offset;      // count * dim float, element i at vectors_offset + i*dim*4
    uint64_t level0_offset;       // count * (1 + m0) uint32: [n, id_1..id_n, unused...]
    uint64_t levels_offset;       // count uint8: the level of each element
    uint64_t upper_index_offset;  // count uint32: first upper list slot of element i, or UINT32_MAX if level 0
    uint64_t upper_offset;        // slots of (1 + m) uint32 each; element i with level L owns L consecutive
                                  // slots starting at upper_index[i] (levels 1..L)
    uint64_t payload_offset;      // count uint64 (opaque to the core; the adapter stores heap TIDs)
    uint64_t total_size;          // bytes of the whole image
    // With quantization == SQ8, one more section follows the payloads, at sq8_offset(header) (not
    // stored: computed from the header): dim float lo (per-dimension minimum), dim float step
    // (per-dimension (max - min) / 255, 0 where max == min), then at the next 64-byte boundary
    // (sq8_codes_offset) count * dim uint8 codes, element i at i*dim. total_size ends exactly there.
    // With attributes > 0, after the payloads (or the SQ8 section), at attr_rows_offset(header):
    // count attribute rows of attr_row_words(attributes) uint64 each (filter.h), then at
    // attr_postings_offset(header) `attributes` arrays of count Postings each, attribute a's at
    // a * count. total_size ends exactly there.
};
static_assert(sizeof(SegmentHeader) == 96, "the header is part of the on-disk format");

// The header of an image with these sizes, sections laid out in the order of the header after it,
// each at the next 64-byte boundary; entry_point = 0 and max_level = -1 (the builder sets them).
// `upper_slots` is the sum of the levels of all elements. Throws std::length_error if the image
// would not fit the format (more than UINT32_MAX upper slots).
// With SQ8, the sq8 section is included in total_size (see SegmentHeader).
SegmentHeader segment_layout(Metric metric, uint32_t dim, uint32_t m, uint32_t count, uint64_t upper_slots,
                             Quantization quantization = Quantization::None, uint32_t attributes = 0);

// Offsets of an SQ8 image's sections: lo (then step, dim floats each) and codes. Computed from
// payload_offset, count and dim; meaningful only for a header that passed check_segment_header
// (for any other header the values may be garbage, but the functions do not overflow: they
// saturate to UINT64_MAX).
uint64_t sq8_offset(const SegmentHeader &h);
uint64_t sq8_codes_offset(const SegmentHeader &h);
// Offsets of the attribute rows and postings (see SegmentHeader), saturating like the above.
uint64_t attr_rows_offset(const SegmentHeader &h);
uint64_t attr_postings_offset(const SegmentHeader &h);

// The checks open() and attach() make of a header against the image's size: magic, version,
// metric, dimensions, m, entry point, and every section (but the upper-level one, whose size
// depends on the levels) aligned and inside total_size <= size; a known quantization, and with SQ8
// a total_size ending exactly with the sq8 section. False and *error otherwise.
bool check_segment_header(const SegmentHeader &h, std::size_t size, std::string *error);

// Read-only view of an image. open() validates magic, version, that every section lies inside
// `size`, that ids in neighbour lists are < count (and, on upper levels, name elements that reach
// that level), levels <= max_level, entry_point valid; returns false and sets *error otherwise.
// After a successful open() no accessor can read outside the image, whatever its contents.
// The image must be 8-byte aligned (rejected otherwise). Validation reads every neighbour list:
// O(count * m0): about 2 ms per 100,000 elements with m = 16 (cached image).
// attach() is open() for an image that already passed open() (for example one loaded into shared memory by
// another process): it checks the header and section bounds only, O(1).
// The view does not own the bytes. Copyable; all members are const and thread-safe.
class SegmentView {
  public:
    static constexpr bool kInMemory = true;  // accessors are pointer arithmetic: worth prefetching

    static bool open(const void *image, std::size_t size, SegmentView *out, std::string *error);
    static bool attach(const void *image, std::size_t size, SegmentView *out, std::string *error);

    const SegmentHeader &header() const { return header_; }
    uint32_t count() const { return header_.count; }
    uint32_t dim() const { return header_.dim; }
    Metric metric() const { return Metric(header_.metric); }
    Quantization quantization() const { return Quantization(header_.quantization); }

    const float *vector(uint32_t i) const { return vectors_ + std::size_t(i) * header_.dim; }
    // SQ8 images only (nullptr otherwise): dim floats each, and dim codes of element i.
    const float *sq8_lo() const { return sq8_lo_; }
    const float *sq8_step() const { return sq8_step_; }
    const uint8_t *sq8_codes(uint32_t i) const { return sq8_codes_ + std::size_t(i) * header_.dim; }
    // neighbours of i on `level` (0..level(i)); *n receives the count
    const uint32_t *neighbours(uint32_t i, int level, uint32_t *n) const {
        const uint32_t *list = level == 0
                                   ? level0_ + std::size_t(i) * (1 + header_.m0)
                                   : upper_ + (std::size_t(upper_index_[i]) + (level - 1)) * (1 + header_.m);
        *n = list[0];
        return list + 1;
    }
    int level(uint32_t i) const { return levels_[i]; }
    uint64_t payload(uint32_t i) const { return payloads_[i]; }
    uint32_t attributes() const { return header_.attributes; }
    // Images with attributes only: element i's attribute row, and attribute a's postings (count).
    const uint64_t *attr_row(uint32_t i) const { return attr_rows_ + std::size_t(i) * (1 + header_.attributes); }
    const Posting *postings(uint32_t a) const { return postings_ + std::size_t(a) * header_.count; }
    const uint8_t *data() const { return base_; }  // image start

  private:
    friend class PagedSegment;
    static bool open_checked(const void *image, std::size_t size, bool check_graph, SegmentView *out,
                             std::string *error);
    SegmentHeader header_{};
    const uint8_t *base_ = nullptr;
    const float *vectors_ = nullptr;
    const uint32_t *level0_ = nullptr;
    const uint8_t *levels_ = nullptr;
    const uint32_t *upper_index_ = nullptr;
    const uint32_t *upper_ = nullptr;
    const uint64_t *payloads_ = nullptr;
    const float *sq8_lo_ = nullptr;
    const float *sq8_step_ = nullptr;
    const uint8_t *sq8_codes_ = nullptr;
    const uint64_t *attr_rows_ = nullptr;
    const Posting *postings_ = nullptr;
};

// Reads bytes of a segment image that is not in memory (the adapter reads them from index
// pages). read() may throw; whatever it throws leaves the search that called it.
class ImageReader {
  public:
    virtual ~ImageReader() = default;
    virtual void read(uint64_t offset, std::size_t size, void *dst) = 0;
};

// A segment searched in place of its image, through an ImageReader: memory O(dim + m) whatever
// the segment's size, every byte read from the reader on demand. Nothing read is trusted: the
// header is checked as attach() checks it, and a neighbour list, level or upper-level index that
// contradicts it is read as an empty list and sets corrupt() (pages may have been reused while the
// search ran: the caller then checks whether the segment still exists). Accessors return pointers
// into scratch that the next call of the same accessor overwrites. Not thread-safe.
// SQ8 images are accepted; their codes are not read (the search runs on the float vectors).
class PagedSegment {
  public:
    static constexpr bool kInMemory = false;

    // Reads and checks the header of an image of `size` bytes.
    static bool open(ImageReader *reader, std::size_t size, PagedSegment *out, std::string *error);

    const SegmentHeader &header() const { return header_; }
    uint32_t count() const { return header_.count; }
    uint32_t dim() const { return header_.dim; }
    Metric metric() const { return Metric(header_.metric); }
    const float *vector(uint32_t i) const;
    const uint32_t *neighbours(uint32_t i, int level, uint32_t *n) const;
    uint64_t payload(uint32_t i) const;
    uint32_t attributes() const { return header_.attributes; }
    const uint64_t *attr_row(uint32_t i) const;
    bool corrupt() const { return corrupt_; }

  private:
    ImageReader *reader_ = nullptr;
    SegmentHeader header_{};
    mutable std::vector<float> vector_;
    mutable std::vector<uint32_t> list_;
    mutable std::vector<uint64_t> attr_row_;
    mutable bool corrupt_ = false;
};

}  // namespace kyrodb
