#include "kyrodb/segment.h"

#include <cstring>
#include <algorithm>
#include <stdexcept>

namespace kyrodb {

namespace {

// a*b, false on uint64 overflow
bool mul(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_mul_overflow(a, b, out); }
bool add(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_add_overflow(a, b, out); }

uint64_t align_up(uint64_t x) { return (x + kSegmentAlign - 1) & ~uint64_t(kSegmentAlign - 1); }

// Bytes of each section, in header order; false on overflow.
struct SectionSizes {
    uint64_t vectors, level0, levels, upper_index, upper, payload;
};

bool section_sizes(uint64_t dim, uint64_t m, uint64_t count, uint64_t upper_slots, SectionSizes *s) {
    uint64_t t;
    return mul(count, dim, &t) && mul(t, sizeof(float), &s->vectors) &&              //
           mul(count, 1 + 2 * m, &t) && mul(t, sizeof(uint32_t), &s->level0) &&     //
           (s->levels = count, true) &&                                              //
           mul(count, sizeof(uint32_t), &s->upper_index) &&                         //
           mul(upper_slots, 1 + m, &t) && mul(t, sizeof(uint32_t), &s->upper) &&   //
           mul(count, sizeof(uint64_t), &s->payload);
}

// Section `offset` holding `bytes` must be aligned and lie between the header and total_size.
bool section_inside(const SegmentHeader &h, uint64_t offset, uint64_t bytes) {
    uint64_t end;
    return offset % kSegmentAlign == 0 && offset >= sizeof(SegmentHeader) && add(offset, bytes, &end) &&
           end <= h.total_size;
}

// Saturating: a garbage header gives UINT64_MAX rather than wrapping.
uint64_t sat_add(uint64_t a, uint64_t b) {
    uint64_t r;
    return add(a, b, &r) ? r : UINT64_MAX;
}
uint64_t sat_mul(uint64_t a, uint64_t b) {
    uint64_t r;
    return mul(a, b, &r) ? r : UINT64_MAX;
}
uint64_t sat_align_up(uint64_t x) { return x > UINT64_MAX - kSegmentAlign ? UINT64_MAX : align_up(x); }

// End of the SQ8 section, saturating.
uint64_t sq8_end(const SegmentHeader &h) {
    return sat_add(sq8_codes_offset(h), sat_mul(h.count, h.dim));
}

// End of the sections before the attributes: the payloads or the SQ8 section.
uint64_t base_end(const SegmentHeader &h) {
    return h.quantization == uint16_t(Quantization::SQ8) ? sq8_end(h)
                                                          : sat_add(h.payload_offset, sat_mul(h.count, sizeof(uint64_t)));
}

// End of the image as its header describes it (total_size must equal it), saturating.
uint64_t image_end(const SegmentHeader &h) {
    if (h.attributes == 0) return base_end(h);
    return sat_add(attr_postings_offset(h), sat_mul(sat_mul(h.attributes, h.count), sizeof(Posting)));
}

}  // namespace

uint64_t sq8_offset(const SegmentHeader &h) {
    return sat_align_up(sat_add(h.payload_offset, sat_mul(h.count, sizeof(uint64_t))));
}

uint64_t sq8_codes_offset(const SegmentHeader &h) {
    return sat_align_up(sat_add(sq8_offset(h), sat_mul(2 * uint64_t(h.dim), sizeof(float))));
}

uint64_t attr_rows_offset(const SegmentHeader &h) { return sat_align_up(base_end(h)); }

uint64_t attr_postings_offset(const SegmentHeader &h) {
    return sat_align_up(sat_add(attr_rows_offset(h), sat_mul(sat_mul(h.count, attr_row_words(h.attributes)), 8)));
}

bool check_segment_header(const SegmentHeader &h, std::size_t size, std::string *error) {
    auto fail = [error](const char *msg) {
        if (error) *error = msg;
        return false;
    };
    if (h.magic != kSegmentMagic) return fail("bad segment magic");
    if (h.version != kSegmentVersion) return fail("unsupported segment version");
    if (!valid_metric(h.metric)) return fail("bad segment metric");
    if (h.dim == 0) return fail("bad segment dimension");
    if (h.quantization != uint16_t(Quantization::None) && h.quantization != uint16_t(Quantization::SQ8))
        return fail("unknown segment quantization");
    if (h.attributes > kMaxAttributes) return fail("too many segment attributes");
    if (h.m < 2 || h.m0 != 2 * h.m) return fail("bad segment m/m0");
    if (h.total_size > size) return fail("segment image truncated");
    if (h.count == 0) {
        if (h.max_level != -1 || h.entry_point != 0) return fail("bad entry point of an empty segment");
    } else if (h.max_level < 0 || h.max_level > 255 || h.entry_point >= h.count) {
        return fail("bad segment entry point or max level");
    }
    SectionSizes s;
    // The upper section's size depends on the levels: checked by open(), once they are known.
    if (!section_sizes(h.dim, h.m, h.count, 0, &s)) return fail("segment section sizes overflow");
    if (!section_inside(h, h.vectors_offset, s.vectors) || !section_inside(h, h.level0_offset, s.level0) ||
        !section_inside(h, h.levels_offset, s.levels) || !section_inside(h, h.upper_index_offset, s.upper_index) ||
        !section_inside(h, h.payload_offset, s.payload) || h.upper_offset % kSegmentAlign != 0 ||
        h.upper_offset < sizeof(SegmentHeader) || h.upper_offset > h.total_size)
        return fail("segment section outside the image or misaligned");
    // The SQ8 and attribute sections have no offsets of their own: they end the image, exactly
    // (which also puts them inside `size`, total_size <= size having been checked).
    if ((h.quantization == uint16_t(Quantization::SQ8) || h.attributes > 0) &&
        (h.total_size != image_end(h) || image_end(h) == UINT64_MAX))
        return fail("segment total_size does not match its sq8 or attribute sections");
    return true;
}

SegmentHeader segment_layout(Metric metric, uint32_t dim, uint32_t m, uint32_t count, uint64_t upper_slots,
                             Quantization quantization, uint32_t attributes) {
    if (quantization != Quantization::None && quantization != Quantization::SQ8)
        throw std::invalid_argument("kyrodb: unknown quantization");
    if (attributes > kMaxAttributes) throw std::invalid_argument("kyrodb: too many attributes");
    if (upper_slots >= kSegmentNoUpper) throw std::length_error("kyrodb: too many upper-level lists for a segment");
    SectionSizes s;
    if (!section_sizes(dim, m, count, upper_slots, &s)) throw std::length_error("kyrodb: segment too large");
    SegmentHeader h{};
    h.magic = kSegmentMagic;
    h.version = kSegmentVersion;
    h.metric = uint32_t(metric);
    h.dim = dim;
    h.m = m;
    h.m0 = 2 * m;
    h.count = count;
    h.entry_point = 0;
    h.max_level = -1;
    // Sizes are far below 2^64 here (count, dim < 2^32), so the sums cannot overflow.
    uint64_t at = align_up(sizeof(SegmentHeader));
    h.vectors_offset = at;
    at = align_up(at + s.vectors);
    h.level0_offset = at;
    at = align_up(at + s.level0);
    h.levels_offset = at;
    at = align_up(at + s.levels);
    h.upper_index_offset = at;
    at = align_up(at + s.upper_index);
    h.upper_offset = at;
    at = align_up(at + s.upper);
    h.payload_offset = at;
    h.total_size = at + s.payload;
    h.quantization = uint16_t(quantization);
    h.attributes = uint16_t(attributes);
    h.total_size = image_end(h);
    return h;
}

bool SegmentView::open(const void *image, std::size_t size, SegmentView *out, std::string *error) {
    return open_checked(image, size, true, out, error);
}

bool SegmentView::attach(const void *image, std::size_t size, SegmentView *out, std::string *error) {
    return open_checked(image, size, false, out, error);
}

bool SegmentView::open_checked(const void *image, std::size_t size, bool check_graph, SegmentView *out,
                               std::string *error) {
    auto fail = [error](const char *msg) {
        if (error) *error = msg;
        return false;
    };
    if (image == nullptr || size < sizeof(SegmentHeader)) return fail("segment image shorter than its header");
    if (reinterpret_cast<uintptr_t>(image) % 8 != 0) return fail("segment image not 8-byte aligned");
    SegmentHeader h;
    std::memcpy(&h, image, sizeof h);
    if (!check_segment_header(h, size, error)) return false;
    auto section_ok = [&h](uint64_t offset, uint64_t bytes) { return section_inside(h, offset, bytes); };

    const uint8_t *base = static_cast<const uint8_t *>(image);
    SegmentView v;
    v.header_ = h;
    v.base_ = base;
    v.vectors_ = reinterpret_cast<const float *>(base + h.vectors_offset);
    v.level0_ = reinterpret_cast<const uint32_t *>(base + h.level0_offset);
    v.levels_ = base + h.levels_offset;
    v.upper_index_ = reinterpret_cast<const uint32_t *>(base + h.upper_index_offset);
    v.upper_ = reinterpret_cast<const uint32_t *>(base + h.upper_offset);
    v.payloads_ = reinterpret_cast<const uint64_t *>(base + h.payload_offset);
    if (h.attributes > 0) {
        v.attr_rows_ = reinterpret_cast<const uint64_t *>(base + attr_rows_offset(h));
        v.postings_ = reinterpret_cast<const Posting *>(base + attr_postings_offset(h));
    }
    if (h.quantization == uint16_t(Quantization::SQ8)) {
        v.sq8_lo_ = reinterpret_cast<const float *>(base + sq8_offset(h));
        v.sq8_step_ = v.sq8_lo_ + h.dim;
        v.sq8_codes_ = base + sq8_codes_offset(h);
    }
    if (!check_graph) {
        *out = v;
        return true;
    }

    // Levels and upper-slot ranges: every slot an element owns must exist.
    uint64_t slots = 0;
    for (uint32_t i = 0; i < h.count; i++) slots += v.levels_[i];
    uint64_t upper_bytes;
    if (!mul(slots, uint64_t(1 + h.m) * sizeof(uint32_t), &upper_bytes) || !section_ok(h.upper_offset, upper_bytes))
        return fail("segment upper-level section outside the image or misaligned");
    for (uint32_t i = 0; i < h.count; i++) {
        int level = v.levels_[i];
        if (level > h.max_level) return fail("segment element level above max_level");
        uint32_t first = v.upper_index_[i];
        if (level == 0 ? first != kSegmentNoUpper : uint64_t(first) + level > slots)
            return fail("bad segment upper-level index");
    }
    if (h.count > 0 && v.levels_[h.entry_point] != h.max_level) return fail("segment entry point not on max_level");
    // Postings: ids in range and in (is_null, value, id) order, so that binary searches hold.
    for (uint32_t a = 0; a < h.attributes; a++) {
        const Posting *p = v.postings(a);
        for (uint32_t k = 0; k < h.count; k++) {
            if (p[k].id >= h.count || p[k].is_null > 1) return fail("segment posting out of range");
            if (k > 0 && (p[k - 1].is_null > p[k].is_null ||
                          (p[k - 1].is_null == p[k].is_null && p[k - 1].value > p[k].value)))
                return fail("segment postings out of order");
        }
    }

    // Neighbour lists. On an upper level a neighbour must itself reach that level, or the greedy
    // descent would read a list the neighbour does not have.
    for (uint32_t i = 0; i < h.count; i++) {
        for (int level = 0; level <= v.levels_[i]; level++) {
            uint32_t n;
            const uint32_t *ids = v.neighbours(i, level, &n);
            if (n > (level == 0 ? h.m0 : h.m)) return fail("segment neighbour list too long");
            for (uint32_t j = 0; j < n; j++) {
                if (ids[j] >= h.count) return fail("segment neighbour id out of range");
                if (v.levels_[ids[j]] < level) return fail("segment upper-level neighbour below that level");
            }
        }
    }
    *out = v;
    return true;
}

bool PagedSegment::open(ImageReader *reader, std::size_t size, PagedSegment *out, std::string *error) {
    if (size < sizeof(SegmentHeader)) {
        if (error) *error = "segment image shorter than its header";
        return false;
    }
    PagedSegment p;
    reader->read(0, sizeof(SegmentHeader), &p.header_);
    if (!check_segment_header(p.header_, size, error)) return false;
    p.reader_ = reader;
    // With an element, the checked sections bound dim and m by the image's size; without one
    // nothing is ever read (and they are not bounded).
    if (p.header_.count > 0) {
        p.vector_.resize(p.header_.dim);
        p.list_.resize(1 + std::max(p.header_.m0, p.header_.m));
    }
    *out = std::move(p);
    return true;
}

const float *PagedSegment::vector(uint32_t i) const {
    if (i >= header_.count) {  // callers pass checked ids: a garbage list is already flagged
        corrupt_ = true;
        std::fill(vector_.begin(), vector_.end(), 0.0f);
        return vector_.data();
    }
    reader_->read(header_.vectors_offset + uint64_t(i) * header_.dim * sizeof(float), header_.dim * sizeof(float),
                  vector_.data());
    return vector_.data();
}

const uint32_t *PagedSegment::neighbours(uint32_t i, int level, uint32_t *n) const {
    *n = 0;
    const SegmentHeader &h = header_;
    if (i >= h.count || level < 0 || level > h.max_level) {
        corrupt_ = true;
        return list_.data() + 1;
    }
    uint32_t cap = level == 0 ? h.m0 : h.m;
    uint64_t offset;
    if (level == 0) {
        offset = h.level0_offset + uint64_t(i) * (1 + h.m0) * sizeof(uint32_t);
    } else {
        uint8_t own_level;
        uint32_t first;
        reader_->read(h.levels_offset + i, 1, &own_level);
        reader_->read(h.upper_index_offset + uint64_t(i) * sizeof(uint32_t), sizeof first, &first);
        offset = h.upper_offset + (uint64_t(first) + uint64_t(level - 1)) * (1 + h.m) * sizeof(uint32_t);
        // The upper section's size is not known without every level: a list is read if it lies
        // inside the image (whatever section that is, its ids are checked below).
        if (own_level < level || first == kSegmentNoUpper ||
            offset + (1 + h.m) * sizeof(uint32_t) > h.total_size) {
            corrupt_ = true;
            return list_.data() + 1;
        }
    }
    reader_->read(offset, (1 + cap) * sizeof(uint32_t), list_.data());
    uint32_t listed = list_[0];
    if (listed > cap) {
        corrupt_ = true;
        return list_.data() + 1;
    }
    for (uint32_t j = 1; j <= listed; j++)
        if (list_[j] >= h.count) {
            corrupt_ = true;
            return list_.data() + 1;
        }
    *n = listed;
    return list_.data() + 1;
}

const uint64_t *PagedSegment::attr_row(uint32_t i) const {
    const std::size_t words = attr_row_words(header_.attributes);
    attr_row_.assign(words, 0);
    if (i >= header_.count) {
        corrupt_ = true;
        return attr_row_.data();
    }
    if (words > 0)
        reader_->read(attr_rows_offset(header_) + uint64_t(i) * words * 8, words * 8, attr_row_.data());
    return attr_row_.data();
}

uint64_t PagedSegment::payload(uint32_t i) const {
    if (i >= header_.count) {
        corrupt_ = true;
        return 0;
    }
    uint64_t v;
    reader_->read(header_.payload_offset + uint64_t(i) * sizeof(uint64_t), sizeof v, &v);
    return v;
}

}  // namespace kyrodb
