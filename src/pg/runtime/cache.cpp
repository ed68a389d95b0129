// The result cache (layer 1) in shared memory (kyrodb.cache_size).
//
// The core's ResultCache holds the entries and AccessModel decides what is
// admitted and evicted; this file places both in the main shared memory
// segment, serialises them with one LWLock (lookups shared, stores
// exclusive), counts per index, runs the model's refits in a background
// worker (never on the query path) and offers kyrodb_cache_stats and
// kyrodb_cache_reset. What a hit may reuse is decided by the scan (scan.cpp).
#include "runtime/cache.h"

#include "runtime/guard.h"

#include <algorithm>
#include <map>
#include <utility>

#include "kyrodb/access_model.h"

extern "C" {
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
}

extern "C" {
PGDLLEXPORT void kyrodb_cache_worker_main(Datum);
}

namespace kyrodb::pg {

bool cache_on = true;
int cache_size_kb = 64 * 1024;

namespace {

// Per-index counters, in a small table: an index takes a slot on its first
// lookup (under the exclusive lock); when all are taken, only the totals count.
constexpr int kCounterSlots = 256;
struct IndexCounters {
    Oid database;
    Oid index;  // InvalidOid: free
    pg_atomic_uint64 lookups, hits, misses, parts_refreshed, proactive;
};

struct Shared {
    LWLock *lock;
    uint64 model_offset;  // from this struct
    uint64 cache_offset;
    pg_atomic_uint64 parts_refreshed;
    pg_atomic_uint64 proactive;
    pg_atomic_uint32 told_too_large;
    IndexCounters counters[kCounterSlots];
};

Shared *shared = nullptr;
kyrodb::ResultCache *cache = nullptr;
kyrodb::AccessModel model = kyrodb::AccessModel::attach(nullptr);
bool preloaded = false;
shmem_request_hook_type prev_request = nullptr;
shmem_startup_hook_type prev_startup = nullptr;

size_t arena_bytes() { return size_t(cache_size_kb) << 10; }

// The model, sized from the entries the cache can hold (as ResultCache's
// table counts them): its sketch for 16 distinct queries per entry within a
// decay period (64 lookups per entry), and a tracked key for every 64th
// query. Its memory comes on top of kyrodb.cache_size: about an eighth.
kyrodb::AccessModelParams model_params() {
    kyrodb::AccessModelParams p;
    const size_t entries =
        arena_bytes() / kyrodb::ResultCache::kBlockSize / kyrodb::CacheOptions{}.blocks_per_entry;
    p.capacity = uint32(std::clamp<size_t>(entries, 1, UINT32_MAX / 64));
    p.distinct_keys = 16 * uint64(p.capacity);
    p.tracked_keys = uint32(std::clamp<uint64>(p.distinct_keys / 64, 64, 16384));
    p.samples = uint32(std::clamp<uint64>(p.capacity, 256, 4096));
    return p;
}

size_t align(size_t n) { return (n + kyrodb::ResultCache::kAlign - 1) / kyrodb::ResultCache::kAlign * kyrodb::ResultCache::kAlign; }

size_t shared_bytes() {
    return align(sizeof(Shared)) + align(kyrodb::AccessModel::bytes_needed(model_params())) +
           kyrodb::ResultCache::bytes_needed(arena_bytes()) + kyrodb::ResultCache::kAlign;
}

void request_shmem() {
    if (prev_request) prev_request();
    if (cache_size_kb == 0) return;
    RequestAddinShmemSpace(shared_bytes());
    RequestNamedLWLockTranche("kyrodb cache", 1);
}

void startup_shmem() {
    if (prev_startup) prev_startup();
    if (cache_size_kb == 0) {
        elog(LOG, "kyrodb: no result cache (kyrodb.cache_size is 0)");
        return;
    }
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found;
    void *memory = ShmemInitStruct("kyrodb result cache", shared_bytes(), &found);
    // ShmemInitStruct aligns to a cache line; the layout below keeps 64 bytes.
    auto *base = reinterpret_cast<uint8 *>(align(reinterpret_cast<uintptr_t>(memory)));
    shared = reinterpret_cast<Shared *>(base);
    if (!found) {
        memset(static_cast<void *>(shared), 0, sizeof(Shared));
        shared->lock = &GetNamedLWLockTranche("kyrodb cache")->lock;
        shared->model_offset = align(sizeof(Shared));
        shared->cache_offset = shared->model_offset + align(kyrodb::AccessModel::bytes_needed(model_params()));
        pg_atomic_init_u64(&shared->parts_refreshed, 0);
        pg_atomic_init_u64(&shared->proactive, 0);
        pg_atomic_init_u32(&shared->told_too_large, 0);
        for (IndexCounters &c : shared->counters) {
            c.database = c.index = InvalidOid;
            pg_atomic_init_u64(&c.lookups, 0);
            pg_atomic_init_u64(&c.hits, 0);
            pg_atomic_init_u64(&c.misses, 0);
            pg_atomic_init_u64(&c.parts_refreshed, 0);
            pg_atomic_init_u64(&c.proactive, 0);
        }
        model = kyrodb::AccessModel::create(base + shared->model_offset, model_params());
        cache = kyrodb::ResultCache::create(base + shared->cache_offset,
                                            kyrodb::ResultCache::bytes_needed(arena_bytes()));
    } else {
        model = kyrodb::AccessModel::attach(base + shared->model_offset);
        cache = kyrodb::ResultCache::attach(base + shared->cache_offset);
    }
    LWLockRelease(AddinShmemInitLock);
    if (!found)
        elog(LOG, "kyrodb: %zu kB of shared memory for the result cache (kyrodb.cache_size) and %zu kB for its "
                  "access model", arena_bytes() >> 10, kyrodb::AccessModel::bytes_needed(model_params()) >> 10);
}

// This backend's slot for each index it counted (checked on use: a reset
// frees slots).
std::map<std::pair<Oid, Oid>, int> slots_seen;
// Whether this backend's last lookup on each index of its database hit.
std::map<Oid, bool> last_hit;

IndexCounters *counters_for(Oid database, Oid index) {
    auto seen = slots_seen.find({database, index});
    if (seen != slots_seen.end()) {
        IndexCounters &c = shared->counters[seen->second];
        if (c.database == database && c.index == index) return &c;
    }
    IndexCounters *found = nullptr;
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    for (IndexCounters &c : shared->counters)
        if (c.index != InvalidOid && c.database == database && c.index == index) found = &c;
    for (IndexCounters &c : shared->counters)
        if (found == nullptr && c.index == InvalidOid) {
            c.database = database;
            c.index = index;
            found = &c;
        }
    LWLockRelease(shared->lock);
    if (found != nullptr) slots_seen[{database, index}] = int(found - shared->counters);
    return found;
}

CacheKeyHeader header_of(const std::vector<uint8> &key) {
    CacheKeyHeader h;
    memcpy(&h, key.data(), sizeof h);
    return h;
}

void add(IndexCounters *c, pg_atomic_uint64 IndexCounters::*field, uint64 n) {
    if (c != nullptr && n > 0) pg_atomic_fetch_add_u64(&(c->*field), n);
}

// Refits the model every so many lookups, and at least every second while
// there are any: cheap, but never on a query's path.
void refit_loop() {
    uint64 refitted_at = 0;
    TimestampTz last = GetCurrentTimestamp();
    for (;;) {
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
        const uint64 now = cache->now();
        const TimestampTz at = GetCurrentTimestamp();
        if (now - refitted_at >= 1000 || (now != refitted_at && TimestampDifferenceExceeds(last, at, 1000))) {
            model.refit(now);
            refitted_at = now;
            last = at;
        }
    }
}

}  // namespace

void cache_register() {
    preloaded = true;
    prev_request = shmem_request_hook;
    shmem_request_hook = request_shmem;
    prev_startup = shmem_startup_hook;
    shmem_startup_hook = startup_shmem;
    if (cache_size_kb == 0) return;
    BackgroundWorker w;
    memset(&w, 0, sizeof w);
    w.bgw_flags = BGWORKER_SHMEM_ACCESS;
    w.bgw_start_time = BgWorkerStart_PostmasterStart;
    w.bgw_restart_time = 10;
    strlcpy(w.bgw_library_name, "kyrodb", BGW_MAXLEN);
    strlcpy(w.bgw_function_name, "kyrodb_cache_worker_main", BGW_MAXLEN);
    strlcpy(w.bgw_name, "kyrodb cache model", BGW_MAXLEN);
    strlcpy(w.bgw_type, "kyrodb cache model", BGW_MAXLEN);
    RegisterBackgroundWorker(&w);
}

bool cache_usable() {
    if (!cache_on) return false;
    if (cache != nullptr) return true;
    // kyrodb.cache_size = 0 was said at start; without preload, each backend says it
    static bool told = false;
    if (!preloaded && !told)
        ereport(LOG, (errmsg("kyrodb index scans run without the result cache"),
                      errdetail("kyrodb is not in shared_preload_libraries."),
                      errhint("Add kyrodb to shared_preload_libraries, or set kyrodb.cache to off.")));
    told = true;
    return false;
}

void cache_key(Relation index, uint32 metric, uint32 dim, uint64 instance, uint32 ef, const float *query,
               const kyrodb::Filter &filter, std::vector<uint8> *out) {
    const RelFileNode &node = index->rd_node;
    const CacheKeyHeader h{kCacheKeyFormat, MyDatabaseId, RelationGetRelid(index),
                           metric,          dim,          ef,
                           (uint64(node.spcNode) << 32) | node.relNode, instance};
    const size_t query_bytes = size_t(dim) * sizeof(float);
    out->resize(sizeof h + query_bytes);
    memcpy(out->data(), &h, sizeof h);
    memcpy(out->data() + sizeof h, query, query_bytes);
    filter.serialize(out);
}

bool cache_lookup(const std::vector<uint8> &key, kyrodb::CachedResult *out) {
    const CacheKeyHeader h = header_of(key);
    IndexCounters *c = counters_for(h.database, h.index);
    const kyrodb::CacheKey k = cache->key(key.data(), key.size());
    LWLockAcquire(shared->lock, LW_SHARED);
    const bool hit = cache->lookup(k, model, out);
    LWLockRelease(shared->lock);
    add(c, &IndexCounters::lookups, 1);
    add(c, hit ? &IndexCounters::hits : &IndexCounters::misses, 1);
    last_hit[h.index] = hit;
    return hit;
}

bool cache_peek(const std::vector<uint8> &key, kyrodb::CachedResult *out) {
    const kyrodb::CacheKey k = cache->key(key.data(), key.size());
    LWLockAcquire(shared->lock, LW_SHARED);
    const bool found = cache->peek(k, out);
    LWLockRelease(shared->lock);
    return found;
}

void cache_store(Relation index, const std::vector<uint8> &key, const std::vector<kyrodb::Part> &parts,
                 bool resident, uint32 refreshed) {
    const kyrodb::CacheKey k = cache->key(key.data(), key.size());
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    const kyrodb::CacheStatus status = resident ? cache->replace_parts(k, parts.data(), parts.size(), model)
                                                : cache->insert(k, parts.data(), parts.size(), model);
    LWLockRelease(shared->lock);
    if (status == kyrodb::CacheStatus::Replaced) {
        pg_atomic_fetch_add_u64(&shared->parts_refreshed, refreshed);
        const CacheKeyHeader h = header_of(key);
        add(counters_for(h.database, h.index), &IndexCounters::parts_refreshed, refreshed);
    }
    if (status == kyrodb::CacheStatus::TooLarge && pg_atomic_exchange_u32(&shared->told_too_large, 1) == 0)
        pg_call([&] {
            ereport(LOG, (errmsg("kyrodb result cache is too small for one result of index \"%s\"",
                                 RelationGetRelationName(index)),
                          errdetail("A result of %zu bytes of key and %zu parts does not fit in kyrodb.cache_size "
                                    "(%zu kB); such queries are searched every time.",
                                    key.size(), parts.size(), arena_bytes() >> 10),
                          errhint("Raise kyrodb.cache_size.")));
        });
}

uint32 cache_refresh_hottest(Relation index) {
    // The hottest entries of the whole cache, then this index's among them: a
    // few hundred keys, copied out under the shared lock.
    constexpr size_t kConsidered = 512, kRefreshed = 64;
    if (cache == nullptr) return 0;
    std::vector<kyrodb::HotEntry> hot;
    LWLockAcquire(shared->lock, LW_SHARED);
    const bool listed = cache->hottest(model, kConsidered, &hot);
    LWLockRelease(shared->lock);
    if (!listed) return 0;
    uint32 refreshed = 0;
    std::vector<uint8> key;
    for (const kyrodb::HotEntry &e : hot) {
        if (refreshed == kRefreshed) break;
        CacheKeyHeader h;
        if (e.key.size() < sizeof h) continue;
        memcpy(&h, e.key.data(), sizeof h);
        if (h.format != kCacheKeyFormat || h.database != MyDatabaseId || h.index != RelationGetRelid(index)) continue;
        key.assign(e.key.begin(), e.key.end());
        try {
            if (refresh_cached_query(index, key)) refreshed++;
        } catch (const StaleSegment &) {  // the directory kept moving: the next flush tries again
            break;
        }
    }
    if (refreshed > 0) {
        pg_atomic_fetch_add_u64(&shared->proactive, refreshed);
        add(counters_for(MyDatabaseId, RelationGetRelid(index)), &IndexCounters::proactive, refreshed);
    }
    return refreshed;
}

CacheUsage cache_usage() {
    CacheUsage u;
    if (!preloaded) return u;
    if (cache == nullptr) {
        u.state = "disabled";
        return u;
    }
    u.state = "active";
    const kyrodb::CacheStats s = cache->stats();
    u.capacity_bytes = s.capacity_bytes;
    u.used_bytes = s.used_bytes;
    u.entries = s.entries;
    return u;
}

}  // namespace kyrodb::pg

// The model's refit worker: started with the postmaster when there is a cache.
void kyrodb_cache_worker_main(Datum) {
    pqsignal(SIGTERM, die);
    BackgroundWorkerUnblockSignals();
    if (kyrodb::pg::cache == nullptr) proc_exit(0);
    kyrodb::pg::guarded([] { kyrodb::pg::refit_loop(); });
}

namespace {

using kyrodb::pg::IndexCounters;

int64 load(pg_atomic_uint64 &v) { return int64(pg_atomic_read_u64(&v)); }

}  // namespace

// kyrodb_cache_stats(): per index of this database with entries or counts,
// then the total (index null): entries, bytes, lookups, hits, misses, parts
// refreshed, proactive refreshes, and whether this session's last scan of
// it hit; and in the total row what only the whole cache knows (admissions
// refused, evictions, the model's refits and whether it has learned weights
// yet).
KYRODB_FUNCTION(kyrodb_cache_stats) {
    using namespace kyrodb::pg;
    InitMaterializedSRF(fcinfo, 0);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    if (cache == nullptr) return (Datum) 0;
    struct PerIndex {
        int64 entries = 0, bytes = 0;
    };
    std::map<Oid, PerIndex> per_index;
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);  // for_each_entry's lock; it drops nothing here
    cache->for_each_entry([&](const kyrodb::CacheEntryRef &e) {
        CacheKeyHeader h;
        if (e.key_size() < sizeof h) return false;
        e.read_key(0, sizeof h, &h);
        if (h.database != MyDatabaseId) return false;
        PerIndex &p = per_index[h.index];
        p.entries++;
        p.bytes += int64(e.bytes());
        return false;
    });
    std::vector<IndexCounters *> counted;
    for (IndexCounters &c : shared->counters)
        if (c.index != InvalidOid && c.database == MyDatabaseId) {
            counted.push_back(&c);
            per_index[c.index];
        }
    for (const auto &seen : last_hit) per_index[seen.first];
    LWLockRelease(shared->lock);

    constexpr int kColumns = 13;
    struct Row {
        Datum values[kColumns] = {};
        bool nulls[kColumns] = {};
    };
    std::vector<Row> rows;
    for (const auto &[oid, p] : per_index) {
        Row &r = rows.emplace_back();
        r.values[0] = ObjectIdGetDatum(oid);
        r.values[1] = Int64GetDatum(p.entries);
        r.values[2] = Int64GetDatum(p.bytes);
        IndexCounters *c = nullptr;
        for (IndexCounters *k : counted)
            if (k->index == oid) c = k;
        pg_atomic_uint64 IndexCounters::*fields[] = {&IndexCounters::lookups, &IndexCounters::hits,
                                                      &IndexCounters::misses, &IndexCounters::parts_refreshed,
                                                      &IndexCounters::proactive};
        for (int i = 0; i < 5; i++) r.values[3 + i] = Int64GetDatum(c != nullptr ? load(c->*fields[i]) : 0);
        for (int i = 8; i < 12; i++) r.nulls[i] = true;
        const auto seen = last_hit.find(oid);
        if (seen != last_hit.end())
            pg_call([&] { r.values[12] = CStringGetTextDatum(seen->second ? "hit" : "miss"); });
        else
            r.nulls[12] = true;
    }
    const kyrodb::CacheStats s = cache->stats();
    const kyrodb::ModelStats m = model.stats();
    Row &total = rows.emplace_back();
    const Datum totals[kColumns] = {0,
                                    Int64GetDatum(int64(s.entries)),
                                    Int64GetDatum(int64(s.used_bytes)),
                                    Int64GetDatum(int64(s.lookups)),
                                    Int64GetDatum(int64(s.hits)),
                                    Int64GetDatum(int64(s.misses)),
                                    Int64GetDatum(load(shared->parts_refreshed)),
                                    Int64GetDatum(load(shared->proactive)),
                                    Int64GetDatum(int64(s.admissions_refused)),
                                    Int64GetDatum(int64(s.evictions)),
                                    Int64GetDatum(int64(m.refits)),
                                    BoolGetDatum(m.trained),
                                    0};
    memcpy(total.values, totals, sizeof totals);
    total.nulls[0] = true;
    total.nulls[12] = true;
    pg_call([&] {
        for (Row &r : rows) tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, r.values, r.nulls);
    });
    return (Datum) 0;
}

// kyrodb_cache_reset(index): drops the cached results of one index (its
// table's owner) or, with null, of every index (superuser), with their
// counters. Returns the entries dropped.
KYRODB_FUNCTION(kyrodb_cache_reset) {
    using namespace kyrodb::pg;
    Oid index = InvalidOid;
    if (!PG_ARGISNULL(0)) {
        Relation rel = open_kyrodb_index(PG_GETARG_OID(0), AccessShareLock, Access::Owner);
        index = RelationGetRelid(rel);
        index_close(rel, AccessShareLock);
    } else if (!superuser()) {
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE), errmsg("permission denied to reset the whole kyrodb result cache"),
                        errhint("Reset one index with kyrodb_cache_reset(index) as the owner of its table.")));
    }
    if (cache == nullptr) PG_RETURN_INT64(0);
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    const size_t dropped = cache->for_each_entry([&](const kyrodb::CacheEntryRef &e) {
        if (index == InvalidOid) return true;
        CacheKeyHeader h;
        if (e.key_size() < sizeof h) return false;
        e.read_key(0, sizeof h, &h);
        return h.database == MyDatabaseId && h.index == index;
    });
    for (IndexCounters &c : shared->counters)
        if (index == InvalidOid || (c.database == MyDatabaseId && c.index == index)) {
            c.index = InvalidOid;
            c.database = InvalidOid;
            pg_atomic_write_u64(&c.lookups, 0);
            pg_atomic_write_u64(&c.hits, 0);
            pg_atomic_write_u64(&c.misses, 0);
            pg_atomic_write_u64(&c.parts_refreshed, 0);
            pg_atomic_write_u64(&c.proactive, 0);
        }
    LWLockRelease(shared->lock);
    PG_RETURN_INT64(int64(dropped));
}
