// VACUUM, flush and merge. ambulkdelete tombstones dead TIDs in segments and
// clears them in the hot tier before the heap can reuse them; amvacuumcleanup
// flushes a large hot tier into new segments and merges segments;
// kyrodb_flush() and the background worker do the same. Flush and bulk
// delete exclude each other with a heavyweight lock on the metapage (the
// maintenance lock), so a row is never copied into a segment while VACUUM
// decides it is dead.
//
// A flush turns the hot tier into segments of at most what
// maintenance_work_mem allows to build, publishing each (segment and the hot
// tier's new head in one metapage record). Merges then keep the number of
// segments logarithmic: size-tiered plus a tail fold, within
// kyrodb.merge_work_mem, extending the largest segment of a group (which
// keeps its tombstones) and dropping the others' tombstones. Nothing is
// built that cannot be published: the directory's room is checked first, and
// pages a failed flush wrote stay claimed until the next one gives them back.
#include "runtime/crash.h"
#include "runtime/guard.h"
#include "index/index.h"

#include "kyrodb/hnsw.h"

#include <algorithm>

extern "C" {
#include "access/generic_xlog.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/wait_event.h"
}

namespace kyrodb::pg {

int merge_work_mem_mb = 2048;

namespace {

size_t merge_budget_kb() { return size_t(merge_work_mem_mb) << 10; }
// A merge's segment is searched until the next merge: as large as the budget holds.
size_t merge_capacity(const MetaPage &meta) { return segment_capacity(meta, merge_budget_kb(), true); }
bool merge_extension_fits(const MetaPage &meta, size_t base_elements, size_t added) {
    return extension_fits(meta, base_elements, added, merge_budget_kb());
}

// Marks elements `ids` (sorted) of directory slot `segment_index` (stable:
// the caller holds the maintenance lock) as deleted: one WAL record per
// tombstone page, which also counts them in the directory, so bits and
// count never disagree.
void add_tombstones(Relation index, uint32 segment_index, const SegmentEntry &entry,
                    const std::vector<uint32_t> &ids) {
    const uint64 bits_per_page = kPageDataSize * 8;
    pg_call([&] {
        size_t i = 0;
        while (i < ids.size()) {
            uint64 page_no = ids[i] / bits_per_page;
            Buffer metabuf = lock_meta(index, BUFFER_LOCK_EXCLUSIVE);
            Buffer buf = ReadBuffer(index, entry.tomb_first_block + BlockNumber(page_no));
            LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
            GenericXLogState *state = GenericXLogStart(index);
            MetaPage *meta = meta_of(GenericXLogRegisterBuffer(state, metabuf, 0));
            auto *bytes = reinterpret_cast<uint8 *>(page_data(GenericXLogRegisterBuffer(state, buf, 0)));
            uint32 added = 0;
            for (; i < ids.size() && ids[i] / bits_per_page == page_no; i++) {
                uint64 bit = ids[i] % bits_per_page;
                uint8 mask = uint8(1u << (bit % 8));
                added += (bytes[bit / 8] & mask) == 0;
                bytes[bit / 8] |= mask;
            }
            SegmentEntry &slot = meta->segments[segment_index];
            slot.tombstones += added;
            slot.tomb_generation++;
            GenericXLogFinish(state);
            UnlockReleaseBuffer(buf);
            UnlockReleaseBuffer(metabuf);
            crash_point("tombstone.page");
        }
    });
}

struct Collected {
    std::vector<float> rows;  // element rows: vector and attributes
    std::vector<uint64> tids;
    uint32 stride;            // row_floats(meta)
    size_t limit;             // rows wanted
};

bool collect_hot(void *context, uint64, uint64 tid, const float *row) {
    auto *c = static_cast<Collected *>(context);
    // capacity was reserved for `limit` rows: no allocation, no throw here
    c->rows.insert(c->rows.end(), row, row + c->stride);
    c->tids.push_back(tid);
    return c->tids.size() < c->limit;
}

// A segment VACUUM has emptied by half or more is worth rewriting.
bool half_empty(const SegmentEntry &e) { return e.tombstones * 2 >= e.count && e.count > 0; }
size_t live(const SegmentEntry &e) { return e.count - e.tombstones; }

// Frees the shared memory of images whose segments were merged away.
void forget_replaced(Relation index) {
    MetaPage now;
    pg_call([&] { read_meta(index, &now); });
    std::vector<uint64> keep;
    for (uint32 i = 0; i < now.n_segments; i++) keep.push_back(now.segments[i].id);
    pool_forget(image_key(index, now, 0), keep, now.next_segment_id);
}

// A merge keeps the graph of its largest segment and inserts the other
// segments' elements into it (kyrodb::extend_segment): it costs about the
// smaller segments' build plus a rewrite of the large one's pages, not a
// rebuild of all. Its tombstones carry over, so a segment with more than
// this share deleted is rebuilt without them instead.
constexpr uint32 kCarryTombstonesPercent = 10;
bool extendable(const SegmentEntry &e) { return uint64(e.tombstones) * 100 <= uint64(e.count) * kCarryTombstonesPercent; }

// Size-tiered: a group of segments, smallest first, each not much larger
// than the group before it (and any half tombstones), merged into one.
constexpr size_t kMergeRatio = 2;
// Tail fold: once the segments smaller than one hold 1/kFoldRatio of its
// rows, they all go into it (by extension), so that under steady ingest an
// index is a few large segments and a small tail, not a ladder of sizes
// that each query walks. Measured at 1,000,000 x 128 grown by 100 % without
// it: 5 segments, 0.63x the QPS of a fresh build.
constexpr size_t kFoldRatio = 8;
// Below this many free directory slots, the two smallest segments merge
// whatever their sizes.
constexpr uint32 kReserveSlots = 8;

// The segments to merge next (ids), or none.
std::vector<uint64> choose_merge(const MetaPage &meta, size_t capacity) {
    std::vector<const SegmentEntry *> by_size;
    for (uint32 s = 0; s < meta.n_segments; s++) by_size.push_back(&meta.segments[s]);
    std::sort(by_size.begin(), by_size.end(),
              [](const SegmentEntry *a, const SegmentEntry *b) { return live(*a) < live(*b); });
    // The largest segment with room for all smaller ones and a tail big enough.
    size_t below = 0;  // live rows of the segments smaller than by_size[k]
    std::vector<size_t> tail(by_size.size());
    for (size_t k = 0; k < by_size.size(); k++) {
        tail[k] = below;
        below += live(*by_size[k]);
    }
    for (size_t k = by_size.size(); k-- > 1;) {
        const SegmentEntry &base = *by_size[k];
        if (extendable(base) && tail[k] * kFoldRatio >= live(base) && merge_extension_fits(meta, base.count, tail[k])) {
            std::vector<uint64> group;
            for (size_t j = 0; j <= k; j++) group.push_back(by_size[j]->id);
            return group;
        }
    }
    for (size_t first = 0; first < by_size.size(); first++) {
        std::vector<uint64> group;
        size_t total = 0;
        bool rewrite = false;
        for (size_t k = first; k < by_size.size(); k++) {
            const SegmentEntry &e = *by_size[k];
            bool joins = group.empty() || half_empty(e) || live(e) <= kMergeRatio * std::max<size_t>(total, 1);
            if (!joins || total + live(e) > capacity) break;
            group.push_back(e.id);
            total += live(e);
            rewrite |= half_empty(e);
        }
        if (group.size() >= 2 || rewrite) return group;
    }
    if (meta.n_segments + kReserveSlots > uint32(kMaxSegments) && by_size.size() >= 2 &&
        live(*by_size[0]) + live(*by_size[1]) <= capacity)
        return {by_size[0]->id, by_size[1]->id};
    return {};
}

// Builds one segment from the live elements of `ids` and publishes it in
// their place: by extending the largest of them when it may carry its
// tombstones and the extension fits kyrodb.merge_work_mem (its elements,
// deleted ones included, and the other segments' rows, which are copied in;
// the largest one's are read from its image); otherwise from scratch.
void merge(Relation index, const MetaPage &meta, const std::vector<uint64> &ids) {
    auto member = [&](const SegmentEntry &e) { return std::find(ids.begin(), ids.end(), e.id) != ids.end(); };
    const SegmentEntry *largest = nullptr;
    size_t total = 0;
    for (uint32 s = 0; s < meta.n_segments; s++) {
        const SegmentEntry &e = meta.segments[s];
        if (!member(e)) continue;
        total += live(e);
        if (largest == nullptr || live(e) > live(*largest)) largest = &e;
    }
    if (largest != nullptr && !(extendable(*largest) && live(*largest) > 0 &&
                                merge_extension_fits(meta, largest->count, total - live(*largest))))
        largest = nullptr;
    ImageRef base_image;
    ExtendedSegment base{};
    if (largest != nullptr) {
        base_image = segment_image(index, meta, *largest);
        base = ExtendedSegment{base_image.view, base_image.deleted ? base_image.deleted->data() : nullptr,
                               largest->tombstones};
        total -= live(*largest);
    }
    Collected rows;
    rows.stride = row_floats(meta);
    rows.rows.reserve(total * rows.stride);
    rows.tids.reserve(total);
    const size_t attr_words = kyrodb::attr_row_words(meta.attributes);
    // The other members' live rows (an extended base keeps its elements, deleted ones too, and ids).
    for (uint32 s = 0; s < meta.n_segments; s++) {
        const SegmentEntry &e = meta.segments[s];
        if (!member(e) || &e == largest) continue;
        ImageRef image = segment_image(index, meta, e);
        const uint64_t *deleted = image.deleted ? image.deleted->data() : nullptr;
        for (uint32 id = 0; id < e.count; id++) {
            if (deleted != nullptr && ((deleted[id / 64] >> (id % 64)) & 1)) continue;
            const float *v = image.view.vector(id);
            rows.rows.insert(rows.rows.end(), v, v + meta.dim);
            if (attr_words > 0) {
                const size_t at = rows.rows.size();
                rows.rows.resize(at + 2 * attr_words);
                memcpy(&rows.rows[at], image.view.attr_row(id), sizeof(uint64) * attr_words);
            }
            rows.tids.push_back(image.view.payload(id));
        }
    }
    if (rows.tids.empty() && largest == nullptr) {
        publish(index, nullptr, nullptr, ids);  // every row was deleted: nothing to build
    } else {
        StagedImage staged;
        SegmentEntry entry = write_segment(index, meta, rows.rows.data(), rows.tids.data(), rows.tids.size(),
                                           [](size_t) {}, true, merge_budget_kb(), largest != nullptr ? &base : nullptr,
                                           &staged);
        publish(index, &entry, nullptr, ids, &staged);
    }
    pg_call([] { crash_point("merge.published"); });
    forget_replaced(index);
}

// Reports that the directory is full and nothing fits merge_work_mem; an
// explicit flush fails, VACUUM and the background worker go on without it.
bool directory_full(Relation index, bool explicit_call) {
    const int level = explicit_call ? ERROR : (IsBackgroundWorker ? LOG : WARNING);
    pg_call([&] {
        ereport(level, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                        errmsg("index \"%s\" has %d segments, the most it can hold, and none can be merged",
                               RelationGetRelationName(index), kMaxSegments),
                        errdetail("New rows stay in the hot tier, which every query scans."),
                        errhint("Raise kyrodb.merge_work_mem so that merged segments can be larger, or REINDEX "
                                "with a larger maintenance_work_mem.")));
    });
    return false;
}

}  // namespace

void lock_maintenance(Relation index, LOCKMODE mode) { pg_call([&] { LockPage(index, kMetaBlock, mode); }); }
void unlock_maintenance(Relation index, LOCKMODE mode) { pg_call([&] { UnlockPage(index, kMetaBlock, mode); }); }

namespace {
constexpr BlockNumber kIndexOnlyLockBlock = InvalidBlockNumber;
}

void lock_index_only(Relation index) { pg_call([&] { LockPage(index, kIndexOnlyLockBlock, ShareLock); }); }
void unlock_index_only(Relation index) { pg_call([&] { UnlockPage(index, kIndexOnlyLockBlock, ShareLock); }); }

// Polls first rather than waiting for the holders' transactions to end
// (WaitForLockers): a transaction may run for long after its index-only scan
// ended. A holder seen again may be a later scan of the same transaction,
// which started after the deletions and need not be waited for: waiting
// longer is only slower. After a second it waits for the transactions left,
// a lock wait the deadlock detector sees (a cursor's transaction could be
// waiting for a lock this VACUUM holds).
void wait_for_index_only_scans(Relation index) {
    pg_call([&] {
        LOCKTAG tag;
        SET_LOCKTAG_PAGE(tag, index->rd_lockInfo.lockRelId.dbId, index->rd_lockInfo.lockRelId.relId,
                         kIndexOnlyLockBlock);
        VirtualTransactionId *waiting = GetLockConflicts(&tag, ExclusiveLock, nullptr);
        int n = 0;
        while (VirtualTransactionIdIsValid(waiting[n])) n++;
        bool *gone = static_cast<bool *>(palloc0(sizeof(bool) * (n + 1)));
        for (int polls = 0;; polls++) {
            VirtualTransactionId *holding = GetLockConflicts(&tag, ExclusiveLock, nullptr);
            bool any = false;
            for (int w = 0; w < n; w++) {
                if (gone[w]) continue;
                bool still = false;
                for (VirtualTransactionId *h = holding; VirtualTransactionIdIsValid(*h) && !still; h++)
                    still = VirtualTransactionIdEquals(waiting[w], *h);
                gone[w] = !still;
                any |= still;
            }
            pfree(holding);
            if (!any) break;
            if (polls == 100) {
                for (int w = 0; w < n; w++)
                    if (!gone[w]) (void) VirtualXactLock(waiting[w], true);
                break;
            }
            (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10, PG_WAIT_EXTENSION);
            ResetLatch(MyLatch);
            CHECK_FOR_INTERRUPTS();
        }
        pfree(gone);
        pfree(waiting);
    });
}

void merge_segments(Relation index) {
    for (;;) {
        MetaPage meta;
        pg_call([&] {
            CHECK_FOR_INTERRUPTS();
            read_meta(index, &meta);
        });
        std::vector<uint64> ids = choose_merge(meta, merge_capacity(meta));
        if (ids.empty()) return;
        merge(index, meta, ids);  // each merge removes a segment or rewrites a half-empty one: this ends
    }
}

uint64 flush_hot_tier(Relation index, bool explicit_call) {
    lock_maintenance(index, ExclusiveLock);
    pg_call([&] { return_claims(index); });
    MetaPage meta;
    pg_call([&] { read_meta(index, &meta); });
    const uint64 target = meta.hot_end;  // rows inserted meanwhile wait for the next flush
    // Flushes race the inserts (a COPY waits on them past kyrodb.hot_tier_limit), and merges
    // fold their segments into larger ones: they build at the faster, copying, size.
    const size_t capacity = segment_capacity(meta, size_t(maintenance_work_mem), false);
    const Size record_size = hot_record_size(row_floats(meta));
    uint64 moved = 0;
    bool room = true;
    while (meta.hot_start < target) {
        if (meta.n_segments >= uint32(kMaxSegments)) {
            std::vector<uint64> ids = choose_merge(meta, merge_capacity(meta));
            if (ids.empty()) {
                room = directory_full(index, explicit_call);
                break;
            }
            merge(index, meta, ids);
        } else {
            Collected rows;
            rows.stride = row_floats(meta);
            rows.limit = std::min<uint64>(target - meta.hot_start, capacity);
            rows.rows.reserve(rows.limit * rows.stride);
            rows.tids.reserve(rows.limit);
            HotScanEnd end;
            bool consistent = false;
            MetaPage upto = meta;
            upto.hot_end = target;
            pg_call([&] {
                consistent = hot_scan(index, upto, collect_hot, &rows, &end);
                if (!consistent) hot_tier_inconsistent(index);
                crash_point("flush.collected");
            });
            HotAdvance advance{end.record, end.block, end.page_pos, {}};
            // pages the records fill, plus the partly filled first and last
            advance.freed.reserve((end.record - meta.hot_start) * record_size / kPageDataSize + 2);
            pg_call([&] { hot_chain(index, meta.hot_head, end.block, &advance.freed); });
            if (rows.tids.empty()) {
                publish(index, nullptr, &advance, {});  // every row was deleted: nothing to build
            } else {
                StagedImage staged;
                SegmentEntry entry = write_segment(index, meta, rows.rows.data(), rows.tids.data(),
                                                   rows.tids.size(), [](size_t) {}, true,
                                                   size_t(maintenance_work_mem), nullptr, &staged);
                publish(index, &entry, &advance, {}, &staged);
            }
            moved += rows.tids.size();
            pg_call([] { crash_point("flush.published"); });
        }
        pg_call([&] { read_meta(index, &meta); });
    }
    // Inserts waiting for the hot tier (kyrodb.hot_tier_limit) come before
    // merges, which would hold them up for as long as a rebuild of the merged
    // segments takes: the worker flushes again first and merges once they no
    // longer wait (or the directory fills, above).
    pg_call([&] { read_meta(index, &meta); });
    if (room && !hot_tier_over_limit(meta.hot_end - meta.hot_start, meta.dim)) merge_segments(index);
    unlock_maintenance(index, ExclusiveLock);
    return moved;
}

namespace {

// Decides which of a segment's live elements are dead, calling VACUUM's
// callback inside pg_call (it may raise: CREATE INDEX CONCURRENTLY's writes a
// tuplesort) with no C++ object built or freed meanwhile.
void find_dead(const SegmentEntry &entry, const ImageRef &image, IndexBulkDeleteCallback callback, void *state,
               std::vector<uint32_t> *dead, double *live_rows) {
    dead->clear();
    dead->reserve(entry.count);
    const uint64_t *deleted = image.deleted ? image.deleted->data() : nullptr;
    const kyrodb::SegmentView &view = image.view;
    pg_call([&] {
        for (uint32 id = 0; id < entry.count; id++) {
            if (deleted != nullptr && ((deleted[id / 64] >> (id % 64)) & 1)) continue;
            ItemPointerData tid;
            decode_tid(view.payload(id), &tid);
            if (callback(&tid, state))
                dead->push_back(id);  // within capacity: no allocation
            else
                (*live_rows)++;
            if ((id & 4095) == 0) CHECK_FOR_INTERRUPTS();
        }
    });
}

}  // namespace

IndexBulkDeleteResult *bulk_delete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
                                   IndexBulkDeleteCallback callback, void *state) {
    Relation index = info->index;
    if (stats == nullptr)
        stats = static_cast<IndexBulkDeleteResult *>(palloc0(sizeof(IndexBulkDeleteResult)));
    lock_maintenance(index, ExclusiveLock);
    MetaPage meta;
    pg_call([&] { read_meta(index, &meta); });

    double live_rows = 0;
    std::vector<uint32_t> dead;
    for (uint32 s = 0; s < meta.n_segments; s++) {
        const SegmentEntry &entry = meta.segments[s];
        {
            ImageRef image = segment_image(index, meta, entry);
            find_dead(entry, image, callback, state, &dead, &live_rows);
        }
        if (!dead.empty()) add_tombstones(index, s, entry, dead);
        stats->tuples_removed += dead.size();
    }

    uint64 hot_removed = 0, hot_live = 0;
    pg_call([&] { hot_delete(index, meta, callback, state, &hot_removed, &hot_live); });
    stats->tuples_removed += hot_removed;
    stats->num_index_tuples = live_rows + hot_live;
    unlock_maintenance(index, ExclusiveLock);
    wait_for_index_only_scans(index);  // before the heap marks the dead rows' pages all-visible
    return stats;
}

IndexBulkDeleteResult *vacuum_cleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats) {
    Relation index = info->index;
    if (info->analyze_only) return stats;
    MetaPage meta;
    pg_call([&] { read_meta(index, &meta); });
    if (hot_tier_full(meta.hot_end - meta.hot_start, meta.dim) ||
        !choose_merge(meta, merge_capacity(meta)).empty())
        flush_hot_tier(index, false);
    if (stats == nullptr) {
        stats = static_cast<IndexBulkDeleteResult *>(palloc0(sizeof(IndexBulkDeleteResult)));
        pg_call([&] { read_meta(index, &meta); });
        double tuples = double(meta.hot_end - meta.hot_start);
        for (uint32 s = 0; s < meta.n_segments; s++) tuples += live(meta.segments[s]);
        stats->num_index_tuples = tuples;
        stats->estimated_count = true;
    }
    pg_call([&] {
        read_meta(index, &meta);
        stats->num_pages = RelationGetNumberOfBlocks(index);
        stats->pages_free = BlockNumber(free_page_count(meta));
    });
    return stats;
}

}  // namespace kyrodb::pg
