// Google Benchmark of HNSW search: kyrodb's Searcher over a segment image against hnswlib's
// searchKnn on the same data with the same M / ef_construction. items/s = queries per second;
// counters: recall@10 against brute force, and the build time of the index searched.
//
// Data: 100,000 x 128 embedding-like vectors (and 1,000 queries from the same distribution): a
// mixture of 1,000 Gaussians in R^24 (centres N(0,1), widths in [0.25, 0.6]) projected to 128 dims
// by a fixed N(0, 1/24) matrix, plus N(0, 0.05^2) noise per coordinate. Generated and indexed once.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kyrodb/distance.h"
#include "kyrodb/hnsw.h"

// hnswlib 0.6.2 defines functions and variables with external linkage in its headers, so two
// translation units that include it do not link together (the benchmarks include it too). Its
// dependencies are included first, then hnswlib itself inside an anonymous namespace: all of it gets
// internal linkage.
#include <x86intrin.h>
#include <cpuid.h>
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

namespace {

constexpr std::size_t kN = 100000, kDim = 128, kLatent = 24, kCentres = 1000, kQueries = 1000, kK = 10;
constexpr std::size_t kM = 16, kEfConstruction = 64;
constexpr unsigned kThreads = 2;

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct Bench {
    std::vector<float> vectors, queries;
    std::vector<std::vector<uint32_t>> truth;  // brute-force top 10 of each query

    std::vector<uint8_t> image;
    kyrodb::SegmentView seg;
    double kyrodb_build_s = 0;
    // The same data built with SQ8 codes (same seed and params; the graph differs with the threads'
    // interleaving), searched with the codes on and off.
    std::vector<uint8_t> sq8_image;
    kyrodb::SegmentView sq8_seg;

    std::unique_ptr<hnswlib::L2Space> space;
    std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw;
    double hnswlib_build_s = 0;

    Bench() {
        std::mt19937_64 rng(7);
        std::normal_distribution<float> normal;
        std::uniform_real_distribution<float> width(0.25f, 0.6f);
        std::vector<float> centres(kCentres * kLatent), widths(kCentres), proj(kLatent * kDim);
        for (float &x : centres) x = normal(rng);
        for (float &w : widths) w = width(rng);
        for (float &x : proj) x = normal(rng) / std::sqrt(float(kLatent));
        std::uniform_int_distribution<std::size_t> pick(0, kCentres - 1);
        auto sample = [&](float *out) {
            std::size_t c = pick(rng);
            float z[kLatent];
            for (std::size_t l = 0; l < kLatent; l++) z[l] = centres[c * kLatent + l] + widths[c] * normal(rng);
            for (std::size_t d = 0; d < kDim; d++) {
                float x = 0.05f * normal(rng);
                for (std::size_t l = 0; l < kLatent; l++) x += z[l] * proj[l * kDim + d];
                out[d] = x;
            }
        };
        vectors.resize(kN * kDim);
        queries.resize(kQueries * kDim);
        for (std::size_t i = 0; i < kN; i++) sample(&vectors[i * kDim]);
        for (std::size_t q = 0; q < kQueries; q++) sample(&queries[q * kDim]);

        // Brute force, by our L2 kernel (the ranking distance both indexes use).
        const auto l2 = kyrodb::kernels().l2_squared;
        truth.resize(kQueries);
        std::vector<std::pair<float, uint32_t>> all(kN);
        for (std::size_t q = 0; q < kQueries; q++) {
            for (uint32_t i = 0; i < kN; i++) all[i] = {l2(&queries[q * kDim], &vectors[i * kDim], kDim), i};
            std::partial_sort(all.begin(), all.begin() + kK, all.end());
            for (std::size_t k = 0; k < kK; k++) truth[q].push_back(all[k].second);
        }

        std::vector<uint64_t> payloads(kN);
        for (std::size_t i = 0; i < kN; i++) payloads[i] = i;
        kyrodb::BuildParams params{kyrodb::Metric::L2, uint32_t(kDim)};
        params.m = kM;
        params.ef_construction = kEfConstruction;
        params.threads = kThreads;
        auto start = std::chrono::steady_clock::now();
        image = kyrodb::build_segment(params, vectors.data(), payloads.data(), kN, nullptr);
        kyrodb_build_s = seconds_since(start);
        std::string error;
        if (!kyrodb::SegmentView::open(image.data(), image.size(), &seg, &error)) std::abort();
        params.quantization = kyrodb::Quantization::SQ8;
        sq8_image = kyrodb::build_segment(params, vectors.data(), payloads.data(), kN, nullptr);
        if (!kyrodb::SegmentView::open(sq8_image.data(), sq8_image.size(), &sq8_seg, &error)) std::abort();

        // hnswlib, built the same way: element 0 first, then the rest across the threads.
        space = std::make_unique<hnswlib::L2Space>(kDim);
        start = std::chrono::steady_clock::now();
        hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(space.get(), kN, kM, kEfConstruction, 42);
        hnsw->addPoint(&vectors[0], 0);
        std::atomic<std::size_t> next{1};
        std::vector<std::thread> threads;
        for (unsigned t = 0; t < kThreads; t++)
            threads.emplace_back([&] {
                for (std::size_t i; (i = next++) < kN;) hnsw->addPoint(&vectors[i * kDim], i);
            });
        for (std::thread &t : threads) t.join();
        hnswlib_build_s = seconds_since(start);
    }

    double recall(const std::vector<std::vector<uint32_t>> &found) const {
        std::size_t hits = 0;
        for (std::size_t q = 0; q < kQueries; q++)
            for (uint32_t id : found[q])
                hits += std::count(truth[q].begin(), truth[q].end(), id);
        return double(hits) / double(kQueries * kK);
    }
};

const Bench &bench() {
    static const Bench b;
    return b;
}

void kyrodb_search(benchmark::State &state) {
    const Bench &b = bench();
    const std::size_t ef = state.range(0);
    kyrodb::Searcher searcher;
    std::vector<kyrodb::Neighbor> out;
    std::vector<std::vector<uint32_t>> found(kQueries);
    for (std::size_t q = 0; q < kQueries; q++) {  // warms the searcher, and measures recall
        searcher.search(b.seg, &b.queries[q * kDim], ef, nullptr, &out);
        for (std::size_t k = 0; k < std::min(kK, out.size()); k++) found[q].push_back(out[k].id);
    }
    for (auto _ : state) {
        for (std::size_t q = 0; q < kQueries; q++) {
            searcher.search(b.seg, &b.queries[q * kDim], ef, nullptr, &out);
            benchmark::DoNotOptimize(out.data());
        }
    }
    state.SetItemsProcessed(int64_t(state.iterations() * kQueries));
    state.counters["recall@10"] = b.recall(found);
    state.counters["build_s"] = b.kyrodb_build_s;
}

// One SQ8 image searched with the codes (range(1) = 1) or on its floats (0): the A/B of SQ8
// traversal + exact re-ranking against float traversal over the same graph. Counter visited = mean
// level-0 distance computations per query.
void kyrodb_sq8_search(benchmark::State &state) {
    const Bench &b = bench();
    const std::size_t ef = state.range(0);
    kyrodb::Searcher searcher;
    searcher.set_use_sq8(state.range(1) != 0);
    std::vector<kyrodb::Neighbor> out;
    std::vector<std::vector<uint32_t>> found(kQueries);
    std::size_t visited = 0;
    for (std::size_t q = 0; q < kQueries; q++) {
        searcher.search(b.sq8_seg, &b.queries[q * kDim], ef, nullptr, &out);
        visited += searcher.visited();
        for (std::size_t k = 0; k < std::min(kK, out.size()); k++) found[q].push_back(out[k].id);
    }
    for (auto _ : state) {
        for (std::size_t q = 0; q < kQueries; q++) {
            searcher.search(b.sq8_seg, &b.queries[q * kDim], ef, nullptr, &out);
            benchmark::DoNotOptimize(out.data());
        }
    }
    state.SetItemsProcessed(int64_t(state.iterations() * kQueries));
    state.counters["recall@10"] = b.recall(found);
    state.counters["visited"] = double(visited) / kQueries;
}

void hnswlib_search(benchmark::State &state) {
    const Bench &b = bench();
    const std::size_t ef = state.range(0);
    b.hnsw->setEf(ef);
    std::vector<std::vector<uint32_t>> found(kQueries);
    for (std::size_t q = 0; q < kQueries; q++) {
        auto result = b.hnsw->searchKnn(&b.queries[q * kDim], kK);
        for (; !result.empty(); result.pop()) found[q].push_back(uint32_t(result.top().second));
    }
    for (auto _ : state) {
        for (std::size_t q = 0; q < kQueries; q++) {
            auto result = b.hnsw->searchKnn(&b.queries[q * kDim], kK);
            benchmark::DoNotOptimize(result);
        }
    }
    state.SetItemsProcessed(int64_t(state.iterations() * kQueries));
    state.counters["recall@10"] = b.recall(found);
    state.counters["build_s"] = b.hnswlib_build_s;
}

BENCHMARK(kyrodb_search)->Name("hnsw_search/kyrodb")->ArgName("ef")->Arg(10)->Arg(40)->Arg(100)->Unit(benchmark::kMillisecond);
BENCHMARK(kyrodb_sq8_search)
    ->Name("hnsw_search/kyrodb_sq8")
    ->ArgNames({"ef", "sq8"})
    ->ArgsProduct({{10, 20, 40, 80}, {0, 1}})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(hnswlib_search)->Name("hnsw_search/hnswlib")->ArgName("ef")->Arg(10)->Arg(40)->Arg(100)->Unit(benchmark::kMillisecond);

}  // namespace
