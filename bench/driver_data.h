// Data sets and exact answers for the SQL benchmark driver (bench/driver.cpp). Header-only.
//
// The synthetic generator here is the only one: `datagen synthetic N DIM SEED` (bench/datagen.cpp)
// prints these vectors, so the TAP tests and the driver use the same data. Ground truth is brute force with kyrodb's own
// distance kernels, the ones the server ranks by.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
// <random> with contraction off (see synthetic() below), hence it must come in through here first.
#if defined(_GLIBCXX_RANDOM) || defined(_RANDOM_H)
#error "include driver_data.h before anything that includes <random>"
#endif
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#include <random>
#pragma GCC pop_options
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kyrodb/distance.h"

namespace kyrodb_bench {

enum class Metric { L2, Cosine };

struct Dataset {
    std::string name;
    Metric metric = Metric::L2;
    std::size_t dim = 0;
    std::size_t n = 0;            // base rows, ids 1..n
    std::vector<float> rows;      // every row of the table, id i at (i - 1) * dim: base, then inserted
    std::vector<float> queries;   // nq * dim
    std::size_t nq = 0;

    std::size_t nrows() const { return rows.size() / dim; }
    const float *row(uint32_t id) const { return &rows[std::size_t(id - 1) * dim]; }
    const float *query(std::size_t q) const { return &queries[q * dim]; }
    // The ranking distance of the SQL operator: squared L2 ranks like <->; cosine as pgvector's <=>.
    float distance(const float *a, const float *b) const {
        if (metric == Metric::L2) return kyrodb::kernels().l2_squared(a, b, dim);
        return float(kyrodb::cosine_distance(a, b, dim));
    }
};

// The DATA.md recipe. One normal_distribution object serves the model and the points (it caches its
// second value across them). fp-contract=off, here and for <random>'s normal_distribution, so that
// builds with and without -march=native (the driver, datagen) round identically instead of fusing
// multiply-adds into FMAs.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
inline std::vector<float> synthetic(uint64_t n, std::size_t dim, uint64_t seed) {
    constexpr std::size_t kLatent = 24, kCentres = 1000;
    std::mt19937_64 model(0x6b79726f + dim);  // the distribution: same for every seed
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_real_distribution<float> width(0.25f, 0.6f);
    std::vector<float> centres(kCentres * kLatent), widths(kCentres), projection(dim * kLatent);
    for (auto &c : centres) c = normal(model);
    for (auto &w : widths) w = width(model);
    const float scale = 1.0f / std::sqrt(static_cast<float>(kLatent));
    for (auto &p : projection) p = normal(model) * scale;

    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<std::size_t> pick(0, kCentres - 1);
    std::vector<float> latent(kLatent), out(n * dim);
    for (uint64_t id = 1; id <= n; id++) {
        std::size_t c = pick(rng);
        for (std::size_t j = 0; j < kLatent; j++) latent[j] = centres[c * kLatent + j] + widths[c] * normal(rng);
        float *v = &out[(id - 1) * dim];
        for (std::size_t i = 0; i < dim; i++) {
            float x = 0.05f * normal(rng);
            for (std::size_t j = 0; j < kLatent; j++) x += projection[i * kLatent + j] * latent[j];
            v[i] = x;
        }
    }
    return out;
}
#pragma GCC pop_options

inline uint32_t be32(const unsigned char *p) {
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

// IDX image file (gzip'd, as fashion-mnist ships): each image a vector of its bytes, as datagen idx.
inline std::vector<float> read_idx(const std::string &path, std::size_t limit, std::size_t *dim) {
    FILE *f = popen(("gzip -dc '" + path + "'").c_str(), "r");
    unsigned char header[16];
    if (f == nullptr || fread(header, 1, 16, f) != 16 || be32(header) != 0x00000803) {
        if (f != nullptr) pclose(f);
        throw std::runtime_error(path + " is not a gzip'd IDX image file");
    }
    std::size_t count = be32(header + 4);
    *dim = std::size_t(be32(header + 8)) * be32(header + 12);
    if (limit > 0 && limit < count) count = limit;
    std::vector<unsigned char> raw(count * *dim);
    std::size_t got = fread(raw.data(), 1, raw.size(), f);
    pclose(f);  // may stop gzip early with SIGPIPE when limit < count: that is fine
    if (got != raw.size()) throw std::runtime_error(path + " ends early");
    return std::vector<float>(raw.begin(), raw.end());
}

// Raw little-endian float32 vectors (bench/datasets.sh minilm).
inline std::vector<float> read_f32(const std::string &path, std::size_t dim) {
    FILE *f = fopen(path.c_str(), "rb");
    if (f == nullptr) throw std::runtime_error("cannot open " + path + " (run: bash bench/datasets.sh minilm)");
    std::vector<float> out, v(dim);
    while (fread(v.data(), sizeof(float), dim, f) == dim) out.insert(out.end(), v.begin(), v.end());
    fclose(f);
    return out;
}

// Exact top-k per query among the rows keep(q, id) accepts, nearest first. A query with fewer
// than k such rows has id 0 (and distance +inf) in the remaining places.
struct Truth {
    std::size_t k = 0;
    std::vector<uint32_t> ids;
    std::vector<float> dist;
};

// Rows are taken in blocks that stay in cache while each of the thread's queries is compared with
// them, so that ten million rows cost compute, not a pass over memory per query.
template <class Keep>
Truth brute_force(const Dataset &d, std::size_t k, Keep keep, unsigned threads = 2) {
    Truth t;
    t.k = k;
    t.ids.assign(d.nq * k, 0);
    t.dist.assign(d.nq * k, INFINITY);
    const uint32_t nrows = uint32_t(d.nrows());
    const uint32_t block = uint32_t(std::max<std::size_t>(64, (256u << 10) / (4 * d.dim)));
    auto work = [&](unsigned part) {
        std::vector<std::size_t> mine;
        for (std::size_t q = part; q < d.nq; q += threads) mine.push_back(q);
        // per query: a max-heap of its best (distance, id) so far; ties broken by id
        std::vector<std::vector<std::pair<float, uint32_t>>> best(mine.size());
        for (auto &b : best) b.reserve(k + 1);
        for (uint32_t first = 1; first <= nrows; first += block) {
            const uint32_t last = std::min<uint32_t>(nrows, first + block - 1);
            for (std::size_t i = 0; i < mine.size(); i++) {
                auto &b = best[i];
                const std::size_t q = mine[i];
                for (uint32_t id = first; id <= last; id++) {
                    if (!keep(q, id)) continue;
                    std::pair<float, uint32_t> c(d.distance(d.query(q), d.row(id)), id);
                    if (b.size() == k && !(c < b.front())) continue;
                    b.push_back(c);
                    std::push_heap(b.begin(), b.end());
                    if (b.size() > k) {
                        std::pop_heap(b.begin(), b.end());
                        b.pop_back();
                    }
                }
            }
        }
        for (std::size_t i = 0; i < mine.size(); i++) {
            std::sort_heap(best[i].begin(), best[i].end());
            for (std::size_t j = 0; j < best[i].size(); j++)
                t.dist[mine[i] * k + j] = best[i][j].first, t.ids[mine[i] * k + j] = best[i][j].second;
        }
    };
    std::vector<std::thread> pool;
    for (unsigned p = 0; p < threads; p++) pool.emplace_back(work, p);
    for (auto &th : pool) th.join();
    return t;
}

// Recall as ann-benchmarks counts it: a returned row is a hit when it is no farther than the k-th
// true neighbour, so rows tied with it (duplicates, integer pixels) count. Adds to *hits and to
// *wanted (k, or fewer when the filter leaves fewer rows).
inline void score(const Dataset &d, const Truth &t, std::size_t q, const std::vector<uint32_t> &found,
                  std::size_t k, std::size_t *hits, std::size_t *wanted) {
    std::size_t want = 0;
    while (want < k && want < t.k && t.ids[q * t.k + want] != 0) want++;
    *wanted += want;
    if (want == 0) return;
    const float limit = t.dist[q * t.k + want - 1];
    const float slack = 1e-6f * std::fabs(limit);
    if (d.rows.empty()) {  // rows released to make room (10 M): a hit is a true neighbour within the limit
        for (std::size_t i = 0; i < found.size() && i < k; i++)
            for (std::size_t j = 0; j < t.k && t.ids[q * t.k + j] != 0 && t.dist[q * t.k + j] <= limit + slack; j++)
                if (t.ids[q * t.k + j] == found[i]) {
                    ++*hits;
                    break;
                }
        return;
    }
    for (std::size_t i = 0; i < found.size() && i < k; i++)
        if (found[i] >= 1 && found[i] <= d.nrows() && d.distance(d.query(q), d.row(found[i])) <= limit + slack) ++*hits;
}

// Truth cache: "KYTRUTH1", uint32 nq, uint32 k, ids, distances. A spot check of one distance
// catches a file left over from different data.
inline bool load_truth(const std::string &path, const Dataset &d, std::size_t k, Truth *t) {
    FILE *f = fopen(path.c_str(), "rb");
    if (f == nullptr) return false;
    char magic[8];
    uint32_t hdr[2];
    bool ok = fread(magic, 1, 8, f) == 8 && memcmp(magic, "KYTRUTH1", 8) == 0 && fread(hdr, 4, 2, f) == 2 &&
              hdr[0] == d.nq && hdr[1] == k;
    if (ok) {
        t->k = k;
        t->ids.resize(d.nq * k);
        t->dist.resize(d.nq * k);
        ok = fread(t->ids.data(), 4, t->ids.size(), f) == t->ids.size() &&
             fread(t->dist.data(), 4, t->dist.size(), f) == t->dist.size();
    }
    fclose(f);
    return ok && t->ids[0] >= 1 && t->ids[0] <= d.n && d.distance(d.query(0), d.row(t->ids[0])) == t->dist[0];
}

inline void save_truth(const std::string &path, const Truth &t, std::size_t nq) {
    std::string tmp = path + ".tmp";
    FILE *f = fopen(tmp.c_str(), "wb");
    if (f == nullptr) return;  // a cache only: the run goes on without it
    uint32_t hdr[2] = {uint32_t(nq), uint32_t(t.k)};
    bool ok = fwrite("KYTRUTH1", 1, 8, f) == 8 && fwrite(hdr, 4, 2, f) == 2 &&
              fwrite(t.ids.data(), 4, t.ids.size(), f) == t.ids.size() &&
              fwrite(t.dist.data(), 4, t.dist.size(), f) == t.dist.size();
    if (fclose(f) == 0 && ok) rename(tmp.c_str(), path.c_str());
    else remove(tmp.c_str());
}

// Zipf(s) over ranks 1..n by inversion of a precomputed CDF; returns 0-based ranks.
class Zipf {
  public:
    Zipf(std::size_t n, double s) : cdf_(n) {
        double sum = 0;
        for (std::size_t r = 0; r < n; r++) cdf_[r] = sum += 1.0 / std::pow(double(r + 1), s);
        for (double &c : cdf_) c /= sum;
    }
    template <class Rng> std::size_t operator()(Rng &rng) {
        double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
        return std::min(std::size_t(std::upper_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin()), cdf_.size() - 1);
    }

  private:
    std::vector<double> cdf_;
};

}  // namespace kyrodb_bench
