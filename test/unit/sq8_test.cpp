// Unit tests of 8-bit scalar quantization (SQ8): the asymmetric kernels of every instruction set
// against a double reference, the image format, and search with SQ8 traversal and exact re-ranking.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "kyrodb/distance.h"
#include "kyrodb/hnsw.h"

namespace {

using kyrodb::BuildParams;
using kyrodb::DistanceKernels;
using kyrodb::Isa;
using kyrodb::Metric;
using kyrodb::Neighbor;
using kyrodb::Quantization;
using kyrodb::Searcher;
using kyrodb::SegmentHeader;
using kyrodb::SegmentView;

// ---------------------------------------------------------------------------------------------
// Kernels

const std::size_t kKernelDims[] = {0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 128, 385};

// Each kernel against the double sum of the same terms: relative 1e-5 of sum |terms| (the
// float-rounding margin distance_test.cpp explains) plus 1e-6.
TEST(Sq8Kernels, MatchScalarReferenceOnEveryIsa) {
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<float> uni(-2.0f, 2.0f), pos(0.0f, 0.05f);
    std::uniform_int_distribution<int> code(0, 255);
    int isas = 0;
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
        const DistanceKernels *k = kyrodb::kernels_for(isa);
        if (!k) continue;
        isas++;
        for (std::size_t n : kKernelDims) {
            for (int rep = 0; rep < 20; rep++) {
                // Exactly n elements on the heap, so that ASan catches a read past the end.
                std::unique_ptr<float[]> a(new float[n + 1]), s(new float[n + 1]);
                std::unique_ptr<uint8_t[]> c(new uint8_t[n + 1]);
                for (std::size_t j = 0; j < n; j++) {
                    a[j] = uni(rng);
                    s[j] = rep == 0 ? 0.0f : pos(rng);
                    c[j] = uint8_t(rep == 1 ? 255 : code(rng));
                }
                double l2 = 0, l2_abs = 0, dot = 0, dot_abs = 0;
                for (std::size_t j = 0; j < n; j++) {
                    double d = double(a[j]) - double(s[j]) * c[j];
                    l2 += d * d;
                    l2_abs += d * d;
                    dot += double(a[j]) * c[j];
                    dot_abs += std::fabs(double(a[j]) * c[j]);
                }
                SCOPED_TRACE(std::string(k->name) + " n=" + std::to_string(n));
                EXPECT_NEAR(k->sq8_l2_squared(a.get(), s.get(), c.get(), n), l2, 1e-5 * l2_abs + 1e-6);
                EXPECT_NEAR(k->sq8_dot(a.get(), c.get(), n), dot, 1e-5 * dot_abs + 1e-6);
            }
        }
    }
    EXPECT_GE(isas, 1);
}

// The prepared-query form follows index_distance's definition on the decoded vector.
TEST(Sq8Kernels, IndexDistanceOfDecodedVector) {
    std::mt19937_64 rng(6);
    std::normal_distribution<float> normal;
    std::uniform_real_distribution<float> pos(0.001f, 0.02f);
    std::uniform_int_distribution<int> code(0, 255);
    for (std::size_t dim : {1, 3, 17, 128, 385}) {
        std::vector<float> q(dim), lo(dim), step(dim), decoded(dim), prepared(dim);
        std::vector<uint8_t> c(dim);
        for (std::size_t j = 0; j < dim; j++) {
            q[j] = normal(rng);
            lo[j] = -1.0f + 0.1f * normal(rng);
            step[j] = j % 5 == 0 ? 0.0f : pos(rng);
            c[j] = uint8_t(code(rng));
            decoded[j] = float(double(lo[j]) + double(step[j]) * c[j]);
        }
        for (Metric m : {Metric::L2, Metric::InnerProduct, Metric::Cosine}) {
            float bias = kyrodb::sq8_prepare_query(m, q.data(), lo.data(), step.data(), dim, prepared.data());
            float approx = kyrodb::sq8_index_distance(m, prepared.data(), bias, step.data(), c.data(), dim);
            double ref = 0, scale = 0;
            for (std::size_t j = 0; j < dim; j++) {
                if (m == Metric::L2) ref += (double(q[j]) - decoded[j]) * (double(q[j]) - decoded[j]);
                else ref += double(q[j]) * decoded[j];
                scale += std::fabs(double(q[j])) * (std::fabs(double(decoded[j])) + std::fabs(double(lo[j])));
            }
            if (m == Metric::InnerProduct) ref = -ref;
            if (m == Metric::Cosine) ref = 1.0 - ref;
            SCOPED_TRACE("metric " + std::to_string(int(m)) + " dim " + std::to_string(dim));
            EXPECT_NEAR(approx, ref, 1e-5 * (scale + std::fabs(ref)) + 1e-5);
        }
    }
}

}  // namespace
