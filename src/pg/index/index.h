// Shared by the index access method's files: options, GUCs, the segment
// image cache and maintenance entry points.
#pragma once

#include "pg.h"

extern "C" {
#include "access/amapi.h"
#include "utils/rel.h"
}

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <vector>

#include "kyrodb/hnsw.h"
#include "kyrodb/image_pool.h"
#include "kyrodb/segment.h"
#include "storage/pages.h"

namespace kyrodb::pg {

// GUCs (kyrodb.*), defined in kyrodb.cpp.
extern int ef_search;
extern int max_scan_tuples;
extern int flush_threshold;
extern bool exact_search;
extern bool quantized_search;
extern int shared_memory_mb;  // kyrodb.shared_memory_size
extern bool prewarm;
extern int prewarm_workers;  // kyrodb.prewarm_workers
extern int merge_work_mem_mb;   // kyrodb.merge_work_mem
extern int flush_threshold_size_kb;  // kyrodb.flush_threshold_size
// Whether a hot tier of `rows` rows of `dim` dimensions is due for a flush
// (kyrodb.flush_threshold rows, or kyrodb.flush_threshold_size of vectors).
inline bool hot_tier_full(uint64 rows, uint32 dim) {
    return rows >= uint64(flush_threshold) || rows * dim * sizeof(float) >= (uint64(flush_threshold_size_kb) << 10);
}
extern int hot_tier_limit_kb;  // kyrodb.hot_tier_limit
// Whether inserts into a hot tier of `rows` rows of `dim` dimensions wait for
// the background flush: past kyrodb.hot_tier_limit, and due for a flush.
inline bool hot_tier_over_limit(uint64 rows, uint32 dim) {
    return hot_tier_limit_kb > 0 && hot_tier_full(rows, dim) &&
           rows * dim * sizeof(float) >= (uint64(hot_tier_limit_kb) << 10);
}
extern int max_local_memory_mb;  // kyrodb.max_local_memory

// WITH (m = 16, ef_construction = 64, quantization = 'none')
struct IndexOptions {
    int32 vl_len_;
    int m;
    int ef_construction;
    int quantization;  // kyrodb::Quantization
};
constexpr int kDefaultM = 16;
constexpr int kDefaultEfConstruction = 64;
void register_reloptions();
bytea *index_options(Datum reloptions, bool validate);
IndexOptions index_options_of(Relation index);

// Per-relcache-entry facts an insert needs (kept in rd_amcache).
struct IndexCache {
    kyrodb::Metric metric;
    int32 dim;
    uint32 attributes;  // filter columns after the vector, then INCLUDE columns
    uint32 row_floats;  // kyrodb::row_floats(dim, attributes)
    Oid attr_types[kyrodb::kMaxAttributes];
};
const IndexCache &index_cache(Relation index);

// The shared pool of segment images (pool.cpp). Set up by pool_register()
// when kyrodb is preloaded.
void pool_register();
enum class PoolState { NotPreloaded, Disabled, Active };
PoolState pool_state();
enum class PoolOutcome { Pinned, Off, TooBig, Full };
struct PoolPin {
    PoolOutcome outcome = PoolOutcome::Off;
    int slot = -1;
    uint64 incarnation = 0;  // of the image in the slot, for pool_unpin
    uint8 *bytes = nullptr;
};
// Pins the image `key` in the pool, first loading it with load(destination)
// (which must fill `size` bytes and may throw: the slot is then given back).
// Waits while another backend loads the same image. `hint`: the slot the
// image was in last time (-1 if unknown). Without `may_evict` it loads only
// into free space (outcome Full otherwise).
PoolPin pool_pin(const kyrodb::PoolKey &key, uint64 size, const std::function<void(uint8 *)> &load, int hint,
                 bool may_evict = true);
void pool_unpin(int slot, uint64 incarnation);
// pool_pin for an image under a temporary key, loaded only into free space,
// which the pool frees if this backend exits before pool_rename publishes it.
PoolPin pool_stage(const kyrodb::PoolKey &key, uint64 size, const std::function<void(uint8 *)> &load);
// Gives a Ready image this backend pinned the key `to`, unless an image has it
// already. The pool's lock is a leaf: safe under a buffer lock.
bool pool_rename(int slot, uint64 incarnation, const kyrodb::PoolKey &to);
// Frees a pinned image once its last pin goes.
void pool_discard(int slot, uint64 incarnation);
// Drops the images of `owner`'s build whose segment is older than
// `next_segment_id` and not in `keep`: merged away for good (those pinned by
// a scan go when their last pin does). Newer segments are left alone, so a
// stale directory never drops them.
void pool_forget(const kyrodb::PoolKey &owner, const std::vector<uint64> &keep, uint64 next_segment_id);
struct PoolUsage {
    size_t arena_bytes = 0, used_bytes = 0;
    uint32 images = 0, pinned = 0;
    kyrodb::PoolCounters counters;
};
// The pool as a whole (owner null) or the images of one index build.
PoolUsage pool_usage(const kyrodb::PoolKey *owner);

// Names an index's images in caches: database and relation file (a rebuilt or
// truncated index has a new one) and the build's random instance id.
kyrodb::PoolKey image_key(Relation index, const MetaPage &meta, uint64 segment);

struct PagedImage;
// A segment image a scan can search: in the shared pool (pinned while the
// reference lives), in this backend's memory, or, for a scan when neither
// can hold it, read from the index's pages on demand (`paged`). `deleted` is
// current as of the directory entry it was asked for.
struct ImageRef {
    kyrodb::SegmentView view;                              // unless paged
    std::shared_ptr<PagedImage> paged;
    std::shared_ptr<const std::vector<uint64_t>> deleted;  // null: none deleted
    std::shared_ptr<void> keep;                            // keeps the bytes alive
    bool shared = false;
};
// Raised when a segment left the directory while its pages were being read:
// they may have been reused, so what was read is thrown away and the caller
// starts again from a fresh metapage.
struct StaleSegment : std::runtime_error {
    StaleSegment() : std::runtime_error("kyrodb segment was merged away while being read") {}
};
// `may_page`: a scan, which may read the segment's pages instead of a copy
// (it must then hold the maintenance lock, so that the pages are not reused
// under it); flush, merge and VACUUM get a copy (not kept beyond
// kyrodb.max_local_memory).
ImageRef segment_image(Relation index, const MetaPage &meta, const SegmentEntry &entry, bool may_page = false);
// Searches over an image however it is held (radius, beam and the result:
// Searcher::search), returning only elements that match `filter` (nullable).
float search_image(kyrodb::Searcher &searcher, const ImageRef &image, const float *query, size_t ef,
                   const kyrodb::Filter *filter, std::vector<kyrodb::Neighbor> *out,
                   float radius = kyrodb::Searcher::kUnbounded, size_t beam = 0);
// Every live element that matches `filter`, in no particular order.
void exact_image(kyrodb::Searcher &searcher, const ImageRef &image, const float *query,
                 const kyrodb::Filter *filter, std::vector<kyrodb::Neighbor> *out);
// At most how many elements match `filter` (from the postings; a paged image: all).
size_t image_matching_estimate(kyrodb::Searcher &searcher, const ImageRef &image, const kyrodb::Filter &filter);
uint64 image_payload(const ImageRef &image, uint32 id);
// Element id's vector and (images with attributes) attribute row; a paged
// image's pointers hold until its next read.
const float *image_vector(const ImageRef &image, uint32 id);
const uint64 *image_attr_row(const ImageRef &image, uint32 id);
// A paged image read something that contradicts its header.
bool image_read_garbage(const ImageRef &image);
// Images of one index build (image_key's segment ignored) in this backend's
// own memory: count and bytes.
void local_image_usage(const kyrodb::PoolKey &build, uint32 *images, uint64 *bytes);

// Background workers (worker.cpp), registered when kyrodb is preloaded.
void register_workers();
// Starts a background flush of the index unless one runs already; false if
// none runs (not preloaded, a standby, or no worker could start).
bool request_flush(Relation index);
// The work a running flush of the index has done so far, in rows built (or
// UINT64_MAX if none runs): a backend waiting for it tells progress from a
// stall.
uint64 flush_progress(Relation index);
// Called by a flush worker as its builds go on.
void note_flush_progress(size_t rows);
// Inserts are buffered per backend (insert.cpp): append_pending appends this
// backend's rows of `index` to its hot tier now (before reading the hot tier).
void append_pending(Relation index);
void register_insert_callbacks();

// Loads every segment image of the index into the shared pool (or, without
// one, into this backend); returns the segments now in memory. Worker `part`
// of `parts` loading the same index starts at its own share of the segments
// and goes round: the pool makes a worker that reaches an image another one
// is loading wait for it, so together they load each image once.
uint32 prewarm_index(Relation index, uint32 part = 0, uint32 parts = 1);

// Subphases of CREATE INDEX shown in pg_stat_progress_create_index.
constexpr int64 kPhaseLoad = 2;
constexpr int64 kPhaseGraph = 3;
constexpr int64 kPhaseWrite = 4;
const char *phase_name(int64 phase);

// A segment a merge extends rather than rebuilds: its graph, and its
// tombstones, which carry over to the new segment (its elements keep their
// ids).
struct ExtendedSegment {
    kyrodb::SegmentView view;
    const uint64_t *deleted;  // null: none deleted
    uint32 tombstones;
};
// A new segment's image copied into the shared pool by the process that
// built it, under a key no scan looks up, until publish() renames it to the
// segment's key under the metapage lock: the first scans after a flush or
// merge find it there instead of loading it from pages (a stall as long as
// the copy: seconds for a segment of millions of rows). Empty (slot -1) when
// the pool has no free room for it: nothing is evicted for it. An image never
// renamed is freed when this goes.
struct StagedImage {
    int slot = -1;
    uint64 incarnation = 0;
    bool renamed = false;
    StagedImage() = default;
    StagedImage(const StagedImage &) = delete;
    StagedImage &operator=(const StagedImage &) = delete;
    ~StagedImage();
};
void stage_image(const std::vector<uint8_t> &image, StagedImage *staged);

// Builds a segment from n element rows (prepared vectors and their
// attributes, row_floats(meta) floats each) and heap TIDs and writes its
// pages; the entry still needs publish(). progress(done) is called on this
// thread while the graph is built. `background`: a flush or merge, whose
// graph threads run at a lower priority than queries. `budget_kb`: the
// memory setting the caller sized the segment by. With `base`, the new
// segment is base's elements followed by the n rows, its graph base's with
// the rows inserted (kyrodb::extend_segment). With `staged`, the image is
// staged in the shared pool for publish().
SegmentEntry write_segment(Relation index, const MetaPage &meta, const float *rows, const uint64 *tids,
                           size_t n, const std::function<void(size_t)> &progress, bool background,
                           size_t budget_kb, const ExtendedSegment *base = nullptr, StagedImage *staged = nullptr);

// The hot tier records before hot_start moved into a segment.
struct HotAdvance {
    uint64 hot_start;
    BlockNumber hot_head;
    uint64 hot_head_pos;
    std::vector<BlockNumber> freed;  // hot-tier pages before the new head
};
// One atomic metapage update: removes the `replaced` segments (merged into
// `entry`) and frees their pages, adds `entry` (if any) and clears the claims
// its pages came from, advances the hot tier (if asked) freeing the pages it
// left, and bumps the generation. Scans that read the old directory detect
// the change (generation) and start again, so freed pages are reusable at once.
// A `staged` image of `entry` becomes the pool's image of it in that moment.
void publish(Relation index, const SegmentEntry *entry, const HotAdvance *advance,
             const std::vector<uint64> &replaced, StagedImage *staged = nullptr);

// Rows one segment may hold so that building it stays within `budget_kb`
// (maintenance_work_mem for CREATE INDEX and flushes, kyrodb.merge_work_mem
// for merges), with a graph that copies the vectors or (1.5x the rows at 128
// dims, inserting about 20 % slower) points at them. write_segment copies
// them whenever that fits.
size_t segment_capacity(const MetaPage &meta, size_t budget_kb, bool vectors_by_reference);
// Whether a segment of `base_elements` extended by `added` rows (kyrodb::extend_segment, which
// reads the base's rows from its image: only the added ones are copied in) fits budget_kb, its
// graph pointing at the vectors.
bool extension_fits(const MetaPage &meta, size_t base_elements, size_t added, size_t budget_kb);

// The maintenance lock: a heavyweight lock on the metapage. Flush, merge and
// bulk delete hold it exclusively; a scan overtaken by several publishes in
// a row takes it shared to get through.
void lock_maintenance(Relation index, LOCKMODE mode);
void unlock_maintenance(Relation index, LOCKMODE mode);

// The index-only scan interlock. An index-only scan hands out a row's values
// without visiting the heap when the visibility map says its page is
// all-visible, and VACUUM sets that bit once every index has dropped the
// page's dead rows. A scan that read a dead row's TID before the bulk delete
// and returns it after the bit was set would hand out a row its snapshot
// cannot see. So such a scan holds this lock (shared; a heavyweight lock on a
// block number no page has) from before it reads the index until it ends or
// restarts, and bulk delete, once its deletions are published, waits until
// every scan that held the lock then has let go of it; scans starting later
// see the deletions. A standby cannot hold replay off: there amcanreturn
// answers no.
void lock_index_only(Relation index);
void unlock_index_only(Relation index);
void wait_for_index_only_scans(Relation index);

// Moves the hot tier into new segments (each within maintenance_work_mem),
// then merges segments (size-tiered, and those VACUUM has emptied by half or
// more); returns the hot rows moved. When the directory is full and nothing
// can be merged, an explicit call fails; VACUUM and the worker warn and go on.
uint64 flush_hot_tier(Relation index, bool explicit_call);
// Merges segments while the policy finds a group to merge (no lock taken:
// CREATE INDEX, or a caller holding the maintenance lock).
void merge_segments(Relation index);

// Who may call an admin function: the table's owner, whoever may read it, or
// also members of pg_stat_scan_tables (statistics only).
enum class Access { Owner, Select, Stats };
// The kyrodb index behind an admin function's regclass argument, opened with
// `lockmode` once the caller's privilege on its table is checked (before the
// lock, so that nobody can queue a lock on an index they may not use); an
// error for anything else, a partitioned index included.
Relation open_kyrodb_index(Oid relid, LOCKMODE lockmode, Access access);

// Index AM callbacks.
IndexBuildResult *build(Relation heap, Relation index, IndexInfo *info);
void build_empty(Relation index);
bool insert(Relation index, Datum *values, bool *isnull, ItemPointer tid, Relation heap,
            IndexUniqueCheck check, bool unchanged, IndexInfo *info);
IndexBulkDeleteResult *bulk_delete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
                                   IndexBulkDeleteCallback callback, void *state);
IndexBulkDeleteResult *vacuum_cleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats);
void cost_estimate(PlannerInfo *root, IndexPath *path, double loop_count, Cost *startup, Cost *total,
                   Selectivity *selectivity, double *correlation, double *pages);
IndexScanDesc begin_scan(Relation index, int nkeys, int norderbys);
void rescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys);
bool get_tuple(IndexScanDesc scan, ScanDirection dir);
void end_scan(IndexScanDesc scan);

}  // namespace kyrodb::pg
