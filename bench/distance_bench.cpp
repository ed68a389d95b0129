// Google Benchmark of the distance kernels: ours (every ISA this CPU supports) against hnswlib's.
//
// Compile this file with -O3 -march=native: hnswlib chooses its SIMD kernels at compile time from
// __AVX__ / __AVX512F__, so without -march=native it would be measured with SSE only. Our kernels
// are not affected (they live in their own objects, built with fixed flags).
//
// Each benchmark iteration computes the distances of kPairs pairs stored one after the other
// (several MB for large dims), so the numbers include streaming the vectors from cache/memory
// rather than re-reading one cached pair. items/s = distances per second.
#include <benchmark/benchmark.h>
#include <hnswlib/hnswlib.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "kyrodb/distance.h"

namespace {

constexpr std::size_t kPairs = 2048;
constexpr std::size_t kDims[] = {96, 128, 384, 768, 1536};

struct Pairs {
    std::vector<float> a, b;  // kPairs vectors each, back to back
};

// Generated once per dim: benchmark functions are called several times while calibrating.
const Pairs &pairs_for(std::size_t dim) {
    static std::map<std::size_t, Pairs> cache;
    auto it = cache.find(dim);
    if (it != cache.end()) return it->second;
    Pairs &p = cache[dim];
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    p.a.resize(kPairs * dim);
    p.b.resize(kPairs * dim);
    for (float &x : p.a) x = dist(rng);
    for (float &x : p.b) x = dist(rng);
    return p;
}

// Both sides call through a function pointer, as an index does.
template <class Distance>
void run(benchmark::State &state, std::size_t dim, Distance distance) {
    const Pairs &p = pairs_for(dim);
    for (auto _ : state) {
        for (std::size_t i = 0; i < kPairs; i++)
            benchmark::DoNotOptimize(distance(p.a.data() + i * dim, p.b.data() + i * dim));
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kPairs));
}

using KyroFn = float (*)(const float *, const float *, std::size_t);

void register_ours(const char *metric, std::size_t dim, const kyrodb::DistanceKernels &k,
                   KyroFn fn) {
    std::string name = std::string(metric) + "/" + std::to_string(dim) + "/" + k.name;
    benchmark::RegisterBenchmark(name.c_str(), [dim, fn](benchmark::State &state) {
        run(state, dim, [dim, fn](const float *a, const float *b) { return fn(a, b, dim); });
    });
}

// hnswlib's spaces hand out (function, &dim) and are called as f(a, b, &dim).
template <class Space>
void register_hnswlib(const char *metric, std::size_t dim) {
    std::string name = std::string(metric) + "/" + std::to_string(dim) + "/hnswlib";
    benchmark::RegisterBenchmark(name.c_str(), [dim](benchmark::State &state) {
        Space space(dim);
        hnswlib::DISTFUNC<float> f = space.get_dist_func();
        std::size_t d = dim;
        run(state, dim, [f, &d](const float *a, const float *b) { return f(a, b, &d); });
    });
}

int register_all() {
    const kyrodb::Isa isas[] = {kyrodb::Isa::Scalar, kyrodb::Isa::Avx2, kyrodb::Isa::Avx512};
    for (std::size_t dim : kDims) {
        for (kyrodb::Isa isa : isas)
            if (const kyrodb::DistanceKernels *k = kyrodb::kernels_for(isa))
                register_ours("l2_squared", dim, *k, k->l2_squared);
        register_hnswlib<hnswlib::L2Space>("l2_squared", dim);
    }
    for (std::size_t dim : kDims) {
        for (kyrodb::Isa isa : isas)
            if (const kyrodb::DistanceKernels *k = kyrodb::kernels_for(isa))
                register_ours("inner_product", dim, *k, k->inner_product);
        // hnswlib returns 1 - dot (a distance): one extra subtraction, negligible.
        register_hnswlib<hnswlib::InnerProductSpace>("inner_product", dim);
    }
    return 0;
}

const int registered = register_all();

}  // namespace
