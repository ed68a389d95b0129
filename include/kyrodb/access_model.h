// The result cache's access model (issue 11): a CachePolicy that predicts each key's chance of
// being asked again within a horizon of H lookups, and admits and evicts by that prediction.
//
// State, all in caller-provided memory without pointers (the server puts it in shared memory):
//  - two count-min sketches of keys (4 rows, 8-bit counters, conservative update), one halved
//    every decay period (TinyLFU aging) and one 8 times as often; both sketches' counters of a
//    key share one 64-byte block, so a record touches one cache line;
//  - a table of tracked keys: a fixed 1/R of the key space (by hash), with each key's last access
//    and a pending snapshot of its features; refit() snapshots every tracked key once per horizon
//    and labels the snapshot positive if the key was recorded again within the horizon;
//  - the last resolved samples and the weights of a logistic regression fitted to them.
// Features of a key at time `now`: a bias, log2(1 + count) in each sketch, log2(1 + lookups since
// its last access). An entry's value is the predicted probability; a missed key is admitted if
// its own (as an entry admitted now: idle 0) beats the victim's. Until refit() has enough samples
// the weights are a prior: slow-sketch frequency first, recency to break ties.
//
// Concurrency: record() may run in several threads at once, and beside value(), admit() and one
// refit(). It uses relaxed loads and stores, no read-modify-write: two records racing on one
// sketch block may lose an increment (or one halving of that block), which only blurs a
// frequency estimate. refit() must not run twice at once (the server's background worker calls
// it); value() and admit() only read.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kyrodb/cache_policy.h"

namespace kyrodb {

// Sizes and time scales, in lookups. Zeroes are derived from `capacity` (see access_model.cpp).
struct AccessModelParams {
    uint32_t capacity = 1000;       // entries the cache holds
    uint64_t distinct_keys = 0;     // distinct keys expected within a decay period: sizes the sketch
    uint64_t decay_period = 0;      // records between halvings of the slow sketch
    uint64_t recent_period = 0;     // records between halvings of the fast one
    uint64_t horizon = 0;           // "asked again soon" means within this many lookups
    uint32_t tracked_keys = 0;      // slots of the tracked-key table
    uint32_t samples = 0;           // resolved samples kept for fitting
};

struct ModelStats {
    static constexpr int kFeatures = 4;  // bias, log2(1 + count) slow and fast, log2(1 + idle)
    uint64_t decays = 0;            // halvings of the sketch
    uint64_t samples_taken = 0;     // snapshots of tracked keys
    uint64_t samples_resolved = 0;  // snapshots labelled (the horizon passed or the key returned)
    uint64_t positives = 0;         // of those, the key returned within the horizon
    uint64_t refits = 0;            // refits that replaced the weights
    bool trained = false;           // false: the weights are still the prior
    double weights[kFeatures] = {};
};

class AccessModel final : public CachePolicy {
  public:
    static constexpr int kFeatures = ModelStats::kFeatures;

    // Bytes of memory for a model with these parameters (64-byte aligned memory expected).
    static std::size_t bytes_needed(const AccessModelParams &params);
    // Lays out a fresh model (prior weights, empty history) in `memory` and returns a view of it.
    static AccessModel create(void *memory, const AccessModelParams &params);
    // A view of a model another process created in `memory`.
    static AccessModel attach(void *memory);

    void record(uint64_t key, uint64_t now) override;
    double value(const EntryUsage &entry, uint64_t now) const override;
    bool admit(uint64_t key, const EntryUsage &victim, uint64_t now) const override;

    // Labels the snapshots whose horizon has passed, takes new ones and refits the weights (a few
    // Newton steps of L2-regularised logistic regression over the kept samples). Off the query
    // path: the cost is linear in tracked_keys + samples.
    void refit(uint64_t now);

    // The sketches' (decayed) counts of `key`.
    struct Counts {
        uint32_t slow, fast;
    };
    Counts counts(uint64_t key) const;
    uint32_t estimate(uint64_t key) const { return counts(key).slow; }
    ModelStats stats() const;
    // The parameters after derivation.
    AccessModelParams params() const;

  private:
    struct State;
    explicit AccessModel(State *state) : state_(state) {}
    double predict(Counts counts, uint64_t idle) const;

    State *state_;
};

}  // namespace kyrodb
