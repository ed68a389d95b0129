// Search over a segment image (no hnswlib): greedy descent through the upper levels, then a beam
// search on level 0, with the scratch kept in the Searcher so that a warm search does not allocate.
#include <algorithm>
#include <atomic>
#include <limits>
#include <stdexcept>
#include <type_traits>

#include "kyrodb/distance.h"
#include "kyrodb/hnsw.h"

namespace kyrodb {

namespace {

inline bool is_deleted(const uint64_t *deleted, uint32_t i) {
    return deleted != nullptr && ((deleted[i >> 6] >> (i & 63)) & 1) != 0;
}

void check_filter(const Filter &filter, uint32_t attributes) {
    for (const AttrCondition &c : filter.conditions())
        if (c.attr >= attributes) throw std::invalid_argument("kyrodb: filter on an attribute the segment does not have");
}

// Heap orders. Results: max-heap by (distance, id), so the front is the worst kept result and
// sort_heap leaves them in the order exact() uses. Candidates: min-heap by distance.
struct ResultOrder {
    bool operator()(const Neighbor &a, const Neighbor &b) const {
        return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
    }
};
struct CandidateOrder {
    bool operator()(const Neighbor &a, const Neighbor &b) const { return a.distance > b.distance; }
};

// index_distance with the kernel and the metric resolved once per search instead of per call; the
// expressions are index_distance's, so distances are bit-identical to the builder's.
template <Metric M>
struct RankingDistance {
    explicit RankingDistance(std::size_t dim)
        : dim(dim), l2(kernels().l2_squared), ip(kernels().inner_product) {}
    float operator()(const float *q, const float *v) const {
        if constexpr (M == Metric::L2) return l2(q, v, dim);
        else if constexpr (M == Metric::InnerProduct) return -ip(q, v, dim);
        else return 1.0f - ip(q, v, dim);
    }
    std::size_t dim;
    float (*l2)(const float *, const float *, std::size_t);
    float (*ip)(const float *, const float *, std::size_t);
};

// Vectors are read at random: ask for their cache lines early (at most 8 = 512 bytes, which measured
// faster than 2 at dim 128; the hardware prefetcher follows the rest of a longer vector).
// GCC 12 (Debian 12's) deletes a loop whose body is only __builtin_prefetch, and with it every
// prefetch of the walk: the signal fence, which emits no instruction, keeps the loop.
inline void prefetch_vector(const void *v, std::size_t bytes) {
    const char *p = reinterpret_cast<const char *>(v);
    std::size_t lines = std::min<std::size_t>((bytes + 63) / 64, 8);
    for (std::size_t l = 0; l < lines; l++) {
        __builtin_prefetch(p + 64 * l);
        std::atomic_signal_fence(std::memory_order_seq_cst);
    }
}

// The distance the graph is traversed with, by element id. Float: the ranking distance itself
// (kExact: the results need no re-ranking).
template <Metric M, class Graph>
struct FloatTraversal {
    static constexpr bool kExact = true;
    FloatTraversal(const Graph &seg, const float *query)
        : seg(seg), query(query), dist(seg.dim()), bytes(std::size_t(seg.dim()) * sizeof(float)) {}
    float operator()(uint32_t id) const { return dist(query, seg.vector(id)); }
    // Prefetching an image in memory overlaps loads with distances; a paged read is a copy already.
    void prefetch(uint32_t id) const {
        if constexpr (Graph::kInMemory) prefetch_vector(seg.vector(id), bytes);
    }
    const Graph &seg;
    const float *query;
    const RankingDistance<M> dist;
    std::size_t bytes;
};

// SQ8: sq8_index_distance's expressions over the codes, with the query prepared once (`prepared`,
// dim floats, and `bias`: see sq8_prepare_query), kernels and metric resolved once per search.
// Approximate: the results are re-ranked by exact distances.
template <Metric M>
struct Sq8Traversal {
    static constexpr bool kExact = false;
    Sq8Traversal(const SegmentView &seg, const float *prepared, float bias)
        : seg(seg), prepared(prepared), step(seg.sq8_step()), bias(bias), dim(seg.dim()),
          l2(kernels().sq8_l2_squared), dot(kernels().sq8_dot) {}
    float operator()(uint32_t id) const {
        const uint8_t *c = seg.sq8_codes(id);
        if constexpr (M == Metric::L2) return l2(prepared, step, c, dim);
        else if constexpr (M == Metric::InnerProduct) return -(bias + dot(prepared, c, dim));
        else return 1.0f - (bias + dot(prepared, c, dim));
    }
    void prefetch(uint32_t id) const { prefetch_vector(seg.sq8_codes(id), dim); }
    const SegmentView &seg;
    const float *prepared;
    const float *step;
    float bias;
    std::size_t dim;
    float (*l2)(const float *, const float *, const uint8_t *, std::size_t);
    float (*dot)(const float *, const uint8_t *, std::size_t);
};

}  // namespace

Searcher::Searcher() = default;
Searcher::~Searcher() = default;

void Searcher::new_visit(uint32_t count) {
    // The last search's marks, recorded as it set them (also if it ended by an exception).
    for (uint32_t id : marked_) visited_[id >> 6] = 0;
    marked_.clear();
    const std::size_t words = (std::size_t(count) + 63) / 64;
    if (visited_.size() < words) visited_.resize(words, 0);
}

// `dist` is the traversal distance (a FloatTraversal or an Sq8Traversal): every distance of the walk,
// `bound`, `radius` and the heaps are in its terms; with an approximate one the results are re-ranked
// by exact distances at the end.
template <Metric M, class Graph, class Traversal>
float Searcher::search_impl(const Graph &seg, const float *query, std::size_t ef, const uint64_t *deleted,
                            std::vector<Neighbor> *out, float radius, std::size_t beam, const Traversal &dist) {
    const uint32_t count = seg.count();

    // Greedy descent: the nearest node of each upper level is the entry to the next.
    uint32_t cur = seg.header().entry_point;
    float cur_dist = dist(cur);
    for (int level = seg.header().max_level; level > 0; level--) {
        for (bool changed = true; changed;) {
            changed = false;
            uint32_t n;
            const uint32_t *ids = seg.neighbours(cur, level, &n);
            for (uint32_t j = 0; j < n; j++) dist.prefetch(ids[j]);
            for (uint32_t j = 0; j < n; j++) {
                float d = dist(ids[j]);
                if (d < cur_dist) {
                    cur_dist = d;
                    cur = ids[j];
                    changed = true;
                }
            }
        }
    }

    // Beam search on level 0. Deleted nodes are expanded like any other but never kept as
    // results, and the search goes on until it holds ef live results (or runs out of nodes).
    new_visit(count);
    uint64_t *const visited = visited_.data();
    if (batch_.size() < seg.header().m0) batch_.resize(seg.header().m0);
    uint32_t *const batch = batch_.data();
    candidates_.clear();
    results_.clear();
    mark(cur);
    uint32_t n_visited = 1;
    candidates_.push_back({cur_dist, cur});
    if (!is_deleted(deleted, cur)) results_.push_back({cur_dist, cur});
    float bound = results_.empty() ? std::numeric_limits<float>::infinity() : cur_dist;  // worst result
    // Banded: a beam `beam` wide (own_, its distances) walks towards the query as a search of that
    // width would; beyond it, only nodes within `radius` are kept and expanded.
    beam = std::max<std::size_t>(beam, 1);
    const bool banded = radius != std::numeric_limits<float>::infinity() && beam < ef;
    own_.clear();
    if (banded && !results_.empty()) own_.push_back(cur_dist);
    float own_bound = banded && beam <= own_.size() ? own_.front() : std::numeric_limits<float>::infinity();

    while (!candidates_.empty()) {
        const Neighbor c = candidates_.front();
        if (c.distance > bound && results_.size() >= ef) break;  // nothing nearer can come from here
        if (banded && c.distance > radius && c.distance > own_bound) break;
        std::pop_heap(candidates_.begin(), candidates_.end(), CandidateOrder());
        candidates_.pop_back();

        uint32_t n;
        const uint32_t *ids = seg.neighbours(c.id, 0, &n);
        // Unvisited neighbours first, prefetching their vectors, so that the loads overlap with
        // the distance computations below.
        uint32_t nb = 0;
        for (uint32_t j = 0; j < n; j++) {
            uint32_t id = ids[j];
            if (visited[id >> 6] >> (id & 63) & 1) continue;
            mark(id);
            batch[nb++] = id;
            dist.prefetch(id);
        }
        n_visited += nb;
        // The next node to expand is likely the current nearest candidate: fetch its list.
        if constexpr (Graph::kInMemory)
            if (!candidates_.empty()) __builtin_prefetch(seg.neighbours(candidates_.front().id, 0, &n));

        for (uint32_t j = 0; j < nb; j++) {
            const uint32_t id = batch[j];
            const float d = dist(id);
            if ((results_.size() < ef || d < bound) && (!banded || d <= radius || d < own_bound)) {
                candidates_.push_back({d, id});
                std::push_heap(candidates_.begin(), candidates_.end(), CandidateOrder());
                if (!is_deleted(deleted, id)) {
                    results_.push_back({d, id});
                    std::push_heap(results_.begin(), results_.end(), ResultOrder());
                    if (results_.size() > ef) {
                        std::pop_heap(results_.begin(), results_.end(), ResultOrder());
                        results_.pop_back();
                    }
                    bound = results_.front().distance;
                    if (banded && d < own_bound) {
                        own_.push_back(d);
                        std::push_heap(own_.begin(), own_.end());
                        if (own_.size() > beam) {
                            std::pop_heap(own_.begin(), own_.end());
                            own_.pop_back();
                        }
                        if (own_.size() >= beam) own_bound = own_.front();
                    }
                }
            }
        }
    }

    // Fewer than ef live results means every node reachable on level 0 was expanded; live nodes the
    // graph cannot reach (rare, but pruning can orphan a node) are then found by a scan.
    if (results_.size() < ef && n_visited < count && !banded) {
        for (uint32_t i = 0; i < count; i++) {
            if (visited[i >> 6] >> (i & 63) & 1 || is_deleted(deleted, i)) continue;
            results_.push_back({dist(i), i});
            std::push_heap(results_.begin(), results_.end(), ResultOrder());
            if (results_.size() > ef) {
                std::pop_heap(results_.begin(), results_.end(), ResultOrder());
                results_.pop_back();
            }
        }
    }

    // Banded, nothing beyond the radius was searched for, whether the walk stopped or ran out.
    visited_count_ = n_visited;
    float covered = banded ? radius : std::numeric_limits<float>::infinity();
    if constexpr (Traversal::kExact) {
        if (results_.size() >= ef) covered = std::min(covered, results_.front().distance);
        std::sort_heap(results_.begin(), results_.end(), ResultOrder());
    } else {
        // Re-rank: exact distances of the (up to ef) results, sorted as exact() sorts. The covered
        // distance is then the farthest exact distance kept.
        const RankingDistance<M> exact(seg.dim());
        const std::size_t bytes = std::size_t(seg.dim()) * sizeof(float);
        for (const Neighbor &r : results_) prefetch_vector(seg.vector(r.id), bytes);
        float farthest = -std::numeric_limits<float>::infinity();
        for (Neighbor &r : results_) {
            r.distance = exact(query, seg.vector(r.id));
            farthest = std::max(farthest, r.distance);
        }
        if (results_.size() >= ef) covered = std::min(covered, farthest);
        std::sort(results_.begin(), results_.end(), ResultOrder());
    }
    out->assign(results_.begin(), results_.end());
    return covered;
}

template <Metric M, class Graph>
float Searcher::search_metric(const Graph &seg, const float *query, std::size_t ef, const uint64_t *deleted,
                              std::vector<Neighbor> *out, float radius, std::size_t beam) {
    if constexpr (std::is_same_v<Graph, SegmentView>) {
        if (use_sq8_ && seg.quantization() == Quantization::SQ8) {
            const std::size_t dim = seg.dim();
            if (sq8_query_.size() < dim) sq8_query_.resize(dim);
            float bias = sq8_prepare_query(M, query, seg.sq8_lo(), seg.sq8_step(), dim, sq8_query_.data());
            return search_impl<M>(seg, query, ef, deleted, out, radius, beam,
                                  Sq8Traversal<M>(seg, sq8_query_.data(), bias));
        }
    }
    return search_impl<M>(seg, query, ef, deleted, out, radius, beam, FloatTraversal<M, Graph>(seg, query));
}

template <class Graph>
float Searcher::search_any(const Graph &seg, const float *query, std::size_t ef, const uint64_t *deleted,
                           const Filter *filter, std::vector<Neighbor> *out, float radius, std::size_t beam) {
    if (filter != nullptr && !filter->active()) filter = nullptr;
    if (filter != nullptr) check_filter(*filter, seg.attributes());
    if (seg.count() == 0 || (filter != nullptr && filter->impossible())) {
        out->clear();
        return std::numeric_limits<float>::infinity();
    }
    if (ef == 0) {
        out->clear();
        return -std::numeric_limits<float>::infinity();
    }
    if (ef >= seg.count()) {  // the answer is all of it: exactly
        exact_any(seg, query, deleted, filter, out, true);
        return std::numeric_limits<float>::infinity();
    }
    float covered = -std::numeric_limits<float>::infinity();
    switch (seg.metric()) {
    case Metric::L2:
        covered = search_metric<Metric::L2>(seg, query, ef, deleted, out, radius, beam);
        break;
    case Metric::InnerProduct:
        covered = search_metric<Metric::InnerProduct>(seg, query, ef, deleted, out, radius, beam);
        break;
    case Metric::Cosine:
        covered = search_metric<Metric::Cosine>(seg, query, ef, deleted, out, radius, beam);
        break;
    }
    if (filter != nullptr)
        out->erase(std::remove_if(out->begin(), out->end(),
                                  [&](const Neighbor &n) { return !filter->matches(seg.attr_row(n.id)); }),
                   out->end());
    return covered;
}

template <class Graph>
void Searcher::exact_any(const Graph &seg, const float *query, const uint64_t *deleted, const Filter *filter,
                         std::vector<Neighbor> *out, bool sorted) {
    out->clear();
    if (filter != nullptr && !filter->active()) filter = nullptr;
    if (filter != nullptr) {
        check_filter(*filter, seg.attributes());
        if (filter->impossible()) return;
    }
    const uint32_t count = seg.count();
    auto take = [&](uint32_t i) {
        out->push_back({index_distance(seg.metric(), query, seg.vector(i), seg.dim()), i});
    };
    if (filter == nullptr) {
        for (uint32_t i = 0; i < count; i++)
            if (!is_deleted(deleted, i)) take(i);
    } else if constexpr (std::is_same_v<Graph, SegmentView>) {
        // The postings of the most selective condition name the candidates; each is tested
        // against the whole filter, unless that one condition is on values: its postings are then
        // exactly its matches (a read saved per element; a signature's postings name every
        // element).
        std::size_t unused;
        const AttrCondition *best = most_selective(seg, *filter, &unused);
        ranges_.clear();
        condition_ranges(*best, seg.postings(best->attr), count, &ranges_);
        const bool test_rows = filter->conditions().size() > 1 || best->all_bits != 0 || best->overlap;
        // The elements are scattered over the image: fetching a few postings ahead hides most of
        // the memory latency.
        const Posting *postings = seg.postings(best->attr);
        const std::size_t bytes = std::size_t(seg.dim()) * sizeof(float);
        constexpr uint32_t kAhead = 8;
        for (const auto &r : ranges_) {
            for (uint32_t k = r.first; k < std::min(r.second, r.first + kAhead); k++)
                prefetch_vector(seg.vector(postings[k].id), bytes);
            for (uint32_t k = r.first; k < r.second; k++) {
                if (k + kAhead < r.second) {
                    prefetch_vector(seg.vector(postings[k + kAhead].id), bytes);
                    if (test_rows) __builtin_prefetch(seg.attr_row(postings[k + kAhead].id));
                }
                const uint32_t i = postings[k].id;
                if (!is_deleted(deleted, i) && (!test_rows || filter->matches(seg.attr_row(i)))) take(i);
            }
        }
    } else {
        for (uint32_t i = 0; i < count; i++)
            if (!is_deleted(deleted, i) && filter->matches(seg.attr_row(i))) take(i);
    }
    if (sorted) std::sort(out->begin(), out->end(), ResultOrder());
}

std::size_t Searcher::matching_estimate(const SegmentView &seg, const Filter &filter) {
    if (!filter.active()) return seg.count();
    check_filter(filter, seg.attributes());
    if (filter.impossible()) return 0;
    std::size_t n;
    most_selective(seg, filter, &n);
    return std::min<std::size_t>(n, seg.count());
}

const AttrCondition *Searcher::most_selective(const SegmentView &seg, const Filter &filter, std::size_t *postings) {
    const AttrCondition *best = nullptr;
    *postings = SIZE_MAX;
    for (const AttrCondition &c : filter.conditions()) {
        ranges_.clear();
        const std::size_t n = condition_ranges(c, seg.postings(c.attr), seg.count(), &ranges_);
        if (n < *postings) {
            *postings = n;
            best = &c;
        }
    }
    return best;
}

float Searcher::search(const SegmentView &seg, const float *query, std::size_t ef, const uint64_t *deleted,
                       std::vector<Neighbor> *out, float radius, std::size_t beam) {
    return search_any(seg, query, ef, deleted, nullptr, out, radius, beam);
}
float Searcher::search(const SegmentView &seg, const float *query, std::size_t ef, const uint64_t *deleted,
                       const Filter *filter, std::vector<Neighbor> *out, float radius, std::size_t beam) {
    return search_any(seg, query, ef, deleted, filter, out, radius, beam);
}
void Searcher::exact(const SegmentView &seg, const float *query, const uint64_t *deleted,
                     std::vector<Neighbor> *out, const Filter *filter, bool sorted) {
    exact_any(seg, query, deleted, filter, out, sorted);
}
float Searcher::search(const PagedSegment &seg, const float *query, std::size_t ef, const uint64_t *deleted,
                       std::vector<Neighbor> *out, float radius, std::size_t beam) {
    return search_any(seg, query, ef, deleted, nullptr, out, radius, beam);
}
float Searcher::search(const PagedSegment &seg, const float *query, std::size_t ef, const uint64_t *deleted,
                       const Filter *filter, std::vector<Neighbor> *out, float radius, std::size_t beam) {
    return search_any(seg, query, ef, deleted, filter, out, radius, beam);
}
void Searcher::exact(const PagedSegment &seg, const float *query, const uint64_t *deleted,
                     std::vector<Neighbor> *out, const Filter *filter, bool sorted) {
    exact_any(seg, query, deleted, filter, out, sorted);
}

}  // namespace kyrodb
