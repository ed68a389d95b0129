// HNSW over segment images: the parallel builder (hnswlib constructs the graph, which is then
// serialized into a flat image) and the searcher, which runs on the image alone.
#pragma once
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "kyrodb/metric.h"
#include "kyrodb/segment.h"

namespace kyrodb {

struct BuildParams {
    Metric metric;
    uint32_t dim;
    uint32_t m = 16;               // 2..10000
    uint32_t ef_construction = 64;
    unsigned threads = 0;          // 0 = std::thread::hardware_concurrency()
    uint64_t seed = 42;            // levels are drawn from it: with threads = 1 the image is deterministic
    int nice = 0;                  // > 0: worker threads lower their scheduling priority by this much
                                   // (Linux per-thread nice), so that a background build yields the CPU
    Quantization quantization = Quantization::None;  // SQ8: the image also holds 8-bit codes of the
                                   // vectors (per-dimension min/max over this segment), which the
                                   // Searcher traverses the graph with (see Searcher::set_use_sq8)
    uint32_t attributes = 0;       // filter attributes: each input row is dim floats followed by an
                                   // attribute row (filter.h), row_floats(dim, attributes) floats in all
    bool vectors_by_reference = false;  // the graph under construction points at each vector (in the
                                   // input rows, or the image being extended) instead of holding a copy:
                                   // at 128 dims a third fewer bytes per element (build_bytes_per_element),
                                   // but inserts about 20 % slower, as hnswlib cannot prefetch the next
                                   // vector. The image is the same either way.
    bool graph_order = false;      // element ids follow a breadth-first walk of the graph's level 0 from
                                   // the entry point instead of the input order, so that neighbours'
                                   // vectors and codes share pages: at 1,000,000 x 128 on 4 kB pages a
                                   // list spans 11.7 pages of codes instead of 15.3, and a search takes
                                   // 0.7-1.0x the time. The graph is the same either way; payload(id)
                                   // says which input row an id is.
};

// Builds an HNSW graph over n vectors (n rows of row_floats(dim, attributes) floats: each vector,
// already passed through prepare_vector, then its attribute row if any) with their payloads and returns the serialized segment image (n may be 0: a valid empty image).
// Threads: worker threads block all signals (pthread_sigmask) first thing, touch only the inputs and
// the graph, never call `poll`. The calling thread, while workers run, calls poll(done) about every
// 50-100 ms with the number of elements inserted so far (and once at the end with n). If poll throws,
// build_segment tells the workers to stop, joins them, frees everything (RAII) and rethrows the same
// exception. Exceptions inside workers (e.g. std::bad_alloc) are captured and rethrown on the calling
// thread after joining. Vectors must be finite. Element ids in the image are the input order (0..n-1),
// so payload(i) == payloads[i] and vector(i) equals the input vector i, unless params.graph_order
// renumbers them (a permutation: each id's vector, attribute row and payload are its input row's).
// Throws std::invalid_argument for bad parameters (dim == 0, m outside 2..10000, a metric outside
// the enum, a quantization outside the enum, n >= UINT32_MAX) or a non-finite vector, before any
// thread starts.
std::vector<uint8_t> build_segment(const BuildParams &params, const float *vectors, const uint64_t *payloads,
                                   std::size_t n, const std::function<void(std::size_t done)> &poll);

// The image of `base`'s elements followed by n more: `vectors` and `payloads` are the new rows only
// (as build_segment takes them), which become elements count()..count()+n-1. base's graph is kept
// as it is (levels, neighbour lists, entry point) and the new elements are inserted into it as
// build_segment inserts, so the work is that of inserting n elements, not of building all: a merge
// of small segments into a large one. base's vectors, attribute rows and payloads are read from its
// image, so the caller holds no copy of them. Elements 0..count()-1 keep their ids, so base's
// tombstones apply to the new image unchanged (deleted elements stay in the graph, as they are in
// base). params must match base (metric, dim, m, attributes; std::invalid_argument otherwise); the
// quantization may differ: SQ8 codes are computed over all the vectors. poll as build_segment, with
// the count of new elements inserted. With graph_order only the new elements are renumbered, among ids
// count()..count()+n-1. Memory: build_bytes_per_element for each element, base's
// included.
std::vector<uint8_t> extend_segment(const BuildParams &params, const SegmentView &base, const float *vectors,
                                    const uint64_t *payloads, std::size_t n,
                                    const std::function<void(std::size_t done)> &poll);

// Bytes per element the build needs at peak (hnswlib graph + image), for the adapter to size segments
// against maintenance_work_mem; a close upper estimate. Not included: the caller's input arrays and a
// fixed ~3 MB per build (hnswlib's lock table). With SQ8 the image holds dim more bytes per element;
// with vectors_by_reference the graph holds 4 * dim - 8 fewer.
std::size_t build_bytes_per_element(uint32_t dim, uint32_t m, Quantization quantization = Quantization::None,
                                   uint32_t attributes = 0, bool vectors_by_reference = false);

// Whether a build that reads its rows once and splits them into segments of at most `capacity` rows
// ends the segment it is gathering (`gathered` rows) here, `ahead` being an estimate of the rows still
// to come: when it is full, or holds its even share of the rows left and at least half a share is
// still to come. Full segments and a small last one return fewer true neighbours at the same
// ef_search (secondary_beam gives the small one a narrow beam) and cost the same or more at the
// same recall: at recall@10 0.95, 1,000,000 x 128 as 500,000 + 500,000 rows took 0.8-0.9x the time
// of 720,000 + 280,000, and 3,000,000 as 1,500,000 + 1,500,000 0.9x that of 2,160,000 + 840,000
// (bench/results/20261207-even-split). An estimate short of the rows can leave a small last
// segment, which costs little (small segments are scanned exactly); spare room in the shares would
// split tables that fit one segment. Without an estimate (ahead < 0) only a full segment ends.
inline bool segment_complete(std::size_t gathered, double ahead, std::size_t capacity) {
    if (gathered >= capacity) return true;
    if (ahead < 0) return false;
    const double left = double(gathered) + ahead;
    const double share = std::ceil(left / std::ceil(left / double(capacity)));
    return double(gathered) >= share && ahead >= share / 2;
}

// `beam` for a segment of `count` elements searched, with the radius the searches before it set,
// after one of `first` elements was searched at width ef: its share of the beam, and at least 8 to
// walk from its entry point to the query's neighbourhood. Measured on 128-d embedding-like data,
// segments of 200,000 + 68,000 + 32,000, against full beams on each: the same recall@10 (0.997 at
// ef 40) with 40 % fewer nodes visited; a floor of 1 lost recall at ef 10 (0.920 against 0.957),
// 16 saved little at ef 20.
inline std::size_t secondary_beam(std::size_t ef, uint32_t count, uint32_t first) {
    std::size_t share = first == 0 ? ef : (ef * count + first - 1) / first;
    return std::min(ef, std::max<std::size_t>(share, 8));
}

struct Neighbor {
    float distance;  // index_distance(metric, query, vector)
    uint32_t id;
};

// Search scratch (visited marks, heaps), reusable across searches and segments of any size.
// Queries must be finite (a NaN distance has no place in the ordering); the vector type rejects
// NaN and infinity, so a query that passed prepare_vector qualifies.
// Not thread-safe: one Searcher per thread (a SegmentView may be shared by any number of them).
// Once warm (it has seen a segment at least as large and an ef at least as large), a search makes
// no allocation, provided `out` keeps its capacity.
class Searcher {
  public:
    Searcher();
    ~Searcher();
    Searcher(const Searcher &) = delete;
    Searcher &operator=(const Searcher &) = delete;

    // Approximate: up to `ef` nearest live elements, ascending by distance (ties by id). Standard HNSW:
    // greedy descent from entry_point through the upper levels, then a beam search with width ef on
    // level 0. `deleted` (nullable) is a bitset of count bits (bit i set = element i is deleted, word
    // i/64, bit i%64): deleted elements are traversed as normal graph nodes but never returned, and the
    // result keeps ef live elements when they exist (if the graph walk finds fewer, the elements it
    // could not reach are scanned). If ef >= count, it returns exactly what exact() returns.
    //
    // `radius` bounds the search for a caller that needs no element farther than it (the distance up
    // to which larger segments were already searched): if `beam` < ef, a beam that wide walks from the
    // entry point towards the query, and beyond it only nodes within `radius` are kept and expanded
    // (up to ef results). Returns the distance up to which the result is as complete as the search
    // makes it: the farthest result when ef results were kept, otherwise `radius` (or infinity when
    // the walk was not bounded and considered every element). A caller merging segments trusts the
    // results up to the smallest of these.
    // On an SQ8 image the walk uses the 8-bit codes and the results are re-ranked by exact distance
    // (see set_use_sq8): returned distances and the covered distance are always exact.
    float search(const SegmentView &seg, const float *query, std::size_t ef, const uint64_t *deleted,
                 std::vector<Neighbor> *out, float radius = kUnbounded, std::size_t beam = 0);
    // Exact: every live element, ascending by distance (ties by id); `sorted` false: in no
    // particular order (for a caller that selects from them itself).
    void exact(const SegmentView &seg, const float *query, const uint64_t *deleted, std::vector<Neighbor> *out,
               const Filter *filter = nullptr, bool sorted = true);

    // Filtered: the same, returning only elements whose attribute row matches `filter` (null or
    // inactive: no filter; its attributes must exist in the image, or std::invalid_argument).
    // search() is the unfiltered search with the non-matching results left out (its covered
    // distance is the unfiltered one: every matching element within it was found as well as the
    // search finds any), so a caller wanting k matching elements widens ef until it has them,
    // as the executor would filtering above the index, without the heap visits. Counting only
    // matching elements towards ef instead was measured slower: it walks until it holds ef of
    // them, about ef / selectivity nodes, where k / selectivity suffice (10 % of 1,000,000
    // 128-d rows, LIMIT 10, ef 40: 428 against 662 queries/s for the executor's filter).
    // exact() with a filter reads the postings of the filter's most selective condition and
    // tests only the elements they name: for selective filters it is the cheaper of the two
    // (matching_estimate says how many postings that is).
    float search(const SegmentView &seg, const float *query, std::size_t ef, const uint64_t *deleted,
                 const Filter *filter, std::vector<Neighbor> *out, float radius = kUnbounded, std::size_t beam = 0);
    float search(const PagedSegment &seg, const float *query, std::size_t ef, const uint64_t *deleted,
                 const Filter *filter, std::vector<Neighbor> *out, float radius = kUnbounded, std::size_t beam = 0);
    // An upper bound of the elements matching `filter`: the postings of its most selective condition.
    std::size_t matching_estimate(const SegmentView &seg, const Filter &filter);
    // The same over a segment read on demand (bounded memory). Results are those of the in-memory
    // search of the same image; if seg.corrupt() is set afterwards they mean nothing.
    float search(const PagedSegment &seg, const float *query, std::size_t ef, const uint64_t *deleted,
                 std::vector<Neighbor> *out, float radius = kUnbounded, std::size_t beam = 0);
    // A paged segment is filtered by reading every element's attribute row (no postings).
    void exact(const PagedSegment &seg, const float *query, const uint64_t *deleted, std::vector<Neighbor> *out,
               const Filter *filter = nullptr, bool sorted = true);

    // SQ8 images (SegmentView only; PagedSegment searches on floats): when on (the default), the
    // approximate search traverses the graph (upper-level descent, level-0 beam, the scan of
    // unreachable nodes) with asymmetric 8-bit distances from the codes (sq8_index_distance: the
    // query stays float, prepared once per search), then re-ranks: it computes the exact distance of
    // every element of the result (up to ef), sorts by it (ties by id) and returns exact distances.
    // Within a banded search the approximate distances are compared with `radius` (an exact distance)
    // directly: the quantization error, at most step/2 per dimension, is small against the gaps the
    // band is meant to cut, and the caller's merge is approximate anyway. The returned covered
    // distance is exact: the farthest exact distance among the results when ef were kept (capped by
    // `radius` when banded), otherwise radius or infinity as without SQ8. exact() and a search with
    // ef >= count compute exact distances only, so they return exactly exact()'s result.
    // Off: SQ8 images are searched on their floats, as images without codes (for A/B comparisons).
    void set_use_sq8(bool on) { use_sq8_ = on; }
    bool use_sq8() const { return use_sq8_; }

    // Level-0 nodes whose distance the last approximate search computed: its cost, for diagnostics.
    std::size_t visited() const { return visited_count_; }

    static constexpr float kUnbounded = std::numeric_limits<float>::infinity();

  private:
    template <Metric M, class Graph, class Traversal>
    float search_impl(const Graph &seg, const float *query, std::size_t ef, const uint64_t *deleted,
                      std::vector<Neighbor> *out, float radius, std::size_t beam, const Traversal &dist);
    template <Metric M, class Graph>
    float search_metric(const Graph &seg, const float *query, std::size_t ef, const uint64_t *deleted,
                        std::vector<Neighbor> *out, float radius, std::size_t beam);
    template <class Graph>
    float search_any(const Graph &seg, const float *query, std::size_t ef, const uint64_t *deleted,
                     const Filter *filter, std::vector<Neighbor> *out, float radius, std::size_t beam);
    // The condition of an active filter whose postings name the fewest elements (*postings).
    const AttrCondition *most_selective(const SegmentView &seg, const Filter &filter, std::size_t *postings);
    template <class Graph>
    void exact_any(const Graph &seg, const float *query, const uint64_t *deleted, const Filter *filter,
                   std::vector<Neighbor> *out, bool sorted);
    // Starts a new search over `count` elements: afterwards nothing is marked visited. Costs the
    // last search's visits, plus the growth of the marks to a larger segment.
    void new_visit(uint32_t count);
    void mark(uint32_t id) {
        marked_.push_back(id);  // first: if it throws, the bit stays clear
        visited_[id >> 6] |= uint64_t(1) << (id & 63);
    }

    // One bit per element (bit i%64 of word i/64 set <=> element i visited in this search): a
    // search touches 1/16 of the memory 16-bit marks would, and a new backend's first search
    // zeroes 1/16 as much (at 5 M elements 625 kB, not 10 MB).
    std::vector<uint64_t> visited_;
    std::vector<uint32_t> marked_;  // elements marked since new_visit, to clear them
    std::size_t visited_count_ = 0;
    std::vector<Neighbor> candidates_;  // min-heap: frontier of the beam search
    std::vector<Neighbor> results_;     // max-heap of at most ef live elements
    std::vector<float> own_;            // max-heap: distances of a banded search's own beam
    std::vector<uint32_t> batch_;       // unvisited neighbours of the node being expanded
    std::vector<float> sq8_query_;      // the query prepared for SQ8 distances (dim floats)
    std::vector<std::pair<uint32_t, uint32_t>> ranges_;  // of postings, for a filtered exact()
    bool use_sq8_ = true;
};

}  // namespace kyrodb
