// Module entry: the magic block, _PG_init, and the self-test of the error boundary.
#include "runtime/cache.h"
#include "runtime/companion.h"
#include "runtime/crash.h"
#include "runtime/guard.h"
#include "index/index.h"

#include "kyrodb/distance.h"

#include <new>
#include <stdexcept>

extern "C" {
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
}

extern "C" {
PG_MODULE_MAGIC;
PGDLLEXPORT void _PG_init(void);
}

namespace kyrodb::pg {
int ef_search = 40;
int max_scan_tuples = 20000;
int flush_threshold = 10000;
int flush_threshold_size_kb = 2048;
int hot_tier_limit_kb = 131072;
int max_local_memory_mb = 256;
bool exact_search = false;
bool quantized_search = true;
bool prewarm = true;
int prewarm_workers = 2;
}  // namespace kyrodb::pg

void _PG_init(void) {
    using namespace kyrodb::pg;
    register_reloptions();
    DefineCustomIntVariable("kyrodb.ef_search", "Width of the HNSW search beam in kyrodb index scans.",
                            "Larger finds more of the true nearest neighbours and takes longer; keep it at "
                            "least the LIMIT of the query.",
                            &ef_search, 40, 1, 1000, PGC_USERSET, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("kyrodb.max_scan_tuples",
                            "Rows a kyrodb index scan returns from graph searches before it goes on as an exact scan.",
                            "A scan never stops early: past this many rows (a query without LIMIT, or whose "
                            "filters reject many rows) it compares the query with every row left.",
                            &max_scan_tuples, 20000, 1, INT_MAX,
                            PGC_USERSET, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("kyrodb.flush_threshold",
                            "Hot-tier rows at which an insert starts a background flush into a new segment (and VACUUM flushes).",
                            "Every query scans the hot tier exactly, so a smaller one answers faster.",
                            &flush_threshold, 10000, 1, INT_MAX, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("kyrodb.flush_threshold_size",
                            "Size of the hot tier's vectors at which an insert starts a background flush (and VACUUM "
                            "flushes), whatever kyrodb.flush_threshold says.",
                            "Every query reads their codes, a quarter of their size: the default keeps those "
                            "within a core's L2 cache beside the query's own work.",
                            &flush_threshold_size_kb, 2048, 64, INT_MAX / 2, PGC_SUSET, GUC_UNIT_KB, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("kyrodb.hot_tier_limit",
                            "Size of the hot tier's vectors past which an insert waits for the background flush.",
                            "Rows come in faster than a flush builds them into a segment only for a while: past "
                            "this, every query would scan a hot tier too large to keep in memory. 0 never waits.",
                            &hot_tier_limit_kb, 131072, 0, INT_MAX / 2, PGC_SUSET, GUC_UNIT_KB, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("kyrodb.max_local_memory",
                            "Memory one connection may use for its own copies of kyrodb segment images.",
                            "Used for segments the shared pool cannot hold (or without preload), and as much "
                            "again for copies of hot tiers. A segment beyond it is searched through shared "
                            "buffers, and a hot tier read from pages: bounded in memory and slower.",
                            &max_local_memory_mb, 256, 0, INT_MAX / 2, PGC_USERSET, GUC_UNIT_MB, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("kyrodb.merge_work_mem",
                            "Memory a merge of kyrodb segments may use to build the merged segment.",
                            "Merges keep the number of segments (and so the cost of a query) low; a segment "
                            "grows to at most what this allows. Flushes and CREATE INDEX use maintenance_work_mem.",
                            &merge_work_mem_mb, 2048, 1, INT_MAX / 2, PGC_SUSET, GUC_UNIT_MB, nullptr, nullptr,
                            nullptr);
    DefineCustomBoolVariable("kyrodb.exact_search",
                             "Makes kyrodb index scans compare the query with every indexed vector.",
                             "Exact answers from the index's own vectors, at the cost of a full scan; "
                             "for checking recall and index contents.",
                             &exact_search, false, PGC_USERSET, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable("kyrodb.quantized_search",
                             "Lets kyrodb index scans walk the graph on the 8-bit codes of segments built with "
                             "quantization = 'sq8'.",
                             "Off walks those segments on their full vectors, as without the option (and bypasses "
                             "the result cache): for comparing the two on one index without rebuilding it.",
                             &quantized_search, true, PGC_USERSET, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable("kyrodb.cache", "Lets kyrodb index scans use the result cache.",
                             "Off bypasses it: every query searches the index (the answers are the same).",
                             &cache_on, true, PGC_USERSET, 0, nullptr, nullptr, nullptr);
    // Settings that only mean something when kyrodb is preloaded; defining a
    // PGC_POSTMASTER setting later (a backend loading kyrodb on first use) is
    // a FATAL error. Without preload, the reserved prefix makes Postgres warn
    // about them if postgresql.conf sets them.
    if (process_shared_preload_libraries_in_progress) {
        DefineCustomIntVariable("kyrodb.shared_memory_size",
                                "Shared memory for segment images searched by every connection.",
                                "0 keeps images per connection. An index needs about its size (kyrodb_index_stats) "
                                "to be searched from shared memory.",
                                &shared_memory_mb, 1024, 0, INT_MAX / 2, PGC_POSTMASTER, GUC_UNIT_MB, nullptr,
                                nullptr, nullptr);
        DefineCustomIntVariable("kyrodb.cache_size", "Shared memory for the kyrodb result cache.",
                                "0 turns the cache off. An entry takes about the query's size plus 8 bytes per "
                                "cached result.",
                                &cache_size_kb, 64 * 1024, 0, INT_MAX / 2, PGC_POSTMASTER, GUC_UNIT_KB, nullptr,
                                nullptr, nullptr);
        DefineCustomBoolVariable("kyrodb.prewarm",
                                 "Loads the segment images of every kyrodb index into shared memory after start.",
                                 "So that the first queries after a restart or crash run at full speed.", &prewarm,
                                 true, PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
        DefineCustomIntVariable("kyrodb.prewarm_workers",
                                "Background workers that load a database's segment images together after start.",
                                "Images are copied into fresh shared memory; on virtual machines that first write "
                                "of each page is slow and spreads over several processors.",
                                &prewarm_workers, 2, 1, 64, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    }
    define_crash_settings();
    MarkGUCPrefixReserved("kyrodb");
    register_insert_callbacks();
    companion_register();
    if (process_shared_preload_libraries_in_progress) {
        pool_register();
        cache_register();
        register_workers();
    }
}

namespace {

// Counts its own constructions and destructions: a destructor skipped by a
// longjmp shows up as a difference.
long live_probes = 0;

struct Probe {
    Probe() { ++live_probes; }
    ~Probe() { --live_probes; }
    Probe(const Probe &) = delete;
    Probe &operator=(const Probe &) = delete;
};

}  // namespace

// kyrodb_debug_guard(mode): raises an error from inside C++ frames that hold a
// live object with a destructor, so that tests can check the backend survives
// and that the destructor ran. Modes: 'cxx' (std::runtime_error), 'oom'
// (std::bad_alloc), 'pg' (a Postgres ereport inside pg_call), and 'count',
// which returns the number of probes still alive (0 when every destructor ran).
KYRODB_FUNCTION(kyrodb_debug_guard) {
    const char *mode = text_to_cstring(PG_GETARG_TEXT_PP(0));
    if (strcmp(mode, "count") == 0) PG_RETURN_INT64(live_probes);
    if (strcmp(mode, "cxx") != 0 && strcmp(mode, "oom") != 0 && strcmp(mode, "pg") != 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("unknown mode \"%s\"", mode),
                        errhint("Use one of cxx, oom, pg, count.")));

    Probe probe;
    if (strcmp(mode, "cxx") == 0) throw std::runtime_error("C++ exception raised on purpose");
    if (strcmp(mode, "oom") == 0) throw std::bad_alloc();
    Probe inner;
    kyrodb::pg::pg_call([] { DirectFunctionCall1(int4in, CStringGetDatum("not a number")); });
    PG_RETURN_INT64(live_probes);  // not reached: int4in raised
}

// kyrodb_simd(): the instruction set the distance kernels run with here.
KYRODB_FUNCTION(kyrodb_simd) { PG_RETURN_TEXT_P(cstring_to_text(kyrodb::kernels().name)); }
