// CREATE INDEX: read the heap, build HNSW segments with every core, write them
// as pages. Vectors are gathered in batches of an even share of the rows, each
// within what maintenance_work_mem allows for a build; each batch becomes one
// segment, so any table can be indexed.
#include "runtime/crash.h"
#include "runtime/guard.h"
#include "index/attributes.h"
#include "index/index.h"
#include "type/vector.h"

#include <algorithm>
#include <functional>
#include <thread>

#include "kyrodb/hnsw.h"

extern "C" {
#include "access/generic_xlog.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"
}

namespace kyrodb::pg {

namespace {
// Of a segment's element in the graph and the image being built.
size_t element_bytes(const MetaPage &meta, bool vectors_by_reference) {
    return kyrodb::build_bytes_per_element(meta.dim, meta.m, static_cast<kyrodb::Quantization>(meta.quantization),
                                           meta.attributes, vectors_by_reference);
}
// Of a row copied in for the build (element row and TID).
size_t input_row_bytes(const MetaPage &meta) { return sizeof(float) * row_floats(meta) + sizeof(uint64); }

// Whether a segment of `base_elements` read from an image and `added` rows copied in can be built
// within budget_kb, its graph holding the vectors by value or by reference.
bool build_fits(const MetaPage &meta, size_t base_elements, size_t added, size_t budget_kb,
                bool vectors_by_reference) {
    if (base_elements + added >= UINT32_MAX) return false;
    return (base_elements + added) * element_bytes(meta, vectors_by_reference) + added * input_row_bytes(meta) <=
           budget_kb * 1024;
}
// The budget (MB) in which `rows` rows are built as one segment (segment_capacity).
size_t segment_budget_mb(const MetaPage &meta, size_t rows) {
    return (rows * (element_bytes(meta, true) + input_row_bytes(meta)) + (4 << 20) + (1 << 20) - 1) >> 20;
}
}  // namespace

SegmentEntry write_segment(Relation index, const MetaPage &meta, const float *rows, const uint64 *tids, size_t n,
                           const std::function<void(size_t)> &progress, bool background, size_t budget_kb,
                           const ExtendedSegment *base, StagedImage *staged) {
    kyrodb::BuildParams params;
    params.metric = static_cast<kyrodb::Metric>(meta.metric);
    params.dim = meta.dim;
    params.m = meta.m;
    params.ef_construction = meta.ef_construction;
    params.quantization = static_cast<kyrodb::Quantization>(meta.quantization);
    params.attributes = meta.attributes;
    params.threads = std::max(1u, std::thread::hardware_concurrency());
    params.seed = meta.next_segment_id;
    params.vectors_by_reference = !build_fits(meta, base != nullptr ? base->view.count() : 0, n, budget_kb, false);
    // A flush or merge shares the CPUs with queries: they come first.
    params.nice = background ? 10 : 0;
    params.graph_order = true;

    // Workers never call Postgres; this thread polls for cancel while they run.
    auto poll = [&](size_t done) {
        pg_call([&] {
            CHECK_FOR_INTERRUPTS();
            if (background) note_flush_progress(done);
        });
        progress(done);
    };
    std::vector<uint8_t> image = base != nullptr ? kyrodb::extend_segment(params, base->view, rows, tids, n, poll)
                                                 : kyrodb::build_segment(params, rows, tids, n, poll);

    if (base != nullptr) n += base->view.count();
    SegmentEntry entry{};
    entry.count = static_cast<uint32>(n);
    entry.image_size = image.size();
    std::vector<uint8_t> tombs;  // the bitmap's bytes; empty: all zero
    if (base != nullptr && base->deleted != nullptr) {
        tombs.assign((n + 7) / 8, 0);
        memcpy(tombs.data(), base->deleted, (base->view.count() + 7) / 8);  // little-endian words: same bytes
        entry.tombstones = base->tombstones;
    }
    pg_call([&] {
        pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, kPhaseWrite);
        entry.first_block = write_stream(index, kPageSegment, image.data(), image.size(), &entry.image_blocks);
        entry.tomb_first_block = write_stream(index, kPageTombstone, tombs.empty() ? nullptr : tombs.data(),
                                              (n + 7) / 8, &entry.tomb_blocks);
    });
    if (staged != nullptr) {
        stage_image(image, staged);
        pg_call([] { crash_point("segment.staged"); });
    }
    return entry;
}

size_t segment_capacity(const MetaPage &meta, size_t budget_kb, bool vectors_by_reference) {
    size_t budget = budget_kb * 1024;
    return std::max(size_t(1), std::min(budget / (element_bytes(meta, vectors_by_reference) + input_row_bytes(meta)),
                                        size_t(UINT32_MAX)));
}

bool extension_fits(const MetaPage &meta, size_t base_elements, size_t added, size_t budget_kb) {
    return build_fits(meta, base_elements, added, budget_kb, true);
}

void publish(Relation index, const SegmentEntry *entry, const HotAdvance *advance,
             const std::vector<uint64> &replaced, StagedImage *staged) {
    pg_call([&] {
        Buffer metabuf = lock_meta(index, BUFFER_LOCK_EXCLUSIVE);
        kyrodb::PoolKey staged_key{};
        GenericXLogState *state = GenericXLogStart(index);
        MetaPage *meta = meta_of(GenericXLogRegisterBuffer(state, metabuf, 0));
        uint32 kept = 0;
        SegmentEntry removed[kMaxSegments];
        uint32 n_removed = 0;
        for (uint32 i = 0; i < meta->n_segments; i++) {
            bool gone = false;
            for (uint64 id : replaced) gone |= meta->segments[i].id == id;
            if (gone)
                removed[n_removed++] = meta->segments[i];
            else
                meta->segments[kept++] = meta->segments[i];
        }
        meta->n_segments = kept;
        for (uint32 r = 0; r < n_removed; r++) {
            free_add(meta, removed[r].first_block, removed[r].image_blocks);
            free_add(meta, removed[r].tomb_first_block, removed[r].tomb_blocks);
        }
        for (Extent &claim : meta->claims) claim = Extent{0, 0};  // now the new segment's pages
        if (entry != nullptr) {
            if (meta->n_segments >= kMaxSegments) {  // callers check for room before they build
                GenericXLogAbort(state);
                UnlockReleaseBuffer(metabuf);
                elog(ERROR, "index \"%s\" has no room for another segment", RelationGetRelationName(index));
            }
            SegmentEntry &slot = meta->segments[meta->n_segments++];
            slot = *entry;
            slot.id = meta->next_segment_id++;
            staged_key = image_key(index, *meta, slot.id);
        }
        if (advance != nullptr) {
            for (BlockNumber blk : advance->freed) free_add(meta, blk, 1);
            meta->hot_start = advance->hot_start;
            meta->hot_head = advance->hot_head;
            meta->hot_head_pos = advance->hot_head_pos;
        }
        meta->generation++;
        GenericXLogFinish(state);
        // Before any scan can read the new directory.
        if (entry != nullptr && staged != nullptr && staged->slot >= 0)
            staged->renamed = pool_rename(staged->slot, staged->incarnation, staged_key);
        UnlockReleaseBuffer(metabuf);
    });
}

namespace {

struct BuildState {
    Relation index;
    MetaPage meta;       // parameters of the build (dim, metric, m, ...)
    IndexCache cache;    // a copy: the relcache entry's may be rebuilt meanwhile
    uint32 stride;       // row_floats(meta)
    float *rows;         // allocated * stride: element rows
    uint64 *tids;
    size_t allocated;    // grows by doubling up to capacity
    size_t capacity;     // rows per segment that maintenance_work_mem allows
    size_t n;            // gathered, not yet written
    double indexed;
    BlockNumber heap_blocks;  // the heap's size when the build began
    BlockNumber first_block;  // where the scan began (a synchronized scan begins anywhere)
    BlockNumber block;        // the block being read
    double indexed_before;    // rows indexed from the blocks before it
    double done;         // rows in written segments, for progress
    double total;        // rows expected, for progress
};

void flush_batch(BuildState &st) {
    if (st.n == 0) return;
    // Room for the segment in the directory before it is built: merge (within
    // kyrodb.merge_work_mem) when the directory is nearly full.
    MetaPage now;
    pg_call([&] { read_meta(st.index, &now); });
    if (now.n_segments + 8 > uint32(kMaxSegments)) {
        merge_segments(st.index);
        pg_call([&] { read_meta(st.index, &now); });
    }
    if (now.n_segments >= uint32(kMaxSegments))
        pg_call([&] {
            ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                            errmsg("index \"%s\" would need more than %d segments", RelationGetRelationName(st.index),
                                   kMaxSegments),
                            errhint("Raise maintenance_work_mem or kyrodb.merge_work_mem so that segments hold more "
                                    "rows.")));
        });
    pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, kPhaseGraph);
    // Without statistics the heap's size is unknown until it has been read.
    st.total = std::max(st.total, st.done + st.n);
    pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, int64(st.total));
    double base = st.done;
    SegmentEntry entry = write_segment(st.index, st.meta, st.rows, st.tids, st.n, [&](size_t done) {
        pg_call([&] { pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, int64(base + done)); });
    }, false, size_t(maintenance_work_mem));
    publish(st.index, &entry, nullptr, {});
    pg_call([] { crash_point("build.published"); });
    pg_call([&] { read_meta(st.index, &st.meta); });
    st.done += st.n;
    st.n = 0;
    pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, kPhaseLoad);
}

// Whether the rows gathered make a segment: segments of about equal size, the
// rows still to come estimated from the blocks read so far.
bool batch_complete(BuildState &st, BlockNumber block) {
    if (st.first_block == InvalidBlockNumber) st.first_block = block;
    if (block != st.block) {
        st.block = block;
        st.indexed_before = st.indexed - 1;
    }
    st.heap_blocks = Max(st.heap_blocks, block + 1);
    const BlockNumber read = (block + st.heap_blocks - st.first_block) % st.heap_blocks;  // before this one
    const double ahead =
        read == 0 ? -1 : st.indexed_before / read * (st.heap_blocks - read) - (st.indexed - st.indexed_before);
    return kyrodb::segment_complete(st.n, ahead, st.capacity);
}

// Called by the heap scan for each row; plain C except for the guarded flush.
void build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull, bool, void *arg) {
    auto &st = *static_cast<BuildState *>(arg);
    if (isnull[0]) return;
    if (st.n == st.allocated) {
        st.allocated = Min(st.allocated * 2, st.capacity);
        st.rows = static_cast<float *>(repalloc_huge(st.rows, sizeof(float) * st.stride * st.allocated));
        st.tids = static_cast<uint64 *>(repalloc_huge(st.tids, sizeof(uint64) * st.allocated));
    }
    Vector *v = datum_get_vector(values[0]);
    check_expected_dim(static_cast<int32>(st.meta.dim), v->dim);
    float *dst = st.rows + st.n * st.stride;
    memcpy(dst, v->x, sizeof(float) * st.meta.dim);
    if (!kyrodb::prepare_vector(static_cast<kyrodb::Metric>(st.meta.metric), dst, st.meta.dim))
        return;  // a zero vector has no cosine distance: not indexed
    store_attributes(st.cache, values, isnull, dst);
    st.tids[st.n++] = encode_tid(tid);
    st.indexed++;
    if (batch_complete(st, ItemPointerGetBlockNumber(tid))) guarded([&] { flush_batch(st); });
}

// Queries search every segment: say when maintenance_work_mem made more than
// one, and what would make one.
void report_segments(Relation index, const BuildState &st) {
    MetaPage meta;
    read_meta(index, &meta);
    if (meta.n_segments <= 1) return;
    const uint64 needed_mb = segment_budget_mb(meta, size_t(st.indexed));
    ereport(NOTICE, (errmsg("index \"%s\" was built as %u segments", RelationGetRelationName(index),
                            meta.n_segments),
                     errdetail("maintenance_work_mem (%dkB) holds the graph of %zu rows at a time.",
                               maintenance_work_mem, st.capacity),
                     errhint("With maintenance_work_mem = '%lluMB' it would be one segment, which queries search "
                             "faster; kyrodb_flush merges segments within kyrodb.merge_work_mem.",
                             (unsigned long long) needed_mb)));
}

}  // namespace

IndexBuildResult *build(Relation heap, Relation index, IndexInfo *info) {
    IndexOptions opts = index_options_of(index);
    if (opts.ef_construction < 2 * opts.m)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("ef_construction must be greater than or equal to 2 * m"),
                        errdetail("ef_construction is %d and m is %d.", opts.ef_construction, opts.m)));
    const uint32 attributes = check_index_columns(index);
    int32 dim = TupleDescAttr(index->rd_att, 0)->atttypmod;
    if (dim < 1)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("column does not have dimensions"),
                        errhint("Declare the column with its dimensions, e.g. vector(384).")));
    kyrodb::Metric metric = index_metric(index);

    init_index_pages(index, MAIN_FORKNUM, dim, metric, opts.m, opts.ef_construction, opts.quantization, attributes);

    MemoryContext build_context =
        AllocSetContextCreate(CurrentMemoryContext, "kyrodb build", ALLOCSET_DEFAULT_SIZES);
    MemoryContext old = MemoryContextSwitchTo(build_context);

    auto *st = static_cast<BuildState *>(palloc0(sizeof(BuildState)));
    st->index = index;
    read_meta(index, &st->meta);
    st->cache = index_cache(index);
    st->stride = row_floats(st->meta);
    // The segments a build writes are what queries search until merges fold them: as few as the
    // budget allows with the graph pointing at the rows, of equal size (batch_complete).
    st->capacity = segment_capacity(st->meta, size_t(maintenance_work_mem), true);
    st->allocated = Min(st->capacity, size_t(1024));
    st->heap_blocks = RelationGetNumberOfBlocks(heap);
    st->first_block = InvalidBlockNumber;
    st->block = InvalidBlockNumber;
    st->rows = static_cast<float *>(MemoryContextAllocHuge(build_context, sizeof(float) * st->stride * st->allocated));
    st->tids = static_cast<uint64 *>(MemoryContextAllocHuge(build_context, sizeof(uint64) * st->allocated));

    pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, kPhaseLoad);
    st->total = Max(heap->rd_rel->reltuples, 0);
    pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, int64(st->total));
    double heap_tuples = table_index_build_scan(heap, index, info, true, true, build_callback, st, nullptr);
    guarded([&] { flush_batch(*st); });
    report_segments(index, *st);

    auto *result = static_cast<IndexBuildResult *>(MemoryContextAlloc(old, sizeof(IndexBuildResult)));
    result->heap_tuples = heap_tuples;
    result->index_tuples = st->indexed;
    MemoryContextSwitchTo(old);
    MemoryContextDelete(build_context);
    return result;
}

void build_empty(Relation index) {
    IndexOptions opts = index_options_of(index);
    const uint32 attributes = check_index_columns(index);
    int32 dim = TupleDescAttr(index->rd_att, 0)->atttypmod;
    init_index_pages(index, INIT_FORKNUM, Max(dim, 1), index_metric(index), opts.m, opts.ef_construction,
                     opts.quantization, attributes);
}

}  // namespace kyrodb::pg
