#include "kyrodb/filter.h"

#include <algorithm>
#include <cstring>

namespace kyrodb {

bool AttrCondition::matches(const uint64_t *row) const {
    const bool is_null = ((row[0] >> attr) & 1) != 0;
    if (want_null) return is_null;
    if (is_null) return false;
    const int64_t v = int64_t(row[1 + attr]);
    if (v < lo || v > hi) return false;
    if (in_set && !std::binary_search(values.begin(), values.end(), v)) return false;
    const uint64_t sig = uint64_t(v);
    if ((sig & all_bits) != all_bits) return false;
    if (overlap)
        return std::any_of(overlaps.begin(), overlaps.end(), [sig](uint64_t m) { return (sig & m) == m; });
    return true;
}

AttrCondition &Filter::condition(uint32_t attr) {
    auto it = std::lower_bound(conditions_.begin(), conditions_.end(), attr,
                               [](const AttrCondition &c, uint32_t a) { return c.attr < a; });
    if (it == conditions_.end() || it->attr != attr) {
        AttrCondition c;
        c.attr = attr;
        it = conditions_.insert(it, c);
    }
    return *it;
}

// Keeps a condition in its simplest form: a set trimmed to the range, and a condition that
// cannot hold makes the whole filter impossible.
void Filter::settle(AttrCondition &c) {
    if (c.in_set) {
        c.values.erase(std::remove_if(c.values.begin(), c.values.end(),
                                      [&](int64_t v) { return v < c.lo || v > c.hi; }),
                       c.values.end());
        if (c.values.empty()) impossible_ = true;
        else {
            c.lo = c.values.front();
            c.hi = c.values.back();
            if (c.values.size() == 1) {  // `= v` is the range [v, v]
                c.in_set = false;
                c.values.clear();
            }
        }
    }
    if (c.lo > c.hi) impossible_ = true;
}

void Filter::require_range(uint32_t attr, int64_t lo, int64_t hi) {
    AttrCondition &c = condition(attr);
    if (c.want_null) impossible_ = true;
    c.lo = std::max(c.lo, lo);
    c.hi = std::min(c.hi, hi);
    settle(c);
}

void Filter::require_in(uint32_t attr, std::vector<int64_t> values) {
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    AttrCondition &c = condition(attr);
    if (c.want_null) impossible_ = true;
    if (c.in_set) {
        std::vector<int64_t> both;
        std::set_intersection(c.values.begin(), c.values.end(), values.begin(), values.end(),
                              std::back_inserter(both));
        c.values = std::move(both);
    } else {
        c.in_set = true;
        c.values = std::move(values);
    }
    settle(c);
}

void Filter::require_all_bits(uint32_t attr, uint64_t bits) {
    AttrCondition &c = condition(attr);
    if (c.want_null) impossible_ = true;
    c.all_bits |= bits;
}

void Filter::require_overlap(uint32_t attr, std::vector<uint64_t> element_bits) {
    std::sort(element_bits.begin(), element_bits.end());
    element_bits.erase(std::unique(element_bits.begin(), element_bits.end()), element_bits.end());
    AttrCondition &c = condition(attr);
    if (c.want_null || element_bits.empty()) impossible_ = true;
    // Both must hold; keeping the one with fewer elements keeps the filter a superset of the
    // rows (the caller rechecks).
    if (!c.overlap || element_bits.size() < c.overlaps.size()) c.overlaps = std::move(element_bits);
    c.overlap = true;
}

void Filter::require_null(uint32_t attr, bool is_null) {
    AttrCondition &c = condition(attr);
    const bool constrained = c.in_set || c.lo != std::numeric_limits<int64_t>::min() ||
                             c.hi != std::numeric_limits<int64_t>::max() || c.all_bits != 0 || c.overlap;
    if (is_null) {
        if (constrained) impossible_ = true;
        c.want_null = true;
    } else if (c.want_null) {
        impossible_ = true;
    }
    // IS NOT NULL alone is the condition with the full range (which excludes NULLs).
}

namespace {

template <class T>
void put(std::vector<uint8_t> *out, T v) {
    const uint8_t *p = reinterpret_cast<const uint8_t *>(&v);
    out->insert(out->end(), p, p + sizeof v);
}
template <class T>
bool take(const uint8_t *&p, const uint8_t *end, T *v) {
    if (std::size_t(end - p) < sizeof *v) return false;
    std::memcpy(v, p, sizeof *v);
    p += sizeof *v;
    return true;
}

}  // namespace

void Filter::serialize(std::vector<uint8_t> *out) const {
    put<uint32_t>(out, impossible_ ? UINT32_MAX : uint32_t(conditions_.size()));
    if (impossible_) return;
    for (const AttrCondition &c : conditions_) {
        put<uint32_t>(out, c.attr);
        put<uint32_t>(out, (c.want_null ? 1u : 0u) | (c.in_set ? 2u : 0u) | (c.overlap ? 4u : 0u));
        put<int64_t>(out, c.lo);
        put<int64_t>(out, c.hi);
        put<uint32_t>(out, uint32_t(c.values.size()));
        for (int64_t v : c.values) put<int64_t>(out, v);
        put<uint64_t>(out, c.all_bits);
        put<uint32_t>(out, uint32_t(c.overlaps.size()));
        for (uint64_t m : c.overlaps) put<uint64_t>(out, m);
    }
}

bool Filter::parse(const uint8_t *bytes, std::size_t size, Filter *out) {
    const uint8_t *p = bytes, *end = bytes + size;
    Filter f;
    uint32_t n;
    if (!take(p, end, &n)) return false;
    if (n == UINT32_MAX) {
        f.impossible_ = true;
    } else {
        for (uint32_t i = 0; i < n; i++) {
            AttrCondition c;
            uint32_t flags, nv, nm;
            if (!take(p, end, &c.attr) || !take(p, end, &flags) || !take(p, end, &c.lo) || !take(p, end, &c.hi) ||
                !take(p, end, &nv) || c.attr >= kMaxAttributes || flags > 7 || nv > std::size_t(end - p) / 8)
                return false;
            c.want_null = (flags & 1) != 0;
            c.in_set = (flags & 2) != 0;
            c.overlap = (flags & 4) != 0;
            c.values.resize(nv);
            for (int64_t &v : c.values) take(p, end, &v);
            if (!take(p, end, &c.all_bits) || !take(p, end, &nm) || nm > std::size_t(end - p) / 8) return false;
            c.overlaps.resize(nm);
            for (uint64_t &m : c.overlaps) take(p, end, &m);
            if (!f.conditions_.empty() && f.conditions_.back().attr >= c.attr) return false;
            if (!std::is_sorted(c.values.begin(), c.values.end())) return false;
            f.conditions_.push_back(std::move(c));
        }
    }
    if (p != end) return false;
    *out = std::move(f);
    return true;
}

std::size_t condition_ranges(const AttrCondition &c, const Posting *postings, uint32_t count,
                             std::vector<std::pair<uint32_t, uint32_t>> *ranges) {
    const Posting *begin = postings, *end = postings + count;
    // (is_null, value) order; ids break ties and do not matter here.
    auto before = [](const Posting &p, std::pair<uint32_t, int64_t> key) {
        return p.is_null < key.first || (p.is_null == key.first && p.value < key.second);
    };
    auto after = [](std::pair<uint32_t, int64_t> key, const Posting &p) {
        return key.first < p.is_null || (key.first == p.is_null && key.second < p.value);
    };
    auto add = [&](const Posting *a, const Posting *b) -> std::size_t {
        if (a >= b) return 0;
        ranges->push_back({uint32_t(a - begin), uint32_t(b - begin)});
        return std::size_t(b - a);
    };
    if (c.all_bits != 0 || c.overlap || c.want_null) {
        const Posting *nulls = std::lower_bound(begin, end, std::make_pair(1u, std::numeric_limits<int64_t>::min()), before);
        if (c.want_null) return add(nulls, end);
        return add(begin, nulls);  // a signature: every non-NULL element
    }
    if (!c.in_set) {
        const Posting *a = std::lower_bound(begin, end, std::make_pair(0u, c.lo), before);
        const Posting *b = std::upper_bound(a, end, std::make_pair(0u, c.hi), after);
        return add(a, b);
    }
    std::size_t total = 0;
    const Posting *from = begin;
    for (int64_t v : c.values) {
        const Posting *a = std::lower_bound(from, end, std::make_pair(0u, v), before);
        const Posting *b = std::upper_bound(a, end, std::make_pair(0u, v), after);
        total += add(a, b);
        from = b;
    }
    return total;
}

}  // namespace kyrodb
