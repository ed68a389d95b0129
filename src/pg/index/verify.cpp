// kyrodb_verify_index(index, heapallindexed): checks a kyrodb index the way
// amcheck checks a btree. The metapage and its directory, every page's owner
// (the metapage, one segment's image or tombstones, the hot tier's chain, a
// claim or the free list: each page exactly one, none lost but those the
// metapage counts as forgotten), the hot-tier chain and its records, every
// segment image validated in full, tombstone counts against their bits; and
// with heapallindexed, every row an MVCC snapshot sees is in the index
// exactly once, with the vector the heap holds. Raises ERROR
// (index_corrupted) on the first problem, naming it.
#include "runtime/guard.h"
#include "index/attributes.h"
#include "index/index.h"
#include "type/vector.h"

#include <algorithm>
#include <string>
#include <unordered_map>

extern "C" {
#include "access/table.h"
#include "access/tableam.h"
#include "access/xlog.h"
#include "catalog/index.h"
#include "miscadmin.h"
#include "utils/snapmgr.h"
}

namespace kyrodb::pg {
namespace {

struct Problem : std::runtime_error {
    explicit Problem(const std::string &what) : std::runtime_error(what) {}
};

[[noreturn]] void fail(const std::string &what) { throw Problem(what); }

std::string block_name(BlockNumber b) { return "block " + std::to_string(b); }

// Who owns each page below n_blocks.
struct Owners {
    std::vector<std::string> of;  // empty: nobody yet
    void claim(BlockNumber first, uint64 blocks, const std::string &who) {
        for (uint64 i = 0; i < blocks; i++) {
            uint64 b = first + i;
            if (b >= of.size()) fail(who + " reaches " + block_name(BlockNumber(b)) + ", past the index's pages");
            if (!of[b].empty()) fail(block_name(BlockNumber(b)) + " belongs to both " + of[b] + " and " + who);
            of[b] = who;
        }
    }
};

std::string segment_name(const SegmentEntry &e) { return "segment " + std::to_string(e.id); }

void check_directory(const MetaPage &meta, BlockNumber file_blocks, Owners *owners) {
    if (meta.n_blocks > file_blocks)
        fail("the metapage accounts for " + std::to_string(meta.n_blocks) + " pages, the file has " +
             std::to_string(file_blocks));
    owners->claim(kMetaBlock, 1, "the metapage");
    for (uint32 s = 0; s < meta.n_segments; s++) {
        const SegmentEntry &e = meta.segments[s];
        if (e.id == 0 || e.id >= meta.next_segment_id) fail(segment_name(e) + " has an id not yet given out");
        for (uint32 t = 0; t < s; t++)
            if (meta.segments[t].id == e.id) fail(segment_name(e) + " is listed twice");
        if (e.count == 0) fail(segment_name(e) + " is empty");
        if (e.tombstones > e.count) fail(segment_name(e) + " has more tombstones than elements");
        if (e.image_blocks != stream_blocks(e.image_size) || e.tomb_blocks != stream_blocks((e.count + 7) / 8))
            fail(segment_name(e) + " has page counts that do not match its sizes");
        owners->claim(e.first_block, e.image_blocks, segment_name(e) + "'s image");
        owners->claim(e.tomb_first_block, e.tomb_blocks, segment_name(e) + "'s tombstones");
    }
    for (uint32 i = 0; i < meta.n_free; i++) {
        const Extent &f = meta.free_pages[i];
        if (f.blocks == 0) fail("the free list has an empty extent");
        if (i > 0 && meta.free_pages[i - 1].first + meta.free_pages[i - 1].blocks >= f.first)
            fail("the free list is not sorted and merged at " + block_name(f.first));
        owners->claim(f.first, f.blocks, "the free list");
    }
    for (const Extent &c : meta.claims)
        if (c.blocks > 0) owners->claim(c.first, c.blocks, "a claim");
}

// Reads a page's kind (Relation calls inside pg_call).
uint16 page_kind(Relation index, BlockNumber blk, BlockNumber *next) {
    uint16 kind = 0;
    pg_call([&] {
        Buffer buf = ReadBuffer(index, blk);
        LockBuffer(buf, BUFFER_LOCK_SHARE);
        Page page = BufferGetPage(buf);
        kind = PageIsNew(page) ? 0 : page_opaque(page)->kind;
        if (next != nullptr) *next = PageIsNew(page) ? InvalidBlockNumber : page_opaque(page)->next;
        UnlockReleaseBuffer(buf);
    });
    return kind;
}

// The hot tier's chain from its head: every page a hot page, the tail on it
// at the offset the metapage says.
void check_hot_chain(Relation index, const MetaPage &meta, Owners *owners) {
    BlockNumber blk = meta.hot_head;
    uint64 pos = meta.hot_head_pos;
    bool tail_seen = false;
    for (uint64 steps = 0; BlockNumberIsValid(blk); steps++) {
        if (steps > meta.n_blocks) fail("the hot tier's chain loops");
        if (blk >= meta.n_blocks) fail("the hot tier's chain leaves the index at " + block_name(blk));
        owners->claim(blk, 1, "the hot tier");
        BlockNumber next;
        if (page_kind(index, blk, &next) != kPageHot) fail(block_name(blk) + " in the hot tier's chain is not a hot page");
        if (blk == meta.hot_tail) {
            if (pos != meta.hot_tail_pos) fail("the hot tier's tail is not where the metapage says");
            tail_seen = true;
        }
        blk = next;
        pos += kPageDataSize;
    }
    if (!tail_seen) fail("the hot tier's tail is not on its chain");
}

void check_page_kinds(Relation index, const MetaPage &meta) {
    for (uint32 s = 0; s < meta.n_segments; s++) {
        const SegmentEntry &e = meta.segments[s];
        for (uint32 i = 0; i < e.image_blocks; i++)
            if (page_kind(index, e.first_block + i, nullptr) != kPageSegment)
                fail(block_name(e.first_block + i) + " of " + segment_name(e) + "'s image is not a segment page");
        for (uint32 i = 0; i < e.tomb_blocks; i++)
            if (page_kind(index, e.tomb_first_block + i, nullptr) != kPageTombstone)
                fail(block_name(e.tomb_first_block + i) + " of " + segment_name(e) +
                     "'s tombstones is not a tombstone page");
    }
}

// Where an indexed row lives, and its vector.
struct Indexed {
    const float *vector;
    const void *attrs;  // its attribute row (attr_row_words words, maybe unaligned), or null
    bool seen;          // found by the heap scan
};

struct HeapCheck {
    std::unordered_map<uint64, Indexed> *rows;
    kyrodb::Metric metric;
    uint32 dim;
    float *prepared;   // dim floats
    const IndexCache *cache;
    uint64 checked;
    uint64 missing;
    uint64 differ;
    uint64 first_bad;  // TID of the first problem
};

// Called by the heap scan for each row the snapshot sees (C: inside pg_call).
void check_heap_row(Relation, ItemPointer tid, Datum *values, bool *isnull, bool, void *arg) {
    auto *h = static_cast<HeapCheck *>(arg);
    if (isnull[0]) return;
    Vector *v = datum_get_vector(values[0]);
    if (uint32(v->dim) != h->dim) return;  // the column's typmod keeps this from happening
    memcpy(h->prepared, v->x, sizeof(float) * h->dim);
    if (!kyrodb::prepare_vector(h->metric, h->prepared, h->dim)) return;  // not indexed (zero, cosine)
    h->checked++;
    auto found = h->rows->find(encode_tid(tid));
    uint64 bad = 0;
    if (found == h->rows->end()) {
        h->missing++;
        bad = encode_tid(tid);
    } else {
        found->second.seen = true;
        bool same = memcmp(found->second.vector, h->prepared, sizeof(float) * h->dim) == 0;
        if (same && found->second.attrs != nullptr) {
            uint64 attrs[1 + kyrodb::kMaxAttributes];
            encode_attributes(*h->cache, values, isnull, attrs);
            same = memcmp(found->second.attrs, attrs, sizeof(uint64) * kyrodb::attr_row_words(h->cache->attributes)) == 0;
        }
        if (!same) {
            h->differ++;
            bad = encode_tid(tid);
        }
    }
    if (bad != 0 && h->first_bad == 0) h->first_bad = bad;
}

std::string tid_text(uint64 v) {
    ItemPointerData tid;
    decode_tid(v, &tid);
    return "(" + std::to_string(ItemPointerGetBlockNumberNoCheck(&tid)) + "," +
           std::to_string(ItemPointerGetOffsetNumberNoCheck(&tid)) + ")";
}

struct HotCollect {
    std::vector<uint64> *tids;
    std::vector<float> *rows;
    uint32 stride;  // floats of an element row
};

bool collect_hot_row(void *context, uint64, uint64 tid, const float *row) {
    auto *c = static_cast<HotCollect *>(context);
    c->tids->push_back(tid);  // capacity reserved: no allocation
    c->rows->insert(c->rows->end(), row, row + c->stride);
    return true;
}

// `snapshot`: the rows that must be indexed (heapallindexed), or null. False
// if, on a standby, replay moved the directory while it was read (the caller
// tries again).
bool verify(Relation index, Snapshot snapshot) {
    const bool heapallindexed = snapshot != nullptr;
    // Flushes, merges and VACUUM wait; the metapage's share lock holds
    // inserts off while pages are accounted for. A standby cannot take the
    // lock (nor hold replay off): it checks afterwards that nothing moved.
    const bool standby = RecoveryInProgress();
    if (!standby) lock_maintenance(index, ShareLock);
    MetaPage meta;
    BlockNumber file_blocks = 0;
    Buffer metabuf = InvalidBuffer;
    pg_call([&] {
        metabuf = lock_meta(index, BUFFER_LOCK_SHARE);
        memcpy(&meta, meta_of(BufferGetPage(metabuf)), sizeof(MetaPage));
        file_blocks = RelationGetNumberOfBlocks(index);
    });
    Owners owners;
    try {
        owners.of.resize(meta.n_blocks);
        check_directory(meta, file_blocks, &owners);
        check_hot_chain(index, meta, &owners);
    } catch (...) {
        pg_call([&] { UnlockReleaseBuffer(metabuf); });
        throw;
    }
    pg_call([&] { UnlockReleaseBuffer(metabuf); });
    uint64 unowned = 0;
    BlockNumber first_unowned = InvalidBlockNumber;
    for (BlockNumber b = 0; b < meta.n_blocks; b++)
        if (owners.of[b].empty() && unowned++ == 0) first_unowned = b;
    if (unowned != meta.forgotten)
        fail(std::to_string(unowned) + " pages belong to nothing (the first is " + block_name(first_unowned) +
             "), the metapage counts " + std::to_string(meta.forgotten) + " forgotten");
    check_page_kinds(index, meta);

    // Hot tier records, then every segment in full.
    const kyrodb::Metric metric = static_cast<kyrodb::Metric>(meta.metric);
    std::vector<uint64> hot_tids;
    std::vector<float> hot_vectors;
    hot_tids.reserve(meta.hot_end - meta.hot_start);
    const uint32 stride = row_floats(meta);
    hot_vectors.reserve((meta.hot_end - meta.hot_start) * stride);
    HotCollect hot{&hot_tids, &hot_vectors, stride};
    bool consistent = false;
    pg_call([&] { consistent = hot_scan(index, meta, collect_hot_row, &hot, nullptr); });
    if (!consistent) fail("the hot tier's chain does not hold records " + std::to_string(meta.hot_start) + " to " +
                          std::to_string(meta.hot_end));

    std::vector<std::unique_ptr<uint8_t, void (*)(void *)>> images;
    std::vector<kyrodb::SegmentView> views(meta.n_segments);
    std::vector<std::vector<uint64_t>> deleted(meta.n_segments);
    for (uint32 s = 0; s < meta.n_segments; s++) {
        const SegmentEntry &e = meta.segments[s];
        size_t rounded = (e.image_size + kyrodb::kSegmentAlign - 1) / kyrodb::kSegmentAlign * kyrodb::kSegmentAlign;
        images.emplace_back(static_cast<uint8_t *>(aligned_alloc(kyrodb::kSegmentAlign, rounded)), free);
        if (!images.back()) throw std::bad_alloc();
        uint8_t *bytes = images.back().get();
        pg_call([&] { read_stream_pages(index, e.first_block, e.image_size, bytes); });
        std::string error;
        if (!kyrodb::SegmentView::open(bytes, e.image_size, &views[s], &error))
            fail(segment_name(e) + "'s image is invalid: " + error);
        if (views[s].count() != e.count || views[s].dim() != meta.dim || views[s].metric() != metric ||
            views[s].attributes() != meta.attributes)
            fail(segment_name(e) + "'s image does not match its directory entry");
        deleted[s].assign((e.count + 63) / 64, 0);
        void *bits = deleted[s].data();
        pg_call([&] { read_stream_pages(index, e.tomb_first_block, (e.count + 7) / 8, bits); });
        uint64 set = 0;
        for (uint32 id = 0; id < e.count; id++) set += (deleted[s][id / 64] >> (id % 64)) & 1;
        bool beyond = e.count % 64 != 0 && (deleted[s].back() >> (e.count % 64)) != 0;
        if (set != e.tombstones || beyond)
            fail(segment_name(e) + " counts " + std::to_string(e.tombstones) + " tombstones, its bitmap has " +
                 std::to_string(set) + (beyond ? " and bits past its last element" : ""));
        pg_call([] { CHECK_FOR_INTERRUPTS(); });
    }

    // Every live element of the index once.
    std::unordered_map<uint64, Indexed> rows;
    auto add = [&](uint64 tid, const float *vector, const void *attrs, const std::string &where) {
        if (!rows.emplace(tid, Indexed{vector, meta.attributes > 0 ? attrs : nullptr, false}).second)
            fail("heap row " + tid_text(tid) + " is indexed twice (again in " + where + ")");
    };
    for (size_t i = 0; i < hot_tids.size(); i++)
        add(hot_tids[i], &hot_vectors[i * stride], &hot_vectors[i * stride + meta.dim], "the hot tier");
    for (uint32 s = 0; s < meta.n_segments; s++)
        for (uint32 id = 0; id < views[s].count(); id++)
            if (!((deleted[s][id / 64] >> (id % 64)) & 1))
                add(views[s].payload(id), views[s].vector(id), meta.attributes > 0 ? views[s].attr_row(id) : nullptr,
                    segment_name(meta.segments[s]));
    if (standby) {
        MetaPage now;
        pg_call([&] { read_meta(index, &now); });
        if (now.generation != meta.generation || now.hot_end != meta.hot_end) return false;
    } else {
        unlock_maintenance(index, ShareLock);
    }
    if (!heapallindexed) return true;

    std::vector<float> prepared(meta.dim);
    IndexCache cache;
    pg_call([&] { cache = index_cache(index); });
    HeapCheck check{&rows, metric, meta.dim, prepared.data(), &cache, 0, 0, 0, 0};
    pg_call([&] {
        Relation heap = table_open(IndexGetRelation(RelationGetRelid(index), false), AccessShareLock);
        IndexInfo *info = BuildIndexInfo(index);
        TableScanDesc scan = table_beginscan_strat(heap, snapshot, 0, nullptr, true, true);
        info->ii_Concurrent = true;  // the scan's MVCC snapshot decides which rows count
        table_index_build_scan(heap, index, info, true, false, check_heap_row, &check, scan);
        table_close(heap, AccessShareLock);
    });
    if (check.missing > 0 || check.differ > 0)
        fail(std::to_string(check.missing) + " of " + std::to_string(check.checked) +
             " heap rows are not in the index and " + std::to_string(check.differ) +
             " are indexed with another vector or filter values (the first: heap row " + tid_text(check.first_bad) + ")");
    return true;
}

}  // namespace
}  // namespace kyrodb::pg

// kyrodb_verify_index(index regclass, heapallindexed boolean default false)
// returns void: raises an error naming the first problem found.
KYRODB_FUNCTION(kyrodb_verify_index) {
    using namespace kyrodb::pg;
    Oid relid = PG_GETARG_OID(0);
    bool heapallindexed = PG_GETARG_BOOL(1);
    Relation index = open_kyrodb_index(relid, AccessShareLock, Access::Select);
    char problem[512];
    problem[0] = '\0';
    Snapshot snapshot = heapallindexed ? RegisterSnapshot(GetTransactionSnapshot()) : nullptr;
    guarded([&] {
        // On a standby, replay may reuse pages while they are read: what
        // looks wrong is only reported once it looks wrong again.
        for (int attempt = 0;; attempt++) {
            try {
                if (verify(index, snapshot)) break;
                if (attempt >= 20) throw Problem("replay kept moving the directory; try again");
            } catch (const Problem &p) {
                if (!RecoveryInProgress() || attempt >= 5) {
                    strlcpy(problem, p.what(), sizeof problem);
                    break;
                }
            }
        }
    });
    if (snapshot != nullptr) UnregisterSnapshot(snapshot);
    if (problem[0] != '\0')
        ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
                        errmsg("index \"%s\" is corrupt: %s", RelationGetRelationName(index), problem),
                        errhint("REINDEX the index.")));
    index_close(index, AccessShareLock);
    PG_RETURN_VOID();
}
