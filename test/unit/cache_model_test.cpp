// Unit tests of the result cache with the access model as its policy, as the server pairs them: a
// Zipf-like hot set stays resident through a stream of one-off keys, and lookups (whose record()
// calls race each other), inserts and refits run in threads under the server's locking.
#include <gtest/gtest.h>

#include "zipf.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <random>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "kyrodb/access_model.h"
#include "kyrodb/result_cache.h"

namespace {

using kyrodb::AccessModel;
using kyrodb::AccessModelParams;
using kyrodb::CachedResult;
using kyrodb::CacheEntryRef;
using kyrodb::CacheKey;
using kyrodb::CacheOptions;
using kyrodb::CacheStatus;
using kyrodb::Part;
using kyrodb::ResultCache;
using kyrodb::ResultItem;

using Memory = std::unique_ptr<uint8_t, void (*)(void *)>;
Memory aligned_memory(std::size_t bytes) {
    return Memory(static_cast<uint8_t *>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)), std::free);
}

// A cache of exactly `capacity` entries (one block per slot, and every entry here fits one block)
// with a fresh AccessModel sized for it.
struct CacheWithModel {
    explicit CacheWithModel(uint32_t capacity)
        : model_memory(aligned_memory(AccessModel::bytes_needed(params(capacity)))),
          model(AccessModel::create(model_memory.get(), params(capacity))),
          cache_memory(aligned_memory(ResultCache::bytes_needed(capacity * ResultCache::kBlockSize, options()))),
          cache(ResultCache::create(cache_memory.get(),
                                    ResultCache::bytes_needed(capacity * ResultCache::kBlockSize, options()),
                                    options())) {}

    static AccessModelParams params(uint32_t capacity) {
        AccessModelParams p;
        p.capacity = capacity;
        return p;
    }
    static CacheOptions options() {
        CacheOptions o;
        o.blocks_per_entry = 1;
        return o;
    }

    Memory model_memory;
    AccessModel model;
    Memory cache_memory;
    ResultCache *cache;
};

// Key `id` is its 8 bytes; its value one part of one item, all derived from the id, so a hit can be
// checked against the key it was found by.
CacheKey key_of(const ResultCache &cache, const uint64_t &id) { return cache.key(&id, sizeof id); }

CacheStatus insert(ResultCache &cache, AccessModel &model, const uint64_t &id) {
    const ResultItem item{uint32_t(id), float(id)};
    const Part part{id, float(id) + 0.5f, 1, &item, {}};
    return cache.insert(key_of(cache, id), &part, 1, model);
}

bool consistent(const CachedResult &r, uint64_t id) {
    return r.parts.size() == 1 && r.parts[0].segment_id == id && r.parts[0].covered == float(id) + 0.5f &&
           r.parts[0].n == 1 && r.parts[0].first == 0 && r.items.size() == 1 && r.items[0].id == uint32_t(id) &&
           r.items[0].distance == float(id);
}

// The ids of the resident entries, read without a lookup (which would record them).
std::set<uint64_t> resident_ids(ResultCache &cache) {
    std::set<uint64_t> ids;
    cache.for_each_entry([&](const CacheEntryRef &e) {
        uint64_t id = 0;
        e.read_key(0, sizeof id, &id);
        ids.insert(id);
        return false;
    });
    return ids;
}

void expect_valid(const ResultCache &cache) {
    std::string error;
    EXPECT_TRUE(cache.check(&error)) << error;
}

using kyrodb_test::Zipf;

TEST(CacheModel, CacheHasExactlyTheCapacityInSlots) {
    for (uint32_t capacity : {64u, 1000u, 10000u}) {
        CacheWithModel c(capacity);
        ASSERT_NE(c.cache, nullptr);
        EXPECT_EQ(c.cache->slot_count(), capacity);
        EXPECT_EQ(c.cache->capacity_bytes(), std::size_t(capacity) * ResultCache::kBlockSize);
    }
}

TEST(CacheModel, HotKeysSurviveAStreamOfOneOffKeys) {
    const uint32_t capacity = 64, n_keys = 200, n_hot = 16;
    CacheWithModel c(capacity);
    ASSERT_NE(c.cache, nullptr);
    Zipf zipf(n_keys, 1.0);
    std::mt19937_64 rng(7);
    CachedResult out;
    auto request = [&](uint64_t id) {
        if (c.cache->lookup(key_of(*c.cache, id), c.model, &out))
            EXPECT_TRUE(consistent(out, id)) << id;
        else
            insert(*c.cache, c.model, id);
        if (c.cache->now() % 500 == 0) c.model.refit(c.cache->now());  // the background worker's cadence
    };
    for (int i = 0; i < 8000; i++) request(zipf(rng));
    std::set<uint64_t> before = resident_ids(*c.cache);
    for (uint64_t hot = 0; hot < n_hot; hot++) ASSERT_TRUE(before.count(hot)) << "hot key " << hot;
    const uint64_t refused_before = c.cache->stats().admissions_refused;

    const uint64_t one_offs = 2000;
    for (uint64_t i = 0; i < one_offs; i++) request(1000000 + i);

    std::set<uint64_t> after = resident_ids(*c.cache);
    for (uint64_t hot = 0; hot < n_hot; hot++) EXPECT_TRUE(after.count(hot)) << "hot key " << hot << " evicted";
    // Most one-off keys were turned away at admission, not merely evicted again later.
    EXPECT_GT(c.cache->stats().admissions_refused - refused_before, one_offs / 2);
    EXPECT_TRUE(c.model.stats().trained);
    expect_valid(*c.cache);
}

TEST(CacheModel, ConcurrentLookupsInsertsAndRefits) {
    // The server's locking: lookups under a shared lock (so record() races other records), inserts
    // under the exclusive one, and refit() from one background thread without the lock.
    const uint32_t capacity = 64, n_keys = 300;
    CacheWithModel c(capacity);
    ASSERT_NE(c.cache, nullptr);
    std::shared_mutex lock;
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> hits{0}, bad{0}, refits{0}, inserts{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; t++)
        threads.emplace_back([&, t] {
            Zipf zipf(n_keys, 1.0);
            std::mt19937_64 rng(t);
            CachedResult out;
            for (int i = 0; i < 100000; i++) {
                // Halfway, each reader waits (holding no lock) until the inserter has run: with
                // three readers on two cores the shared lock can otherwise keep it out until the
                // readers are done (seen once in CI: no eviction at all).
                if (i == 50000)
                    while (inserts.load(std::memory_order_relaxed) < 1000) std::this_thread::yield();
                const uint64_t id = zipf(rng);
                const CacheKey key = key_of(*c.cache, id);
                std::shared_lock<std::shared_mutex> shared(lock);
                if (c.cache->lookup(key, c.model, &out)) {
                    hits.fetch_add(1, std::memory_order_relaxed);
                    if (!consistent(out, id)) bad.fetch_add(1, std::memory_order_relaxed);
                }
            }
        });
    std::thread refitter([&] {
        while (!stop.load(std::memory_order_relaxed)) {
            c.model.refit(c.cache->now());
            refits.fetch_add(1, std::memory_order_relaxed);
            std::this_thread::yield();
        }
    });
    std::thread inserter([&] {
        Zipf zipf(n_keys, 1.0);
        std::mt19937_64 rng(99);
        while (!stop.load(std::memory_order_relaxed)) {
            const uint64_t id = zipf(rng);
            std::unique_lock<std::shared_mutex> exclusive(lock);
            insert(*c.cache, c.model, id);
            inserts.fetch_add(1, std::memory_order_relaxed);
        }
    });
    for (auto &t : threads) t.join();
    stop = true;
    refitter.join();
    inserter.join();

    EXPECT_EQ(bad.load(), 0u);
    EXPECT_GT(hits.load(), 0u);
    EXPECT_GT(refits.load(), 0u);
    const auto st = c.cache->stats();
    EXPECT_EQ(st.lookups, 300000u);
    EXPECT_EQ(st.lookups, c.cache->now());
    EXPECT_LE(st.entries, capacity);
    EXPECT_GT(st.evictions, 0u);  // the inserter worked beside the readers, not only before them
    expect_valid(*c.cache);
}

}  // namespace
