#include "kyrodb/metric.h"

#include <cmath>

#include "kyrodb/distance.h"

namespace kyrodb {

bool valid_metric(uint32_t m) {
    return m == uint32_t(Metric::L2) || m == uint32_t(Metric::InnerProduct) || m == uint32_t(Metric::Cosine);
}

float index_distance(Metric m, const float *a, const float *b, std::size_t dim) {
    const DistanceKernels &k = kernels();
    switch (m) {
    case Metric::L2:
        return k.l2_squared(a, b, dim);
    case Metric::InnerProduct:
        return -k.inner_product(a, b, dim);
    case Metric::Cosine:
        return 1.0f - k.inner_product(a, b, dim);
    }
    return 0.0f;
}

float sq8_prepare_query(Metric m, const float *query, const float *lo, const float *step, std::size_t dim,
                        float *prepared) {
    if (m == Metric::L2) {
        for (std::size_t j = 0; j < dim; j++) prepared[j] = query[j] - lo[j];
        return 0.0f;
    }
    for (std::size_t j = 0; j < dim; j++) prepared[j] = query[j] * step[j];
    return kernels().inner_product(query, lo, dim);
}

float sq8_index_distance(Metric m, const float *prepared, float bias, const float *step, const uint8_t *codes,
                         std::size_t dim) {
    const DistanceKernels &k = kernels();
    switch (m) {
    case Metric::L2:
        return k.sq8_l2_squared(prepared, step, codes, dim);
    case Metric::InnerProduct:
        return -(bias + k.sq8_dot(prepared, codes, dim));
    case Metric::Cosine:
        return 1.0f - (bias + k.sq8_dot(prepared, codes, dim));
    }
    return 0.0f;
}

bool prepare_vector(Metric m, float *v, std::size_t dim) {
    if (m != Metric::Cosine) return true;
    double sum = 0.0;
    for (std::size_t i = 0; i < dim; i++) sum += (double)v[i] * v[i];
    if (sum == 0.0) return false;
    double norm = std::sqrt(sum);
    for (std::size_t i = 0; i < dim; i++) v[i] = (float)(v[i] / norm);
    return true;
}

}  // namespace kyrodb
