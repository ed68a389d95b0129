// The result cache (layer 1, issue 11): search results keyed by the exact bytes of what the search
// depended on, in a fixed arena of memory shared by processes. Like ImagePool, the whole structure
// lives inside the memory it describes (offsets and indices, no pointers), so every process mapping
// the memory uses it in place.
//
// Memory: the arena is cut into fixed blocks (kBlockSize); an entry's key bytes then value bytes fill
// a chain of blocks, so entries of any size never fragment the arena. Entries are found through an
// open-addressing table of their 64-bit hashes; a hash only finds candidates, the key bytes confirm
// them. When blocks or entry slots run out, the cache samples resident entries and evicts the one
// its CachePolicy values least, if the policy admits the new key in its place.
//
// Locking is the caller's (the adapter uses an LWLock): key() needs none; lookup, hottest and stats
// need at least a shared lock, so everything lookup changes (the clock, usage, hit counters) is
// atomic; insert, replace_parts, erase, clear and for_each_entry need an exclusive one. No function
// throws: failures are statuses, and lookup allocates only into the caller's CachedResult.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kyrodb/cache_policy.h"

namespace kyrodb {

// One result of a segment's search.
struct ResultItem {
    uint32_t id;  // element id in the segment
    float distance;
};

// What a segment's search depended on besides the key: the segment's state (the adapter's
// tombstone generation) and the search's bounds. A caller reuses a part only when all of it is
// equal to what the search would be called with now, so a reused part is what the search returns.
struct PartBasis {
    uint64_t version = 0;
    float radius = 0;
    uint32_t beam = 0;
};

// One segment's share of a search, as handed to insert: `n` items in rank order, and the distance
// up to which the segment's search was complete.
struct Part {
    uint64_t segment_id;
    float covered;
    uint32_t n;
    const ResultItem *items;
    PartBasis basis;
};

// A hit, copied out of the cache: part i's items are items[parts[i].first, parts[i].first + parts[i].n).
// Reusing one CachedResult across lookups keeps its capacity, so steady lookups allocate nothing.
struct CachedPart {
    uint64_t segment_id;
    float covered;
    uint32_t n;
    uint32_t first;
    PartBasis basis;
};
struct CachedResult {
    std::vector<CachedPart> parts;
    std::vector<ResultItem> items;
};

// The part of a hit for `segment_id` if its search was called with exactly `basis` (compared bit
// for bit) and none of its items is out of the segment's `count` elements or marked in `deleted`
// (a bitmap of count bits, or null); else null. Only such a part is what the search returns now.
const CachedPart *reusable_part(const CachedResult &hit, uint64_t segment_id, const PartBasis &basis,
                                const uint64_t *deleted, uint32_t count);

// The key of a lookup or an insert: its bytes (the caller's, not copied) and their hash, from
// ResultCache::key, which can be computed before taking the lock.
struct CacheKey {
    const void *bytes;
    std::size_t size;
    uint64_t hash;
};

struct CacheOptions {
    // Arena blocks per entry slot: the table has one slot per this many blocks, so entries smaller
    // than this on average run out of slots before blocks (and evict for a slot).
    uint32_t blocks_per_entry = 4;
    // For tests: applied to every hash, so a mask of a few bits makes distinct keys collide.
    uint64_t hash_mask = ~uint64_t(0);
};

struct CacheStats {
    uint64_t entries = 0;
    uint64_t used_bytes = 0;      // blocks held by entries, in bytes
    uint64_t capacity_bytes = 0;  // all blocks, in bytes
    uint64_t lookups = 0;         // hits + misses
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t inserts = 0;             // new entries stored
    uint64_t replacements = 0;        // resident entries given new parts
    uint64_t admissions_refused = 0;  // new keys the policy would not admit over a victim
    uint64_t evictions = 0;
    uint64_t too_large = 0;  // entries larger than the whole arena
};

enum class CacheStatus { Inserted, Replaced, NotFound, Refused, TooLarge };

// A resident entry for the background refresh: its key bytes, hash and policy value.
struct HotEntry {
    std::vector<uint8_t> key;
    uint64_t hash;
    double value;
};

class ResultCache;
struct CacheSlot;    // an entry's bookkeeping (result_cache.cpp)
struct CacheBucket;  // a hash table entry (result_cache.cpp)

// A resident entry as for_each_entry shows it.
class CacheEntryRef {
  public:
    std::size_t key_size() const;
    std::size_t bytes() const;  // the arena blocks it holds, in bytes
    bool key_starts_with(const void *prefix, std::size_t n) const;
    // Copies key bytes [offset, offset + n), which must lie within the key.
    void read_key(std::size_t offset, std::size_t n, void *dst) const;
    EntryUsage usage() const;

  private:
    friend class ResultCache;
    CacheEntryRef(const ResultCache *cache, uint32_t slot) : cache_(cache), slot_(slot) {}
    const ResultCache *cache_;
    uint32_t slot_;
};

class ResultCache {
  public:
    static constexpr std::size_t kAlign = 64;
    static constexpr std::size_t kBlockSize = 256;
    static constexpr uint32_t kSample = 16;  // entries sampled per eviction

    // Bytes of shared memory for a cache whose arena holds `arena_bytes` (rounded down to blocks).
    static std::size_t bytes_needed(std::size_t arena_bytes, const CacheOptions &options = {});
    // Lays out an empty cache filling `bytes` of `memory` (64-byte aligned); nullptr if the memory is
    // misaligned or too small for one block.
    static ResultCache *create(void *memory, std::size_t bytes, const CacheOptions &options = {});
    // The cache another process created in this memory (mapped at any address); nullptr if none.
    static ResultCache *attach(void *memory);

    // The key for these bytes, hashed with this cache's hash. No lock needed.
    CacheKey key(const void *bytes, std::size_t size) const;

    // Shared lock. Advances the clock, reports the key to policy.record (which must be safe to call
    // concurrently), and on a hit copies the entry's value into *out and marks the entry used now.
    // A hit whose copy cannot be allocated is reported as a miss.
    bool lookup(const CacheKey &key, CachePolicy &policy, CachedResult *out);
    // Shared lock. Copies the key's entry into *out like a hit, but as no lookup: the clock, the
    // entry's usage and the counters stay as they are (a background refresh reading an entry).
    bool peek(const CacheKey &key, CachedResult *out) const;

    // Exclusive lock. Stores a new entry, evicting as needed: each victim is the lowest-valued of
    // kSample entries sampled at random (all of them when there are no more), and the policy must
    // admit the key over every victim; the victims are chosen first, so a refusal evicts nothing.
    // A key already resident gets the new parts and keeps its usage (Replaced), as replace_parts.
    CacheStatus insert(const CacheKey &key, const Part *parts, std::size_t n_parts, const CachePolicy &policy);
    // Exclusive lock. Gives a resident entry new parts, keeping its usage (a refresh of stale parts);
    // NotFound if the key is not resident. Space is made by evicting other entries without asking
    // admission (the entry was admitted already); if the new value cannot fit even in an empty
    // arena the entry is dropped (TooLarge), since its old parts are what the caller found stale.
    CacheStatus replace_parts(const CacheKey &key, const Part *parts, std::size_t n_parts,
                              const CachePolicy &policy);
    // Exclusive lock. Drops the key's entry; false if it was not resident.
    bool erase(const CacheKey &key);
    // Exclusive lock. Drops every entry; the clock and the counters go on (the policy's history is
    // in terms of the clock).
    void clear();
    // Exclusive lock. Calls visit(const CacheEntryRef &) for each resident entry and drops those for
    // which it returns true (e.g. the entries of an index that was dropped). Returns how many.
    template <class Visit>
    std::size_t for_each_entry(Visit &&visit) {
        std::size_t dropped = 0;
        // Backwards, because dropping moves the last resident entry into the freed position.
        for (uint32_t i = n_entries_; i-- > 0;) {
            const CacheEntryRef entry(this, resident_at(i));
            if (visit(entry)) {
                drop(entry.slot_);
                dropped++;
            }
        }
        return dropped;
    }

    // Shared lock. The (at most) max_n resident entries of highest policy value at the current
    // clock, highest first, into *out; false if *out could not be allocated.
    bool hottest(const CachePolicy &policy, std::size_t max_n, std::vector<HotEntry> *out) const;

    CacheStats stats() const;
    // The logical clock: lookups so far.
    uint64_t now() const { return clock_.load(std::memory_order_relaxed); }
    std::size_t capacity_bytes() const { return std::size_t(n_blocks_) * kBlockSize; }
    uint32_t slot_count() const { return n_slots_; }

    // Shared lock. Validates the whole structure (table, chains, free lists, accounting); false with
    // the first problem in *error. For tests; allocates.
    bool check(std::string *error) const;

  private:
    friend class CacheEntryRef;
    class Cursor;

    CacheSlot &slot(uint32_t i);
    const CacheSlot &slot(uint32_t i) const;
    CacheBucket *buckets();
    const CacheBucket *buckets() const;
    uint32_t *resident();
    const uint32_t *resident() const;
    uint32_t *next_block();
    const uint32_t *next_block() const;
    uint8_t *block(uint32_t b);
    const uint8_t *block(uint32_t b) const;
    uint32_t resident_at(uint32_t i) const { return resident()[i]; }

    uint32_t find(const CacheKey &key) const;
    EntryUsage usage(uint32_t s) const;
    bool copy_value(uint32_t s, CachedResult *out) const;
    uint32_t sample_lowest(uint32_t end, const CachePolicy &policy, uint64_t now);
    bool make_room(uint64_t blocks, bool need_slot, uint32_t keep, const CachePolicy &policy, bool ask_admit,
                   uint64_t hash, uint64_t now);
    void store(uint32_t s, const CacheKey &key, const Part *parts, std::size_t n_parts, uint64_t value_bytes,
               uint32_t n_items, uint64_t blocks);
    void swap_resident(uint32_t i, uint32_t j);
    void free_chain(uint32_t s);
    void unlink(uint32_t s);
    void drop(uint32_t s);

    uint64_t magic_ = 0;
    uint64_t hash_mask_ = 0;
    uint32_t n_blocks_ = 0;
    uint32_t n_slots_ = 0;
    uint32_t n_buckets_ = 0;  // a power of two, at least twice n_slots_
    std::size_t buckets_offset_ = 0, resident_offset_ = 0, next_offset_ = 0, blocks_offset_ = 0;  // from this
    // Changed under the exclusive lock only.
    uint32_t n_entries_ = 0;
    uint32_t free_blocks_ = 0;
    uint32_t free_head_ = 0;  // first free block; the free list is linked through next_block()
    uint64_t rng_ = 0;        // eviction sampling, advanced under the exclusive lock
    // Changed under a shared lock: on their own cache lines, away from the fields every lookup reads.
    alignas(64) std::atomic<uint64_t> clock_{0};
    std::atomic<uint64_t> hits_{0}, misses_{0};
    alignas(64) std::atomic<uint64_t> inserts_{0}, replacements_{0}, refused_{0}, evictions_{0}, too_large_{0};
    // then: the slots, the buckets, the resident permutation, the block links, the blocks (each
    // 64-byte aligned)
};

}  // namespace kyrodb
