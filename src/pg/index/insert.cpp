// INSERT: append to the hot tier only. No graph work, O(1) per row; the row
// is searchable (exactly) by the next scan and moves into a segment on flush,
// which a background worker starts once the hot tier passes
// kyrodb.flush_threshold (or kyrodb.flush_threshold_size). Past
// kyrodb.hot_tier_limit an insert waits for that flush.
//
// Rows are appended in batches: an insert adds the row to this backend's
// buffer for the index, and a full buffer (about two pages of rows) goes to
// the hot tier as one WAL record, with one metapage update. Other sessions
// cannot see the rows before the transaction commits, so the buffer only has
// to be appended before that (the pre-commit callback), before this backend
// reads the hot tier (a scan or an admin function of the index), and before
// any utility statement (which might rebuild, move or drop the index). A
// transaction that aborts drops it.
#include "runtime/crash.h"
#include "index/attributes.h"
#include "index/index.h"
#include "type/vector.h"

extern "C" {
#include "access/relation.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
}

namespace kyrodb::pg {
namespace {

struct Pending {
    Oid relid;
    RelFileNode node;  // of the index the rows were inserted into
    uint32 stride;     // floats of an element row (the vector and its attributes)
    uint32 n;          // rows buffered
    uint32 capacity;   // hot_batch_rows(stride)
    uint64 last_used;
    uint64 *tids;
    float *rows;
};

// A few indexes at a time; inserting into another appends the least
// recently used one's rows first.
constexpr int kPendingSlots = 8;
Pending pending[kPendingSlots];
uint64 pending_uses = 0;
ProcessUtility_hook_type previous_utility_hook = nullptr;

// Whether this transaction gave up waiting for a flush (see wait_for_flush).
bool flush_wait_stalled = false;
constexpr long kFlushStallMs = 5000;

// The rows stay buffered until they are appended: if that fails inside a
// subtransaction, the transaction around it may still commit them. Returns
// the hot tier's rows after the append.
uint64 append(Relation index, Pending &p) {
    if (p.n == 0) return 0;
    crash_point("insert.append");
    uint64 hot_rows = hot_append(index, p.tids, p.rows, p.n);
    p.n = 0;
    if (hot_tier_full(hot_rows, index_cache(index).dim)) request_flush(index);
    return hot_rows;
}

// Whether the flush worker could be waiting for this transaction: it cannot
// see an index created (or given a new file) here, and it needs
// RowExclusiveLock on the index and the maintenance lock (which a scan here
// may hold for as long as its cursor is open).
bool flush_may_wait_for_us(Relation index) {
    if (index->rd_createSubid != InvalidSubTransactionId || index->rd_firstRelfilenodeSubid != InvalidSubTransactionId)
        return true;
    if (CheckRelationLockedByMe(index, ShareLock, true)) return true;
    LOCKTAG tag;
    SET_LOCKTAG_PAGE(tag, MyDatabaseId, RelationGetRelid(index), kMetaBlock);
    return LockHeldByMe(&tag, ShareLock) || LockHeldByMe(&tag, ExclusiveLock);
}

// Back-pressure: past kyrodb.hot_tier_limit, an insert waits until the
// background flush has brought the hot tier under it, so that inserts faster
// than graphs can be built do not leave every query scanning a backlog too
// large to keep in memory. It waits only while a flush runs and advances: a
// flush that cannot start, or makes no progress for kFlushStallMs (it waits
// for a lock, perhaps behind this transaction), ends the waits of this
// transaction, which then inserts as if there were no limit.
void wait_for_flush(Relation index, uint32 dim) {
    if (flush_wait_stalled || flush_may_wait_for_us(index)) return;
    uint64 last = UINT64_MAX;
    TimestampTz since = GetCurrentTimestamp();
    for (;;) {
        MetaPage meta;
        read_meta(index, &meta);
        if (!hot_tier_over_limit(meta.hot_end - meta.hot_start, dim)) return;
        if (!request_flush(index)) {
            flush_wait_stalled = true;
            return;
        }
        const uint64 progress = flush_progress(index);
        const TimestampTz now = GetCurrentTimestamp();
        if (progress != last) {
            last = progress;
            since = now;
        } else if (TimestampDifferenceExceeds(since, now, kFlushStallMs)) {
            flush_wait_stalled = true;
            return;
        }
        pgstat_report_wait_start(PG_WAIT_EXTENSION);
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10, PG_WAIT_EXTENSION);
        pgstat_report_wait_end();
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
}

void release(Pending &p) {
    if (p.tids != nullptr) pfree(p.tids);
    if (p.rows != nullptr) pfree(p.rows);
    p = Pending{};
}

// Appends a slot's rows to its index, if the index is still the one they
// were inserted into (a relation rebuilt in this transaction was built from
// the heap, which has them).
void append_slot(Pending &p) {
    if (p.n == 0) return;
    Relation index = try_relation_open(p.relid, RowExclusiveLock);
    if (index == nullptr) {
        p.n = 0;
        return;
    }
    if (RelFileNodeEquals(index->rd_node, p.node))
        append(index, p);
    else
        p.n = 0;
    relation_close(index, NoLock);
}

void append_all() {
    for (Pending &p : pending) append_slot(p);
}

void on_xact(XactEvent event, void *) {
    switch (event) {
    case XACT_EVENT_PRE_COMMIT:
    case XACT_EVENT_PRE_PREPARE:
        append_all();
        break;
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PREPARE:
        for (Pending &p : pending) p.n = 0;
        flush_wait_stalled = false;
        break;
    default:
        break;
    }
}

void before_utility(PlannedStmt *pstmt, const char *query, bool read_only, ProcessUtilityContext context,
                    ParamListInfo params, QueryEnvironment *env, DestReceiver *dest, QueryCompletion *qc) {
    if (IsTransactionState()) append_all();
    if (previous_utility_hook)
        previous_utility_hook(pstmt, query, read_only, context, params, env, dest, qc);
    else
        standard_ProcessUtility(pstmt, query, read_only, context, params, env, dest, qc);
}

Pending &slot_for(Relation index, uint32 stride) {
    const Oid relid = RelationGetRelid(index);
    Pending *found = nullptr, *oldest = &pending[0];
    for (Pending &p : pending) {
        if (p.relid == relid && p.tids != nullptr) found = &p;
        if (p.last_used < oldest->last_used) oldest = &p;
    }
    if (found != nullptr && (found->stride != stride || !RelFileNodeEquals(found->node, index->rd_node))) {
        append_slot(*found);
        release(*found);
        oldest = found;
        found = nullptr;
    }
    if (found == nullptr) {
        append_slot(*oldest);
        release(*oldest);
        found = oldest;
        found->relid = relid;
        found->node = index->rd_node;
        found->stride = stride;
        found->capacity = hot_batch_rows(stride);
        found->tids = static_cast<uint64 *>(MemoryContextAlloc(TopMemoryContext, sizeof(uint64) * found->capacity));
        found->rows =
            static_cast<float *>(MemoryContextAlloc(TopMemoryContext, sizeof(float) * stride * found->capacity));
    }
    found->last_used = ++pending_uses;
    return *found;
}

}  // namespace

void register_insert_callbacks() {
    RegisterXactCallback(on_xact, nullptr);
    previous_utility_hook = ProcessUtility_hook;
    ProcessUtility_hook = before_utility;
}

void append_pending(Relation index) {
    for (Pending &p : pending)
        if (p.relid == RelationGetRelid(index) && p.n > 0) append_slot(p);
}

bool insert(Relation index, Datum *values, bool *isnull, ItemPointer tid, Relation, IndexUniqueCheck, bool,
            IndexInfo *) {
    if (isnull[0]) return false;  // NULL vectors are not indexed
    const IndexCache &cache = index_cache(index);
    Vector *v = datum_get_vector(values[0]);
    check_expected_dim(cache.dim, v->dim);
    Pending &p = slot_for(index, cache.row_floats);
    if (p.n == p.capacity) append(index, p);  // a batch whose append failed in a subtransaction
    float *row = p.rows + size_t(p.n) * p.stride;
    memcpy(row, v->x, sizeof(float) * cache.dim);
    if (!kyrodb::prepare_vector(cache.metric, row, cache.dim)) return false;  // a zero vector under cosine
    store_attributes(cache, values, isnull, row);
    p.tids[p.n++] = encode_tid(tid);
    if (p.n == p.capacity && hot_tier_over_limit(append(index, p), cache.dim)) wait_for_flush(index, cache.dim);
    return false;
}

}  // namespace kyrodb::pg
