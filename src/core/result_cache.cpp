#include "kyrodb/result_cache.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

namespace kyrodb {
namespace {

constexpr uint64_t kMagic = 0x4B59524331000001ull;  // "KYRC1", layout version 1
constexpr uint32_t kNone = UINT32_MAX;
// Block and slot indices are uint32 with kNone reserved, and buckets (twice the slots, rounded up to
// a power of two) must fit too: 2^30 blocks is a 256 GB arena.
constexpr uint64_t kMaxBlocks = uint64_t(1) << 30;

// A value in the arena: this header, n_parts StoredParts, then n_items ResultItems, parts in order.
struct ValueHeader {
    uint32_t n_parts;
    uint32_t n_items;
};
struct StoredPart {
    uint64_t segment_id;
    uint64_t version;
    float radius;
    float covered;
    uint32_t beam;
    uint32_t n;
};
static_assert(sizeof(ValueHeader) == 8 && sizeof(StoredPart) == 32 && sizeof(ResultItem) == 8,
              "stored value layout");

std::size_t round_up(std::size_t n) { return (n + ResultCache::kAlign - 1) / ResultCache::kAlign * ResultCache::kAlign; }

uint64_t blocks_for(uint64_t bytes) { return (bytes + ResultCache::kBlockSize - 1) / ResultCache::kBlockSize; }

// The key hash: 16 bytes per step folded into the state by a 64x64->128 multiply whose halves are
// xor-ed (fast, and every input bit reaches every output bit), then a final fold with the length.
// It is not keyed: collisions cost only speed, since the key bytes confirm every match.
constexpr uint64_t kMix0 = 0x9E3779B97F4A7C15ull, kMix1 = 0xC2B2AE3D27D4EB4Full, kMix2 = 0x165667B19E3779F9ull,
                   kMix3 = 0xD6E8FEB86659FD93ull;

uint64_t fold_mul(uint64_t a, uint64_t b) {
    unsigned __int128 product = static_cast<unsigned __int128>(a) * b;
    return uint64_t(product) ^ uint64_t(product >> 64);
}

uint64_t load(const uint8_t *p, std::size_t n) {
    uint64_t v = 0;
    if (n > 0) std::memcpy(&v, p, n);  // p may be null when n is 0 (an empty key)
    return v;
}

uint64_t hash_bytes(const void *data, std::size_t n) {
    const uint8_t *p = static_cast<const uint8_t *>(data);
    uint64_t h = fold_mul(uint64_t(n) ^ kMix0, kMix1);
    std::size_t left = n;
    for (; left >= 16; p += 16, left -= 16) h = fold_mul(load(p, 8) ^ kMix2 ^ h, load(p + 8, 8) ^ kMix3);
    uint64_t a = left > 8 ? load(p, 8) : load(p, left);
    uint64_t b = left > 8 ? load(p + 8, left - 8) : 0;
    h = fold_mul(a ^ kMix0 ^ h, b ^ kMix1);
    return fold_mul(h ^ kMix2, uint64_t(n) ^ kMix3);
}

// splitmix64: the state is one word in the shared header.
uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t count_items(const Part *parts, std::size_t n_parts) {
    uint64_t items = 0;
    for (std::size_t i = 0; i < n_parts; i++) items += parts[i].n;
    return items;
}

uint64_t value_bytes(std::size_t n_parts, uint64_t n_items) {
    return sizeof(ValueHeader) + n_parts * sizeof(StoredPart) + n_items * sizeof(ResultItem);
}

// Whether an entry needs more blocks than the arena has, or sizes its slot cannot hold.
bool too_large(uint64_t key_size, uint64_t value_size, uint64_t arena_blocks) {
    return blocks_for(key_size + value_size) > arena_blocks || key_size + value_size > UINT32_MAX;
}

struct Layout {
    uint32_t n_blocks, n_slots, n_buckets;
    std::size_t buckets, resident, next, blocks, total;  // offsets from the header, and the size
};

}  // namespace

struct CacheSlot {
    uint64_t hash;
    uint64_t admitted;
    std::atomic<uint64_t> last_access;
    std::atomic<uint32_t> hits;
    uint32_t key_size;
    uint32_t value_size;
    uint32_t first_block;
    uint32_t n_blocks;
    uint32_t pos;  // in resident(): below n_entries_ if the slot holds an entry
};

// An entry of the open-addressing table; the hash is kept here so probing reads no slots.
struct CacheBucket {
    uint64_t hash;
    uint32_t slot;  // kNone: empty
    uint32_t unused;
};

namespace {

Layout layout(uint64_t n_blocks, uint32_t blocks_per_entry, std::size_t header_size) {
    Layout l;
    l.n_blocks = uint32_t(n_blocks);
    l.n_slots = std::max<uint32_t>(1, l.n_blocks / std::max<uint32_t>(1, blocks_per_entry));
    l.n_buckets = 1;
    while (l.n_buckets < 2 * uint64_t(l.n_slots)) l.n_buckets *= 2;
    std::size_t slots = round_up(header_size);
    l.buckets = slots + round_up(std::size_t(l.n_slots) * sizeof(CacheSlot));
    l.resident = l.buckets + round_up(std::size_t(l.n_buckets) * sizeof(CacheBucket));
    l.next = l.resident + round_up(std::size_t(l.n_slots) * sizeof(uint32_t));
    l.blocks = l.next + round_up(std::size_t(l.n_blocks) * sizeof(uint32_t));
    l.total = l.blocks + std::size_t(l.n_blocks) * ResultCache::kBlockSize;
    return l;
}

}  // namespace

// Walks an entry's bytes along its chain of blocks.
class ResultCache::Cursor {
  public:
    Cursor(const ResultCache *cache, uint32_t first_block)
        : blocks_(const_cast<uint8_t *>(cache->block(0))), next_(cache->next_block()), block_(first_block) {}

    void skip(std::size_t n) {
        walk(n, [](uint8_t *, std::size_t) {});
    }
    void read(void *dst, std::size_t n) {
        uint8_t *d = static_cast<uint8_t *>(dst);
        walk(n, [&](uint8_t *p, std::size_t k) {
            std::memcpy(d, p, k);
            d += k;
        });
    }
    bool equals(const void *src, std::size_t n) {
        const uint8_t *s = static_cast<const uint8_t *>(src);
        bool same = true;
        walk(n, [&](uint8_t *p, std::size_t k) {
            same = same && std::memcmp(p, s, k) == 0;
            s += k;
        });
        return same;
    }
    // Only on entries being stored, under the exclusive lock.
    void write(const void *src, std::size_t n) {
        const uint8_t *s = static_cast<const uint8_t *>(src);
        walk(n, [&](uint8_t *p, std::size_t k) {
            std::memcpy(p, s, k);
            s += k;
        });
    }

  private:
    template <class Span>
    void walk(std::size_t n, Span span) {
        while (n > 0) {
            if (at_ == kBlockSize) {  // moves on only when bytes remain: the last block has no next
                block_ = next_[block_];
                at_ = 0;
            }
            std::size_t k = std::min(n, kBlockSize - at_);
            span(blocks_ + std::size_t(block_) * kBlockSize + at_, k);
            at_ += k;
            n -= k;
        }
    }

    uint8_t *blocks_;
    const uint32_t *next_;
    uint32_t block_;
    std::size_t at_ = 0;
};

CacheSlot &ResultCache::slot(uint32_t i) {
    return reinterpret_cast<CacheSlot *>(reinterpret_cast<uint8_t *>(this) + round_up(sizeof(ResultCache)))[i];
}
const CacheSlot &ResultCache::slot(uint32_t i) const { return const_cast<ResultCache *>(this)->slot(i); }
CacheBucket *ResultCache::buckets() {
    return reinterpret_cast<CacheBucket *>(reinterpret_cast<uint8_t *>(this) + buckets_offset_);
}
const CacheBucket *ResultCache::buckets() const { return const_cast<ResultCache *>(this)->buckets(); }
uint32_t *ResultCache::resident() {
    return reinterpret_cast<uint32_t *>(reinterpret_cast<uint8_t *>(this) + resident_offset_);
}
const uint32_t *ResultCache::resident() const { return const_cast<ResultCache *>(this)->resident(); }
uint32_t *ResultCache::next_block() {
    return reinterpret_cast<uint32_t *>(reinterpret_cast<uint8_t *>(this) + next_offset_);
}
const uint32_t *ResultCache::next_block() const { return const_cast<ResultCache *>(this)->next_block(); }
uint8_t *ResultCache::block(uint32_t b) {
    return reinterpret_cast<uint8_t *>(this) + blocks_offset_ + std::size_t(b) * kBlockSize;
}
const uint8_t *ResultCache::block(uint32_t b) const { return const_cast<ResultCache *>(this)->block(b); }

std::size_t ResultCache::bytes_needed(std::size_t arena_bytes, const CacheOptions &options) {
    return layout(std::min<uint64_t>(arena_bytes / kBlockSize, kMaxBlocks), options.blocks_per_entry,
                  sizeof(ResultCache))
        .total;
}

ResultCache *ResultCache::create(void *memory, std::size_t bytes, const CacheOptions &options) {
    if (memory == nullptr || reinterpret_cast<uintptr_t>(memory) % kAlign != 0) return nullptr;
    // The most blocks whose layout fits in `bytes` (the layout grows with the blocks).
    uint64_t lo = 0, hi = std::min<uint64_t>(bytes / kBlockSize, kMaxBlocks);
    while (lo < hi) {
        uint64_t mid = (lo + hi + 1) / 2;
        if (layout(mid, options.blocks_per_entry, sizeof(ResultCache)).total <= bytes)
            lo = mid;
        else
            hi = mid - 1;
    }
    if (lo == 0) return nullptr;
    Layout l = layout(lo, options.blocks_per_entry, sizeof(ResultCache));

    auto *cache = new (memory) ResultCache();
    cache->hash_mask_ = options.hash_mask;
    cache->n_blocks_ = l.n_blocks;
    cache->n_slots_ = l.n_slots;
    cache->n_buckets_ = l.n_buckets;
    cache->buckets_offset_ = l.buckets;
    cache->resident_offset_ = l.resident;
    cache->next_offset_ = l.next;
    cache->blocks_offset_ = l.blocks;
    cache->rng_ = kMix0;
    for (uint32_t i = 0; i < l.n_slots; i++) {
        CacheSlot *s = new (&cache->slot(i)) CacheSlot();
        s->pos = i;
        cache->resident()[i] = i;
    }
    cache->clear();
    cache->magic_ = kMagic;
    return cache;
}

ResultCache *ResultCache::attach(void *memory) {
    if (memory == nullptr || reinterpret_cast<uintptr_t>(memory) % kAlign != 0) return nullptr;
    auto *cache = static_cast<ResultCache *>(memory);
    return cache->magic_ == kMagic ? cache : nullptr;
}

CacheKey ResultCache::key(const void *bytes, std::size_t size) const {
    return CacheKey{bytes, size, hash_bytes(bytes, size) & hash_mask_};
}

uint32_t ResultCache::find(const CacheKey &key) const {
    const CacheBucket *b = buckets();
    const uint32_t mask = n_buckets_ - 1;
    for (uint32_t i = uint32_t(key.hash) & mask; b[i].slot != kNone; i = (i + 1) & mask) {
        if (b[i].hash != key.hash) continue;
        const CacheSlot &s = slot(b[i].slot);
        if (s.key_size == key.size && Cursor(this, s.first_block).equals(key.bytes, key.size)) return b[i].slot;
    }
    return kNone;
}

EntryUsage ResultCache::usage(uint32_t s) const {
    const CacheSlot &e = slot(s);
    EntryUsage u;
    u.key = e.hash;
    u.admitted = e.admitted;
    u.last_access = e.last_access.load(std::memory_order_relaxed);
    u.hits = e.hits.load(std::memory_order_relaxed);
    return u;
}

bool ResultCache::copy_value(uint32_t s, CachedResult *out) const {
    const CacheSlot &e = slot(s);
    Cursor c(this, e.first_block);
    c.skip(e.key_size);
    ValueHeader header;
    c.read(&header, sizeof header);
    try {
        out->parts.resize(header.n_parts);
        out->items.resize(header.n_items);
    } catch (...) {  // out of memory: the caller searches instead
        return false;
    }
    uint32_t first = 0;
    for (uint32_t i = 0; i < header.n_parts; i++) {
        StoredPart part;
        c.read(&part, sizeof part);
        out->parts[i] = CachedPart{part.segment_id, part.covered, part.n, first, {part.version, part.radius, part.beam}};
        first += part.n;
    }
    c.read(out->items.data(), std::size_t(header.n_items) * sizeof(ResultItem));
    return true;
}

const CachedPart *reusable_part(const CachedResult &hit, uint64_t segment_id, const PartBasis &basis,
                                const uint64_t *deleted, uint32_t count) {
    for (const CachedPart &part : hit.parts) {
        if (part.segment_id != segment_id) continue;
        const PartBasis &b = part.basis;
        if (b.version != basis.version || b.beam != basis.beam || std::memcmp(&b.radius, &basis.radius, sizeof(float)) != 0)
            return nullptr;
        if (std::size_t(part.first) + part.n > hit.items.size()) return nullptr;
        for (uint32_t k = part.first; k < part.first + part.n; k++) {
            const uint32_t id = hit.items[k].id;
            if (id >= count || (deleted != nullptr && ((deleted[id >> 6] >> (id & 63)) & 1))) return nullptr;
        }
        return &part;
    }
    return nullptr;
}

bool ResultCache::peek(const CacheKey &key, CachedResult *out) const {
    const uint32_t s = find(key);
    return s != kNone && copy_value(s, out);
}

bool ResultCache::lookup(const CacheKey &key, CachePolicy &policy, CachedResult *out) {
    const uint64_t now = clock_.fetch_add(1, std::memory_order_relaxed) + 1;
    policy.record(key.hash, now);
    uint32_t s = find(key);
    if (s == kNone || !copy_value(s, out)) {
        misses_.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    CacheSlot &e = slot(s);
    // A later lookup may have stored its time already: keep the latest.
    uint64_t seen = e.last_access.load(std::memory_order_relaxed);
    while (seen < now && !e.last_access.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
    }
    e.hits.fetch_add(1, std::memory_order_relaxed);
    hits_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void ResultCache::swap_resident(uint32_t i, uint32_t j) {
    uint32_t *r = resident();
    std::swap(r[i], r[j]);
    slot(r[i]).pos = i;
    slot(r[j]).pos = j;
}

// The position in resident()[0, end) of the lowest-valued of kSample entries drawn uniformly (with
// replacement), or of all of them when there are no more than kSample.
uint32_t ResultCache::sample_lowest(uint32_t end, const CachePolicy &policy, uint64_t now) {
    const bool all = end <= kSample;
    uint32_t best = kNone;
    double best_value = 0;
    for (uint32_t k = 0; k < (all ? end : kSample); k++) {
        uint32_t pos = all ? k : uint32_t((static_cast<unsigned __int128>(next_random(&rng_)) * end) >> 64);
        double value = policy.value(usage(resident_at(pos)), now);
        if (best == kNone || value < best_value) {
            best = pos;
            best_value = value;
        }
    }
    return best;
}

// Evicts until `blocks` blocks (and a slot, if need_slot) are free, sparing `keep` (an entry being
// replaced, or kNone). With ask_admit, the policy must admit `hash` over each victim. The victims are
// all chosen before any is evicted, so a refusal leaves the cache as it was.
bool ResultCache::make_room(uint64_t blocks, bool need_slot, uint32_t keep, const CachePolicy &policy,
                            bool ask_admit, uint64_t hash, uint64_t now) {
    // Candidates are resident()[0, end): chosen victims move just past it, `keep` to the very end.
    uint32_t end = n_entries_;
    if (keep != kNone) swap_resident(slot(keep).pos, --end);
    const uint32_t victims_end = end;
    uint64_t free_blocks = free_blocks_;
    uint32_t free_slots = n_slots_ - n_entries_;
    while (free_blocks < blocks || (need_slot && free_slots == 0)) {
        if (end == 0) return false;
        uint32_t pos = sample_lowest(end, policy, now);
        if (ask_admit && !policy.admit(hash, usage(resident_at(pos)), now)) return false;
        free_blocks += slot(resident_at(pos)).n_blocks;
        free_slots++;
        swap_resident(pos, --end);
    }
    // From the back: dropping swaps the last entry into the hole, so `keep` stays last.
    for (uint32_t i = victims_end; i-- > end;) {
        drop(resident_at(i));
        evictions_.fetch_add(1, std::memory_order_relaxed);
    }
    return true;
}

// Gives slot s a chain of `blocks` free blocks (there must be as many) holding the key and the value.
void ResultCache::store(uint32_t s, const CacheKey &key, const Part *parts, std::size_t n_parts, uint64_t value_size,
                        uint32_t n_items, uint64_t blocks) {
    uint32_t *next = next_block();
    CacheSlot &e = slot(s);
    e.first_block = free_head_;
    uint32_t last = free_head_;
    for (uint64_t k = 1; k < blocks; k++) last = next[last];
    free_head_ = next[last];
    next[last] = kNone;
    free_blocks_ -= uint32_t(blocks);
    e.n_blocks = uint32_t(blocks);
    e.key_size = uint32_t(key.size);
    e.value_size = uint32_t(value_size);

    Cursor c(this, e.first_block);
    c.write(key.bytes, key.size);
    ValueHeader header{uint32_t(n_parts), n_items};
    c.write(&header, sizeof header);
    for (std::size_t i = 0; i < n_parts; i++) {
        const Part &p = parts[i];
        StoredPart part{p.segment_id, p.basis.version, p.basis.radius, p.covered, p.basis.beam, p.n};
        c.write(&part, sizeof part);
    }
    for (std::size_t i = 0; i < n_parts; i++) c.write(parts[i].items, std::size_t(parts[i].n) * sizeof(ResultItem));
}

void ResultCache::free_chain(uint32_t s) {
    CacheSlot &e = slot(s);
    if (e.n_blocks == 0) return;
    uint32_t *next = next_block();
    uint32_t last = e.first_block;
    while (next[last] != kNone) last = next[last];
    next[last] = free_head_;
    free_head_ = e.first_block;
    free_blocks_ += e.n_blocks;
    e.first_block = kNone;
    e.n_blocks = 0;
}

// Takes slot s out of the table, moving later members of its probe run back into the hole so that
// every run stays unbroken (no tombstones).
void ResultCache::unlink(uint32_t s) {
    CacheBucket *b = buckets();
    const uint32_t mask = n_buckets_ - 1;
    uint32_t hole = uint32_t(slot(s).hash) & mask;
    while (b[hole].slot != s) hole = (hole + 1) & mask;
    for (uint32_t j = (hole + 1) & mask; b[j].slot != kNone; j = (j + 1) & mask) {
        uint32_t home = uint32_t(b[j].hash) & mask;
        // b[j] may fill the hole if its probe from home passes it: hole lies in [home, j) cyclically.
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            b[hole] = b[j];
            hole = j;
        }
    }
    b[hole].slot = kNone;
}

void ResultCache::drop(uint32_t s) {
    unlink(s);
    free_chain(s);
    swap_resident(slot(s).pos, --n_entries_);
}

CacheStatus ResultCache::insert(const CacheKey &key, const Part *parts, std::size_t n_parts,
                                const CachePolicy &policy) {
    if (find(key) != kNone) return replace_parts(key, parts, n_parts, policy);
    const uint64_t n_items = count_items(parts, n_parts);
    const uint64_t size = value_bytes(n_parts, n_items);
    const uint64_t blocks = blocks_for(key.size + size);
    if (too_large(key.size, size, n_blocks_)) {
        too_large_.fetch_add(1, std::memory_order_relaxed);
        return CacheStatus::TooLarge;
    }
    const uint64_t now = clock_.load(std::memory_order_relaxed);
    if (!make_room(blocks, true, kNone, policy, true, key.hash, now)) {
        refused_.fetch_add(1, std::memory_order_relaxed);
        return CacheStatus::Refused;
    }
    const uint32_t s = resident_at(n_entries_++);  // past the entries, the free slots
    CacheSlot &e = slot(s);
    e.hash = key.hash;
    e.admitted = now;
    e.last_access.store(now, std::memory_order_relaxed);
    e.hits.store(0, std::memory_order_relaxed);
    store(s, key, parts, n_parts, size, uint32_t(n_items), blocks);

    CacheBucket *b = buckets();
    const uint32_t mask = n_buckets_ - 1;
    uint32_t i = uint32_t(key.hash) & mask;
    while (b[i].slot != kNone) i = (i + 1) & mask;
    b[i].hash = key.hash;
    b[i].slot = s;
    inserts_.fetch_add(1, std::memory_order_relaxed);
    return CacheStatus::Inserted;
}

CacheStatus ResultCache::replace_parts(const CacheKey &key, const Part *parts, std::size_t n_parts,
                                       const CachePolicy &policy) {
    const uint32_t s = find(key);
    if (s == kNone) return CacheStatus::NotFound;
    const uint64_t n_items = count_items(parts, n_parts);
    const uint64_t size = value_bytes(n_parts, n_items);
    const uint64_t blocks = blocks_for(key.size + size);
    free_chain(s);
    if (too_large(key.size, size, n_blocks_) ||
        !make_room(blocks, false, s, policy, false, key.hash, clock_.load(std::memory_order_relaxed))) {
        drop(s);
        too_large_.fetch_add(1, std::memory_order_relaxed);
        return CacheStatus::TooLarge;
    }
    store(s, key, parts, n_parts, size, uint32_t(n_items), blocks);
    replacements_.fetch_add(1, std::memory_order_relaxed);
    return CacheStatus::Replaced;
}

bool ResultCache::erase(const CacheKey &key) {
    const uint32_t s = find(key);
    if (s == kNone) return false;
    drop(s);
    return true;
}

void ResultCache::clear() {
    CacheBucket *b = buckets();
    for (uint32_t i = 0; i < n_buckets_; i++) b[i] = CacheBucket{0, kNone, 0};
    n_entries_ = 0;  // a slot's chain fields are set again when it is next used
    uint32_t *next = next_block();
    for (uint32_t i = 0; i < n_blocks_; i++) next[i] = i + 1 < n_blocks_ ? i + 1 : kNone;
    free_head_ = 0;
    free_blocks_ = n_blocks_;
}

bool ResultCache::hottest(const CachePolicy &policy, std::size_t max_n, std::vector<HotEntry> *out) const {
    const uint64_t now = this->now();
    try {
        std::vector<std::pair<double, uint32_t>> ranked;
        ranked.reserve(n_entries_);
        for (uint32_t i = 0; i < n_entries_; i++)
            ranked.emplace_back(policy.value(usage(resident_at(i)), now), resident_at(i));
        const std::size_t n = std::min(max_n, ranked.size());
        std::partial_sort(ranked.begin(), ranked.begin() + n, ranked.end(),
                          [](const auto &a, const auto &b) { return a.first > b.first; });
        out->clear();
        out->reserve(n);
        for (std::size_t k = 0; k < n; k++) {
            const CacheSlot &e = slot(ranked[k].second);
            HotEntry hot{std::vector<uint8_t>(e.key_size), e.hash, ranked[k].first};
            Cursor(this, e.first_block).read(hot.key.data(), e.key_size);
            out->push_back(std::move(hot));
        }
    } catch (...) {  // out of memory
        return false;
    }
    return true;
}

CacheStats ResultCache::stats() const {
    CacheStats st;
    st.entries = n_entries_;
    st.used_bytes = uint64_t(n_blocks_ - free_blocks_) * kBlockSize;
    st.capacity_bytes = uint64_t(n_blocks_) * kBlockSize;
    st.hits = hits_.load(std::memory_order_relaxed);
    st.misses = misses_.load(std::memory_order_relaxed);
    st.lookups = st.hits + st.misses;
    st.inserts = inserts_.load(std::memory_order_relaxed);
    st.replacements = replacements_.load(std::memory_order_relaxed);
    st.admissions_refused = refused_.load(std::memory_order_relaxed);
    st.evictions = evictions_.load(std::memory_order_relaxed);
    st.too_large = too_large_.load(std::memory_order_relaxed);
    return st;
}

bool ResultCache::check(std::string *error) const {
    auto fail = [&](const std::string &what) {
        if (error) *error = what;
        return false;
    };
    try {
        if (magic_ != kMagic) return fail("bad magic");
        if (n_entries_ > n_slots_) return fail("more entries than slots");
        std::vector<bool> seen(n_slots_);
        for (uint32_t i = 0; i < n_slots_; i++) {
            uint32_t s = resident()[i];
            if (s >= n_slots_ || seen[s] || slot(s).pos != i) return fail("resident is not a permutation");
            seen[s] = true;
        }
        std::vector<bool> owned(n_blocks_);
        const uint32_t *next = next_block();
        uint64_t used = 0;
        for (uint32_t i = 0; i < n_entries_; i++) {
            const uint32_t s = resident_at(i);
            const CacheSlot &e = slot(s);
            const std::string at = "entry in slot " + std::to_string(s) + ": ";
            if (e.n_blocks != blocks_for(uint64_t(e.key_size) + e.value_size)) return fail(at + "wrong block count");
            uint32_t b = e.first_block;
            for (uint32_t k = 0; k < e.n_blocks; k++) {
                if (b >= n_blocks_ || owned[b]) return fail(at + "chain leaves the arena or shares a block");
                owned[b] = true;
                if (k + 1 == e.n_blocks && next[b] != kNone) return fail(at + "chain longer than its block count");
                b = next[b];
            }
            used += e.n_blocks;

            Cursor c(this, e.first_block);
            std::vector<uint8_t> key(e.key_size);
            c.read(key.data(), key.size());
            ValueHeader header;
            c.read(&header, sizeof header);
            uint64_t items = 0;
            for (uint32_t p = 0; p < header.n_parts; p++) {
                StoredPart part;
                c.read(&part, sizeof part);
                items += part.n;
            }
            if (items != header.n_items || e.value_size != value_bytes(header.n_parts, header.n_items))
                return fail(at + "value sizes disagree");
            if (find(CacheKey{key.data(), key.size(), e.hash}) != s)
                return fail(at + "not found by its key (lost from the table, or a duplicate key)");
        }
        uint64_t free_count = 0;
        for (uint32_t b = free_head_; b != kNone; b = next[b]) {
            if (b >= n_blocks_ || owned[b]) return fail("free list leaves the arena or holds a used block");
            owned[b] = true;
            free_count++;
        }
        if (free_count != free_blocks_) return fail("free list length differs from the free block count");
        if (used + free_count != n_blocks_) return fail("blocks leaked");
        const CacheBucket *bk = buckets();
        uint64_t occupied = 0;
        for (uint32_t i = 0; i < n_buckets_; i++) {
            if (bk[i].slot == kNone) continue;
            occupied++;
            if (bk[i].slot >= n_slots_ || slot(bk[i].slot).pos >= n_entries_ || slot(bk[i].slot).hash != bk[i].hash)
                return fail("bucket " + std::to_string(i) + " names no resident entry of its hash");
        }
        if (occupied != n_entries_) return fail("table and entry count differ");
    } catch (...) {
        return fail("out of memory");
    }
    return true;
}

std::size_t CacheEntryRef::key_size() const { return cache_->slot(slot_).key_size; }

std::size_t CacheEntryRef::bytes() const { return std::size_t(cache_->slot(slot_).n_blocks) * ResultCache::kBlockSize; }

bool CacheEntryRef::key_starts_with(const void *prefix, std::size_t n) const {
    const CacheSlot &e = cache_->slot(slot_);
    return n <= e.key_size && ResultCache::Cursor(cache_, e.first_block).equals(prefix, n);
}

void CacheEntryRef::read_key(std::size_t offset, std::size_t n, void *dst) const {
    ResultCache::Cursor c(cache_, cache_->slot(slot_).first_block);
    c.skip(offset);
    c.read(dst, n);
}

EntryUsage CacheEntryRef::usage() const { return cache_->usage(slot_); }

}  // namespace kyrodb
