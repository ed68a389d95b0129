// Filter attributes: the values of an index's extra columns, stored per element beside its vector,
// and the conjunctions of conditions on them that a search applies while it walks.
//
// The core sees an attribute as a 64-bit integer whose order is the column's order (integers,
// booleans, dates, timestamps), as a 64-bit hash that supports equality only (text, uuid), or as
// the signature of a set (an array: each element sets two of the 64 bits, a Bloom filter) that
// answers overlap and containment with false positives. The caller rechecks the last two. An element's attributes are a row of words: word 0 holds the NULL bits (bit a:
// attribute a is NULL), word 1 + a the value of attribute a (0 when NULL).
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace kyrodb {

constexpr uint32_t kMaxAttributes = 31;  // Postgres allows 32 index columns, one is the vector

// Words of an attribute row (0 for an index without attributes).
inline std::size_t attr_row_words(uint32_t attributes) { return attributes == 0 ? 0 : 1 + attributes; }
// Floats of an element row as the adapter moves it: the vector, then its attribute row (a float
// is half a word; rows of the hot tier and of a segment's build input have this stride).
inline std::size_t row_floats(uint32_t dim, uint32_t attributes) { return dim + 2 * attr_row_words(attributes); }

// The signature bits of a set element with hash h.
inline uint64_t signature_bits(uint64_t h) { return (uint64_t(1) << (h & 63)) | (uint64_t(1) << ((h >> 6) & 63)); }

// What one attribute must satisfy. Either IS NULL, or not NULL and inside [lo, hi], with
// `in_set` one of `values` (sorted, unique), and for a signature: all bits of `all_bits` set
// (containment), and with `overlap` every element of `overlaps` with all of its bits set in the
// signature for some element (sorted, unique).
struct AttrCondition {
    uint32_t attr = 0;
    bool want_null = false;
    int64_t lo = std::numeric_limits<int64_t>::min();
    int64_t hi = std::numeric_limits<int64_t>::max();
    bool in_set = false;
    std::vector<int64_t> values;
    uint64_t all_bits = 0;
    bool overlap = false;
    std::vector<uint64_t> overlaps;  // per element of one `&&`; several `&&` keep the narrowest

    bool matches(const uint64_t *row) const;
};

// A conjunction of conditions, at most one per attribute (adding a second one to an attribute
// intersects them). A filter that can match nothing is `impossible()`.
class Filter {
  public:
    bool active() const { return impossible_ || !conditions_.empty(); }
    bool impossible() const { return impossible_; }
    const std::vector<AttrCondition> &conditions() const { return conditions_; }

    void require_range(uint32_t attr, int64_t lo, int64_t hi);  // lo <= value <= hi, not NULL
    void require_in(uint32_t attr, std::vector<int64_t> values);  // any order, duplicates allowed
    void require_null(uint32_t attr, bool is_null);
    void require_all_bits(uint32_t attr, uint64_t bits);                // set @> elements
    void require_overlap(uint32_t attr, std::vector<uint64_t> element_bits);  // set && elements
    void require_nothing() { impossible_ = true; }  // e.g. `= NULL`

    bool matches(const uint64_t *row) const {
        if (impossible_) return false;
        for (const AttrCondition &c : conditions_)
            if (!c.matches(row)) return false;
        return true;
    }

    // A canonical byte form (equal filters give equal bytes), for cache keys; parse() reads it back
    // and returns false on anything it did not write.
    void serialize(std::vector<uint8_t> *out) const;
    static bool parse(const uint8_t *bytes, std::size_t size, Filter *out);

  private:
    AttrCondition &condition(uint32_t attr);
    void settle(AttrCondition &c);
    bool impossible_ = false;
    std::vector<AttrCondition> conditions_;  // sorted by attr
};

// A segment's postings of one attribute: every element's (value, id), NULLs last, sorted by
// (is_null, value, id). They find the elements of a condition without testing every element.
struct Posting {
    int64_t value;
    uint32_t id;
    uint32_t is_null;
};
static_assert(sizeof(Posting) == 16, "postings are part of the segment image");

// Elements a condition can match according to the postings of its attribute (`postings` has
// `count` entries): appends the ranges [first, last) of matching postings to *ranges and returns
// how many postings they hold. The postings of a signature are not ordered by anything a
// condition can use: all of them (but NULLs) are named.
std::size_t condition_ranges(const AttrCondition &c, const Posting *postings, uint32_t count,
                             std::vector<std::pair<uint32_t, uint32_t>> *ranges);

}  // namespace kyrodb
