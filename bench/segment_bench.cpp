// Google Benchmark of the two other costs on a query's and a restart's path:
// the hot tier's exact scan (per 1,000 vectors of 128 dims) and loading a
// segment image of 100,000 x 128 (copying it into memory as the adapter does
// from pages, then validating it with SegmentView::open).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kyrodb/hnsw.h"
#include "kyrodb/metric.h"
#include "kyrodb/row_codes.h"

namespace {

std::vector<float> random_vectors(std::size_t n, std::size_t dim, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> v(n * dim);
    for (auto &x : v) x = normal(rng);
    return v;
}

void hot_tier_scan(benchmark::State &state) {
    const std::size_t n = std::size_t(state.range(0)), dim = 128;
    std::vector<float> vectors = random_vectors(n, dim, 1), query = random_vectors(1, dim, 2);
    std::vector<float> distances(n);
    for (auto _ : state) {
        for (std::size_t i = 0; i < n; i++)
            distances[i] = kyrodb::index_distance(kyrodb::Metric::L2, query.data(), &vectors[i * dim], dim);
        benchmark::DoNotOptimize(distances.data());
    }
    state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(hot_tier_scan)->Name("hot_tier_scan/1000x128")->Arg(1000);
// 4,096 x 128: a full hot tier at the default flush_threshold_size (2MB); 8,192 at 4MB
BENCHMARK(hot_tier_scan)->Name("hot_tier_scan/4096x128")->Arg(4096);
BENCHMARK(hot_tier_scan)->Name("hot_tier_scan/8192x128")->Arg(8192);

// The first pass a scan makes over a hot tier on its codes (lower bounds, RowCodes), before the
// exact distances of the few rows a frontier reaches.
void hot_tier_bounds(benchmark::State &state) {
    const std::size_t n = std::size_t(state.range(0)), dim = 128;
    std::vector<float> vectors = random_vectors(n, dim, 1), query = random_vectors(1, dim, 2);
    kyrodb::RowCodes codes;
    codes.update(dim, vectors.data(), n, dim);
    std::vector<float> bounds(n);
    for (auto _ : state) {
        codes.lower_bounds(kyrodb::Metric::L2, query.data(), bounds.data());
        benchmark::DoNotOptimize(bounds.data());
    }
    state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(hot_tier_bounds)->Name("hot_tier_bounds/4096x128")->Arg(4096);
BENCHMARK(hot_tier_bounds)->Name("hot_tier_bounds/8192x128")->Arg(8192);

// A 100,000 x 128 image, built once.
const std::vector<uint8_t> &test_image() {
    const std::size_t n = 100000, dim = 128;
    static const std::vector<uint8_t> image = [&] {
        std::vector<float> vectors = random_vectors(n, dim, 3);
        std::vector<uint64_t> payloads(n);
        for (std::size_t i = 0; i < n; i++) payloads[i] = i + 1;
        kyrodb::BuildParams params;
        params.metric = kyrodb::Metric::L2;
        params.dim = dim;
        return kyrodb::build_segment(params, vectors.data(), payloads.data(), n, [](std::size_t) {});
    }();
    return image;
}

// What loading an image costs: the copy from pages (here one buffer) and the full check.
void copy_and_open(benchmark::State &state, const std::vector<uint8_t> &image, void *dst) {
    std::memcpy(dst, image.data(), image.size());
    kyrodb::SegmentView view;
    std::string error;
    if (!kyrodb::SegmentView::open(dst, image.size(), &view, &error)) state.SkipWithError(error.c_str());
    benchmark::DoNotOptimize(view.count());
}

// Copy into fresh memory (first touch of every page) and check: loading a segment into new memory.
void segment_load(benchmark::State &state) {
    const std::vector<uint8_t> &image = test_image();
    for (auto _ : state) {
        void *copy = aligned_alloc(64, (image.size() + 63) / 64 * 64);
        copy_and_open(state, image, copy);
        free(copy);
    }
    state.SetBytesProcessed(state.iterations() * image.size());
    state.counters["image_MB"] = double(image.size()) / 1e6;
}
BENCHMARK(segment_load)->Name("segment_load/100000x128")->Unit(benchmark::kMillisecond);

// The same copy and check into memory already mapped (a pool slot used before): what loading costs
// without first-touch page faults, which on a virtual machine can cost more than the copy.
void segment_load_warm(benchmark::State &state) {
    const std::vector<uint8_t> &image = test_image();
    void *copy = aligned_alloc(64, (image.size() + 63) / 64 * 64);
    std::memset(copy, 0, image.size());
    for (auto _ : state) copy_and_open(state, image, copy);
    free(copy);
    state.SetBytesProcessed(state.iterations() * image.size());
}
BENCHMARK(segment_load_warm)->Name("segment_load_warm/100000x128")->Unit(benchmark::kMillisecond);

}  // namespace
