// The result cache (layer 1) as the scan and the workers use it: the core's
// ResultCache and AccessModel placed in shared memory by cache.cpp.
#pragma once

#include "index/index.h"

#include <vector>

#include "kyrodb/result_cache.h"

namespace kyrodb::pg {

extern bool cache_on;          // kyrodb.cache
extern int cache_size_kb;      // kyrodb.cache_size

// What an entry's key starts with: everything a scan's first stage depends on
// besides the segments (whose ids and state are in the parts) and the query,
// whose dim floats (as prepared for the metric) follow, then the scan's
// filter (kyrodb::Filter::serialize).
struct CacheKeyHeader {
    uint32 format;
    Oid database;
    Oid index;
    uint32 metric;
    uint32 dim;
    uint32 ef;
    uint64 relfile;   // tablespace and relation file: a REINDEX or TRUNCATE makes new keys
    uint64 instance;  // the build's random id
};
static_assert(sizeof(CacheKeyHeader) == 40, "cache key header layout");
constexpr uint32 kCacheKeyFormat = 2;  // 2: the filter follows the query

// Registers kyrodb.cache_size, the shared memory and the model's refit worker
// (at preload).
void cache_register();

// Whether this backend's scans can use the cache now: kyrodb is preloaded
// with a cache and kyrodb.cache is on. Says once per backend why not when
// kyrodb.cache asks for it but there is none.
bool cache_usable();

// The key of a first stage of `ef` on this index (the build `instance`) for
// the prepared query and filter.
void cache_key(Relation index, uint32 metric, uint32 dim, uint64 instance, uint32 ef, const float *query,
               const kyrodb::Filter &filter, std::vector<uint8> *out);

// A lookup as a query makes it (counted, and reported to the model); false on
// a miss.
bool cache_lookup(const std::vector<uint8> &key, kyrodb::CachedResult *out);
// The entry without counting a lookup (the background refresh).
bool cache_peek(const std::vector<uint8> &key, kyrodb::CachedResult *out);
// Stores a miss's parts (admission asked), or gives a resident entry new parts
// (`refreshed` of them searched again because the entry's were stale or missing).
void cache_store(Relation index, const std::vector<uint8> &key, const std::vector<kyrodb::Part> &parts,
                 bool resident, uint32 refreshed);

// After a flush or merge (from the flush worker): searches again the
// segments the hottest entries of this index no longer answer for, so that
// they hit before they are asked again. Returns the entries refreshed.
uint32 cache_refresh_hottest(Relation index);

// Runs the first stage of a scan for a cached key (scan.cpp): its stale
// parts are searched again and stored; false if it could not be (the key's
// index changed, or the entry is gone).
bool refresh_cached_query(Relation index, const std::vector<uint8> &key);

// For kyrodb_memory(): the cache's state and use.
struct CacheUsage {
    const char *state = "not preloaded";
    uint64 capacity_bytes = 0, used_bytes = 0, entries = 0;
};
CacheUsage cache_usage();

}  // namespace kyrodb::pg
