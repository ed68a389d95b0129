// The parallel builder: hnswlib constructs the graph (its addPoint is thread-safe), then the graph is
// serialized into a flat segment image (in input order, or in the graph's order: BuildParams::graph_order).
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

#include "kyrodb/distance.h"
#include "kyrodb/hnsw.h"

// hnswlib 0.6.2 defines functions and variables with external linkage in its headers, so two
// translation units that include it do not link together (the benchmarks include it too). Its
// dependencies are included first, then hnswlib itself inside an anonymous namespace: all of it gets
// internal linkage.
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <x86intrin.h>
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <assert.h>
#include <algorithm>
#include <atomic>
#include <cassert>
#include <deque>
#include <fstream>
#include <iostream>
#include <list>
#include <mutex>
#include <queue>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <vector>
namespace {
#include <hnswlib/hnswlib.h>
}  // namespace

namespace kyrodb {

namespace {

using Graph = hnswlib::HierarchicalNSW<float>;

// hnswlib's view of our ranking distance: the same kernels and expressions as index_distance and the
// Searcher, so the graph is built with exactly the distances it is searched with. hnswlib keeps each
// element's "data" in the element's level-0 block: a copy of the vector, or (by_reference) a pointer
// to it in the caller's rows or the image being extended, 8 bytes instead of 4 * dim.
class KernelSpace final : public hnswlib::SpaceInterface<float> {
  public:
    KernelSpace(Metric metric, std::size_t dim, bool by_reference)
        : dim_(dim), by_reference_(by_reference), fn_(by_reference ? pick<true>(metric) : pick<false>(metric)) {}
    std::size_t get_data_size() override { return by_reference_ ? sizeof(const float *) : dim_ * sizeof(float); }
    hnswlib::DISTFUNC<float> get_dist_func() override { return fn_; }
    void *get_dist_func_param() override { return &dim_; }
    // What addPoint is given for a vector (and copies get_data_size() bytes of): the vector itself or
    // the address of a pointer to it.
    const void *data(const float *const *vector) const { return by_reference_ ? static_cast<const void *>(vector) : *vector; }

  private:
    static float l2(const float *a, const float *b, std::size_t dim) { return kernels().l2_squared(a, b, dim); }
    static float ip(const float *a, const float *b, std::size_t dim) { return -kernels().inner_product(a, b, dim); }
    static float cosine(const float *a, const float *b, std::size_t dim) {
        return 1.0f - kernels().inner_product(a, b, dim);
    }
    template <float (*F)(const float *, const float *, std::size_t), bool Ref>
    static float distance(const void *a, const void *b, const void *param) {
        auto at = [](const void *x) {
            if (!Ref) return static_cast<const float *>(x);
            const float *vector;  // hnswlib's data follows a 4-byte-aligned list: copied, not loaded
            std::memcpy(&vector, x, sizeof vector);
            return vector;
        };
        return F(at(a), at(b), *static_cast<const std::size_t *>(param));
    }
    template <bool Ref>
    static hnswlib::DISTFUNC<float> pick(Metric metric) {
        return metric == Metric::L2 ? &distance<l2, Ref> : metric == Metric::InnerProduct ? &distance<ip, Ref>
                                                                                           : &distance<cosine, Ref>;
    }
    std::size_t dim_;
    bool by_reference_;
    hnswlib::DISTFUNC<float> fn_;
};

// Levels drawn up front from the seed (HNSW's exponential distribution, mL = 1/ln m), rather than by
// hnswlib inside addPoint, where its generator is shared unguarded between threads: this way the
// levels do not depend on thread scheduling. Capped at 255 (uint8 in the image; P < m^-255).
std::vector<uint8_t> draw_levels(std::size_t n, uint32_t m, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    const double ml = 1.0 / std::log(double(m));
    std::vector<uint8_t> levels(n);
    for (uint8_t &level : levels) {
        double r = -std::log(1.0 - uniform(rng)) * ml;  // 1 - [0,1) is in (0,1]: log is finite
        level = uint8_t(std::min(r, 255.0));
    }
    return levels;
}

// Where element i's vector, attribute row and payload are: in the segment being extended for its
// elements [0, first), in the input for the rest (rows `stride` floats apart, each the vector and
// then the attribute row's words).
struct RowSource {
    const SegmentView *base = nullptr;
    std::size_t first = 0;
    const float *rows = nullptr;
    const uint64_t *payloads = nullptr;
    std::size_t dim = 0, stride = 0;

    const float *vector(std::size_t i) const {
        return i < first ? base->vector(uint32_t(i)) : rows + (i - first) * stride;
    }
    const void *attr_row(std::size_t i) const {
        return i < first ? static_cast<const void *>(base->attr_row(uint32_t(i))) : rows + (i - first) * stride + dim;
    }
    uint64_t payload(std::size_t i) const { return i < first ? base->payload(uint32_t(i)) : payloads[i - first]; }
};

// Shared between the calling thread and the workers.
struct BuildState {
    Graph *graph;
    const KernelSpace *space;
    const RowSource *source;
    const uint8_t *levels;
    std::size_t n;
    int nice;

    // next element to insert; in a new graph element 0 is inserted first, alone (it becomes the
    // entry point), so the others start at 1
    std::atomic<std::size_t> next{1};
    std::atomic<std::size_t> done{0};  // elements inserted
    std::atomic<bool> stop{false};     // checked between insertions

    std::mutex mu;  // guards the fields below; cv signals any change of them
    std::condition_variable cv;
    bool first_done = false;  // true from the start when the graph already has an entry point
    unsigned finished = 0;  // workers that have exited their loop
    std::exception_ptr error;

    void insert(std::size_t i) {
        const float *vector = source->vector(i);
        graph->addPoint(space->data(&vector), i, levels[i]);
        done.fetch_add(1, std::memory_order_relaxed);
    }

    void request_stop() {
        std::lock_guard<std::mutex> lock(mu);
        stop = true;
        cv.notify_all();
    }

    void work(bool first) noexcept {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, nullptr);  // also inherited blocked from spawn(); kept explicit
        // Relative to the caller's priority; on Linux PRIO_PROCESS with a thread id names one thread.
        if (nice > 0) setpriority(PRIO_PROCESS, pid_t(syscall(SYS_gettid)), getpriority(PRIO_PROCESS, 0) + nice);
        std::exception_ptr failure;
        try {
            if (first) {
                insert(0);  // the first element becomes the entry point; nothing else may race it
                std::lock_guard<std::mutex> lock(mu);
                first_done = true;
                cv.notify_all();
            } else {
                std::unique_lock<std::mutex> lock(mu);
                cv.wait(lock, [this] { return first_done || stop; });
            }
            while (!stop.load(std::memory_order_relaxed)) {
                std::size_t i = next.fetch_add(1, std::memory_order_relaxed);
                if (i >= n) break;
                insert(i);
            }
        } catch (...) {
            failure = std::current_exception();
        }
        std::lock_guard<std::mutex> lock(mu);
        if (failure) {
            if (!error) error = failure;
            stop = true;
        }
        finished++;
        cv.notify_all();
    }
};

// Owns the worker threads: however the calling thread leaves (poll threw, a spawn failed), the
// workers are told to stop and joined before the graph they use is destroyed.
class Workers {
  public:
    explicit Workers(BuildState &state) : state_(state) {}
    ~Workers() {
        state_.request_stop();
        for (std::thread &t : threads_) t.join();
    }
    unsigned size() const { return unsigned(threads_.size()); }

    // Signals are blocked in the calling thread while the worker is created, so it starts with all
    // signals blocked: none can be delivered to it, not even before its first instruction (Postgres'
    // handlers must run in the backend's own thread).
    void spawn(bool first) {
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        try {
            threads_.emplace_back([this, first] { state_.work(first); });
        } catch (...) {
            pthread_sigmask(SIG_SETMASK, &old, nullptr);
            throw;
        }
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }

  private:
    BuildState &state_;
    std::vector<std::thread> threads_;
};

// The SQ8 section of an image whose header and vectors are written: per-dimension min and step over
// the n vectors, then code = clamp(round((x - lo) / step), 0, 255), 0 where step == 0. Computed in
// double, so that a range up to 2 * FLT_MAX still gives a finite step.
void write_sq8(const SegmentHeader &h, const float *vectors, std::size_t n, uint8_t *base) {
    const std::size_t dim = h.dim;
    float *lo = reinterpret_cast<float *>(base + sq8_offset(h));
    float *step = lo + dim;
    uint8_t *codes = base + sq8_codes_offset(h);
    if (n == 0) return;  // lo and step stay 0
    std::vector<float> hi(vectors, vectors + dim);
    std::copy(vectors, vectors + dim, lo);
    for (std::size_t i = 1; i < n; i++) {
        const float *v = vectors + i * dim;
        for (std::size_t j = 0; j < dim; j++) {
            lo[j] = std::min(lo[j], v[j]);
            hi[j] = std::max(hi[j], v[j]);
        }
    }
    std::vector<double> inv(dim);
    for (std::size_t j = 0; j < dim; j++) {
        step[j] = hi[j] > lo[j] ? float((double(hi[j]) - double(lo[j])) / 255.0) : 0.0f;
        inv[j] = step[j] > 0.0f ? 1.0 / double(step[j]) : 0.0;
    }
    for (std::size_t i = 0; i < n; i++) {
        const float *v = vectors + i * dim;
        uint8_t *c = codes + i * dim;
        for (std::size_t j = 0; j < dim; j++) {
            double q = std::nearbyint((double(v[j]) - double(lo[j])) * inv[j]);
            c[j] = uint8_t(std::min(255.0, std::max(0.0, q)));
        }
    }
}

// The attribute rows (after each input vector) and, per attribute, the postings sorted by
// (is_null, value, id).
void write_attributes(const SegmentHeader &h, const RowSource &source, const std::vector<uint32_t> &source_of,
                      uint8_t *base) {
    const std::size_t n = source_of.size(), words = attr_row_words(h.attributes);
    uint64_t *attr_rows = reinterpret_cast<uint64_t *>(base + attr_rows_offset(h));
    for (std::size_t i = 0; i < n; i++) std::memcpy(attr_rows + i * words, source.attr_row(source_of[i]), words * 8);
    Posting *postings = reinterpret_cast<Posting *>(base + attr_postings_offset(h));
    for (uint32_t a = 0; a < h.attributes; a++) {
        Posting *p = postings + std::size_t(a) * n;
        for (std::size_t i = 0; i < n; i++) {
            const uint64_t *row = attr_rows + i * words;
            const uint32_t is_null = (row[0] >> a) & 1;
            p[i] = Posting{is_null ? 0 : int64_t(row[1 + a]), uint32_t(i), is_null};
        }
        std::sort(p, p + n, [](const Posting &x, const Posting &y) {
            if (x.is_null != y.is_null) return x.is_null < y.is_null;
            if (x.value != y.value) return x.value < y.value;
            return x.id < y.id;
        });
    }
}

// The image id of each of hnswlib's elements (which it numbers in insertion order, shuffled by the
// threads). Labels (= input index) below `keep` keep their value. The others follow the labels in
// input order or, with graph_order, in the order a breadth-first walk of level 0 from the entry
// point first reaches them: the neighbours first reached from one element get consecutive ids, so a
// search that scores them reads fewer pages (and on 4 kB pages misses the TLB less often).
std::vector<uint32_t> image_ids(const BuildParams &p, const Graph &graph, std::size_t n, std::size_t keep) {
    std::vector<uint32_t> id_of(n);
    auto label = [&](std::size_t j) { return uint32_t(graph.getExternalLabel(uint32_t(j))); };
    if (!p.graph_order) {
        for (std::size_t j = 0; j < n; j++) id_of[j] = label(j);
        return id_of;
    }
    std::vector<uint8_t> seen(n, 0);
    std::vector<uint32_t> queue;
    queue.reserve(n);
    uint32_t next = uint32_t(keep);
    auto reach = [&](uint32_t j) {
        seen[j] = 1;
        queue.push_back(j);
        const uint32_t l = label(j);
        id_of[j] = l < keep ? l : next++;
    };
    // Elements no walk from the entry point reaches start walks of their own, in hnswlib's order.
    for (std::size_t root = 0, head = 0; root <= n; root++) {
        const uint32_t start = root == 0 ? uint32_t(graph.enterpoint_node_) : uint32_t(root - 1);
        if (seen[start]) continue;
        reach(start);
        while (head < queue.size()) {
            const hnswlib::linklistsizeint *list = graph.get_linklist0(queue[head++]);
            const uint32_t k = graph.getListCount(const_cast<hnswlib::linklistsizeint *>(list));
            const hnswlib::tableint *ids = list + 1;
            for (uint32_t t = 0; t < k; t++)
                if (!seen[ids[t]]) reach(ids[t]);
        }
    }
    return id_of;
}

// n > 0. Elements whose label is below `keep` (those of a segment being extended) keep it as their id.
std::vector<uint8_t> serialize(const BuildParams &p, const Graph &graph, const RowSource &source, std::size_t n,
                               std::size_t keep) {
    const uint32_t count = uint32_t(n), m = p.m, m0 = 2 * p.m;
    const std::vector<uint32_t> id_of = image_ids(p, graph, n, keep);
    std::vector<uint32_t> source_of(n);  // image id -> input index
    uint64_t slots = 0;
    for (std::size_t j = 0; j < n; j++) {
        source_of[id_of[j]] = uint32_t(graph.getExternalLabel(uint32_t(j)));
        slots += uint64_t(graph.element_levels_[j]);
    }
    SegmentHeader h = segment_layout(p.metric, p.dim, m, count, slots, p.quantization, p.attributes);
    h.entry_point = id_of[graph.enterpoint_node_];
    h.max_level = graph.maxlevel_;
    std::vector<uint8_t> image(h.total_size);  // zeroed: padding and unused list entries are 0
    uint8_t *base = image.data();
    std::memcpy(base, &h, sizeof h);

    float *image_vectors = reinterpret_cast<float *>(base + h.vectors_offset);
    uint64_t *image_payloads = reinterpret_cast<uint64_t *>(base + h.payload_offset);
    for (std::size_t i = 0; i < n; i++) {  // bit-identical to the input
        std::memcpy(image_vectors + i * p.dim, source.vector(source_of[i]), p.dim * sizeof(float));
        image_payloads[i] = source.payload(source_of[i]);
    }
    if (p.attributes > 0) write_attributes(h, source, source_of, base);
    uint8_t *levels = base + h.levels_offset;
    uint32_t *upper_index = reinterpret_cast<uint32_t *>(base + h.upper_index_offset);
    uint32_t *level0 = reinterpret_cast<uint32_t *>(base + h.level0_offset);
    uint32_t *upper = reinterpret_cast<uint32_t *>(base + h.upper_offset);

    for (std::size_t j = 0; j < n; j++) levels[id_of[j]] = uint8_t(graph.element_levels_[j]);
    uint32_t next_slot = 0;  // upper slots in id order
    for (uint32_t i = 0; i < count; i++) {
        upper_index[i] = levels[i] ? next_slot : kSegmentNoUpper;
        next_slot += levels[i];
    }
    auto copy_list = [&](const hnswlib::linklistsizeint *src, uint32_t *dst) {
        uint32_t k = graph.getListCount(const_cast<hnswlib::linklistsizeint *>(src));
        const hnswlib::tableint *ids = src + 1;
        dst[0] = k;
        for (uint32_t t = 0; t < k; t++) dst[1 + t] = id_of[ids[t]];
    };
    for (std::size_t j = 0; j < n; j++) {
        uint32_t i = id_of[j];
        copy_list(graph.get_linklist0(uint32_t(j)), level0 + std::size_t(i) * (1 + m0));
        for (int level = 1; level <= levels[i]; level++)
            copy_list(graph.get_linklist(uint32_t(j), level),
                      upper + (std::size_t(upper_index[i]) + level - 1) * (1 + m));
    }
    if (p.quantization == Quantization::SQ8) write_sq8(h, image_vectors, n, base);
    return image;
}


// The checks build_segment and extend_segment make before any thread starts (see hnsw.h).
void check_params(const BuildParams &params, const float *vectors, std::size_t n) {
    if (!valid_metric(uint32_t(params.metric))) throw std::invalid_argument("kyrodb: bad metric");
    if (params.dim == 0) throw std::invalid_argument("kyrodb: dimension must be positive");
    // hnswlib silently caps M at 10000, which would break the image's strides.
    if (params.m < 2 || params.m > 10000) throw std::invalid_argument("kyrodb: m must be between 2 and 10000");
    if (n >= kSegmentNoUpper) throw std::invalid_argument("kyrodb: too many elements for one segment");
    if (params.quantization != Quantization::None && params.quantization != Quantization::SQ8)
        throw std::invalid_argument("kyrodb: unknown quantization");
    if (params.attributes > kMaxAttributes) throw std::invalid_argument("kyrodb: too many attributes");
    const std::size_t stride = row_floats(params.dim, params.attributes);
    // A NaN or infinity would make the graph's distance comparisons meaningless.
    for (std::size_t i = 0; i < n; i++)
        for (std::size_t j = 0; j < params.dim; j++)
            if (!std::isfinite(vectors[i * stride + j])) throw std::invalid_argument("kyrodb: vectors must be finite");
}

// Inserts elements start..n-1 of `source` into `graph` (which holds elements 0..start-1, or is
// empty when start == 0) on the worker threads, polling as build_segment describes with the count
// of elements inserted by this call.
void insert_elements(const BuildParams &params, const KernelSpace &space, Graph &graph, const RowSource &source,
                     std::size_t start, std::size_t n, const std::function<void(std::size_t done)> &poll) {
    // Drawn for all n so that element i gets the same level whatever `start` is.
    const std::vector<uint8_t> levels = draw_levels(n, params.m, params.seed);
    // addPoint(data, label, level) uses `level` only when > 0 and otherwise draws one itself, as
    // -log(u) * mult_: with mult_ = 0 that draw is 0, so our drawn levels are used for every element.
    graph.mult_ = 0.0;

    BuildState state;
    state.graph = &graph;
    state.space = &space;
    state.source = &source;
    state.levels = levels.data();
    state.n = n;
    state.nice = params.nice;
    if (start > 0) {
        state.next = start;
        state.first_done = true;
    }
    unsigned threads = params.threads ? params.threads : std::max(1u, std::thread::hardware_concurrency());
    threads = unsigned(std::min<std::size_t>(threads, n - start));
    {
        Workers workers(state);  // the graph outlives it: workers are joined before the caller frees it
        for (unsigned t = 0; t < threads; t++) workers.spawn(t == 0 && start == 0);
        std::unique_lock<std::mutex> lock(state.mu);
        while (state.finished < threads) {
            if (state.cv.wait_for(lock, std::chrono::milliseconds(50), [&] { return state.finished == threads; }))
                break;
            lock.unlock();  // poll may take long or throw: never with the lock held
            if (poll) poll(state.done.load(std::memory_order_relaxed));
            lock.lock();
        }
    }
    if (state.error) std::rethrow_exception(state.error);
    if (poll) poll(n - start);
}

// Makes `graph` (new, empty) hold the elements of `base` with their levels, neighbour lists and
// entry point, as if hnswlib had built it: internal id = label = element id. cur_element_count
// grows one complete element at a time, so that the graph's destructor frees exactly the lists
// allocated if this throws.
void load_graph(const SegmentView &base, const KernelSpace &space, Graph *graph) {
    for (uint32_t i = 0; i < base.count(); i++) {
        const int level = base.level(i);
        std::memset(graph->get_linklist0(i), 0, graph->size_data_per_element_);
        const hnswlib::labeltype label = i;
        std::memcpy(graph->getExternalLabeLp(i), &label, sizeof label);
        const float *vector = base.vector(i);
        std::memcpy(graph->getDataByInternalId(i), space.data(&vector), graph->data_size_);
        auto copy_list = [&](int l, hnswlib::linklistsizeint *dst, std::size_t most) {
            uint32_t k = 0;
            const uint32_t *ids = base.neighbours(i, l, &k);
            if (k > most) throw std::invalid_argument("kyrodb: a neighbour list of the segment is too long");
            graph->setListCount(dst, static_cast<unsigned short>(k));
            std::memcpy(dst + 1, ids, k * sizeof(uint32_t));
        };
        copy_list(0, graph->get_linklist0(i), graph->maxM0_);
        if (level > 0) {
            const std::size_t bytes = graph->size_links_per_element_ * level + 1;
            char *lists = static_cast<char *>(std::malloc(bytes));
            if (lists == nullptr) throw std::bad_alloc();
            std::memset(lists, 0, bytes);
            graph->linkLists_[i] = lists;
        }
        graph->element_levels_[i] = level;
        graph->cur_element_count = i + 1;  // from here on the destructor frees the lists
        for (int l = 1; l <= level; l++) copy_list(l, graph->get_linklist(i, l), graph->maxM_);
        graph->label_lookup_[label] = i;
    }
    graph->enterpoint_node_ = base.header().entry_point;
    graph->maxlevel_ = base.header().max_level;
}
}  // namespace

std::vector<uint8_t> build_segment(const BuildParams &params, const float *vectors, const uint64_t *payloads,
                                   std::size_t n, const std::function<void(std::size_t done)> &poll) {
    check_params(params, vectors, n);
    if (n == 0) {
        if (poll) poll(0);
        SegmentHeader h =
            segment_layout(params.metric, params.dim, params.m, 0, 0, params.quantization, params.attributes);
        std::vector<uint8_t> image(h.total_size);
        std::memcpy(image.data(), &h, sizeof h);
        return image;
    }

    const RowSource source{nullptr, 0, vectors, payloads, params.dim, row_floats(params.dim, params.attributes)};
    KernelSpace space(params.metric, params.dim, params.vectors_by_reference);
    Graph graph(&space, n, params.m, params.ef_construction, params.seed);
    insert_elements(params, space, graph, source, 0, n, poll);
    return serialize(params, graph, source, n, 0);
}

std::vector<uint8_t> extend_segment(const BuildParams &params, const SegmentView &base, const float *vectors,
                                    const uint64_t *payloads, std::size_t n,
                                    const std::function<void(std::size_t done)> &poll) {
    const uint32_t count = base.count();
    if (base.metric() != params.metric || base.dim() != params.dim || base.header().m != params.m ||
        base.attributes() != params.attributes)
        throw std::invalid_argument("kyrodb: the segment to extend was built with other parameters");
    if (count == 0) return build_segment(params, vectors, payloads, n, poll);  // which checks the rows
    check_params(params, vectors, n);
    const std::size_t total = std::size_t(count) + n;
    if (total >= kSegmentNoUpper) throw std::invalid_argument("kyrodb: too many elements for one segment");

    const RowSource source{&base, count, vectors, payloads, params.dim, row_floats(params.dim, params.attributes)};
    KernelSpace space(params.metric, params.dim, params.vectors_by_reference);
    Graph graph(&space, total, params.m, params.ef_construction, params.seed);
    load_graph(base, space, &graph);
    insert_elements(params, space, graph, source, count, total, poll);
    return serialize(params, graph, source, total, count);
}

std::size_t build_bytes_per_element(uint32_t dim, uint32_t m, Quantization quantization, uint32_t attributes,
                                   bool vectors_by_reference) {
    const double d = dim, mm = std::max<uint32_t>(m, 2);
    const double upper_levels = 2.0 / (mm - 1);  // expected 1/(m-1) upper lists per element; 2x margin
    // hnswlib: level-0 block (list, vector or pointer, label), mutex, level, list pointer, label map
    // node and bucket, upper lists (+ malloc overhead), visited marks of each thread.
    const double data = vectors_by_reference ? 8 : 4 * d;
    double graph = (4 + 8 * mm + data + 8) + sizeof(std::mutex) + 4 + 8 + 56 + upper_levels * (4 * (mm + 1) + 16) +
                   2.0 * (std::max(1u, std::thread::hardware_concurrency()) + 1);
    // Image (plus alignment padding, negligible) and our level/id arrays.
    double image = 4 * d + 4 * (1 + 2 * mm) + 1 + 4 + 8 + upper_levels * 4 * (mm + 1) +
                   (quantization == Quantization::SQ8 ? d : 0) +  // codes (lo/step: 8 bytes a dimension per segment)
                   8.0 * attr_row_words(attributes) + double(sizeof(Posting)) * attributes;
    double scratch = 1 + 4 + 4;  // levels, ids and the input index of each (the walk's marks and queue
                                 // of graph_order are freed before the image is allocated)
    // Measured at 200,000 x 128, m 16: 1,438 (by value) and 934 (by reference) bytes, 3 % under this.
    return std::size_t(std::ceil((graph + image + scratch) * 1.02));
}

}  // namespace kyrodb
