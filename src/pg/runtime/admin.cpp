// SQL-callable administration: kyrodb_flush, kyrodb_prewarm,
// kyrodb_index_stats and kyrodb_memory.
#include "runtime/cache.h"
#include "runtime/guard.h"
#include "index/index.h"

extern "C" {
#include "access/htup_details.h"
#include "access/xlog.h"
#include "catalog/index.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_am.h"
#include "commands/defrem.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace kyrodb::pg {

Relation open_kyrodb_index(Oid relid, LOCKMODE lockmode, Access access) {
    HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
    if (!HeapTupleIsValid(tup))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("relation with OID %u does not exist", relid)));
    auto *form = reinterpret_cast<Form_pg_class>(GETSTRUCT(tup));
    char relkind = form->relkind;
    bool kyrodb = form->relam == get_index_am_oid("kyrodb", false);
    NameData name = form->relname;
    ReleaseSysCache(tup);
    if (!kyrodb || (relkind != RELKIND_INDEX && relkind != RELKIND_PARTITIONED_INDEX))
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE), errmsg("\"%s\" is not a kyrodb index", NameStr(name))));
    if (relkind == RELKIND_PARTITIONED_INDEX)
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE), errmsg("\"%s\" is a partitioned index", NameStr(name)),
                        errdetail("A partitioned index has no storage of its own."),
                        errhint("Call the function on the index of each partition.")));
    Oid heap = IndexGetRelation(relid, false);
    bool allowed = access == Access::Owner ? pg_class_ownercheck(heap, GetUserId())
                                           : pg_class_aclcheck(heap, GetUserId(), ACL_SELECT) == ACLCHECK_OK;
    if (!allowed && access == Access::Stats) allowed = has_privs_of_role(GetUserId(), ROLE_PG_STAT_SCAN_TABLES);
    if (!allowed)
        aclcheck_error(access == Access::Owner ? ACLCHECK_NOT_OWNER : ACLCHECK_NO_PRIV, OBJECT_INDEX, NameStr(name));
    Relation index = index_open(relid, lockmode);
    append_pending(index);  // this backend's own inserts count
    return index;
}

}  // namespace kyrodb::pg

namespace {

using kyrodb::pg::Access;
using kyrodb::pg::open_kyrodb_index;

TupleDesc result_row_type(FunctionCallInfo fcinfo) {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("return type must be a row type")));
    return BlessTupleDesc(desc);
}

}  // namespace

// kyrodb_flush(index regclass) returns bigint: moves the hot tier of a kyrodb
// index into a new segment now; returns the rows moved.
KYRODB_FUNCTION(kyrodb_flush) {
    Oid relid = PG_GETARG_OID(0);
    if (RecoveryInProgress())
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE), errmsg("recovery is in progress"),
                        errhint("kyrodb_flush cannot be executed during recovery.")));
    Relation index = open_kyrodb_index(relid, RowExclusiveLock, Access::Owner);
    uint64 moved = kyrodb::pg::flush_hot_tier(index, true);
    index_close(index, RowExclusiveLock);
    PG_RETURN_INT64(static_cast<int64>(moved));
}

// kyrodb_prewarm(index regclass) returns integer: loads every segment image of
// the index (into the shared pool, or without one into this connection);
// returns the segments now in memory.
KYRODB_FUNCTION(kyrodb_prewarm) {
    Oid relid = PG_GETARG_OID(0);
    Relation index = open_kyrodb_index(relid, AccessShareLock, Access::Select);
    uint32 loaded = kyrodb::pg::prewarm_index(index);
    index_close(index, AccessShareLock);
    PG_RETURN_INT32(static_cast<int32>(loaded));
}

// kyrodb_index_stats(index regclass): the directory and memory of one index:
// segments, elements, tombstones, hot-tier rows, generation, pages (and how
// many are free for reuse), images in the shared pool, images in this
// connection, and their bytes.
KYRODB_FUNCTION(kyrodb_index_stats) {
    Oid relid = PG_GETARG_OID(0);
    TupleDesc desc = result_row_type(fcinfo);
    Relation index = open_kyrodb_index(relid, AccessShareLock, Access::Stats);
    kyrodb::pg::MetaPage meta;
    kyrodb::pg::read_meta(index, &meta);
    int64 elements = 0, tombstones = 0;
    for (uint32 s = 0; s < meta.n_segments; s++) {
        elements += meta.segments[s].count;
        tombstones += meta.segments[s].tombstones;
    }
    kyrodb::PoolKey build = kyrodb::pg::image_key(index, meta, 0);
    kyrodb::pg::PoolUsage shared = kyrodb::pg::pool_usage(&build);
    uint32 local_images = 0;
    uint64 local_bytes = 0;
    kyrodb::pg::local_image_usage(build, &local_images, &local_bytes);
    Datum values[] = {Int32GetDatum(static_cast<int32>(meta.n_segments)),
                      Int64GetDatum(elements),
                      Int64GetDatum(tombstones),
                      Int64GetDatum(static_cast<int64>(meta.hot_end - meta.hot_start)),
                      Int64GetDatum(static_cast<int64>(meta.generation)),
                      Int64GetDatum(static_cast<int64>(RelationGetNumberOfBlocks(index))),
                      Int64GetDatum(static_cast<int64>(kyrodb::pg::free_page_count(meta))),
                      Int32GetDatum(static_cast<int32>(shared.images)),
                      Int32GetDatum(static_cast<int32>(local_images)),
                      Int64GetDatum(static_cast<int64>(shared.used_bytes + local_bytes))};
    bool nulls[lengthof(values)] = {};
    index_close(index, AccessShareLock);
    PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

// kyrodb_memory(): the shared pool of segment images: its state, size, use,
// and what it has loaded and evicted since the server started; then the
// result cache's state, size, use and entries.
KYRODB_FUNCTION(kyrodb_memory) {
    TupleDesc desc = result_row_type(fcinfo);
    const char *state = "active";
    switch (kyrodb::pg::pool_state()) {
        case kyrodb::pg::PoolState::NotPreloaded: state = "not preloaded"; break;
        case kyrodb::pg::PoolState::Disabled: state = "disabled"; break;
        case kyrodb::pg::PoolState::Active: break;
    }
    kyrodb::pg::PoolUsage u = kyrodb::pg::pool_usage(nullptr);
    const kyrodb::pg::CacheUsage c = kyrodb::pg::cache_usage();
    Datum values[] = {CStringGetTextDatum(state),
                      Int64GetDatum(static_cast<int64>(u.arena_bytes)),
                      Int64GetDatum(static_cast<int64>(u.used_bytes)),
                      Int32GetDatum(static_cast<int32>(u.images)),
                      Int32GetDatum(static_cast<int32>(u.pinned)),
                      Int64GetDatum(static_cast<int64>(u.counters.loads)),
                      Int64GetDatum(static_cast<int64>(u.counters.load_bytes)),
                      Float8GetDatum(double(u.counters.load_nanos) / 1e9),
                      Int64GetDatum(static_cast<int64>(u.counters.evictions)),
                      Int64GetDatum(static_cast<int64>(u.counters.refused)),
                      CStringGetTextDatum(c.state),
                      Int64GetDatum(static_cast<int64>(c.capacity_bytes)),
                      Int64GetDatum(static_cast<int64>(c.used_bytes)),
                      Int64GetDatum(static_cast<int64>(c.entries))};
    bool nulls[lengthof(values)] = {};
    PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
