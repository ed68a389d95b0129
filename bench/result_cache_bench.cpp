// Google Benchmark of the result cache on a query's path: a hit (hash a 128-d query key, find it,
// copy 3 parts of 40 results out), a miss, and an insert into a full arena (which evicts). No lock
// is taken: the adapter's LWLock is not part of these figures.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "kyrodb/result_cache.h"

namespace {

using kyrodb::ResultCache;

struct LruPolicy : kyrodb::CachePolicy {
    void record(uint64_t, uint64_t) override {}
    double value(const kyrodb::EntryUsage &entry, uint64_t) const override { return double(entry.last_access); }
    bool admit(uint64_t, const kyrodb::EntryUsage &, uint64_t) const override { return true; }
};

constexpr std::size_t kDim = 128, kPrefix = 32, kParts = 3, kPerPart = 40;

// Keys as the adapter builds them: 32 bytes of index identity and search settings, then the
// query vector's bytes.
std::vector<std::vector<uint8_t>> make_keys(std::size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal;
    std::vector<std::vector<uint8_t>> keys(n, std::vector<uint8_t>(kPrefix + kDim * sizeof(float)));
    for (auto &key : keys) {
        std::memset(key.data(), 7, kPrefix);
        for (std::size_t d = 0; d < kDim; d++) {
            float x = normal(rng);
            std::memcpy(key.data() + kPrefix + d * sizeof(float), &x, sizeof x);
        }
    }
    return keys;
}

struct Parts {
    std::vector<kyrodb::ResultItem> items;
    std::vector<kyrodb::Part> parts;
    Parts() : items(kParts * kPerPart) {
        for (std::size_t i = 0; i < items.size(); i++) items[i] = kyrodb::ResultItem{uint32_t(i), 0.01f * i};
        for (std::size_t p = 0; p < kParts; p++)
            parts.push_back(kyrodb::Part{p + 1, 1.0f, uint32_t(kPerPart), items.data() + p * kPerPart, {}});
    }
};

struct Fixture {
    // `arena_bytes` of arena, filled with `n` entries.
    Fixture(std::size_t arena_bytes, std::size_t n)
        : bytes(ResultCache::bytes_needed(arena_bytes)),
          memory(static_cast<uint8_t *>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)), std::free),
          cache(ResultCache::create(memory.get(), bytes)),
          keys(make_keys(n, 1)) {
        for (const auto &key : keys) cache->insert(cache->key(key.data(), key.size()), parts.parts.data(), kParts, policy);
    }
    std::size_t bytes;
    std::unique_ptr<uint8_t, void (*)(void *)> memory;
    ResultCache *cache;
    LruPolicy policy;
    Parts parts;
    std::vector<std::vector<uint8_t>> keys;
};

// state.range(0) resident entries in 64 MB (the default kyrodb.cache_size), looked up in random
// order: 100 stay in the CPU's caches, 10,000 (18 MB of blocks) mostly do not.
void lookup_hit(benchmark::State &state) {
    Fixture f(64 << 20, std::size_t(state.range(0)));
    std::mt19937_64 rng(2);
    kyrodb::CachedResult out;
    std::size_t hits = 0;
    for (auto _ : state) {
        const auto &key = f.keys[rng() % f.keys.size()];
        hits += f.cache->lookup(f.cache->key(key.data(), key.size()), f.policy, &out);
        benchmark::DoNotOptimize(out.items.data());
    }
    if (int64_t(hits) != state.iterations()) state.SkipWithError("a resident key missed");
}
BENCHMARK(lookup_hit)->Name("ResultCache/lookup_hit/128d_3x40")->Arg(100)->Arg(10000);

void lookup_miss(benchmark::State &state) {
    Fixture f(64 << 20, 10000);
    std::vector<std::vector<uint8_t>> absent = make_keys(1000, 3);
    std::size_t i = 0, hits = 0;
    kyrodb::CachedResult out;
    for (auto _ : state) {
        const auto &key = absent[i++ % absent.size()];
        hits += f.cache->lookup(f.cache->key(key.data(), key.size()), f.policy, &out);
    }
    if (hits != 0) state.SkipWithError("an absent key hit");
}
BENCHMARK(lookup_miss)->Name("ResultCache/lookup_miss/128d");

// The hash alone, for the share of a lookup it takes.
void key_hash(benchmark::State &state) {
    Fixture f(1 << 16, 0);
    std::vector<std::vector<uint8_t>> keys = make_keys(1, 4);
    for (auto _ : state) benchmark::DoNotOptimize(f.cache->key(keys[0].data(), keys[0].size()).hash);
    state.SetBytesProcessed(state.iterations() * keys[0].size());
}
BENCHMARK(key_hash)->Name("ResultCache/key_hash/544B");

// A full 4 MB arena: every insert of a new key evicts (about 2,600 entries of 7 blocks are resident).
void insert_evict(benchmark::State &state) {
    Fixture f(4 << 20, 4000);
    std::vector<std::vector<uint8_t>> fresh = make_keys(20000, 5);
    std::size_t i = 0;
    const uint64_t evictions = f.cache->stats().evictions;
    for (auto _ : state) {
        const auto &key = fresh[i++ % fresh.size()];
        f.cache->insert(f.cache->key(key.data(), key.size()), f.parts.parts.data(), kParts, f.policy);
    }
    state.counters["evictions_per_insert"] =
        double(f.cache->stats().evictions - evictions) / double(std::max<int64_t>(1, state.iterations()));
}
BENCHMARK(insert_evict)->Name("ResultCache/insert_evict/128d_3x40");

}  // namespace
