// Each backend's copy of the hot tier of the indexes it scans, so that a
// query reads the rows inserted since the last flush from contiguous memory
// instead of every hot page through the buffer manager, copying its records.
// The pages stay the truth: a copy is brought up to date by reading only the
// records appended since the last query; a flush makes it drop the records
// the flush moved into a segment, and VACUUM clearing records (hot_cleared)
// or a new build makes it start over. Starting over after every flush would
// make the first query after each one read the whole hot tier from pages,
// which under a steady COPY is most of the slow queries.
#include "index/hot_mirror.h"

#include <algorithm>

#include "index/index.h"

namespace kyrodb::pg {
namespace {

struct Slot {
    Oid relid = InvalidOid;
    uint64 last_used = 0;
    HotMirror mirror;
};

// A few indexes per backend; the least recently scanned copy is dropped.
constexpr size_t kSlots = 8;
Slot slots[kSlots];
uint64 uses = 0;

struct Collect {
    HotRows *rows;
    uint32 stride;
};

bool collect(void *context, uint64 record, uint64 tid, const float *row) {
    auto *c = static_cast<Collect *>(context);
    // capacity was reserved for every record: no allocation, no throw here
    c->rows->records.push_back(record);
    c->rows->tids.push_back(tid);
    c->rows->rows.insert(c->rows->rows.end(), row, row + c->stride);
    return true;
}

// Room for `more` elements, doubling, and at least `floor`: reserving just what
// each query's new rows need would copy the whole copy on every query under a
// steady COPY.
template <typename T>
void grow_for(std::vector<T> &v, size_t more, size_t floor) {
    if (v.size() + more > v.capacity()) v.reserve(std::max({v.size() + more, 2 * v.capacity(), floor}));
}

void reset(HotMirror &m) {
    m.valid = false;
    m.data.reset();
}

// The copy's rows, to change: a scan still holding them keeps its own.
HotRows &own_rows(HotMirror &m) {
    if (m.data == nullptr)
        m.data = std::make_shared<HotRows>();
    else if (m.data.use_count() > 1)
        m.data = std::make_shared<HotRows>(*m.data);
    return *m.data;
}

// Drops the records a flush moved into a segment (those before hot_start).
void drop_flushed(HotMirror &m, uint64 hot_start) {
    HotRows &h = own_rows(m);
    const size_t n = std::lower_bound(h.records.begin(), h.records.end(), hot_start) - h.records.begin();
    h.records.erase(h.records.begin(), h.records.begin() + n);
    h.tids.erase(h.tids.begin(), h.tids.begin() + n);
    h.rows.erase(h.rows.begin(), h.rows.begin() + n * m.stride);
    h.codes.erase_front(n);
}

// A row of a copy: its floats, record number and TID, code and the code's three numbers.
uint64 row_bytes(uint32 stride, uint32 dim) {
    return uint64(stride) * sizeof(float) + 2 * sizeof(uint64) + dim + 3 * sizeof(uint32);
}

// Rows a copy reserves room for once the hot tier is due for a flush: all that
// kyrodb.hot_tier_limit lets it hold, within kyrodb.max_local_memory. A
// backlog growing under a bulk load then fills memory reserved once (the
// pages are touched as rows arrive) instead of being copied whole at every
// doubling, which took 0.3-0.4 s of one query at 128,000 rows of 128 dims.
size_t backlog_rows(const MetaPage &meta, uint64 rows_now) {
    if (!hot_tier_full(rows_now, meta.dim)) return 0;
    uint64 bound = (uint64(max_local_memory_mb) << 20) / row_bytes(row_floats(meta), meta.dim);
    // Inserts stop at the limit only after appending their batch: an eighth to spare.
    if (hot_tier_limit_kb > 0)
        bound = std::min(bound, (uint64(hot_tier_limit_kb) << 10) / (meta.dim * sizeof(float)) * 9 / 8);
    return size_t(bound);
}

// Memory a copy holds, by what it allocated: room reserved for a backlog
// counts before rows fill it.
uint64 copy_bytes(const HotMirror &m) {
    if (m.data == nullptr) return 0;
    const HotRows &h = *m.data;
    return (h.records.capacity() + h.tids.capacity()) * sizeof(uint64) + h.rows.capacity() * sizeof(float) +
           h.codes.reserved_bytes();
}

// Gives back room for more than four times the rows the copy needs, keeping
// twice: once a backlog is flushed, its room would otherwise stay with the
// connection for as long as it lives. Room for a few thousand rows is kept.
constexpr size_t kSmallCopyRows = 4096;
void fit(HotRows &h, size_t needed, uint32 stride) {
    if (h.tids.capacity() <= 4 * std::max(needed, kSmallCopyRows)) return;
    const size_t keep = 2 * needed;
    shrink_capacity(h.records, keep);
    shrink_capacity(h.tids, keep);
    shrink_capacity(h.rows, keep * stride);
    h.codes.shrink_to(keep);
}

}  // namespace

std::shared_ptr<const HotRows> hot_mirror(Relation index, const MetaPage &meta) {
    const Oid relid = RelationGetRelid(index);
    Slot *slot = std::find_if(std::begin(slots), std::end(slots), [&](const Slot &s) { return s.relid == relid; });
    if (slot == std::end(slots)) {
        slot = std::min_element(std::begin(slots), std::end(slots),
                                [](const Slot &a, const Slot &b) { return a.last_used < b.last_used; });
        reset(slot->mirror);
        slot->relid = relid;
    }
    slot->last_used = ++uses;
    HotMirror &m = slot->mirror;
    // Kept across a new generation only if the records it read past hot_start
    // are unchanged, and its resume page is still in the chain (see hot_scan).
    const bool same_chain = m.valid && m.instance == meta.instance && m.hot_cleared == meta.hot_cleared &&
                            m.stride == row_floats(meta) && m.end.record <= meta.hot_end;
    if (same_chain && m.generation != meta.generation && meta.hot_start < m.end.record) {
        drop_flushed(m, meta.hot_start);
        m.generation = meta.generation;
    }
    if (!same_chain || m.generation != meta.generation) {
        reset(m);
        m.instance = meta.instance;
        m.generation = meta.generation;
        m.hot_cleared = meta.hot_cleared;
        m.stride = row_floats(meta);
        m.dim = meta.dim;
    }
    const HotScanEnd from = m.end;
    const bool resume = m.valid;
    m.undoable = false;
    const size_t pending = meta.hot_end - (resume ? from.record : meta.hot_start);
    // Nothing to append (the read still checks the chain): rows a scan holds
    // stay shared, and are neither moved nor given room.
    const bool mine = pending > 0 || m.data == nullptr || m.data.use_count() == 1;
    HotRows &h = pending > 0 || m.data == nullptr ? own_rows(m) : *m.data;
    const size_t rows_before = h.tids.size();
    if (mine) {
        const size_t floor = backlog_rows(meta, meta.hot_end - meta.hot_start);
        fit(h, std::max(h.tids.size() + pending, floor), m.stride);
        grow_for(h.records, pending, floor);
        grow_for(h.tids, pending, floor);
        grow_for(h.rows, pending * m.stride, floor * m.stride);
        h.codes.reserve(meta.dim, floor);
    }
    // Invalid until the read completes: an ERROR inside it leaves records
    // appended that m.end does not count.
    m.valid = false;
    HotScanEnd end;
    bool consistent = false;
    Collect into{&h, m.stride};
    pg_call([&] { consistent = hot_scan(index, meta, collect, &into, &end, resume ? &from : nullptr); });
    if (!consistent) {
        reset(m);
        return nullptr;
    }
    if (pending > 0) h.codes.update(meta.dim, h.rows.data(), h.tids.size(), m.stride);
    m.rows_before = rows_before;
    m.end_before = from;
    m.undoable = resume;
    m.end = end;
    m.valid = true;
    return m.data;
}

bool hot_mirror_fits(Relation index, const MetaPage &meta) {
    const uint64 limit = uint64(max_local_memory_mb) << 20;
    const uint64 rows = meta.hot_end - meta.hot_start, one = row_bytes(row_floats(meta), meta.dim);
    if (rows * one > limit) return false;
    // What this index's copy will hold: the rows, or the room reserved for a backlog.
    const uint64 bytes = std::max<uint64>(rows, backlog_rows(meta, rows)) * one;
    // The other indexes' copies give way, least recently scanned first: a hot
    // tier read from pages costs a query far more than a small copy read again.
    uint64 others = 0;
    for (const Slot &s : slots)
        if (s.relid != RelationGetRelid(index)) others += copy_bytes(s.mirror);
    while (bytes + others > limit) {
        Slot *oldest = nullptr;
        for (Slot &s : slots)
            if (s.relid != RelationGetRelid(index) && s.mirror.data != nullptr &&
                (oldest == nullptr || s.last_used < oldest->last_used))
                oldest = &s;
        if (oldest == nullptr) break;  // cannot happen: bytes alone fit
        others -= copy_bytes(oldest->mirror);
        reset(oldest->mirror);
    }
    return true;
}

void hot_mirror_forget(Relation index) {
    for (Slot &s : slots)
        if (s.relid == RelationGetRelid(index)) reset(s.mirror);
}

void hot_mirror_undo_read(Relation index) {
    for (Slot &s : slots) {
        if (s.relid != RelationGetRelid(index)) continue;
        HotMirror &m = s.mirror;
        if (!m.valid || !m.undoable || m.data == nullptr) {
            reset(m);
            continue;
        }
        HotRows &h = own_rows(m);
        h.records.resize(m.rows_before);
        h.tids.resize(m.rows_before);
        h.rows.resize(m.rows_before * m.stride);
        h.codes.truncate(m.rows_before);
        m.end = m.end_before;
        m.undoable = false;
    }
}

}  // namespace kyrodb::pg
