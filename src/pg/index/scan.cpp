// Ordered index scans: ORDER BY embedding <op> $1.
//
// The hot tier is scanned exactly (from this backend's copy first on 7-bit
// codes, whose lower bounds leave the exact distance to the rows a stage's
// frontier reaches: kyrodb/row_codes.h); the segments are searched with HNSW,
// largest first: it gets a beam of width ef (kyrodb.ef_search), and each
// smaller one stops at the distance the searches before it reached (with a
// beam of its own in proportion to its size), so a small segment costs what
// it can contribute, not a full search. The results are merged by distance.
//
// A scan works in stages: it returns the merged rows up to the "frontier"
// (the nearest distance up to which some approximate search is incomplete:
// the far end of a full beam), and when the executor wants more, the next
// stage searches again with twice the width, skipping what was returned.
// Rows a wider stage finds can be nearer than the last one returned before
// it. Once the width covers a segment, that segment is scanned exactly, and
// once a scan has returned kyrodb.max_scan_tuples rows every segment is, so a
// scan without LIMIT (or whose filter above it rejects many rows) returns
// every row, bounded in cost, never stopping early.
//
// So ef_search >= LIMIT answers from one beam of that width, and recall
// grows with it; below LIMIT, the stages after the first (widths 2 ef, 4 ef,
// ...) find the rest, costing about what one search of the final width does.
//
// Conditions on filter columns (attributes.cpp) become a kyrodb::Filter: the
// hot tier skips rows that fail it, a segment whose postings say few rows
// match is scanned exactly over those rows only, and otherwise the graph walk
// leaves non-matching rows out of its results, the stages widening it until
// the executor has its LIMIT.
//
// The result cache (cache.cpp) holds first stages: per segment searched with
// HNSW, its results and what the search was called with (the segment's
// tombstone generation, radius and beam). A hit reuses a part only when the
// search would now be called with exactly that on the same immutable
// segment, so it returns what the search would; any other segment (new,
// merged, vacuumed, or reached with another frontier) is searched live and
// the entry updated. Segments scanned exactly and the hot tier are always
// read live, and the stages after the first never use the cache.
#include "runtime/cache.h"
#include "runtime/companion.h"
#include "runtime/crash.h"
#include "runtime/guard.h"
#include "index/attributes.h"
#include "index/hot_mirror.h"
#include "index/index.h"
#include "type/vector.h"

#include <algorithm>
#include <limits>

#include "kyrodb/hnsw.h"

extern "C" {
#include "access/relscan.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"
}

namespace kyrodb::pg {
namespace {

struct Segment {
    SegmentEntry entry;
    ImageRef image;
    // Ids returned by earlier stages, sorted (few: a bitset sized to the
    // segment would cost every query more than the lookups do).
    std::vector<uint32> returned;
    bool exact = false;  // every element is in `exact_results`
    std::vector<kyrodb::Neighbor> exact_results;

    bool was_returned(uint32 id) const { return std::binary_search(returned.begin(), returned.end(), id); }
};

struct HotRow {
    float distance;
    uint64 tid;
    bool returned;
    // For an index-only scan: the vector, then its attributes (null for a
    // row read from pages whose copy was not kept: see HotCopy).
    const float *row;
    uint64 record;  // in the hot tier (rows read from pages)
};

// An index-only scan over a hot tier read from pages keeps copies of the
// values of its nearest kHotCopyRows rows, not of all (which could be more
// than kyrodb.max_local_memory); one returning more reads the next nearest
// from the pages again (refill_hot_copies).
constexpr size_t kHotCopyRows = 1024;
struct HotCopy {
    float distance;
    uint32 hot;   // index in ScanState::hot
    uint32 slot;  // in ScanState::hot_copies
    bool operator<(const HotCopy &o) const { return distance < o.distance; }  // a max-heap: farthest on top
};

struct Candidate {
    float distance;
    uint32 segment;  // kHot for a hot-tier row
    uint32 id;
    uint64 tid;
};
constexpr uint32 kHot = UINT32_MAX;
// A row queued for return, and where its values are.
struct Ready {
    uint64 tid;
    uint32 segment;  // kHot for a hot-tier row
    uint32 id;       // its element, or its index in ScanState::hot
};
// A hot_bounds entry whose row is in ScanState::hot: NaN, which no bound is
// and which compares false with every frontier.
constexpr float kReached = std::numeric_limits<float>::quiet_NaN();

enum class CacheUse { Off, Lookup, Refresh };

struct ScanState {
    kyrodb::Metric metric = kyrodb::Metric::L2;
    uint32 dim = 0;
    uint32 attributes = 0;     // filter columns of the index
    std::vector<float> query;  // empty for ORDER BY ... <-> NULL
    kyrodb::Filter filter;     // from the scan keys on filter columns
    bool recheck = false;      // the executor rechecks them (hashed columns)
    bool want_values = false;  // an index-only scan: rows come back with their values
    bool started = false;
    bool finished = false;
    bool all_exact = false;  // past kyrodb.max_scan_tuples: every segment scanned exactly
    size_t ef = 0;
    size_t first_ef = 0;     // of the first stage
    uint64 generation = 0;   // of the directory the scan started from
    bool paged = false;      // some segment (or an index-only scan's hot tier) is read from pages
    bool locked = false;     // holding the maintenance lock (shared) until the scan ends
    bool index_only_locked = false;  // holding the index-only scan interlock (lock_index_only)
    Relation index = nullptr;
    std::vector<Segment> segments;
    std::vector<HotRow> hot;  // with exact distances
    // Rows read from pages, kept for an index-only scan (sized up front:
    // HotRow::row points into it), a heap of those kept while reading, and
    // the directory they were read under (held by the maintenance lock).
    std::vector<float> hot_copies;
    std::vector<HotCopy> hot_kept;
    std::unique_ptr<MetaPage> hot_meta;
    // From this backend's copy: a lower bound of each row's distance from its
    // code, until a stage's frontier reaches it and it joins `hot` (then
    // kReached).
    std::shared_ptr<const HotRows> hot_rows;
    size_t hot_stride = 0;  // of its rows
    std::vector<float> hot_bounds;
    std::vector<Ready> ready;
    size_t ready_next = 0;
    uint64 returned = 0;
    std::vector<kyrodb::Neighbor> results;
    std::vector<Candidate> candidates;
    std::vector<uint32> exact_segments;  // of this stage
    uint64 instance = 0;  // of the build the directory belongs to
    bool first_stage = true;
    // The result cache, for the first stage: the key, what it held, and what
    // this stage's HNSW searches found (to store).
    CacheUse cache = CacheUse::Off;
    std::vector<uint8> cache_key;
    kyrodb::CachedResult cached;
    std::vector<kyrodb::ResultItem> part_items;
    std::vector<kyrodb::Part> parts;
    std::vector<size_t> part_first;  // of each part's items in part_items
    uint32 parts_searched = 0;  // live HNSW searches in the first stage
};

// The scan state's C++ objects live until amendscan or, if the query fails
// first, until its memory context goes away: this callback then runs their
// destructors.
struct StateHolder {
    ScanState *state;
    MemoryContextCallback callback;
};

// Drops the scan state; a held maintenance lock goes with it (or, when the
// query failed, with the transaction).
void release_state(StateHolder *holder, bool unlock) {
    ScanState *s = holder->state;
    holder->state = nullptr;
    if (s != nullptr && s->locked && unlock) unlock_maintenance(s->index, ShareLock);
    if (s != nullptr && s->index_only_locked && unlock) unlock_index_only(s->index);
    delete s;
}

void destroy_state(void *arg) { release_state(static_cast<StateHolder *>(arg), false); }

// Scratch of the HNSW search (visited marks sized to the largest segment),
// kept for the backend's life: allocating it per query would cost more than
// the search. Each search runs to completion before another starts, so
// interleaved scans can share it.
kyrodb::Searcher &searcher() {
    static kyrodb::Searcher instance;
    instance.set_use_sq8(quantized_search);
    return instance;
}

// Whether an element row (vector, then attributes) passes the scan's filter.
bool row_matches(const ScanState &s, const float *row) {
    if (!s.filter.active()) return true;
    uint64 attrs[1 + kyrodb::kMaxAttributes];  // the row's words may not be 8-byte aligned
    memcpy(attrs, row + s.dim, sizeof(uint64) * kyrodb::attr_row_words(s.attributes));
    return s.filter.matches(attrs);
}

bool visit_hot(void *context, uint64 record, uint64 tid, const float *row) {
    auto *s = static_cast<ScanState *>(context);
    // capacity was reserved for every record: no allocation, no throw here
    if (!row_matches(*s, row)) return true;
    const float distance = kyrodb::index_distance(s->metric, s->query.data(), row, s->dim);
    const float *kept = nullptr;
    if (s->want_values) {  // keep the nearest kHotCopyRows
        const size_t stride = kyrodb::row_floats(s->dim, s->attributes);
        std::vector<HotCopy> &heap = s->hot_kept;
        uint32 slot;
        if (heap.size() < kHotCopyRows) {
            slot = uint32(heap.size());
            heap.push_back({});
        } else if (distance < heap.front().distance) {
            std::pop_heap(heap.begin(), heap.end());
            s->hot[heap.back().hot].row = nullptr;
            slot = heap.back().slot;
        } else {
            slot = UINT32_MAX;
        }
        if (slot != UINT32_MAX) {
            float *copy = s->hot_copies.data() + size_t(slot) * stride;
            memcpy(copy, row, sizeof(float) * stride);
            kept = copy;
            heap.back() = {distance, uint32(s->hot.size()), slot};
            std::push_heap(heap.begin(), heap.end());
        }
    }
    s->hot.push_back({distance, tid, false, kept, record});
    return true;
}

// Reads the directory, takes every segment's image and the hot tier's rows
// (from this backend's copy of it, or if that would be too large, pages).
// Throws StaleSegment if a flush or merge moved the directory on meanwhile
// (pages read may have been reused).
void start_once(Relation index, ScanState &s) {
    MetaPage meta;
    pg_call([&] { read_meta(index, &meta); });
    s.segments.clear();
    s.segments.reserve(meta.n_segments);
    s.generation = meta.generation;
    s.instance = meta.instance;
    for (uint32 i = 0; i < meta.n_segments; i++) {
        Segment seg;
        seg.entry = meta.segments[i];
        seg.image = segment_image(index, meta, seg.entry, true);
        s.paged |= seg.image.paged != nullptr;
        s.segments.push_back(std::move(seg));
    }
    std::stable_sort(s.segments.begin(), s.segments.end(),
                     [](const Segment &a, const Segment &b) { return a.entry.count > b.entry.count; });
    pg_call([] { crash_point("scan.directory_read"); });
    std::shared_ptr<const HotRows> hot;
    bool consistent = false;
    s.hot.clear();
    s.hot_rows.reset();
    s.hot_bounds.clear();
    if (hot_mirror_fits(index, meta)) {
        hot = hot_mirror(index, meta);
        consistent = hot != nullptr;
    } else {
        hot_mirror_forget(index);
        const uint64 rows = meta.hot_end - meta.hot_start;
        s.hot.reserve(rows);
        s.hot_kept.clear();
        if (s.want_values) {
            s.hot_copies.resize(std::min<uint64>(rows, kHotCopyRows) * row_floats(meta));
            s.hot_kept.reserve(kHotCopyRows);
            s.hot_meta = std::make_unique<MetaPage>(meta);
            s.paged = true;  // the rows not kept are read again: their pages must stay
        }
        pg_call([&] { consistent = hot_scan(index, meta, visit_hot, &s, nullptr); });
    }
    MetaPage after;
    pg_call([&] { read_meta(index, &after); });
    if (after.generation != meta.generation) {  // what was read may come from reused pages
        hot.reset();                             // the copy is changed in place only while no scan holds it
        hot_mirror_undo_read(index);
        throw StaleSegment();
    }
    if (!consistent)  // the chain was not what an unchanged directory says: not a race
        pg_call([&] { hot_tier_inconsistent(index); });
    if (hot == nullptr) return;
    const size_t n = hot->tids.size(), stride = row_floats(meta);
    if (hot->codes.usable() && hot->codes.size() == n) {
        s.hot_bounds.resize(n);
        hot->codes.lower_bounds(s.metric, s.query.data(), s.hot_bounds.data());
        s.hot_rows = std::move(hot);
        s.hot_stride = stride;
        return;
    }
    s.hot.reserve(n);
    for (size_t h = 0; h < n; h++) {
        const float *row = &hot->rows[h * stride];
        if (row_matches(s, row))
            s.hot.push_back(
                {kyrodb::index_distance(s.metric, s.query.data(), row, s.dim), hot->tids[h], false, row, 0});
    }
    s.hot_rows = std::move(hot);  // keeps the rows HotRow::row points to
}

void start(Relation index, ScanState &s) {
    const IndexCache &cache = index_cache(index);
    // Every distance to NULL is NULL, so any order is right; every row is still owed.
    if (s.query.empty()) {
        s.query.assign(cache.dim, 0.0f);
        s.cache = CacheUse::Off;
    }
    if (s.query.size() != size_t(cache.dim))
        pg_call([&] {
            ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                            errmsg("different vector dimensions %d and %zu", cache.dim, s.query.size())));
        });
    s.dim = cache.dim;
    s.metric = cache.metric;
    s.attributes = cache.attributes;
    if (s.filter.impossible()) {  // e.g. `category = NULL`: no row can qualify
        s.started = s.finished = true;
        return;
    }
    if (s.cache != CacheUse::Refresh) {  // a refresh's query and ef come from its key, prepared
        s.ef = std::max(ef_search, 1);
        kyrodb::prepare_vector(s.metric, s.query.data(), s.dim);
    }
    s.first_ef = s.ef;
    // Entries hold what the default search finds, so other searches neither read nor store them.
    if (s.cache == CacheUse::Lookup && (exact_search || !quantized_search || !cache_usable())) s.cache = CacheUse::Off;
    // A scan starts over when the directory moves under it. On a primary, after
    // a few tries it holds off flushes and merges (the maintenance lock,
    // shared); a standby cannot hold off replay, so it just tries again.
    //
    // A segment read from pages needs them to stay its own until the scan
    // ends: on a primary the scan then holds the lock to the end (taking it
    // and starting over if it found out without it); a standby checks the
    // directory after every stage instead.
    const bool standby = RecoveryInProgress();
    s.index = index;
    if (s.want_values) {  // before anything is read from the index
        lock_index_only(index);
        s.index_only_locked = true;
    }
    pg_call([&] { append_pending(index); });  // this backend's own inserts first
    for (int attempt = 0;; attempt++) {
        if (!standby && !s.locked && attempt >= 3) {
            lock_maintenance(index, ShareLock);
            s.locked = true;
        }
        try {
            start_once(index, s);
        } catch (const StaleSegment &) {
            if (s.locked || attempt >= 100) throw;
            pg_call([] { CHECK_FOR_INTERRUPTS(); });
            continue;
        }
        if (s.paged && !standby && !s.locked) {
            lock_maintenance(index, ShareLock);
            s.locked = true;
            continue;  // the directory read before the lock may be gone already
        }
        break;
    }
    if (s.locked && !s.paged) {
        unlock_maintenance(index, ShareLock);
        s.locked = false;
    }
    if (s.cache == CacheUse::Lookup)
        cache_key(index, uint32(s.metric), s.dim, s.instance, uint32(s.ef), s.query.data(), s.filter, &s.cache_key);
    s.started = true;
}

// On a standby, where nothing holds replay off: the pages a paged segment
// was read from are only trusted while the directory has not moved.
void check_directory_unchanged(ScanState &s) {
    MetaPage now;
    pg_call([&] { read_meta(s.index, &now); });
    if (now.generation == s.generation) return;
    pg_call([&] {
        ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
                        errmsg("index \"%s\" changed during a scan that reads its pages", RelationGetRelationName(s.index)),
                        errdetail("Replay merged segments that the scan was reading from shared buffers."),
                        errhint("Retry the query; with the index in shared memory (kyrodb.shared_memory_size) "
                                "or in kyrodb.max_local_memory this cannot happen.")));
    });
}

// A segment read from pages found something its header rules out. Under
// the maintenance lock its pages cannot have been reused: corruption.
void paged_inconsistent(ScanState &s, const Segment &seg) {
    if (!s.locked) check_directory_unchanged(s);
    pg_call([&] {
        ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
                        errmsg("segment %llu of index \"%s\" is corrupt: its graph contradicts its header",
                               (unsigned long long) seg.entry.id, RelationGetRelationName(s.index)),
                        errhint("REINDEX the index.")));
    });
}

const kyrodb::Filter *filter_of(const ScanState &s) { return s.filter.active() ? &s.filter : nullptr; }

// Whether to scan a segment exactly rather than walk its graph. Unfiltered: a
// beam this wide visits about as many elements as an exact scan. Filtered:
// the exact scan reads the postings of `matching` elements, while the walks
// of the stages, widening until LIMIT rows match, visit about (8 ef) /
// selectivity elements in all, so it is cheaper when matching^2 < 8 ef count
// (at 1,000,000 elements and ef 40: below 1.8 %). Decided with the first
// stage's ef: the later stages' walks are what that estimate counted.
bool scan_exactly(const ScanState &s, const Segment &seg) {
    if (exact_search || s.all_exact || s.ef * 8 >= seg.entry.count) return true;
    if (!s.filter.active()) return false;
    const double matching = double(image_matching_estimate(searcher(), seg.image, s.filter));
    return matching * matching <= 8.0 * double(s.first_ef) * double(seg.entry.count);
}

// A first-stage search with the cache: the cached part when it is reusable,
// else a live search. Either way the results are in s.results and kept to
// store; returns the distance up to which they are complete.
float search_or_reuse(ScanState &s, const Segment &seg, const kyrodb::PartBasis &basis, bool hit) {
    const kyrodb::CachedPart *part =
        hit ? kyrodb::reusable_part(s.cached, seg.entry.id, basis, seg.image.deleted ? seg.image.deleted->data() : nullptr,
                                    seg.entry.count)
            : nullptr;
    float covered;
    if (part != nullptr) {
        s.results.resize(part->n);
        for (uint32 k = 0; k < part->n; k++) {
            const kyrodb::ResultItem &item = s.cached.items[part->first + k];
            s.results[k] = {item.distance, item.id};
        }
        covered = part->covered;
    } else {
        covered = search_image(searcher(), seg.image, s.query.data(), s.ef, filter_of(s), &s.results, basis.radius,
                               basis.beam);
        s.parts_searched++;
    }
    s.part_first.push_back(s.part_items.size());
    for (const kyrodb::Neighbor &n : s.results) s.part_items.push_back({n.id, n.distance});
    s.parts.push_back({seg.entry.id, covered, uint32(s.results.size()), nullptr, basis});  // items: store_parts
    return covered;
}

// Stores what the first stage searched: a miss as a new entry, a hit whose
// parts were stale or missing (a new or merged segment) as new parts.
void store_parts(ScanState &s, bool hit) {
    if (s.parts.empty()) return;
    if (hit && s.parts_searched == 0 && s.cached.parts.size() == s.parts.size()) return;  // nothing changed
    if (!hit && s.cache == CacheUse::Refresh) return;  // the entry went meanwhile
    for (size_t i = 0; i < s.parts.size(); i++) s.parts[i].items = s.part_items.data() + s.part_first[i];
    cache_store(s.index, s.cache_key, s.parts, hit, s.parts_searched);
}

// One stage: search the segments (largest first, each bounded by the
// frontier the ones before it set), merge with the hot tier, and queue the
// rows up to the frontier. Once every segment is scanned exactly there is no
// frontier: the nearest `ef` remaining rows are queued per stage, selected
// without sorting the rest.
void run_stage(ScanState &s) {
    float frontier = kyrodb::Searcher::kUnbounded;
    bool all_exact = true;
    const uint32 first = s.segments.empty() ? 0 : s.segments[0].entry.count;
    s.candidates.clear();
    const bool caching = s.first_stage && s.cache != CacheUse::Off;
    bool hit = false;
    if (caching) {
        hit = s.cache == CacheUse::Lookup ? cache_lookup(s.cache_key, &s.cached) : cache_peek(s.cache_key, &s.cached);
        s.part_items.clear();
        s.parts.clear();
        s.part_first.clear();
        s.parts_searched = 0;
    }
    for (uint32 i = 0; i < s.segments.size(); i++) {
        Segment &seg = s.segments[i];
        const std::vector<kyrodb::Neighbor> *found = &seg.exact_results;
        if (!seg.exact && scan_exactly(s, seg)) {
            exact_image(searcher(), seg.image, s.query.data(), filter_of(s), &seg.exact_results);
            seg.exact = true;
        }
        if (!seg.exact) {
            const bool bounded = frontier != kyrodb::Searcher::kUnbounded;
            const kyrodb::PartBasis basis{seg.entry.tomb_generation, frontier,
                                          uint32(bounded ? kyrodb::secondary_beam(s.ef, seg.entry.count, first) : s.ef)};
            const float covered = caching ? search_or_reuse(s, seg, basis, hit)
                                          : search_image(searcher(), seg.image, s.query.data(), s.ef, filter_of(s),
                                                         &s.results, basis.radius, basis.beam);
            frontier = std::min(frontier, covered);
            found = &s.results;
            all_exact = false;
        }
        if (seg.exact)
            s.exact_segments.push_back(i);  // their candidates once the frontier is known
        else
            for (const kyrodb::Neighbor &n : *found)
                if (!seg.was_returned(n.id)) s.candidates.push_back({n.distance, i, n.id, image_payload(seg.image, n.id)});
        if (image_read_garbage(seg.image)) paged_inconsistent(s, seg);
    }
    // An exact segment can hold many rows (a filter's matches), of which this
    // stage takes only those up to the frontier or, with no frontier, the
    // nearest ef: only they become candidates (reading a TID costs a cache miss).
    size_t omitted = 0;
    for (uint32 i : s.exact_segments) {
        Segment &seg = s.segments[i];
        std::vector<kyrodb::Neighbor> &all = seg.exact_results;
        size_t upto = all.size();
        if (all_exact) {
            upto = std::min(all.size(), s.ef + seg.returned.size());
            std::nth_element(all.begin(), all.begin() + upto, all.end(),
                             [](const kyrodb::Neighbor &a, const kyrodb::Neighbor &b) { return a.distance < b.distance; });
        }
        size_t pushed = 0;
        for (size_t k = 0; k < upto; k++) {
            const kyrodb::Neighbor &n = all[k];
            if (n.distance > frontier || seg.was_returned(n.id)) continue;
            s.candidates.push_back({n.distance, i, n.id, image_payload(seg.image, n.id)});
            pushed++;
        }
        const size_t left = all.size() - std::min(all.size(), seg.returned.size());  // not returned yet
        omitted += left - std::min(left, pushed);
    }
    s.exact_segments.clear();
    if (s.paged && !s.locked) check_directory_unchanged(s);
    if (caching) store_parts(s, hit);
    s.first_stage = false;
    for (size_t r = 0; r < s.hot_bounds.size(); r++) {
        if (!(s.hot_bounds[r] <= frontier)) continue;  // beyond it, or kReached
        s.hot_bounds[r] = kReached;
        const float *row = &s.hot_rows->rows[r * s.hot_stride];
        if (row_matches(s, row))
            s.hot.push_back(
                {kyrodb::index_distance(s.metric, s.query.data(), row, s.dim), s.hot_rows->tids[r], false, row, 0});
    }
    for (uint32 h = 0; h < s.hot.size(); h++)
        if (!s.hot[h].returned && s.hot[h].distance <= frontier)
            s.candidates.push_back({s.hot[h].distance, kHot, h, s.hot[h].tid});

    auto nearer = [](const Candidate &a, const Candidate &b) {
        return a.distance < b.distance || (a.distance == b.distance && a.tid < b.tid);
    };
    size_t take = s.candidates.size();
    if (all_exact) {
        take = std::min(take, s.ef);
        std::nth_element(s.candidates.begin(), s.candidates.begin() + take, s.candidates.end(), nearer);
        if (take == s.candidates.size() && omitted == 0) s.finished = true;
    }
    std::sort(s.candidates.begin(), s.candidates.begin() + take, nearer);
    s.ready.clear();
    s.ready_next = 0;
    for (size_t k = 0; k < take; k++) {
        const Candidate &c = s.candidates[k];
        if (c.distance > frontier) break;
        if (c.segment == kHot)
            s.hot[c.id].returned = true;
        else
            s.segments[c.segment].returned.push_back(c.id);
        s.ready.push_back({c.tid, c.segment, c.id});
    }
    for (Segment &seg : s.segments) std::sort(seg.returned.begin(), seg.returned.end());
    s.ef *= 2;
}

ScanState *state_of(IndexScanDesc scan) { return static_cast<StateHolder *>(scan->opaque)->state; }

struct Refill {
    ScanState *s;
    const uint32 *wanted;  // indexes in s->hot, in record order
    size_t n, next;
    size_t stride;
    bool mismatch;
};

bool refill_row(void *context, uint64 record, uint64 tid, const float *row) {
    auto *f = static_cast<Refill *>(context);
    HotRow &h = f->s->hot[f->wanted[f->next]];
    if (record < h.record) return true;
    if (record > h.record || tid != h.tid) {
        f->mismatch = true;
        return false;
    }
    float *copy = f->s->hot_copies.data() + f->next * f->stride;
    memcpy(copy, row, sizeof(float) * f->stride);
    h.row = copy;
    return ++f->next < f->n;
}

// Reads from pages again, for an index-only scan, the values of the hot rows
// queued from s.ready[from] on and of the nearest ones not queued yet, up to
// kHotCopyRows in all (or as many as are queued); the copies kept before go.
// The maintenance lock has held the pages since the scan read them.
void refill_hot_copies(ScanState &s, size_t from) {
    std::vector<uint32> wanted;
    for (size_t k = from; k < s.ready.size(); k++)
        if (s.ready[k].segment == kHot) wanted.push_back(s.ready[k].id);
    if (wanted.size() < kHotCopyRows) {
        std::vector<uint32> rest;
        for (uint32 h = 0; h < s.hot.size(); h++)
            if (!s.hot[h].returned) rest.push_back(h);
        const size_t take = std::min(rest.size(), kHotCopyRows - wanted.size());
        auto nearer = [&](uint32 a, uint32 b) { return s.hot[a].distance < s.hot[b].distance; };
        std::nth_element(rest.begin(), rest.begin() + take, rest.end(), nearer);
        wanted.insert(wanted.end(), rest.begin(), rest.begin() + take);
    }
    std::sort(wanted.begin(), wanted.end());  // s.hot is in record order
    for (HotRow &h : s.hot) h.row = nullptr;
    const size_t stride = row_floats(*s.hot_meta);
    s.hot_copies.resize(wanted.size() * stride);
    Refill f{&s, wanted.data(), wanted.size(), 0, stride, false};
    bool consistent = false;
    pg_call([&] { consistent = hot_scan(s.index, *s.hot_meta, refill_row, &f, nullptr); });
    if (!consistent || f.mismatch || f.next != f.n) pg_call([&] { hot_tier_inconsistent(s.index); });
}

// An index-only scan's row: its values as a tuple of the index's columns,
// those the index cannot give back (see am_can_return) NULL.
void return_values(IndexScanDesc scan, ScanState &s, const Ready &r) {
    const float *vector;
    uint64 attrs[1 + kyrodb::kMaxAttributes] = {};
    const size_t words = kyrodb::attr_row_words(s.attributes);
    if (r.segment == kHot) {
        if (s.hot[r.id].row == nullptr) refill_hot_copies(s, s.ready_next - 1);
        vector = s.hot[r.id].row;
        memcpy(attrs, vector + s.dim, sizeof(uint64) * words);  // the row's words may not be 8-byte aligned
    } else {
        const Segment &seg = s.segments[r.segment];
        if (words > 0) memcpy(attrs, image_attr_row(seg.image, r.id), sizeof(uint64) * words);
        vector = image_vector(seg.image, r.id);  // last: a paged image's pointer holds until its next read
        if (image_read_garbage(seg.image)) paged_inconsistent(s, seg);
    }
    pg_call([&] {
        const IndexCache &cache = index_cache(scan->indexRelation);
        Datum values[INDEX_MAX_KEYS];
        bool isnull[INDEX_MAX_KEYS];
        Vector *v = nullptr;
        isnull[0] = s.metric == kyrodb::Metric::Cosine;
        values[0] = 0;
        if (!isnull[0]) {
            v = new_vector(int(s.dim));
            memcpy(v->x, vector, sizeof(float) * s.dim);
            values[0] = PointerGetDatum(v);
        }
        for (uint32 a = 0; a < s.attributes; a++) {
            isnull[1 + a] = ((attrs[0] >> a) & 1) != 0 || !attr_returnable(cache.attr_types[a]);
            values[1 + a] = isnull[1 + a] ? Datum(0) : decode_attribute(cache.attr_types[a], attrs[1 + a]);
        }
        if (scan->xs_hitup != nullptr) heap_freetuple(scan->xs_hitup);
        scan->xs_hitup = heap_form_tuple(scan->xs_hitupdesc, values, isnull);
        if (v != nullptr) pfree(v);
    });
}

}  // namespace

IndexScanDesc begin_scan(Relation index, int nkeys, int norderbys) {
    notice_pgvector_settings();
    IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
    auto *holder = static_cast<StateHolder *>(palloc0(sizeof(StateHolder)));
    holder->callback.func = destroy_state;
    holder->callback.arg = holder;
    MemoryContextRegisterResetCallback(CurrentMemoryContext, &holder->callback);
    scan->opaque = holder;
    scan->xs_hitupdesc = RelationGetDescr(index);
    guarded([&] { holder->state = new ScanState(); });
    return scan;
}

void rescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys) {
    guarded([&] {
        auto fresh = std::make_unique<ScanState>();
        fresh->cache = CacheUse::Lookup;
        if (keys != nullptr && nkeys > 0) memmove(scan->keyData, keys, nkeys * sizeof(ScanKeyData));
        if (orderbys != nullptr && norderbys > 0) memmove(scan->orderByData, orderbys, norderbys * sizeof(ScanKeyData));
        if (scan->numberOfKeys > 0) {
            IndexCache cache;
            pg_call([&] { cache = index_cache(scan->indexRelation); });
            fresh->recheck = scan_filter(cache, scan->keyData, scan->numberOfKeys, &fresh->filter);
        }
        if (scan->numberOfOrderBys == 0)
            pg_call([] {
                ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                                errmsg("cannot scan a kyrodb index without ORDER BY"),
                                errhint("Use ORDER BY embedding <-> value (or <#>, <=>).")));
            });
        ScanKey key = &scan->orderByData[0];
        if (!(key->sk_flags & SK_ISNULL)) {
            Vector *v = nullptr;
            pg_call([&] { v = datum_get_vector(key->sk_argument); });
            fresh->query.assign(v->x, v->x + v->dim);
        }
        auto *holder = static_cast<StateHolder *>(scan->opaque);
        release_state(holder, true);
        holder->state = fresh.release();
    });
}

bool get_tuple(IndexScanDesc scan, ScanDirection) {
    return guarded([&] {
        ScanState &s = *state_of(scan);
        if (!s.started) {
            pgstat_count_index_scan(scan->indexRelation);  // pg_stat_user_indexes.idx_scan
            s.want_values = scan->xs_want_itup;
            start(scan->indexRelation, s);
        }
        while (s.ready_next == s.ready.size()) {
            if (s.finished) return false;
            // Wider and wider graph searches cost more per new row than one
            // exact scan once many rows are wanted.
            if (s.returned >= static_cast<uint64>(max_scan_tuples)) s.all_exact = true;
            run_stage(s);
        }
        const Ready &r = s.ready[s.ready_next++];
        decode_tid(r.tid, &scan->xs_heaptid);
        if (s.want_values) return_values(scan, s, r);
        s.returned++;
        scan->xs_recheck = s.recheck;
        scan->xs_recheckorderby = false;
        return true;
    });
}

void end_scan(IndexScanDesc scan) { release_state(static_cast<StateHolder *>(scan->opaque), true); }

bool refresh_cached_query(Relation index, const std::vector<uint8> &key) {
    if (!quantized_search) return false;  // see start(): entries hold the default search's results
    CacheKeyHeader h;
    const IndexCache &cache = index_cache(index);
    const size_t query_end = sizeof h + size_t(cache.dim) * sizeof(float);
    if (key.size() < query_end) return false;
    memcpy(&h, key.data(), sizeof h);
    if (h.dim != uint32(cache.dim) || h.metric != uint32(cache.metric) || h.ef == 0) return false;
    ScanState s;
    if (!kyrodb::Filter::parse(key.data() + query_end, key.size() - query_end, &s.filter)) return false;
    s.cache = CacheUse::Refresh;
    s.cache_key = key;
    s.query.resize(h.dim);
    memcpy(s.query.data(), key.data() + sizeof h, size_t(h.dim) * sizeof(float));
    s.ef = h.ef;
    start(index, s);
    if (s.instance == h.instance) run_stage(s);
    if (s.locked) unlock_maintenance(index, ShareLock);
    return s.instance == h.instance && s.parts_searched > 0;
}

}  // namespace kyrodb::pg
