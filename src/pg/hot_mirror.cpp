// Each backend's copy of the hot tier of the indexes it scans, so that a
// query reads the rows inserted since the last flush from contiguous memory
// instead of every hot page through the buffer manager, copying its records.
// The pages stay the truth: a copy belongs to one generation of the metapage
// (flushes, merges and VACUUM change it) and is brought up to date by reading
// only the records appended since the last query.
#include "hot_mirror.h"

#include <algorithm>

#include "index.h"

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

bool collect(void *context, uint64 tid, const float *vector) {
    auto *m = static_cast<HotMirror *>(context);
    // capacity was reserved for every record: no allocation, no throw here
    m->tids.push_back(tid);
    m->vectors.insert(m->vectors.end(), vector, vector + m->dim);
    return true;
}

void reset(HotMirror &m) {
    m.valid = false;
    m.tids.clear();
    m.vectors.clear();
}

}  // namespace

const HotMirror *hot_mirror(Relation index, const MetaPage &meta) {
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
    if (!m.valid || m.instance != meta.instance || m.generation != meta.generation || m.dim != meta.dim ||
        m.end.record > meta.hot_end) {
        reset(m);
        m.instance = meta.instance;
        m.generation = meta.generation;
        m.dim = meta.dim;
    }
    const HotScanEnd from = m.end;
    const bool resume = m.valid;
    const size_t pending = meta.hot_end - (resume ? from.record : meta.hot_start);
    m.tids.reserve(m.tids.size() + pending);
    m.vectors.reserve(m.vectors.size() + pending * meta.dim);
    // Invalid until the read completes: an ERROR inside it leaves records
    // appended that m.end does not count.
    m.valid = false;
    HotScanEnd end;
    bool consistent = false;
    pg_call([&] { consistent = hot_scan(index, meta, collect, &m, &end, resume ? &from : nullptr); });
    if (!consistent) {
        reset(m);
        return nullptr;
    }
    m.end = end;
    m.valid = true;
    return &m;
}

bool hot_mirror_fits(const MetaPage &meta) {
    const uint64 bytes = (meta.hot_end - meta.hot_start) * (uint64(meta.dim) * sizeof(float) + sizeof(uint64));
    return bytes <= (uint64(max_local_memory_mb) << 20) / kSlots;
}

void hot_mirror_forget(Relation index) {
    for (Slot &s : slots)
        if (s.relid == RelationGetRelid(index)) reset(s.mirror);
}

}  // namespace kyrodb::pg
