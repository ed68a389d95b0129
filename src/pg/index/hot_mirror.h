// A backend's copy of an index's hot tier (hot_mirror.cpp).
#pragma once
#include <memory>
#include <vector>

#include "kyrodb/row_codes.h"
#include "runtime/guard.h"
#include "storage/pages.h"

namespace kyrodb::pg {

// The rows of a copy. Scans hold them until they end: the copy changes them
// in place only while no scan does, and otherwise starts a new set.
struct HotRows {
    std::vector<uint64> records;  // live records' numbers, ascending
    std::vector<uint64> tids;     // their TIDs
    std::vector<float> rows;      // their element rows (vector, attributes)
    // Of the rows' vectors: a scan's first pass reads them and computes
    // exact distances only where their bound leaves a doubt.
    kyrodb::RowCodes codes;
};

struct HotMirror {
    bool valid = false;
    uint64 instance = 0, generation = 0;  // of the metapage it was read under
    uint32 hot_cleared = 0;               // ditto
    uint32 stride = 0;           // floats of an element row: row_floats(meta)
    uint32 dim = 0;              // of the vectors
    HotScanEnd end{};            // where the next read resumes
    std::shared_ptr<HotRows> data;
    // Before the last read: its rows and where it started (hot_mirror_undo_read).
    size_t rows_before = 0;
    HotScanEnd end_before{};
    bool undoable = false;
};

// This backend's copy of the live hot-tier records of `meta`, read from pages
// only as far as it did not hold them already (after a flush, it keeps the
// records the flush left in the hot tier). nullptr if the chain is not
// what `meta` describes (see hot_scan). The copy is only as good as `meta`:
// if the metapage's generation has moved on since, the caller must not use
// it (and should call hot_mirror_forget).
std::shared_ptr<const HotRows> hot_mirror(Relation index, const MetaPage &meta);
// Whether the hot tier of `meta` may be copied: the copies of all indexes
// within kyrodb.max_local_memory, those of other indexes dropped (least
// recently scanned first) to make room. Otherwise a scan reads it from pages,
// as the copy is only a saving of time.
bool hot_mirror_fits(Relation index, const MetaPage &meta);
void hot_mirror_forget(Relation index);
// Drops the rows the last hot_mirror() call read, when the directory moved
// while it read them (its pages may have been reused): the rows read under
// earlier directories stay, and the next call reads the rest again. Starting
// over instead makes the next query read the whole hot tier from pages, which
// under a bulk load took 1.1 s at 236,000 rows.
void hot_mirror_undo_read(Relation index);

}  // namespace kyrodb::pg
