// What the result cache (result_cache.h) asks of its admission and eviction
// policy, so that the cache structure and the access model (access_model.h)
// stay separate: the cache owns entries and memory, the policy only ranks
// keys. A policy object is a per-process view; any state it learns lives in
// memory the caller provides (shared memory in the server), like the cache's.
//
// Time is logical: `now` counts lookups (hits and misses) of the cache, so
// the policy behaves the same in a trace simulator and in the server.
#pragma once
#include <cstdint>

namespace kyrodb {

// What the cache records per resident entry for its policy.
struct EntryUsage {
    uint64_t key = 0;          // 64-bit hash of the query key
    uint64_t admitted = 0;     // `now` when the entry was admitted
    uint64_t last_access = 0;  // `now` of its last hit (or its admission)
    uint32_t hits = 0;         // hits since admission
};

class CachePolicy {
  public:
    virtual ~CachePolicy() = default;
    // Every lookup, hit or miss, reports its key first.
    virtual void record(uint64_t key, uint64_t now) = 0;
    // How much a resident entry is worth keeping (higher: keep); the cache
    // evicts the lowest-valued of the entries it samples.
    virtual double value(const EntryUsage &entry, uint64_t now) const = 0;
    // Whether a key that missed should be admitted in place of `victim`
    // (the entry the cache would evict for it).
    virtual bool admit(uint64_t key, const EntryUsage &victim, uint64_t now) const = 0;
};

}  // namespace kyrodb
