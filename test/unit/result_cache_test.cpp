// Unit tests of the result cache over an arena: hits and misses, keys confirmed by their bytes
// (also under forced hash collisions), sampled eviction by policy value, a full arena under churn,
// refusals, replacement of parts, clearing and dropping by key prefix, concurrent readers with a
// writer, and use of the memory at another address.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <limits>
#include <vector>

#include "kyrodb/result_cache.h"

namespace {

using kyrodb::CachedResult;
using kyrodb::CacheEntryRef;
using kyrodb::CacheKey;
using kyrodb::CacheOptions;
using kyrodb::CacheStatus;
using kyrodb::EntryUsage;
using kyrodb::HotEntry;
using kyrodb::Part;
using kyrodb::PartBasis;
using kyrodb::ResultCache;
using kyrodb::ResultItem;

// Least recently used first; admits everything.
struct LruPolicy : kyrodb::CachePolicy {
    std::atomic<uint64_t> records{0};
    void record(uint64_t, uint64_t) override { records.fetch_add(1, std::memory_order_relaxed); }
    double value(const EntryUsage &entry, uint64_t) const override { return double(entry.last_access); }
    bool admit(uint64_t, const EntryUsage &, uint64_t) const override { return true; }
};

struct RefusingPolicy : LruPolicy {
    bool admit(uint64_t, const EntryUsage &, uint64_t) const override { return false; }
};

std::size_t round_up_64(std::size_t n) { return (n + 63) / 64 * 64; }

struct Memory {
    explicit Memory(std::size_t bytes)
        : bytes(bytes), data(static_cast<uint8_t *>(std::aligned_alloc(64, round_up_64(bytes))), std::free) {}
    std::size_t bytes;
    std::unique_ptr<uint8_t, void (*)(void *)> data;
};

struct Cache {
    explicit Cache(std::size_t arena, const CacheOptions &options = {})
        : memory(ResultCache::bytes_needed(arena, options)),
          cache(ResultCache::create(memory.data.get(), memory.bytes, options)) {}
    Memory memory;
    ResultCache *cache;
};

// Key bytes for key `id`: the id, then `size` - 8 bytes derived from it.
std::vector<uint8_t> key_bytes(uint64_t id, std::size_t size = 40) {
    std::vector<uint8_t> bytes(std::max<std::size_t>(size, 8));
    std::memcpy(bytes.data(), &id, 8);
    std::mt19937_64 rng(id);
    for (std::size_t i = 8; i < bytes.size(); i++) bytes[i] = uint8_t(rng());
    return bytes;
}

// A value derived from (id, version): part p covers segment id*10+p; its items name the id, and
// their distances the version, so a reader can tell a torn or foreign value.
struct Value {
    std::vector<std::vector<ResultItem>> items;
    std::vector<Part> parts;

    Value(uint64_t id, uint32_t version, uint32_t n_parts, uint32_t per_part) : items(n_parts) {
        for (uint32_t p = 0; p < n_parts; p++) {
            for (uint32_t j = 0; j < per_part; j++)
                items[p].push_back(ResultItem{uint32_t(id * 1000 + p * 100 + j), float(version) + 0.5f * j});
            parts.push_back(Part{id * 10 + p, float(version), per_part, items[p].data(),
                                 PartBasis{id + version, float(p) + 0.25f, version + p}});
        }
    }
};

// Whether `got` is exactly Value(id, version, ...) for some version, which it returns in *version.
bool consistent(const CachedResult &got, uint64_t id, uint32_t *version = nullptr) {
    if (got.parts.empty()) return false;
    const float v = got.parts[0].covered;
    for (std::size_t p = 0; p < got.parts.size(); p++) {
        const auto &part = got.parts[p];
        if (part.segment_id != id * 10 + p || part.covered != v || part.n != got.parts[0].n) return false;
        const PartBasis &b = part.basis;
        if (b.version != id + uint64_t(v) || b.radius != float(p) + 0.25f || b.beam != uint32_t(v) + p) return false;
        if (part.first + part.n > got.items.size()) return false;
        for (uint32_t j = 0; j < part.n; j++) {
            const ResultItem &item = got.items[part.first + j];
            if (item.id != uint32_t(id * 1000 + p * 100 + j) || item.distance != v + 0.5f * j) return false;
        }
    }
    if (version) *version = uint32_t(v);
    return got.items.size() == std::size_t(got.parts.size()) * got.parts[0].n;
}

bool equals(const CachedResult &got, const Value &want) {
    if (got.parts.size() != want.parts.size()) return false;
    for (std::size_t p = 0; p < want.parts.size(); p++) {
        const auto &g = got.parts[p];
        const Part &w = want.parts[p];
        if (g.segment_id != w.segment_id || g.covered != w.covered || g.n != w.n) return false;
        if (g.basis.version != w.basis.version || g.basis.radius != w.basis.radius || g.basis.beam != w.basis.beam)
            return false;
        for (uint32_t j = 0; j < w.n; j++)
            if (got.items[g.first + j].id != w.items[j].id || got.items[g.first + j].distance != w.items[j].distance)
                return false;
    }
    return true;
}

void expect_valid(const ResultCache *cache) {
    std::string error;
    EXPECT_TRUE(cache->check(&error)) << error;
}

CacheStatus insert(ResultCache *cache, uint64_t id, const Value &value, const kyrodb::CachePolicy &policy,
                   std::size_t key_size = 40) {
    std::vector<uint8_t> bytes = key_bytes(id, key_size);
    return cache->insert(cache->key(bytes.data(), bytes.size()), value.parts.data(), value.parts.size(), policy);
}

bool lookup(ResultCache *cache, uint64_t id, kyrodb::CachePolicy &policy, CachedResult *out,
            std::size_t key_size = 40) {
    std::vector<uint8_t> bytes = key_bytes(id, key_size);
    return cache->lookup(cache->key(bytes.data(), bytes.size()), policy, out);
}

TEST(ResultCache, HitsAndMisses) {
    Cache c(1 << 16);
    ASSERT_NE(c.cache, nullptr);
    LruPolicy policy;
    Value v(7, 1, 3, 40);
    EXPECT_EQ(insert(c.cache, 7, v, policy), CacheStatus::Inserted);
    CachedResult out;
    ASSERT_TRUE(lookup(c.cache, 7, policy, &out));
    EXPECT_TRUE(equals(out, v));
    EXPECT_EQ(out.parts[2].first, 80u);
    EXPECT_FALSE(lookup(c.cache, 8, policy, &out));
    auto st = c.cache->stats();
    EXPECT_EQ(st.entries, 1u);
    EXPECT_EQ(st.lookups, 2u);
    EXPECT_EQ(st.hits, 1u);
    EXPECT_EQ(st.misses, 1u);
    EXPECT_EQ(st.inserts, 1u);
    EXPECT_EQ(st.used_bytes, 5u * ResultCache::kBlockSize);  // 40 + 8 + 3*32 + 120*8 = 1104 bytes
    EXPECT_EQ(st.capacity_bytes, std::size_t(1) << 16);
    EXPECT_EQ(policy.records.load(), 2u);
    EXPECT_EQ(c.cache->now(), 2u);
    expect_valid(c.cache);
}

TEST(ResultCache, KeysAreConfirmedByTheirBytes) {
    Cache c(1 << 16);
    LruPolicy policy;
    // Keys that differ in one byte, or are prefixes of one another, spanning block boundaries.
    std::vector<std::vector<uint8_t>> keys;
    std::vector<uint8_t> base = key_bytes(1, 600);
    keys.push_back(base);
    for (std::size_t at : {0, 255, 256, 599}) {
        keys.push_back(base);
        keys.back()[at] ^= 1;
    }
    keys.emplace_back(base.begin(), base.begin() + 256);
    keys.emplace_back(base.begin(), base.begin() + 599);
    keys.push_back(base);
    keys.back().push_back(0);
    keys.emplace_back();  // the empty key
    std::vector<Value> values;
    for (std::size_t i = 0; i < keys.size(); i++) values.emplace_back(i, 1, 2, 5);
    for (std::size_t i = 0; i < keys.size(); i++)
        ASSERT_EQ(c.cache->insert(c.cache->key(keys[i].data(), keys[i].size()), values[i].parts.data(), 2, policy),
                  CacheStatus::Inserted);
    CachedResult out;
    for (std::size_t i = 0; i < keys.size(); i++) {
        ASSERT_TRUE(c.cache->lookup(c.cache->key(keys[i].data(), keys[i].size()), policy, &out)) << i;
        EXPECT_TRUE(equals(out, values[i])) << i;
    }
    // The hash of a resident key does not make other bytes a hit.
    CacheKey forged = c.cache->key(keys[0].data(), keys[0].size());
    std::vector<uint8_t> other = key_bytes(99, 600);
    forged.bytes = other.data();
    EXPECT_FALSE(c.cache->lookup(forged, policy, &out));
    EXPECT_EQ(c.cache->stats().entries, keys.size());
    expect_valid(c.cache);
}

TEST(ResultCache, HashSeparatesSimilarKeys) {
    Cache c(1 << 12);
    std::set<uint64_t> hashes;
    // Every single-bit change of a 512-byte key, and 50,000 keys that differ only in a counter.
    std::vector<uint8_t> base = key_bytes(5, 512);
    hashes.insert(c.cache->key(base.data(), base.size()).hash);
    for (std::size_t bit = 0; bit < base.size() * 8; bit++) {
        base[bit / 8] ^= uint8_t(1u << (bit % 8));
        hashes.insert(c.cache->key(base.data(), base.size()).hash);
        base[bit / 8] ^= uint8_t(1u << (bit % 8));
    }
    for (uint64_t i = 0; i < 50000; i++) hashes.insert(c.cache->key(&i, sizeof i).hash);
    EXPECT_EQ(hashes.size(), 1 + base.size() * 8 + 50000);
    // The table indexes by the low bits: they must spread too.
    std::vector<int> low(256);
    for (uint64_t h : hashes) low[h & 255]++;
    const double mean = double(hashes.size()) / 256;
    for (int n : low) EXPECT_NEAR(n, mean, mean * 0.3);
}

TEST(ResultCache, WeakHashCollisionsAreConfirmedByBytes) {
    CacheOptions options;
    options.hash_mask = 0x3;  // four hash values for all keys
    options.blocks_per_entry = 1;
    Cache c(1 << 18, options);
    LruPolicy policy;
    const uint64_t n = 300;
    for (uint64_t id = 0; id < n; id++) ASSERT_EQ(insert(c.cache, id, Value(id, 1, 1, 3), policy), CacheStatus::Inserted);
    expect_valid(c.cache);
    CachedResult out;
    for (uint64_t id = 0; id < n; id++) {
        ASSERT_TRUE(lookup(c.cache, id, policy, &out)) << id;
        uint32_t version = 0;
        EXPECT_TRUE(consistent(out, id, &version)) << id;
    }
    // Erasing from the middle of long probe runs keeps the rest findable.
    for (uint64_t id = 0; id < n; id += 2) {
        std::vector<uint8_t> bytes = key_bytes(id);
        EXPECT_TRUE(c.cache->erase(c.cache->key(bytes.data(), bytes.size())));
    }
    expect_valid(c.cache);
    for (uint64_t id = 0; id < n; id++) {
        EXPECT_EQ(lookup(c.cache, id, policy, &out), id % 2 == 1) << id;
        if (id % 2 == 1) {
            EXPECT_TRUE(consistent(out, id)) << id;
        }
    }
    EXPECT_FALSE(lookup(c.cache, n + 1, policy, &out));
}

TEST(ResultCache, EvictsTheLeastRecentlyUsed) {
    // 32 blocks, 8 slots: the ninth entry needs a slot; with no more than kSample entries every
    // one is a candidate, so the victim is exactly the least recently used.
    CacheOptions options;
    options.blocks_per_entry = 4;
    Cache c(32 * ResultCache::kBlockSize, options);
    ASSERT_EQ(c.cache->slot_count(), 8u);
    LruPolicy policy;
    CachedResult out;
    for (uint64_t id = 1; id <= 8; id++) ASSERT_EQ(insert(c.cache, id, Value(id, 1, 1, 2), policy), CacheStatus::Inserted);
    for (uint64_t id : {5, 1, 2, 4, 6, 7, 8}) ASSERT_TRUE(lookup(c.cache, id, policy, &out));
    EXPECT_EQ(insert(c.cache, 9, Value(9, 1, 1, 2), policy), CacheStatus::Inserted);
    EXPECT_FALSE(lookup(c.cache, 3, policy, &out));
    EXPECT_EQ(insert(c.cache, 10, Value(10, 1, 1, 2), policy), CacheStatus::Inserted);
    EXPECT_FALSE(lookup(c.cache, 5, policy, &out));
    for (uint64_t id : {1, 2, 4, 6, 7, 8, 9, 10}) EXPECT_TRUE(lookup(c.cache, id, policy, &out)) << id;
    EXPECT_EQ(c.cache->stats().evictions, 2u);
    expect_valid(c.cache);
}

TEST(ResultCache, SampledEvictionPicksLowValues) {
    // 2,000 entries used in order of id, then 200 more inserted: each victim is the least recently
    // used of 16 sampled, so victims come from the oldest few percent (random ones would average 50%).
    CacheOptions options;
    options.blocks_per_entry = 1;
    Cache c(2000 * ResultCache::kBlockSize, options);
    LruPolicy policy;
    CachedResult out;
    const uint64_t n = 2000;
    for (uint64_t id = 0; id < n; id++) ASSERT_EQ(insert(c.cache, id, Value(id, 1, 1, 4), policy), CacheStatus::Inserted);
    for (uint64_t id = 0; id < n; id++) ASSERT_TRUE(lookup(c.cache, id, policy, &out));
    for (uint64_t id = n; id < n + 200; id++) ASSERT_EQ(insert(c.cache, id, Value(id, 1, 1, 4), policy), CacheStatus::Inserted);
    double rank_sum = 0;
    uint64_t evicted = 0;
    for (uint64_t id = 0; id < n; id++) {
        std::vector<uint8_t> bytes = key_bytes(id);
        if (!c.cache->erase(c.cache->key(bytes.data(), bytes.size()))) {
            rank_sum += double(id) / n;
            evicted++;
        }
    }
    EXPECT_EQ(evicted, 200u);
    EXPECT_LT(rank_sum / evicted, 0.12);
}

TEST(ResultCache, HotKeySurvivesChurnInATinyArena) {
    CacheOptions options;
    options.blocks_per_entry = 2;
    Cache c(64 * ResultCache::kBlockSize, options);
    LruPolicy policy;
    CachedResult out;
    ASSERT_EQ(insert(c.cache, 0, Value(0, 1, 3, 10), policy), CacheStatus::Inserted);
    for (uint64_t id = 1; id <= 5000; id++) {
        ASSERT_TRUE(lookup(c.cache, 0, policy, &out)) << "hot key lost after " << id << " one-off inserts";
        ASSERT_FALSE(lookup(c.cache, id, policy, &out));
        ASSERT_EQ(insert(c.cache, id, Value(id, 1, 1 + id % 3, 10), policy), CacheStatus::Inserted);
    }
    EXPECT_TRUE(consistent(out, 0));
    EXPECT_GT(c.cache->stats().evictions, 4900u);
    expect_valid(c.cache);
}

TEST(ResultCache, FullArenaKeepsWorking) {
    // 16 blocks, entries of 1 to 7 blocks, random inserts, replacements, erases and lookups against a
    // model of the latest value of each key.
    Cache c(16 * ResultCache::kBlockSize);
    LruPolicy policy;
    CachedResult out;
    std::map<uint64_t, uint32_t> latest;  // id -> version last stored
    std::mt19937_64 rng(11);
    for (uint32_t op = 1; op <= 5000; op++) {
        const uint64_t id = rng() % 40;
        const uint32_t per_part = uint32_t(rng() % 70);
        std::vector<uint8_t> bytes = key_bytes(id, 8 + rng() % 2 * 300);
        CacheKey key = c.cache->key(bytes.data(), bytes.size());
        Value v(id, op, 1 + uint32_t(rng() % 3), per_part);
        switch (rng() % 4) {
            case 0: {
                CacheStatus s = c.cache->insert(key, v.parts.data(), v.parts.size(), policy);
                ASSERT_TRUE(s == CacheStatus::Inserted || s == CacheStatus::Replaced);
                latest[id * 2 + (bytes.size() > 8)] = op;
                ASSERT_TRUE(c.cache->lookup(key, policy, &out));
                break;
            }
            case 1:
                if (c.cache->replace_parts(key, v.parts.data(), v.parts.size(), policy) == CacheStatus::Replaced)
                    latest[id * 2 + (bytes.size() > 8)] = op;
                break;
            case 2:
                c.cache->erase(key);
                break;
            default:
                break;
        }
        if (c.cache->lookup(key, policy, &out)) {
            uint32_t version = 0;
            ASSERT_TRUE(consistent(out, id, &version));
            ASSERT_EQ(version, latest[id * 2 + (bytes.size() > 8)]);
        }
        auto st = c.cache->stats();
        ASSERT_LE(st.used_bytes, st.capacity_bytes);
        if (op % 100 == 0) {
            std::string error;
            ASSERT_TRUE(c.cache->check(&error)) << error << " after op " << op;
        }
    }
    EXPECT_GT(c.cache->stats().evictions, 100u);
}

TEST(ResultCache, RefusesEntriesLargerThanTheArena) {
    Cache c(16 * ResultCache::kBlockSize);
    LruPolicy policy;
    for (uint64_t id = 1; id <= 3; id++) ASSERT_EQ(insert(c.cache, id, Value(id, 1, 1, 10), policy), CacheStatus::Inserted);
    // 8 key bytes + 8 + 32 + 8 * 507 = 4104 > 4096.
    EXPECT_EQ(insert(c.cache, 4, Value(4, 1, 1, 507), policy, 8), CacheStatus::TooLarge);
    EXPECT_EQ(c.cache->stats().too_large, 1u);
    EXPECT_EQ(c.cache->stats().entries, 3u);
    EXPECT_EQ(c.cache->stats().evictions, 0u);
    // Exactly the arena: everything else goes.
    EXPECT_EQ(insert(c.cache, 4, Value(4, 1, 1, 506), policy, 8), CacheStatus::Inserted);
    EXPECT_EQ(c.cache->stats().entries, 1u);
    EXPECT_EQ(c.cache->stats().evictions, 3u);
    EXPECT_EQ(c.cache->stats().used_bytes, c.cache->stats().capacity_bytes);
    expect_valid(c.cache);
    // New parts too large for the arena drop the entry: its old parts were stale.
    std::vector<uint8_t> bytes = key_bytes(4, 8);
    Value big(4, 2, 1, 507);
    EXPECT_EQ(c.cache->replace_parts(c.cache->key(bytes.data(), 8), big.parts.data(), 1, policy), CacheStatus::TooLarge);
    EXPECT_EQ(c.cache->stats().entries, 0u);
    EXPECT_EQ(c.cache->stats().too_large, 2u);
    expect_valid(c.cache);
}

TEST(ResultCache, RefusedAdmissionEvictsNothing) {
    Cache c(16 * ResultCache::kBlockSize);
    RefusingPolicy policy;
    CachedResult out;
    // Free space needs no admission.
    for (uint64_t id = 1; id <= 4; id++) ASSERT_EQ(insert(c.cache, id, Value(id, 1, 1, 60), policy), CacheStatus::Inserted);
    // A fifth needs two victims' space: refused over the first, nothing evicted.
    EXPECT_EQ(insert(c.cache, 5, Value(5, 1, 1, 200), policy), CacheStatus::Refused);
    auto st = c.cache->stats();
    EXPECT_EQ(st.admissions_refused, 1u);
    EXPECT_EQ(st.evictions, 0u);
    EXPECT_EQ(st.entries, 4u);
    for (uint64_t id = 1; id <= 4; id++) EXPECT_TRUE(lookup(c.cache, id, policy, &out));
    EXPECT_FALSE(lookup(c.cache, 5, policy, &out));
    expect_valid(c.cache);
}

// Admits a key only over victims that were never hit.
struct ColdOnlyPolicy : LruPolicy {
    bool admit(uint64_t, const EntryUsage &victim, uint64_t) const override { return victim.hits == 0; }
};

TEST(ResultCache, AdmissionIsAskedOverEveryVictim) {
    Cache c(16 * ResultCache::kBlockSize);
    ColdOnlyPolicy policy;
    CachedResult out;
    for (uint64_t id = 1; id <= 4; id++) ASSERT_EQ(insert(c.cache, id, Value(id, 1, 1, 60), policy), CacheStatus::Inserted);
    for (uint64_t id : {2, 3, 4}) ASSERT_TRUE(lookup(c.cache, id, policy, &out));
    // 10 blocks: 4 are free, the cold entry 1 gives 3, the next victim was hit: refused, and 1 stays.
    EXPECT_EQ(insert(c.cache, 5, Value(5, 1, 1, 300), policy), CacheStatus::Refused);
    EXPECT_EQ(c.cache->stats().evictions, 0u);
    EXPECT_TRUE(lookup(c.cache, 1, policy, &out));
    // 7 blocks: now every entry was hit, so even one victim is refused.
    EXPECT_EQ(insert(c.cache, 6, Value(6, 1, 1, 200), policy), CacheStatus::Refused);
    EXPECT_EQ(c.cache->stats().admissions_refused, 2u);
    expect_valid(c.cache);
}

// The usage for_each_entry reports for key `id`.
EntryUsage usage_of(ResultCache *cache, uint64_t id) {
    std::vector<uint8_t> bytes = key_bytes(id);
    EntryUsage found;
    cache->for_each_entry([&](const CacheEntryRef &e) {
        if (e.key_size() == bytes.size() && e.key_starts_with(bytes.data(), bytes.size())) found = e.usage();
        return false;
    });
    return found;
}

// peek reads an entry as a hit does, but is no lookup: the clock, usage and counters stay.
TEST(ResultCache, PeekIsNoLookup) {
    Cache c(16 * ResultCache::kBlockSize);
    LruPolicy policy;
    CachedResult out;
    Value v(1, 1, 2, 10);
    ASSERT_EQ(insert(c.cache, 1, v, policy), CacheStatus::Inserted);
    ASSERT_TRUE(lookup(c.cache, 1, policy, &out));
    const EntryUsage before = usage_of(c.cache, 1);
    const kyrodb::CacheStats stats = c.cache->stats();
    std::vector<uint8_t> bytes = key_bytes(1);
    ASSERT_TRUE(c.cache->peek(c.cache->key(bytes.data(), bytes.size()), &out));
    EXPECT_TRUE(equals(out, v));
    bytes = key_bytes(2);
    EXPECT_FALSE(c.cache->peek(c.cache->key(bytes.data(), bytes.size()), &out));
    EXPECT_EQ(c.cache->now(), 1u);
    EXPECT_EQ(usage_of(c.cache, 1).hits, before.hits);
    EXPECT_EQ(usage_of(c.cache, 1).last_access, before.last_access);
    EXPECT_EQ(c.cache->stats().lookups, stats.lookups);
    EXPECT_EQ(c.cache->stats().hits, stats.hits);
    // Its blocks: 40 key bytes + 8 + 2 * 32 + 20 * 8 = 272 bytes, two blocks.
    std::size_t held = 0;
    c.cache->for_each_entry([&](const CacheEntryRef &e) {
        held += e.bytes();
        return false;
    });
    EXPECT_EQ(held, 2 * ResultCache::kBlockSize);
    EXPECT_EQ(c.cache->stats().used_bytes, held);
}

TEST(ResultCache, ReplacePartsKeepsUsage) {
    Cache c(16 * ResultCache::kBlockSize);
    LruPolicy policy;
    CachedResult out;
    ASSERT_EQ(insert(c.cache, 1, Value(1, 1, 1, 10), policy), CacheStatus::Inserted);
    ASSERT_EQ(insert(c.cache, 2, Value(2, 1, 1, 100), policy), CacheStatus::Inserted);
    ASSERT_EQ(insert(c.cache, 3, Value(3, 1, 1, 100), policy), CacheStatus::Inserted);
    for (int i = 0; i < 3; i++) ASSERT_TRUE(lookup(c.cache, 1, policy, &out));
    ASSERT_TRUE(lookup(c.cache, 3, policy, &out));
    const EntryUsage before = usage_of(c.cache, 1);
    EXPECT_EQ(before.hits, 3u);
    EXPECT_EQ(before.last_access, 3u);

    // Larger parts that need room: 2, the least recently used other entry, goes; 1 itself never.
    Value bigger(1, 2, 3, 100);
    std::vector<uint8_t> bytes = key_bytes(1);
    EXPECT_EQ(c.cache->replace_parts(c.cache->key(bytes.data(), bytes.size()), bigger.parts.data(), 3, policy),
              CacheStatus::Replaced);
    const EntryUsage after = usage_of(c.cache, 1);
    EXPECT_EQ(after.hits, before.hits);
    EXPECT_EQ(after.last_access, before.last_access);
    EXPECT_EQ(after.admitted, before.admitted);
    EXPECT_FALSE(lookup(c.cache, 2, policy, &out));
    ASSERT_TRUE(lookup(c.cache, 1, policy, &out));
    EXPECT_TRUE(equals(out, bigger));
    EXPECT_EQ(c.cache->stats().replacements, 1u);

    // insert on a resident key is a replacement too.
    Value third(1, 3, 1, 5);
    EXPECT_EQ(insert(c.cache, 1, third, policy), CacheStatus::Replaced);
    EXPECT_EQ(usage_of(c.cache, 1).hits, 4u);
    ASSERT_TRUE(lookup(c.cache, 1, policy, &out));
    EXPECT_TRUE(equals(out, third));
    EXPECT_EQ(c.cache->stats().inserts, 3u);

    bytes = key_bytes(9);
    EXPECT_EQ(c.cache->replace_parts(c.cache->key(bytes.data(), bytes.size()), third.parts.data(), 1, policy),
              CacheStatus::NotFound);
    expect_valid(c.cache);
}

TEST(ResultCache, ClearDropsEveryEntry) {
    Cache c(1 << 16);
    LruPolicy policy;
    CachedResult out;
    for (uint64_t id = 0; id < 20; id++) ASSERT_EQ(insert(c.cache, id, Value(id, 1, 2, 20), policy), CacheStatus::Inserted);
    ASSERT_TRUE(lookup(c.cache, 3, policy, &out));
    c.cache->clear();
    auto st = c.cache->stats();
    EXPECT_EQ(st.entries, 0u);
    EXPECT_EQ(st.used_bytes, 0u);
    EXPECT_EQ(st.inserts, 20u);  // counters and the clock go on
    EXPECT_EQ(c.cache->now(), 1u);
    expect_valid(c.cache);
    for (uint64_t id = 0; id < 20; id++) EXPECT_FALSE(lookup(c.cache, id, policy, &out));
    ASSERT_EQ(insert(c.cache, 3, Value(3, 2, 1, 1), policy), CacheStatus::Inserted);
    EXPECT_TRUE(lookup(c.cache, 3, policy, &out));
    expect_valid(c.cache);
}

TEST(ResultCache, ForEachEntryDropsOneIndexByKeyPrefix) {
    Cache c(1 << 18);
    LruPolicy policy;
    CachedResult out;
    // Keys start with their index's identity; longer than a block, to read prefixes across chains.
    auto make_key = [](uint64_t index, uint64_t id) {
        std::vector<uint8_t> bytes = key_bytes(id, 400);
        std::memcpy(bytes.data(), &index, 8);
        std::memcpy(bytes.data() + 8, &id, 8);
        return bytes;
    };
    for (uint64_t index : {1, 2})
        for (uint64_t id = 0; id < 30; id++) {
            std::vector<uint8_t> bytes = make_key(index, id);
            Value v(id, 1, 1, 3);
            ASSERT_EQ(c.cache->insert(c.cache->key(bytes.data(), bytes.size()), v.parts.data(), 1, policy),
                      CacheStatus::Inserted);
        }
    const uint64_t dropped_index = 1;
    std::size_t visited = 0;
    EXPECT_EQ(c.cache->for_each_entry([&](const CacheEntryRef &e) {
        visited++;
        uint8_t tail[16];
        e.read_key(e.key_size() - 16, 16, tail);  // readable anywhere in the key
        return e.key_starts_with(&dropped_index, 8);
    }),
              30u);
    EXPECT_EQ(visited, 60u);
    for (uint64_t index : {1, 2})
        for (uint64_t id = 0; id < 30; id++) {
            std::vector<uint8_t> bytes = make_key(index, id);
            EXPECT_EQ(c.cache->lookup(c.cache->key(bytes.data(), bytes.size()), policy, &out), index == 2);
        }
    expect_valid(c.cache);
}

TEST(ResultCache, HottestRanksByPolicyValue) {
    Cache c(1 << 16);
    LruPolicy policy;
    CachedResult out;
    for (uint64_t id = 0; id < 10; id++) ASSERT_EQ(insert(c.cache, id, Value(id, 1, 1, 2), policy), CacheStatus::Inserted);
    for (uint64_t id : {4, 8, 1, 6}) ASSERT_TRUE(lookup(c.cache, id, policy, &out));
    std::vector<HotEntry> hot;
    ASSERT_TRUE(c.cache->hottest(policy, 3, &hot));
    ASSERT_EQ(hot.size(), 3u);
    const uint64_t want[] = {6, 1, 8};
    for (int i = 0; i < 3; i++) {
        EXPECT_EQ(hot[i].key, key_bytes(want[i])) << i;
        EXPECT_EQ(hot[i].hash, c.cache->key(hot[i].key.data(), hot[i].key.size()).hash);
        EXPECT_EQ(hot[i].value, double(4 - i));
    }
    ASSERT_TRUE(c.cache->hottest(policy, 100, &hot));
    EXPECT_EQ(hot.size(), 10u);
}

TEST(ResultCache, ConcurrentReadersAndAWriter) {
    // A small arena so the writer evicts constantly; readers check every hit against its key.
    CacheOptions options;
    options.blocks_per_entry = 2;
    Cache c(64 * ResultCache::kBlockSize, options);
    LruPolicy policy;
    std::shared_mutex lock;
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> hits{0}, bad{0};
    const uint64_t n_keys = 64;
    std::vector<std::thread> readers;
    for (int t = 0; t < 3; t++)
        readers.emplace_back([&, t] {
            std::mt19937_64 rng(t);
            CachedResult out;
            while (!stop.load(std::memory_order_relaxed)) {
                const uint64_t id = rng() % n_keys;
                std::vector<uint8_t> bytes = key_bytes(id);
                CacheKey key = c.cache->key(bytes.data(), bytes.size());
                std::shared_lock<std::shared_mutex> shared(lock);
                if (c.cache->lookup(key, policy, &out)) {
                    hits.fetch_add(1, std::memory_order_relaxed);
                    if (!consistent(out, id)) bad.fetch_add(1, std::memory_order_relaxed);
                }
            }
        });
    std::mt19937_64 rng(99);
    for (uint32_t op = 1; op <= 20000; op++) {
        const uint64_t id = rng() % n_keys;
        Value v(id, op, 1 + uint32_t(rng() % 3), 1 + uint32_t(rng() % 40));
        std::vector<uint8_t> bytes = key_bytes(id);
        CacheKey key = c.cache->key(bytes.data(), bytes.size());
        std::unique_lock<std::shared_mutex> exclusive(lock);
        if (op % 7 == 0)
            c.cache->erase(key);
        else if (op % 3 == 0)
            c.cache->replace_parts(key, v.parts.data(), v.parts.size(), policy);
        else
            c.cache->insert(key, v.parts.data(), v.parts.size(), policy);
    }
    stop = true;
    for (auto &r : readers) r.join();
    EXPECT_EQ(bad.load(), 0u);
    EXPECT_GT(hits.load(), 0u);
    auto st = c.cache->stats();
    EXPECT_EQ(st.lookups, c.cache->now());
    EXPECT_EQ(st.lookups, policy.records.load());
    EXPECT_GT(st.evictions, 0u);
    expect_valid(c.cache);
}

TEST(ResultCache, WorksFromACopyAtAnotherAddress) {
    Cache c(1 << 14);
    LruPolicy policy;
    for (uint64_t id = 0; id < 10; id++) ASSERT_EQ(insert(c.cache, id, Value(id, 1, 2, 30), policy, 300), CacheStatus::Inserted);
    Memory copy(c.memory.bytes);
    std::memcpy(copy.data.get(), c.memory.data.get(), c.memory.bytes);
    std::memset(c.memory.data.get(), 0xA5, c.memory.bytes);  // nothing may still point into the original
    ResultCache *attached = ResultCache::attach(copy.data.get());
    ASSERT_NE(attached, nullptr);
    EXPECT_EQ(ResultCache::attach(c.memory.data.get()), nullptr);
    expect_valid(attached);
    CachedResult out;
    for (uint64_t id = 0; id < 10; id++) {
        ASSERT_TRUE(lookup(attached, id, policy, &out, 300)) << id;
        EXPECT_TRUE(equals(out, Value(id, 1, 2, 30)));
    }
    for (uint64_t id = 10; id < 200; id++) ASSERT_EQ(insert(attached, id, Value(id, 1, 2, 30), policy, 300), CacheStatus::Inserted);
    expect_valid(attached);
}

TEST(ResultCache, StaysInsideItsMemory) {
    const std::size_t arena = 40 * ResultCache::kBlockSize;
    const std::size_t bytes = ResultCache::bytes_needed(arena);
    Memory memory(bytes + 4096);
    std::memset(memory.data.get() + bytes, 0x5C, 4096);
    ResultCache *cache = ResultCache::create(memory.data.get(), bytes);
    ASSERT_NE(cache, nullptr);
    EXPECT_EQ(cache->capacity_bytes(), arena);
    EXPECT_EQ(cache->slot_count(), 10u);
    LruPolicy policy;
    for (uint64_t id = 0; id < 500; id++) {
        Value v(id, 1, 1 + id % 4, 50);
        ASSERT_EQ(cache->insert(cache->key(&id, 8), v.parts.data(), v.parts.size(), policy), CacheStatus::Inserted);
    }
    EXPECT_GT(cache->stats().used_bytes, arena / 2);
    for (std::size_t i = bytes; i < bytes + 4096; i++) ASSERT_EQ(memory.data.get()[i], 0x5C) << i;
    expect_valid(cache);

    // One byte short of the layout: one block fewer. Misaligned or tiny memory: no cache.
    ResultCache *smaller = ResultCache::create(memory.data.get(), bytes - 1);
    ASSERT_NE(smaller, nullptr);
    EXPECT_EQ(smaller->capacity_bytes(), arena - ResultCache::kBlockSize);
    EXPECT_EQ(ResultCache::create(memory.data.get() + 8, bytes), nullptr);
    EXPECT_EQ(ResultCache::create(memory.data.get(), 512), nullptr);
    EXPECT_NE(ResultCache::create(memory.data.get(), ResultCache::bytes_needed(ResultCache::kBlockSize)), nullptr);
}

}  // namespace

// A part is reused only for its segment, with the very basis its search had, and with none of its
// items deleted since (or beyond the segment).
TEST(ResultCache, ReusablePartNeedsTheSameBasis) {
    CachedResult hit;
    const PartBasis basis{7, 1.5f, 10};
    hit.parts = {kyrodb::CachedPart{1, 2.0f, 2, 0, basis}, kyrodb::CachedPart{2, 1.0f, 1, 2, basis}};
    hit.items = {ResultItem{3, 0.5f}, ResultItem{70, 0.7f}, ResultItem{5, 0.9f}};
    EXPECT_EQ(kyrodb::reusable_part(hit, 1, basis, nullptr, 100), &hit.parts[0]);
    EXPECT_EQ(kyrodb::reusable_part(hit, 2, basis, nullptr, 100), &hit.parts[1]);
    EXPECT_EQ(kyrodb::reusable_part(hit, 3, basis, nullptr, 100), nullptr);  // a segment it did not cover
    EXPECT_EQ(kyrodb::reusable_part(hit, 1, PartBasis{8, 1.5f, 10}, nullptr, 100), nullptr);  // tombstones changed
    EXPECT_EQ(kyrodb::reusable_part(hit, 1, PartBasis{7, 1.25f, 10}, nullptr, 100), nullptr);  // another frontier
    EXPECT_EQ(kyrodb::reusable_part(hit, 1, PartBasis{7, 1.5f, 4}, nullptr, 100), nullptr);  // another beam
    const float inf = std::numeric_limits<float>::infinity();
    hit.parts[1].basis.radius = inf;
    EXPECT_EQ(kyrodb::reusable_part(hit, 2, PartBasis{7, inf, 10}, nullptr, 100), &hit.parts[1]);  // unbounded
    EXPECT_EQ(kyrodb::reusable_part(hit, 1, basis, nullptr, 70), nullptr);  // item 70 beyond the segment
    std::vector<uint64_t> deleted(2, 0);
    deleted[1] |= uint64_t(1) << (70 - 64);
    EXPECT_EQ(kyrodb::reusable_part(hit, 1, basis, deleted.data(), 100), nullptr);  // item 70 deleted
    EXPECT_EQ(kyrodb::reusable_part(hit, 2, PartBasis{7, inf, 10}, deleted.data(), 100), &hit.parts[1]);
}
