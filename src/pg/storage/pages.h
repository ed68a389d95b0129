// The index on disk: a metapage, an append-only hot tier, and immutable
// segments. Hot tier and segments are byte streams laid over pages, so an
// element may cross a page boundary and dimensions are not capped by BLCKSZ.
// Every change is WAL-logged: Generic WAL for in-place changes, full-page
// images (log_newpage_range) for pages written whole.
#pragma once

#include "pg.h"

extern "C" {
#include "storage/block.h"
#include "storage/bufmgr.h"
#include "storage/itemptr.h"
#include "utils/rel.h"
}

#include <cstdint>
#include <vector>

#include "kyrodb/filter.h"
#include "kyrodb/metric.h"

namespace kyrodb::pg {

constexpr uint32 kMetaMagic = 0x4B59524Fu;  // "KYRO"
// 2: pages accounted in the metapage (n_blocks), hot-tier appends published by
// their last WAL record.
constexpr uint32 kPageFormatVersion = 2;
constexpr BlockNumber kMetaBlock = 0;
constexpr int kMaxSegments = 128;
constexpr int kMaxFreeExtents = 192;
constexpr int kMaxClaims = 4;

enum PageKind : uint16 { kPageMeta = 1, kPageHot = 2, kPageSegment = 3, kPageTombstone = 4 };

// Special space of every page.
struct PageOpaque {
    BlockNumber next;  // hot tier chain; InvalidBlockNumber elsewhere
    uint16 kind;
    uint16 unused;
};

// Bytes of stream data a page holds.
constexpr Size kPageDataOffset = MAXALIGN(SizeOfPageHeaderData);
constexpr Size kPageDataSize = BLCKSZ - kPageDataOffset - MAXALIGN(sizeof(PageOpaque));

struct SegmentEntry {
    uint64 id;
    BlockNumber first_block;     // image pages, contiguous
    uint32 image_blocks;
    uint64 image_size;
    uint32 count;                // elements
    uint32 tombstones;           // elements deleted by VACUUM
    BlockNumber tomb_first_block;  // bitmap of deleted elements, contiguous pages
    uint32 tomb_blocks;
    uint64 tomb_generation;      // changes whenever the bitmap does
};

// Contiguous free pages: of merged-away segments and flushed hot-tier pages.
struct Extent {
    BlockNumber first;
    uint32 blocks;  // 0: unused
};

struct MetaPage {
    uint32 magic;
    uint32 version;
    uint32 dim;
    uint32 metric;  // kyrodb::Metric
    uint32 m;
    uint32 ef_construction;
    uint64 instance;     // random per build: names this index's images in caches
    uint64 generation;   // changes on every flush, merge and vacuum
    uint64 next_segment_id;
    // hot tier: records of (uint64 heap tid, element row) appended to a page chain
    uint64 hot_start;       // first record not yet flushed into a segment
    uint64 hot_end;         // records appended (published)
    BlockNumber hot_head;   // page holding the first byte of record hot_start (or the page before)
    BlockNumber hot_tail;   // page holding the end of record hot_end - 1; pages linked after
                            // it belong to the hot tier too (left by an append that did not finish)
    uint64 hot_head_pos;    // stream offset of hot_head's first byte
    uint64 hot_tail_pos;    // stream offset of hot_tail's first byte
    uint32 n_segments;
    // Every block below n_blocks is accounted for (metapage, a segment, the
    // hot tier, a claim or the free list); blocks at or above it were added
    // by an extension that crashed before recording them, and are free.
    BlockNumber n_blocks;
    SegmentEntry segments[kMaxSegments];
    // Pages taken from `free_pages` by a flush that has not published yet; a
    // flush that finds any (it crashed or failed) gives them back first.
    Extent claims[kMaxClaims];
    uint32 n_free;
    uint32 forgotten;  // pages dropped because the free list was full (unused until REINDEX)
    Extent free_pages[kMaxFreeExtents];  // sorted by first, never adjacent
    // kyrodb::Quantization of the segments built from now on. Last, so that
    // a metapage written before it existed reads 0 (none) here.
    uint32 quantization;
    // Changes when VACUUM has cleared hot-tier records in place (flushes and
    // merges leave the records after hot_start as they are). Appended like
    // quantization.
    uint32 hot_cleared;
    // Filter attributes (the index's columns after the vector), stored after
    // each vector in hot-tier records and segments. Appended like quantization.
    uint32 attributes;
};
static_assert(sizeof(MetaPage) <= kPageDataSize, "metapage must fit in one page");

// Floats of an element row: the vector, then its attribute row
// (kyrodb/filter.h). Hot-tier records hold one after their TID, and rows
// move between the hot tier, builds and merges in this form.
inline uint32 row_floats(const MetaPage &m) { return uint32(kyrodb::row_floats(m.dim, m.attributes)); }

// Records are 8-byte multiples, and so is a page's data: a record's TID
// never crosses a page boundary (its vector may).
inline Size hot_record_size(uint32 row_floats) { return TYPEALIGN(8, sizeof(uint64) + sizeof(float) * row_floats); }
static_assert(kPageDataSize % 8 == 0, "hot-tier TIDs must not cross pages");

// Heap TIDs as 64-bit payloads; 0 is never a valid TID (offsets start at 1).
inline uint64 encode_tid(ItemPointer tid) {
    return (uint64(ItemPointerGetBlockNumberNoCheck(tid)) << 16) | ItemPointerGetOffsetNumberNoCheck(tid);
}
inline void decode_tid(uint64 v, ItemPointer tid) {
    ItemPointerSet(tid, BlockNumber(v >> 16), OffsetNumber(v & 0xFFFF));
}

inline PageOpaque *page_opaque(Page page) { return reinterpret_cast<PageOpaque *>(PageGetSpecialPointer(page)); }
inline char *page_data(Page page) { return reinterpret_cast<char *>(page) + kPageDataOffset; }
inline MetaPage *meta_of(Page page) { return reinterpret_cast<MetaPage *>(page_data(page)); }

// An empty page of `kind` with `used` data bytes counted in pd_lower, so that
// Generic WAL skips the unused rest.
void init_page(Page page, PageKind kind);
void set_page_used(Page page, Size used);

// The metapage as of now (copied under a share lock). Errors if the index
// is not a kyrodb index of this format or the metapage contradicts itself.
void read_meta(Relation index, MetaPage *out);
// Locks the metapage buffer in `mode` and checks it as read_meta does
// (releasing the buffer before an error); returns the locked buffer.
Buffer lock_meta(Relation index, int mode);

// Adds `blocks` new pages at the end of the relation and puts them on the
// free list (with any pages a crashed extension left unrecorded). Takes the
// extension lock, never while a buffer lock is held by the caller.
void grow(Relation index, uint32 blocks);

// The free-page list of the metapage. free_add keeps it sorted and merged; if
// it is full the smallest extent is forgotten (its pages stay unused until
// REINDEX). free_take takes n contiguous pages from the smallest extent that
// has them; false if none does.
void free_add(MetaPage *meta, BlockNumber first, uint32 blocks);
bool free_take(MetaPage *meta, uint32 blocks, BlockNumber *first);
uint64 free_page_count(const MetaPage &meta);

// Pages of a stream of `size` bytes (at least one).
inline uint32 stream_blocks(Size size) {
    uint32 n = static_cast<uint32>((size + kPageDataSize - 1) / kPageDataSize);
    return n == 0 ? 1 : n;
}
// Writes `size` bytes (zeros when bytes is null) as contiguous `kind` pages,
// logged as full-page images: recycled free pages or new pages at the end of
// the relation, recorded as a claim in the metapage before they are written
// (publish() clears it; a flush that fails leaves it for return_claims).
// Returns the first block; *n_blocks gets the count. Only a holder of the
// maintenance lock (or CREATE INDEX) writes streams.
BlockNumber write_stream(Relation index, PageKind kind, const void *bytes, Size size, uint32 *n_blocks);
// Gives back claims left by a flush that did not publish.
void return_claims(Relation index);

// Appends to *out the blocks of the hot-tier chain from `from` up to, not
// including, `to`; *out must have room reserved (an error if it runs out).
// Only the maintenance lock holder calls it (the chain before the tail is stable).
void hot_chain(Relation index, BlockNumber from, BlockNumber to, std::vector<BlockNumber> *out);

// Reads `size` stream bytes from contiguous pages starting at `first`.
void read_stream_pages(Relation index, BlockNumber first, Size size, void *out);

// Creates the metapage and an empty hot tier page on a new index (fork).
void init_index_pages(Relation index, ForkNumber fork, uint32 dim, kyrodb::Metric metric, uint32 m,
                      uint32 ef_construction, uint32 quantization, uint32 attributes);

// Appends `count` hot-tier records (tids[i], rows[i * row_floats ...]), at most
// hot_batch_rows(row_floats) of them (so that they reach at most 3 pages and are
// one WAL record with the metapage); returns the hot tier's rows after them.
uint64 hot_append(Relation index, const uint64 *tids, const float *rows, uint32 count);
uint32 hot_batch_rows(uint32 row_floats);

// Visits the live hot-tier records [hot_start, hot_end) of `meta` in order,
// while visit returns true, with each record's number and element row (its
// vector, then its attributes), valid only during the call.
// Returns false, having decided nothing from page contents, if the chain is
// not what `meta` describes (a flush freed its pages meanwhile): the caller
// re-reads the metapage and starts again, or reports corruption if the
// metapage did not move.
using HotVisitor = bool (*)(void *context, uint64 record, uint64 tid, const float *vector);
struct HotScanEnd {
    uint64 record;      // first record not visited (hot_end if all were)
    BlockNumber block;  // page holding its first byte (or the page before)
    uint64 page_pos;    // that page's stream offset
};
// `from` (nullable): resume where an earlier scan of the same chain ended
// (its *end) instead of at hot_start: under a metapage of the same generation,
// or of a later one with the same instance and hot_start < from->record (a
// flush frees only pages before the one holding record hot_start, so the page
// `from` names, which holds part of record from->record - 1, is still in the
// chain).
bool hot_scan(Relation index, const MetaPage &meta, HotVisitor visit, void *context, HotScanEnd *end,
              const HotScanEnd *from = nullptr);
// Reports a hot tier that is not what a metapage that cannot have moved
// meanwhile lists (hot_scan returned false, or a record read again differs).
[[noreturn]] void hot_tier_inconsistent(Relation index);

// Clears the TID of every hot-tier record in [hot_start, hot_end) for which
// callback says the heap row is dead; *removed and *live count them.
void hot_delete(Relation index, const MetaPage &meta, bool (*callback)(ItemPointer, void *), void *state,
                uint64 *removed, uint64 *live);

// Metric from the opclass's support function 1 (its distance function).
kyrodb::Metric index_metric(Relation index);

}  // namespace kyrodb::pg
