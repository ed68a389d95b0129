// VACUUM and flush. ambulkdelete tombstones dead TIDs in segments and clears
// them in the hot tier before the heap can reuse them; amvacuumcleanup
// flushes a large hot tier into a new segment and rewrites segments that are
// half tombstones; kyrodb_flush() and the background worker do the same.
// Flush and bulk delete exclude each other with a heavyweight lock on the
// metapage (the maintenance lock), so a row is never copied into a segment
// while VACUUM decides it is dead.
#include "guard.h"
#include "index.h"

#include "kyrodb/hnsw.h"

#include <algorithm>

extern "C" {
#include "access/generic_xlog.h"
#include "catalog/pg_am.h"
#include "commands/defrem.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
}

namespace kyrodb::pg {
namespace {

// Sets the given element bits in the tombstone pages of `entry`, directory
// slot `segment_index` (stable: the caller holds the maintenance lock), and
// records the new count in the metapage.
void add_tombstones(Relation index, uint32 segment_index, const SegmentEntry &entry,
                    const std::vector<uint32_t> &ids) {
    const uint64 bits_per_page = kPageDataSize * 8;
    pg_call([&] {
        size_t i = 0;
        while (i < ids.size()) {
            uint64 page_no = ids[i] / bits_per_page;
            Buffer buf = ReadBuffer(index, entry.tomb_first_block + BlockNumber(page_no));
            LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
            GenericXLogState *state = GenericXLogStart(index);
            auto *bytes = reinterpret_cast<uint8 *>(page_data(GenericXLogRegisterBuffer(state, buf, 0)));
            for (; i < ids.size() && ids[i] / bits_per_page == page_no; i++) {
                uint64 bit = ids[i] % bits_per_page;
                bytes[bit / 8] |= uint8(1u << (bit % 8));
            }
            GenericXLogFinish(state);
            UnlockReleaseBuffer(buf);
        }

        Buffer metabuf = ReadBuffer(index, kMetaBlock);
        LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
        GenericXLogState *state = GenericXLogStart(index);
        MetaPage *meta = meta_of(GenericXLogRegisterBuffer(state, metabuf, 0));
        meta->segments[segment_index].tombstones += static_cast<uint32>(ids.size());
        meta->segments[segment_index].tomb_generation++;
        meta->generation++;
        GenericXLogFinish(state);
        UnlockReleaseBuffer(metabuf);
    });
}

struct Collected {
    std::vector<float> vectors;
    std::vector<uint64> tids;
    uint32 dim;
};

void collect_hot(void *context, uint64, uint64 tid, const float *vector) {
    auto *c = static_cast<Collected *>(context);
    // capacity was reserved for every record: no allocation, no throw here
    c->vectors.insert(c->vectors.end(), vector, vector + c->dim);
    c->tids.push_back(tid);
}

// A segment VACUUM has emptied by half or more is worth rewriting.
bool half_empty(const SegmentEntry &e) { return e.tombstones * 2 >= e.count; }

bool any_half_empty(const MetaPage &meta) {
    for (uint32 s = 0; s < meta.n_segments; s++)
        if (half_empty(meta.segments[s])) return true;
    return false;
}

// Frees the shared memory of images whose segments were merged away.
void forget_replaced(Relation index, const MetaPage &before) {
    MetaPage now;
    pg_call([&] { read_meta(index, &now); });
    std::vector<uint64> keep;
    for (uint32 i = 0; i < now.n_segments; i++) keep.push_back(now.segments[i].id);
    pool_forget(image_key(index, before, 0), keep);
}


}  // namespace

void lock_maintenance(Relation index, LOCKMODE mode) { pg_call([&] { LockPage(index, kMetaBlock, mode); }); }
void unlock_maintenance(Relation index, LOCKMODE mode) { pg_call([&] { UnlockPage(index, kMetaBlock, mode); }); }

// Size-tiered merging keeps the number of segments logarithmic in the rows:
// the new segment absorbs every segment not much larger than itself (and any
// that is half tombstones), as long as the build fits maintenance_work_mem.
// Merging drops tombstoned elements.
constexpr size_t kMergeRatio = 2;

uint64 flush_hot_tier(Relation index) {
    lock_maintenance(index, ExclusiveLock);
    pg_call([&] { return_claims(index); });
    MetaPage meta;
    pg_call([&] { read_meta(index, &meta); });
    if (meta.hot_end == meta.hot_start && !any_half_empty(meta)) {
        unlock_maintenance(index, ExclusiveLock);
        return 0;
    }
    Collected rows;
    rows.dim = meta.dim;
    rows.vectors.reserve((meta.hot_end - meta.hot_start) * meta.dim);
    rows.tids.reserve(meta.hot_end - meta.hot_start);
    HotScanEnd end;
    pg_call([&] { hot_scan(index, meta, collect_hot, &rows, &end); });
    const uint64 moved = rows.tids.size();

    std::vector<const SegmentEntry *> by_size;
    for (uint32 s = 0; s < meta.n_segments; s++) by_size.push_back(&meta.segments[s]);
    std::sort(by_size.begin(), by_size.end(), [](const SegmentEntry *a, const SegmentEntry *b) {
        return a->count - a->tombstones < b->count - b->tombstones;
    });
    const size_t capacity = segment_capacity(meta.dim, meta.m);
    std::vector<uint64> replaced;
    size_t total = moved;
    for (const SegmentEntry *e : by_size) {
        size_t live = e->count - e->tombstones;
        bool emptied = half_empty(*e);
        bool small = live <= kMergeRatio * std::max<size_t>(total, 1);
        bool full = meta.n_segments - replaced.size() >= size_t(kMaxSegments);
        if (total + live > capacity || !(emptied || small || full)) continue;
        ImageRef image = segment_image(index, meta, *e);
        const uint64_t *deleted = image.deleted ? image.deleted->data() : nullptr;
        for (uint32 id = 0; id < e->count; id++) {
            if (deleted != nullptr && ((deleted[id / 64] >> (id % 64)) & 1)) continue;
            const float *v = image.view.vector(id);
            rows.vectors.insert(rows.vectors.end(), v, v + meta.dim);
            rows.tids.push_back(image.view.payload(id));
        }
        replaced.push_back(e->id);
        total += live;
    }

    HotAdvance advance{meta.hot_end, end.block, end.page_pos, {}};
    // pages the old records fill, plus the partly filled first and last
    advance.freed.reserve((meta.hot_end - meta.hot_start) * hot_record_size(meta.dim) / kPageDataSize + 2);
    pg_call([&] { hot_chain(index, meta.hot_head, end.block, &advance.freed); });
    if (rows.tids.empty()) {
        publish(index, nullptr, &advance, replaced);  // every row was deleted: nothing to build
    } else {
        SegmentEntry entry =
            write_segment(index, meta, rows.vectors.data(), rows.tids.data(), rows.tids.size(), [](size_t) {}, true);
        publish(index, &entry, &advance, replaced);
    }
    unlock_maintenance(index, ExclusiveLock);
    forget_replaced(index, meta);
    return moved;
}

IndexBulkDeleteResult *bulk_delete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
                                   IndexBulkDeleteCallback callback, void *state) {
    Relation index = info->index;
    if (stats == nullptr)
        stats = static_cast<IndexBulkDeleteResult *>(palloc0(sizeof(IndexBulkDeleteResult)));
    lock_maintenance(index, ExclusiveLock);
    MetaPage meta;
    pg_call([&] { read_meta(index, &meta); });

    double live = 0;
    std::vector<uint32_t> dead;
    for (uint32 s = 0; s < meta.n_segments; s++) {
        const SegmentEntry &entry = meta.segments[s];
        ImageRef image = segment_image(index, meta, entry);
        const uint64_t *deleted = image.deleted ? image.deleted->data() : nullptr;
        dead.clear();
        for (uint32 id = 0; id < entry.count; id++) {
            if (deleted != nullptr && ((deleted[id / 64] >> (id % 64)) & 1)) continue;
            ItemPointerData tid;
            decode_tid(image.view.payload(id), &tid);
            if (callback(&tid, state))
                dead.push_back(id);
            else
                live++;
        }
        if (!dead.empty()) add_tombstones(index, s, entry, dead);
        stats->tuples_removed += dead.size();
        pg_call([] { CHECK_FOR_INTERRUPTS(); });
    }

    uint64 hot_removed = 0, hot_live = 0;
    pg_call([&] { hot_delete(index, meta, callback, state, &hot_removed, &hot_live); });
    stats->tuples_removed += hot_removed;
    stats->num_index_tuples = live + hot_live;
    unlock_maintenance(index, ExclusiveLock);
    return stats;
}

IndexBulkDeleteResult *vacuum_cleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats) {
    Relation index = info->index;
    if (info->analyze_only) return stats;
    MetaPage meta;
    pg_call([&] { read_meta(index, &meta); });
    if (meta.hot_end - meta.hot_start >= static_cast<uint64>(flush_threshold) || any_half_empty(meta))
        flush_hot_tier(index);
    if (stats == nullptr) {
        stats = static_cast<IndexBulkDeleteResult *>(palloc0(sizeof(IndexBulkDeleteResult)));
        pg_call([&] { read_meta(index, &meta); });
        double tuples = double(meta.hot_end - meta.hot_start);
        for (uint32 s = 0; s < meta.n_segments; s++)
            tuples += meta.segments[s].count - meta.segments[s].tombstones;
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
