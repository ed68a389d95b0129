// Trace simulator for the result cache's policy (issue 11): hit rates of LRU, W-TinyLFU, kyrodb's
// AccessModel, Belady's MIN and the oracle static cache on Zipf traces and a shifting one.
//
//   kyrodb_cache_sim [--seed S] [--refit-every N] [--horizon X] [--decay X]
//
// --seed picks the traces (the figures in the README use the default, 1); --horizon and --decay
// override the model's horizon and decay period as multiples of the capacity. kyrodb is the real
// ResultCache with AccessModel as its policy: a lookup per request and an insert on each miss (the
// cache samples 16 resident entries, evicts the lowest value() if admit() agrees); refit() is
// called every N lookups, as the server's background worker would.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "kyrodb/access_model.h"
#include "kyrodb/result_cache.h"

namespace {

using kyrodb::AccessModel;
using kyrodb::AccessModelParams;
using kyrodb::EntryUsage;
using kyrodb::ResultCache;

constexpr uint32_t kDistinct = 100000;
constexpr uint32_t kRequests = 300000;
constexpr uint32_t kShiftEvery = 50000;

struct Rng {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9e3779b97f4a7c15);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
        z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
        return z ^ (z >> 31);
    }
    double uniform() { return double(next() >> 11) * 0x1.0p-53; }
    uint32_t below(uint32_t n) { return uint32_t((next() >> 32) * n >> 32); }
};

struct Trace {
    std::string name;
    uint32_t shift_every;
    std::vector<uint32_t> items;  // item ids in [0, kDistinct)
    std::vector<uint32_t> ranks;  // each request's popularity rank at the time (0: most popular)
};

// Zipf(s) over kDistinct ranks; the ranking is a random permutation of the items, re-drawn every
// `shift_every` requests if that is not 0.
Trace zipf_trace(const std::string &name, double s, uint32_t shift_every, uint64_t seed) {
    std::vector<double> cdf(kDistinct);
    double sum = 0;
    for (uint32_t r = 0; r < kDistinct; r++) cdf[r] = sum += std::pow(r + 1.0, -s);
    for (auto &c : cdf) c /= sum;
    Rng rng{seed};
    std::vector<uint32_t> perm(kDistinct);
    auto shuffle = [&] {
        for (uint32_t i = 0; i < kDistinct; i++) perm[i] = i;
        for (uint32_t i = kDistinct - 1; i > 0; i--) std::swap(perm[i], perm[rng.below(i + 1)]);
    };
    shuffle();
    Trace t{name, shift_every, {}, {}};
    for (uint32_t i = 0; i < kRequests; i++) {
        if (shift_every != 0 && i > 0 && i % shift_every == 0) shuffle();
        uint32_t r = uint32_t(std::lower_bound(cdf.begin(), cdf.end(), rng.uniform()) - cdf.begin());
        r = std::min(r, kDistinct - 1);
        t.ranks.push_back(r);
        t.items.push_back(perm[r]);
    }
    return t;
}

// Key hashes for timing the model on its own (the cache runs hash the key bytes themselves).
uint64_t key_of(uint32_t item) { return Rng{item * 0x2545f4914f6cdd1dULL + 17}.next(); }

// Intrusive doubly linked LRU lists over item ids; an item is on at most one list.
class Lists {
  public:
    explicit Lists(int n_lists) : head_(n_lists, kNone), tail_(n_lists, kNone), size_(n_lists, 0),
                                  prev_(kDistinct), next_(kDistinct), list_(kDistinct, -1) {}
    int list_of(uint32_t i) const { return list_[i]; }
    uint32_t size(int l) const { return size_[l]; }
    uint32_t lru(int l) const { return tail_[l]; }
    void push_mru(int l, uint32_t i) {
        list_[i] = l;
        prev_[i] = kNone;
        next_[i] = head_[l];
        if (head_[l] != kNone) prev_[head_[l]] = i;
        head_[l] = i;
        if (tail_[l] == kNone) tail_[l] = i;
        size_[l]++;
    }
    void remove(uint32_t i) {
        int l = list_[i];
        if (prev_[i] != kNone) next_[prev_[i]] = next_[i]; else head_[l] = next_[i];
        if (next_[i] != kNone) prev_[next_[i]] = prev_[i]; else tail_[l] = prev_[i];
        list_[i] = -1;
        size_[l]--;
    }
    static constexpr uint32_t kNone = UINT32_MAX;

  private:
    std::vector<uint32_t> head_, tail_, size_, prev_, next_;
    std::vector<int> list_;
};

double lru(const Trace &t, uint32_t cap) {
    Lists lists(1);
    uint64_t hits = 0;
    for (uint32_t item : t.items) {
        if (lists.list_of(item) == 0) {
            hits++;
            lists.remove(item);
        } else if (lists.size(0) == cap) {
            lists.remove(lists.lru(0));
        }
        lists.push_mru(0, item);
    }
    return double(hits) / t.items.size();
}

// Caffeine's frequency sketch: 4-bit counters, 4 rows, all halved after 10 x capacity additions.
class TinyLfuSketch {
  public:
    explicit TinyLfuSketch(uint32_t cap) : width_(1), period_(10 * uint64_t(cap)) {
        while (width_ < 4 * uint64_t(cap)) width_ <<= 1;
        rows_.assign(4 * width_, 0);
    }
    uint32_t frequency(uint32_t item) const {
        uint32_t m = 15;
        for (int r = 0; r < 4; r++) m = std::min<uint32_t>(m, rows_[index(item, r)]);
        return m;
    }
    void increment(uint32_t item) {
        bool added = false;
        for (int r = 0; r < 4; r++) {
            uint8_t &c = rows_[index(item, r)];
            if (c < 15) c++, added = true;
        }
        if (added && ++additions_ == period_) {
            uint64_t odd = 0;
            for (auto &c : rows_) odd += c & 1, c >>= 1;
            additions_ = (additions_ - odd / 4) / 2;
        }
    }

  private:
    uint64_t index(uint32_t item, int row) const {
        return row * width_ + (Rng{item * 0x9e3779b97f4a7c15ULL + uint64_t(row) * 0x632be59bd9b4e019ULL}.next() & (width_ - 1));
    }
    uint64_t width_, period_, additions_ = 0;
    std::vector<uint8_t> rows_;
};

// W-TinyLFU as in Caffeine, with a fixed window: 1 % window LRU, main segmented LRU (20 %
// probation, 80 % protected); a key leaving the window enters the main region only if the sketch
// counts it more often than the probation segment's LRU victim.
double wtinylfu(const Trace &t, uint32_t cap) {
    enum { kWindow, kProbation, kProtected };
    uint32_t window_cap = std::max<uint32_t>(1, cap / 100), main_cap = cap - window_cap;
    uint32_t protected_cap = main_cap * 8 / 10;
    Lists lists(3);
    TinyLfuSketch sketch(cap);
    uint64_t hits = 0;
    for (uint32_t item : t.items) {
        sketch.increment(item);
        switch (lists.list_of(item)) {
        case kWindow:
            hits++;
            lists.remove(item);
            lists.push_mru(kWindow, item);
            continue;
        case kProbation:
            hits++;
            lists.remove(item);
            lists.push_mru(kProtected, item);
            if (lists.size(kProtected) > protected_cap) {
                uint32_t demoted = lists.lru(kProtected);
                lists.remove(demoted);
                lists.push_mru(kProbation, demoted);
            }
            continue;
        case kProtected:
            hits++;
            lists.remove(item);
            lists.push_mru(kProtected, item);
            continue;
        default:
            break;
        }
        lists.push_mru(kWindow, item);
        if (lists.size(kWindow) <= window_cap) continue;
        uint32_t candidate = lists.lru(kWindow);
        lists.remove(candidate);
        if (lists.size(kProbation) + lists.size(kProtected) < main_cap) {
            lists.push_mru(kProbation, candidate);
            continue;
        }
        uint32_t victim = lists.size(kProbation) > 0 ? lists.lru(kProbation) : lists.lru(kProtected);
        if (sketch.frequency(candidate) > sketch.frequency(victim)) {
            lists.remove(victim);
            lists.push_mru(kProbation, candidate);
        }
    }
    return double(hits) / t.items.size();
}

// Belady's MIN: on a miss into a full cache, drop whichever of the residents and the missed key
// is next used farthest in the future.
double belady(const Trace &t, uint32_t cap) {
    uint32_t n = uint32_t(t.items.size());
    std::vector<uint32_t> next_use(n), seen(kDistinct, UINT32_MAX);
    for (uint32_t i = n; i-- > 0;) {
        next_use[i] = seen[t.items[i]];
        seen[t.items[i]] = i;
    }
    std::vector<uint32_t> resident_next(kDistinct, 0);  // 0: not resident
    std::priority_queue<std::pair<uint32_t, uint32_t>> farthest;  // (next use, item), stale pairs skipped
    uint32_t size = 0;
    uint64_t hits = 0;
    auto top = [&] {
        while (resident_next[farthest.top().second] != farthest.top().first + 1) farthest.pop();
        return farthest.top();
    };
    for (uint32_t i = 0; i < n; i++) {
        uint32_t item = t.items[i], next = next_use[i];
        if (resident_next[item] != 0) {
            hits++;
        } else if (size == cap) {
            auto victim = top();
            if (next >= victim.first) continue;
            farthest.pop();
            resident_next[victim.second] = 0;
        } else {
            size++;
        }
        resident_next[item] = next + 1;
        farthest.push({next, item});
    }
    return double(hits) / n;
}

// LFU with exact counts that is told when the ranking is re-drawn and then forgets the counts: a
// reference for what an online policy can reach on the shifting trace (plain LFU on the others).
double phase_lfu(const Trace &t, uint32_t cap, uint32_t shift_every) {
    std::vector<uint32_t> count(kDistinct, 0);
    std::vector<bool> resident(kDistinct, false);
    std::set<std::pair<uint32_t, uint32_t>> by_count;  // residents: (count, item)
    uint64_t hits = 0;
    for (uint32_t i = 0; i < t.items.size(); i++) {
        if (shift_every != 0 && i > 0 && i % shift_every == 0) {
            std::fill(count.begin(), count.end(), 0);
            std::set<std::pair<uint32_t, uint32_t>> reset;
            for (const auto &e : by_count) reset.insert({0, e.second});
            by_count.swap(reset);
        }
        uint32_t item = t.items[i];
        if (resident[item]) {
            hits++;
            by_count.erase({count[item], item});
            by_count.insert({++count[item], item});
            continue;
        }
        count[item]++;
        if (by_count.size() == cap) {
            auto victim = *by_count.begin();
            if (count[item] <= victim.first) continue;
            by_count.erase(by_count.begin());
            resident[victim.second] = false;
        }
        resident[item] = true;
        by_count.insert({count[item], item});
    }
    return double(hits) / t.items.size();
}

// The static cache holding the `cap` truly most popular keys of the moment.
double oracle(const Trace &t, uint32_t cap) {
    uint64_t hits = 0;
    for (uint32_t r : t.ranks) hits += r < cap;
    return double(hits) / t.ranks.size();
}

struct ModelRun {
    double hit_rate;
    uint64_t refused;
    kyrodb::ModelStats stats;
};

// 64-byte aligned memory, as the model and the cache expect (the server's shared memory is).
using Memory = std::unique_ptr<uint8_t, void (*)(void *)>;
Memory aligned_memory(std::size_t bytes) {
    return Memory(static_cast<uint8_t *>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)), std::free);
}

struct Model {
    explicit Model(const AccessModelParams &p)
        : memory(aligned_memory(AccessModel::bytes_needed(p))), model(AccessModel::create(memory.get(), p)) {}
    Memory memory;
    AccessModel model;
};

AccessModelParams model_params(uint32_t cap, double horizon_x, double decay_x) {
    AccessModelParams p;
    p.capacity = cap;
    p.distinct_keys = kDistinct;  // what the server would size from kyrodb.cache_size
    p.horizon = uint64_t(horizon_x * cap);
    p.decay_period = uint64_t(decay_x * cap);
    return p;
}

// The real ResultCache with AccessModel as its policy. Keys are the item id's 8 bytes and values one
// part of one item, so every entry fits one block; one block per slot then makes the arena's slot
// count the capacity exactly, and slots, not blocks, are what eviction makes room for.
ModelRun kyrodb_cache(const Trace &t, const AccessModelParams &params, uint32_t refit_every) {
    Model m(params);
    kyrodb::CacheOptions options;
    options.blocks_per_entry = 1;
    const std::size_t bytes = ResultCache::bytes_needed(std::size_t(params.capacity) * ResultCache::kBlockSize, options);
    Memory memory = aligned_memory(bytes);
    ResultCache *cache = ResultCache::create(memory.get(), bytes, options);
    if (cache == nullptr || cache->slot_count() != params.capacity) {
        std::fprintf(stderr, "cache of %u entries: got %u slots\n", params.capacity,
                     cache ? cache->slot_count() : 0);
        std::exit(1);
    }
    kyrodb::CachedResult hit;
    for (uint32_t item : t.items) {
        const uint64_t id = item;
        const kyrodb::CacheKey key = cache->key(&id, sizeof id);
        if (!cache->lookup(key, m.model, &hit)) {
            const kyrodb::ResultItem result{item, float(item)};
            const kyrodb::Part part{id, 1.0f, 1, &result, {}};
            cache->insert(key, &part, 1, m.model);
        }
        if (cache->now() % refit_every == 0) m.model.refit(cache->now());
    }
    const kyrodb::CacheStats s = cache->stats();
    return ModelRun{double(s.hits) / double(s.lookups), s.admissions_refused, m.model.stats()};
}

double ns_per(std::chrono::steady_clock::duration d, uint64_t n) {
    return double(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()) / double(n);
}

}  // namespace

int main(int argc, char **argv) {
    uint64_t seed = 1;
    uint32_t refit_every = 1000;
    double horizon_x = 0, decay_x = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--seed")) seed = std::strtoull(argv[i + 1], nullptr, 10);
        else if (!std::strcmp(argv[i], "--refit-every")) refit_every = uint32_t(std::strtoul(argv[i + 1], nullptr, 10));
        else if (!std::strcmp(argv[i], "--horizon")) horizon_x = std::strtod(argv[i + 1], nullptr);
        else if (!std::strcmp(argv[i], "--decay")) decay_x = std::strtod(argv[i + 1], nullptr);
        else {
            std::fprintf(stderr, "usage: %s [--seed S] [--refit-every N] [--horizon X] [--decay X]\n", argv[0]);
            return 2;
        }
    }
    if ((argc - 1) % 2 != 0 || refit_every == 0) {
        std::fprintf(stderr, "usage: %s [--seed S] [--refit-every N] [--horizon X] [--decay X]\n", argv[0]);
        return 2;
    }

    std::vector<Trace> traces;
    traces.push_back(zipf_trace("zipf s=0.8", 0.8, 0, seed * 1000 + 1));
    traces.push_back(zipf_trace("zipf s=1.0", 1.0, 0, seed * 1000 + 2));
    traces.push_back(zipf_trace("zipf s=1.2", 1.2, 0, seed * 1000 + 3));
    traces.push_back(zipf_trace("shifting s=1.0", 1.0, kShiftEvery, seed * 1000 + 4));

    std::printf("%u distinct keys, %u requests per trace, seed %llu; kyrodb: ResultCache (%u sampled victims), refit every %u "
                "lookups\n\n", kDistinct, kRequests, (unsigned long long)seed, ResultCache::kSample, refit_every);
    std::printf("| trace | capacity | LRU | W-TinyLFU | kyrodb | Belady | oracle | LFU told the shifts | "
                "kyrodb - best of LRU, W-TinyLFU |\n");
    std::printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    std::vector<std::string> notes;
    for (const Trace &t : traces) {
        for (uint32_t cap : {kDistinct / 100, kDistinct / 10}) {
            double l = lru(t, cap), w = wtinylfu(t, cap);
            AccessModelParams params = model_params(cap, horizon_x, decay_x);
            ModelRun k = kyrodb_cache(t, params, refit_every);
            std::printf("| %s | %u | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %+.3f |\n", t.name.c_str(), cap, l, w,
                        k.hit_rate, belady(t, cap), oracle(t, cap), phase_lfu(t, cap, t.shift_every),
                        k.hit_rate - std::max(l, w));
            std::fflush(stdout);
            char line[512];
            const auto &s = k.stats;
            std::snprintf(line, sizeof line,
                          "| %s | %u | %.3f %.3f %.3f %.3f | %s | %llu | %llu / %llu | %llu | %llu | %llu |",
                          t.name.c_str(), cap, s.weights[0], s.weights[1], s.weights[2], s.weights[3],
                          s.trained ? "yes" : "no", (unsigned long long)s.refits,
                          (unsigned long long)s.positives, (unsigned long long)s.samples_resolved,
                          (unsigned long long)s.decays, (unsigned long long)k.refused,
                          (unsigned long long)(t.items.size() - uint64_t(k.hit_rate * t.items.size() + 0.5)));
            notes.push_back(line);
        }
    }
    AccessModelParams shown = model_params(kDistinct / 100, horizon_x, decay_x);
    {
        Model m(shown);
        shown = m.model.params();
    }
    std::printf("\nThe model at the end of each run (capacity C: horizon %.0f C, decay periods %.0f C and %.0f C, %u "
                "tracked keys, %u samples kept); weights of: bias, log2(1 + slow count), log2(1 + fast count), "
                "log2(1 + idle)\n\n", double(shown.horizon) / shown.capacity,
                double(shown.decay_period) / shown.capacity, double(shown.recent_period) / shown.capacity,
                shown.tracked_keys, shown.samples);
    std::printf("| trace | capacity | weights | trained | refits | positives / resolved samples | decays | "
                "admissions refused | misses |\n");
    std::printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for (const auto &n : notes) std::printf("%s\n", n.c_str());

    // Cost per lookup: record() over one trace, and value() over sampled entries, on a trained model.
    const Trace &t = traces[1];
    AccessModelParams params = model_params(kDistinct / 100, horizon_x, decay_x);
    Model m(params);
    std::vector<uint64_t> keys(t.items.size());
    for (size_t i = 0; i < keys.size(); i++) keys[i] = key_of(t.items[i]);
    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < keys.size(); i++) m.model.record(keys[i], i + 1);
    auto t1 = std::chrono::steady_clock::now();
    for (uint64_t now = 1000; now <= keys.size(); now += 1000) m.model.refit(now);
    auto t2 = std::chrono::steady_clock::now();
    double sink = 0;
    for (size_t i = 0; i < keys.size(); i++) sink += m.model.value(EntryUsage{keys[i], 0, i / 2, 0}, i + 1);
    auto t3 = std::chrono::steady_clock::now();
    std::printf("\nCost (capacity %u, %zu-byte model): record() %.1f ns, value() %.1f ns, refit() %.0f us "
                "(checksum %.3g)\n", params.capacity, AccessModel::bytes_needed(params), ns_per(t1 - t0, keys.size()),
                ns_per(t3 - t2, keys.size()), ns_per(t2 - t1, keys.size() / 1000) / 1000.0, sink);
    return 0;
}
