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
#include <vector>

#include "kyrodb/segment.h"
#include "pages.h"

namespace kyrodb::pg {

// GUCs (kyrodb.*), defined in kyrodb.cpp.
extern int ef_search;
extern int max_scan_tuples;
extern int flush_threshold;
extern bool exact_search;

// WITH (m = 16, ef_construction = 64)
struct IndexOptions {
    int32 vl_len_;
    int m;
    int ef_construction;
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
};
const IndexCache &index_cache(Relation index);

// A segment image read from pages into backend memory. Immutable once made;
// the tombstone bitmap is replaced, not changed, when VACUUM adds to it.
struct SegmentImage {
    uint64 instance;
    uint64 segment_id;
    std::unique_ptr<uint8_t, void (*)(void *)> bytes{nullptr, free};
    kyrodb::SegmentView view;
    std::shared_ptr<const std::vector<uint64_t>> deleted;  // null: none deleted
    uint64 tomb_generation = 0;
};
// The image of `entry` with deleted bits current as of `entry`, loaded on
// first use and kept in the backend for later scans.
std::shared_ptr<SegmentImage> segment_image(Relation index, const MetaPage &meta, const SegmentEntry &entry);

// Reads the tombstone bitmap of a segment (count bits) from its pages.
std::vector<uint64_t> read_tombstones(Relation index, const SegmentEntry &entry);

// Subphases of CREATE INDEX shown in pg_stat_progress_create_index.
constexpr int64 kPhaseLoad = 2;
constexpr int64 kPhaseGraph = 3;
constexpr int64 kPhaseWrite = 4;
const char *phase_name(int64 phase);

// Builds a segment from n prepared vectors and heap TIDs and writes its
// pages; the entry still needs publish(). progress(done) is called on this
// thread while the graph is built.
SegmentEntry write_segment(Relation index, const MetaPage &meta, const float *vectors, const uint64 *tids,
                           size_t n, const std::function<void(size_t)> &progress);

// The hot tier records before hot_start moved into a segment.
struct HotAdvance {
    uint64 hot_start;
    BlockNumber hot_head;
    uint64 hot_head_pos;
};
// One atomic metapage update: removes the `replaced` segments (merged into
// `entry`), adds `entry` (if any), advances the hot tier (if asked) and
// bumps the generation.
void publish(Relation index, const SegmentEntry *entry, const HotAdvance *advance,
             const std::vector<uint64> &replaced);

// Rows one segment may hold so that building it stays within
// maintenance_work_mem.
size_t segment_capacity(uint32 dim, uint32 m);

// Moves the hot tier into a new segment, merging into it the small segments
// and those VACUUM has emptied by half or more; returns the hot rows moved.
uint64 flush_hot_tier(Relation index);

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
