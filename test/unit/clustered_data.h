// Embedding-like data for the unit tests: a Gaussian mixture in a 16-d latent space (100 centres
// N(0,1), each with its own width), projected to 64-d by a fixed random matrix, plus small
// isotropic noise; every vector passed through prepare_vector. Fixed seed: the same data on
// every run.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kyrodb/metric.h"

namespace kyrodb_test {

constexpr uint32_t kClusteredDim = 64, kClusteredLatent = 16, kClusteredCentres = 100;

struct ClusteredData {
    std::vector<float> vectors, queries;  // n * 64, queries * 64
};

// n vectors, then `queries` more drawn the same way. constant_dim: dimension 5 of every vector
// is 1.5 (a dimension whose values do not vary).
inline ClusteredData clustered_data(kyrodb::Metric metric, std::size_t n, std::size_t queries,
                                    bool constant_dim = false) {
    constexpr uint32_t kDim = kClusteredDim, kLatent = kClusteredLatent, kCentres = kClusteredCentres;
    std::mt19937_64 rng(20240611);
    std::normal_distribution<float> normal;
    std::uniform_real_distribution<float> width(0.25f, 0.6f);
    std::vector<float> centres(kCentres * kLatent), widths(kCentres), proj(kLatent * kDim);
    for (float &x : centres) x = normal(rng);
    for (float &w : widths) w = width(rng);
    for (float &x : proj) x = normal(rng) / std::sqrt(float(kLatent));
    std::uniform_int_distribution<uint32_t> pick(0, kCentres - 1);
    auto sample = [&](float *out) {
        uint32_t c = pick(rng);
        float z[kLatent];
        for (uint32_t l = 0; l < kLatent; l++) z[l] = centres[c * kLatent + l] + widths[c] * normal(rng);
        for (uint32_t d = 0; d < kDim; d++) {
            float x = 0.05f * normal(rng);
            for (uint32_t l = 0; l < kLatent; l++) x += z[l] * proj[l * kDim + d];
            out[d] = x;
        }
        if (constant_dim) out[5] = 1.5f;
        EXPECT_TRUE(kyrodb::prepare_vector(metric, out, kDim));
    };
    ClusteredData data;
    data.vectors.resize(n * kDim);
    data.queries.resize(queries * kDim);
    for (std::size_t i = 0; i < n; i++) sample(&data.vectors[i * kDim]);
    for (std::size_t q = 0; q < queries; q++) sample(&data.queries[q * kDim]);
    return data;
}

}  // namespace kyrodb_test
