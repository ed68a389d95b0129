// The index access method handler, its options, and the guarded entry
// points Postgres calls.
#include "runtime/guard.h"
#include "index/attributes.h"
#include "index/index.h"

extern "C" {
#include "access/reloptions.h"
#include "access/xlog.h"
#include "commands/progress.h"
#include "commands/vacuum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
}

namespace kyrodb::pg {
namespace {

relopt_kind option_kind;

relopt_enum_elt_def quantization_values[] = {
    {"none", int(kyrodb::Quantization::None)},
    {"sq8", int(kyrodb::Quantization::SQ8)},
    {nullptr, 0},
};

}  // namespace

void register_reloptions() {
    option_kind = add_reloption_kind();
    add_int_reloption(option_kind, "m", "Max number of neighbours of an element per graph level", kDefaultM, 2, 100,
                      AccessExclusiveLock);
    add_int_reloption(option_kind, "ef_construction", "Size of the candidate list while building the graph",
                      kDefaultEfConstruction, 4, 1000, AccessExclusiveLock);
    add_enum_reloption(option_kind, "quantization",
                       "Compact copy of the vectors the graph walk reads (none, sq8: 8 bits per dimension); "
                       "results are re-ranked on the full vectors", quantization_values,
                       int(kyrodb::Quantization::None), "Valid values are \"none\" and \"sq8\".",
                       AccessExclusiveLock);
}

bytea *index_options(Datum reloptions, bool validate) {
    static const relopt_parse_elt table[] = {
        {"m", RELOPT_TYPE_INT, offsetof(IndexOptions, m)},
        {"ef_construction", RELOPT_TYPE_INT, offsetof(IndexOptions, ef_construction)},
        {"quantization", RELOPT_TYPE_ENUM, offsetof(IndexOptions, quantization)},
    };
    return static_cast<bytea *>(
        build_reloptions(reloptions, validate, option_kind, sizeof(IndexOptions), table, lengthof(table)));
}

IndexOptions index_options_of(Relation index) {
    IndexOptions opts{0, kDefaultM, kDefaultEfConstruction, int(kyrodb::Quantization::None)};
    if (index->rd_options != nullptr) opts = *reinterpret_cast<IndexOptions *>(index->rd_options);
    return opts;
}

const IndexCache &index_cache(Relation index) {
    if (index->rd_amcache == nullptr) {
        auto *cache = static_cast<IndexCache *>(MemoryContextAlloc(index->rd_indexcxt, sizeof(IndexCache)));
        cache->metric = index_metric(index);
        cache->dim = TupleDescAttr(index->rd_att, 0)->atttypmod;
        cache->attributes = uint32(IndexRelationGetNumberOfAttributes(index) - 1);  // INCLUDE ones too
        for (uint32 a = 0; a < cache->attributes && a < kyrodb::kMaxAttributes; a++)
            cache->attr_types[a] = getBaseType(TupleDescAttr(index->rd_att, a + 1)->atttypid);  // domains: their base
        cache->row_floats = uint32(kyrodb::row_floats(uint32(Max(cache->dim, 0)), cache->attributes));
        index->rd_amcache = cache;
    }
    return *static_cast<IndexCache *>(index->rd_amcache);
}

const char *phase_name(int64 phase) {
    switch (phase) {
        case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE: return "initializing";
        case kPhaseLoad: return "loading tuples";
        case kPhaseGraph: return "building graph";
        case kPhaseWrite: return "writing segment";
        default: return nullptr;
    }
}

}  // namespace kyrodb::pg

namespace {

using namespace kyrodb::pg;

IndexBuildResult *am_build(Relation heap, Relation index, IndexInfo *info) {
    return guarded([&] { return build(heap, index, info); });
}
void am_build_empty(Relation index) { guarded([&] { build_empty(index); }); }
bool am_insert(Relation index, Datum *values, bool *isnull, ItemPointer tid, Relation heap, IndexUniqueCheck check,
               bool unchanged, IndexInfo *info) {
    return guarded([&] { return insert(index, values, isnull, tid, heap, check, unchanged, info); });
}
IndexBulkDeleteResult *am_bulk_delete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
                                      IndexBulkDeleteCallback callback, void *state) {
    return guarded([&] { return bulk_delete(info, stats, callback, state); });
}
IndexBulkDeleteResult *am_vacuum_cleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats) {
    return guarded([&] { return vacuum_cleanup(info, stats); });
}
void am_cost_estimate(PlannerInfo *root, IndexPath *path, double loop_count, Cost *startup, Cost *total,
                      Selectivity *selectivity, double *correlation, double *pages) {
    guarded([&] { cost_estimate(root, path, loop_count, startup, total, selectivity, correlation, pages); });
}
bytea *am_options(Datum reloptions, bool validate) {
    return guarded([&] { return index_options(reloptions, validate); });
}
// What an index-only scan can have back: the vector as it was given (not
// under cosine, where rows are stored normalized) and filter columns stored
// as their values. Nothing during recovery: a standby cannot make replay
// wait for its index-only scans (see lock_index_only).
bool am_can_return(Relation index, int attno) {
    if (RecoveryInProgress()) return false;
    const IndexCache &cache = index_cache(index);
    if (attno == 1) return cache.metric != kyrodb::Metric::Cosine;
    return uint32(attno - 2) < cache.attributes && attr_returnable(cache.attr_types[attno - 2]);
}
char *am_phase_name(int64 phase) { return const_cast<char *>(phase_name(phase)); }
bool am_validate(Oid) { return true; }
IndexScanDesc am_begin_scan(Relation index, int nkeys, int norderbys) {
    return guarded([&] { return begin_scan(index, nkeys, norderbys); });
}
void am_rescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys) {
    guarded([&] { rescan(scan, keys, nkeys, orderbys, norderbys); });
}
bool am_get_tuple(IndexScanDesc scan, ScanDirection dir) { return guarded([&] { return get_tuple(scan, dir); }); }
void am_end_scan(IndexScanDesc scan) { guarded([&] { end_scan(scan); }); }

}  // namespace

KYRODB_FUNCTION(kyrodb_handler) {
    IndexAmRoutine *am = makeNode(IndexAmRoutine);
    am->amstrategies = 0;
    am->amsupport = 1;
    am->amoptsprocnum = 0;
    am->amcanorder = false;
    am->amcanorderbyop = true;
    am->amcanbackward = false;
    am->amcanunique = false;
    am->amcanmulticol = true;  // the vector, then filter columns
    am->amoptionalkey = true;
    am->amsearcharray = true;
    am->amsearchnulls = true;
    am->amstorage = false;
    am->amclusterable = false;
    am->ampredlocks = false;
    am->amcanparallel = false;
    am->amcaninclude = true;  // stored like filter columns, for index-only scans
    am->amusemaintenanceworkmem = false;
    am->amparallelvacuumoptions = VACUUM_OPTION_NO_PARALLEL;
    am->amkeytype = InvalidOid;

    am->ambuild = am_build;
    am->ambuildempty = am_build_empty;
    am->aminsert = am_insert;
    am->ambulkdelete = am_bulk_delete;
    am->amvacuumcleanup = am_vacuum_cleanup;
    am->amcanreturn = am_can_return;
    am->amcostestimate = am_cost_estimate;
    am->amoptions = am_options;
    am->amproperty = nullptr;
    am->ambuildphasename = am_phase_name;
    am->amvalidate = am_validate;
    am->amadjustmembers = nullptr;
    am->ambeginscan = am_begin_scan;
    am->amrescan = am_rescan;
    am->amgettuple = am_get_tuple;
    am->amgetbitmap = nullptr;
    am->amendscan = am_end_scan;
    am->ammarkpos = nullptr;
    am->amrestrpos = nullptr;
    am->amestimateparallelscan = nullptr;
    am->aminitparallelscan = nullptr;
    am->amparallelrescan = nullptr;
    PG_RETURN_POINTER(am);
}
