// Background workers (kyrodb preloaded only).
//
// Flush: an insert that takes a hot tier past kyrodb.flush_threshold asks for
// a flush; a dynamic worker connects to the index's database, moves the hot
// tier into a new segment and merges small segments into it (flush_hot_tier),
// while scans go on. A shared table of requests keeps one worker per index.
//
// Prewarm: after start, with kyrodb.prewarm on, a worker lists the databases
// and starts kyrodb.prewarm_workers workers per database in turn; together
// they load the segment images of every kyrodb index there into the shared
// pool.
#include "runtime/cache.h"
#include "runtime/guard.h"
#include "index/index.h"

extern "C" {
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
}

extern "C" {
PGDLLEXPORT void kyrodb_flush_worker_main(Datum index_oid);
PGDLLEXPORT void kyrodb_prewarm_launcher_main(Datum);
PGDLLEXPORT void kyrodb_prewarm_worker_main(Datum);
}

namespace kyrodb::pg {
namespace {

constexpr int kMaxFlushWorkers = 16;

struct FlushRequest {
    Oid database;
    Oid index;        // InvalidOid: free
    uint64 progress;  // advanced by the worker as its builds go on
};
struct Requests {
    slock_t lock;
    FlushRequest slots[kMaxFlushWorkers];
};
Requests *requests = nullptr;
bool preloaded = false;
shmem_request_hook_type prev_request = nullptr;
shmem_startup_hook_type prev_startup = nullptr;

void request_shmem() {
    if (prev_request) prev_request();
    RequestAddinShmemSpace(MAXALIGN(sizeof(Requests)));
}

void startup_shmem() {
    if (prev_startup) prev_startup();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found;
    requests = static_cast<Requests *>(ShmemInitStruct("kyrodb flush requests", sizeof(Requests), &found));
    if (!found) {
        SpinLockInit(&requests->lock);
        for (FlushRequest &r : requests->slots) r = FlushRequest{InvalidOid, InvalidOid, 0};
    }
    LWLockRelease(AddinShmemInitLock);
}

void clear_request(Oid database, Oid index) {
    SpinLockAcquire(&requests->lock);
    for (FlushRequest &r : requests->slots)
        if (r.database == database && r.index == index) r = FlushRequest{InvalidOid, InvalidOid, 0};
    SpinLockRelease(&requests->lock);
}

// Whether this flush worker holds its index's request slot (the backend that
// started it claimed it on its behalf), and which index it flushes.
bool holding_request = true;
Oid flushing_index = InvalidOid;

Oid worker_database() {
    Oid database;
    memcpy(&database, MyBgworkerEntry->bgw_extra, sizeof(database));
    return database;
}

// A prewarm worker's place among those of its database, in bgw_extra after the database.
struct PrewarmShare {
    uint32 part;
    uint32 parts;
};

PrewarmShare prewarm_share() {
    PrewarmShare share;
    memcpy(&share, MyBgworkerEntry->bgw_extra + sizeof(Oid), sizeof(share));
    return share;
}

void clear_own_request(int, Datum index) {
    if (holding_request) clear_request(worker_database(), DatumGetObjectId(index));
}

// Takes the request slot of (database, index); false if another worker has
// it or no slot is free.
bool claim_request(Oid database, Oid index) {
    SpinLockAcquire(&requests->lock);
    FlushRequest *free_slot = nullptr;
    bool pending = false;
    for (FlushRequest &r : requests->slots) {
        pending |= r.database == database && r.index == index;
        if (r.index == InvalidOid && free_slot == nullptr) free_slot = &r;
    }
    bool claimed = !pending && free_slot != nullptr;
    if (claimed) *free_slot = FlushRequest{database, index, 0};
    SpinLockRelease(&requests->lock);
    return claimed;
}

void fill_worker(BackgroundWorker *w, const char *function, const char *name, Oid database) {
    memset(w, 0, sizeof(*w));
    w->bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    w->bgw_restart_time = BGW_NEVER_RESTART;
    strlcpy(w->bgw_library_name, "kyrodb", BGW_MAXLEN);
    strlcpy(w->bgw_function_name, function, BGW_MAXLEN);
    strlcpy(w->bgw_name, name, BGW_MAXLEN);
    strlcpy(w->bgw_type, name, BGW_MAXLEN);
    memcpy(w->bgw_extra, &database, sizeof(database));
}

// The kyrodb index `oid`, opened, or null if it is gone or not kyrodb's.
Relation open_if_kyrodb(Oid oid, LOCKMODE mode) {
    Relation rel = try_relation_open(oid, mode);
    if (rel == nullptr) return nullptr;
    Oid am = get_index_am_oid("kyrodb", true);
    if (rel->rd_rel->relkind != RELKIND_INDEX || rel->rd_rel->relam != am) {
        relation_close(rel, mode);
        return nullptr;
    }
    return rel;
}

}  // namespace

void register_workers() {
    preloaded = true;
    prev_request = shmem_request_hook;
    shmem_request_hook = request_shmem;
    prev_startup = shmem_startup_hook;
    shmem_startup_hook = startup_shmem;
    if (!prewarm || shared_memory_mb == 0) return;
    BackgroundWorker w;
    fill_worker(&w, "kyrodb_prewarm_launcher_main", "kyrodb prewarm", InvalidOid);
    w.bgw_start_time = BgWorkerStart_ConsistentState;
    // Restartable, so that the postmaster starts it again after a crash
    // restart (a BGW_NEVER_RESTART worker is forgotten then); it stays idle
    // once done so that it runs once per start.
    w.bgw_restart_time = 10;
    RegisterBackgroundWorker(&w);
}

uint64 flush_progress(Relation index) {
    if (requests == nullptr) return UINT64_MAX;
    uint64 progress = UINT64_MAX;
    SpinLockAcquire(&requests->lock);
    for (const FlushRequest &r : requests->slots)
        if (r.database == MyDatabaseId && r.index == RelationGetRelid(index)) progress = r.progress;
    SpinLockRelease(&requests->lock);
    return progress;
}

void note_flush_progress(size_t rows) {
    if (!IsBackgroundWorker || requests == nullptr || !holding_request || flushing_index == InvalidOid) return;
    SpinLockAcquire(&requests->lock);
    for (FlushRequest &r : requests->slots)
        if (r.database == MyDatabaseId && r.index == flushing_index) r.progress += 1 + rows;
    SpinLockRelease(&requests->lock);
}

bool request_flush(Relation index) {
    if (!preloaded || requests == nullptr || RecoveryInProgress()) return false;
    Oid database = MyDatabaseId, oid = RelationGetRelid(index);
    // One is running, or all request slots are busy: a later insert asks again.
    if (!claim_request(database, oid)) return flush_progress(index) != UINT64_MAX;

    BackgroundWorker w;
    fill_worker(&w, "kyrodb_flush_worker_main", "kyrodb flush", database);
    w.bgw_start_time = BgWorkerStart_RecoveryFinished;
    w.bgw_main_arg = ObjectIdGetDatum(oid);
    if (!RegisterDynamicBackgroundWorker(&w, nullptr)) {
        clear_request(database, oid);
        static bool warned = false;
        if (!warned)
            ereport(LOG, (errmsg("kyrodb could not start a background flush of index \"%s\"",
                                 RelationGetRelationName(index)),
                          errhint("Raise max_worker_processes; until then VACUUM flushes the index.")));
        warned = true;
        return false;
    }
    return true;
}

}  // namespace kyrodb::pg

// A flush worker: flushes (and merges) one index, again while inserts keep
// its hot tier at the threshold, then exits.
void kyrodb_flush_worker_main(Datum index_oid) {
    using namespace kyrodb::pg;
    pqsignal(SIGTERM, die);
    BackgroundWorkerUnblockSignals();
    before_shmem_exit(clear_own_request, index_oid);
    const Oid database = worker_database(), oid = DatumGetObjectId(index_oid);
    flushing_index = oid;
    BackgroundWorkerInitializeConnectionByOid(database, InvalidOid, 0);
    for (;;) {
        StartTransactionCommand();
        Relation index = open_if_kyrodb(oid, RowExclusiveLock);
        if (index == nullptr) {
            CommitTransactionCommand();
            break;
        }
        pgstat_report_activity(STATE_RUNNING, "flushing a kyrodb index");
        uint64 moved = guarded([&] { return flush_hot_tier(index, false); });
        // Give the request back before looking at the hot tier: an insert that
        // reaches the threshold after this look starts a new worker, one that
        // reached it before is seen here.
        clear_request(database, oid);
        holding_request = false;
        // The hottest cached results this flush or its merge made stale are
        // searched again now, not by the next query that asks.
        if (moved > 0) guarded([&] { cache_refresh_hottest(index); });
        MetaPage meta;
        read_meta(index, &meta);
        relation_close(index, RowExclusiveLock);
        CommitTransactionCommand();
        pgstat_report_activity(STATE_IDLE, nullptr);
        if (moved == 0 || !hot_tier_full(meta.hot_end - meta.hot_start, meta.dim) || !claim_request(database, oid))
            break;
        holding_request = true;
    }
    proc_exit(0);
}

// The prewarm launcher: one prewarm worker per database that allows
// connections, one after the other.
void kyrodb_prewarm_launcher_main(Datum) {
    pqsignal(SIGTERM, die);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);
    std::vector<Oid> databases;
    StartTransactionCommand();
    Relation rel = table_open(DatabaseRelationId, AccessShareLock);
    TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
    for (HeapTuple tup; (tup = heap_getnext(scan, ForwardScanDirection)) != nullptr;) {
        auto *db = reinterpret_cast<Form_pg_database>(GETSTRUCT(tup));
        if (db->datallowconn && !db->datistemplate) databases.push_back(db->oid);
    }
    table_endscan(scan);
    table_close(rel, AccessShareLock);
    CommitTransactionCommand();

    const uint32 parts = uint32(kyrodb::pg::prewarm_workers);
    for (Oid database : databases) {
        std::vector<BackgroundWorkerHandle *> handles;
        for (uint32 part = 0; part < parts; part++) {
            BackgroundWorker w;
            kyrodb::pg::fill_worker(&w, "kyrodb_prewarm_worker_main", "kyrodb prewarm database", database);
            const kyrodb::pg::PrewarmShare share{part, parts};
            memcpy(w.bgw_extra + sizeof(Oid), &share, sizeof(share));
            w.bgw_start_time = BgWorkerStart_ConsistentState;
            w.bgw_notify_pid = MyProcPid;
            BackgroundWorkerHandle *handle;
            // Each worker visits every image, so the ones that started load them all.
            if (!RegisterDynamicBackgroundWorker(&w, &handle)) {
                ereport(LOG, (errmsg("kyrodb could not start a prewarm worker"),
                              errhint("Raise max_worker_processes or lower kyrodb.prewarm_workers.")));
                break;
            }
            handles.push_back(handle);
        }
        if (handles.empty()) break;
        for (BackgroundWorkerHandle *handle : handles)
            if (WaitForBackgroundWorkerShutdown(handle) == BGWH_POSTMASTER_DIED) proc_exit(1);
    }
    // Done until the next start or crash restart, when the postmaster starts it again.
    for (;;) {
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1L, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
}

namespace {

// Loads the images of one index in a subtransaction: a broken or dropped
// index is reported in the log and the worker goes on with the next.
uint32 prewarm_one(Oid oid, const kyrodb::pg::PrewarmShare &share) {
    using namespace kyrodb::pg;
    MemoryContext context = CurrentMemoryContext;
    ResourceOwner owner = CurrentResourceOwner;
    volatile uint32 segments = 0;
    BeginInternalSubTransaction(nullptr);
    PG_TRY();
    {
        Relation index = open_if_kyrodb(oid, AccessShareLock);
        // an invalid index (a failed CREATE INDEX CONCURRENTLY) is never scanned
        if (index != nullptr && index->rd_index->indisvalid) {
            pgstat_report_activity(STATE_RUNNING, "prewarming a kyrodb index");
            segments = guarded([&] { return prewarm_index(index, share.part, share.parts); });
        }
        if (index != nullptr) relation_close(index, AccessShareLock);
        ReleaseCurrentSubTransaction();
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(context);
        ErrorData *error = CopyErrorData();
        FlushErrorState();
        RollbackAndReleaseCurrentSubTransaction();
        ereport(LOG, (errmsg("kyrodb could not prewarm index %u: %s", oid, error->message)));
        FreeErrorData(error);
    }
    PG_END_TRY();
    MemoryContextSwitchTo(context);
    CurrentResourceOwner = owner;
    return segments;
}

}  // namespace

// A prewarm worker: loads the images of every kyrodb index of its database,
// beside the others of its database, each starting at its own share of the
// indexes. Every worker visits every image (waiting for those another one is
// loading), so the first worker's report comes when all are in the pool.
void kyrodb_prewarm_worker_main(Datum) {
    using namespace kyrodb::pg;
    pqsignal(SIGTERM, die);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnectionByOid(worker_database(), InvalidOid, 0);
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
    Oid am = get_index_am_oid("kyrodb", true);
    std::vector<Oid> indexes;
    if (OidIsValid(am)) {
        Relation rel = table_open(RelationRelationId, AccessShareLock);
        TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
        for (HeapTuple tup; (tup = heap_getnext(scan, ForwardScanDirection)) != nullptr;) {
            auto *c = reinterpret_cast<Form_pg_class>(GETSTRUCT(tup));
            if (c->relkind == RELKIND_INDEX && c->relam == am) indexes.push_back(c->oid);
        }
        table_endscan(scan);
        table_close(rel, AccessShareLock);
    }
    const PrewarmShare share = prewarm_share();
    const size_t first = indexes.size() * share.part / share.parts;
    uint32 segments = 0;
    for (size_t i = 0; i < indexes.size(); i++) segments += prewarm_one(indexes[(first + i) % indexes.size()], share);
    PopActiveSnapshot();
    CommitTransactionCommand();
    if (!indexes.empty() && share.part == 0)
        ereport(LOG, (errmsg("kyrodb prewarmed %u segments of %zu indexes in database %u", segments, indexes.size(),
                             worker_database())));
    proc_exit(0);
}
