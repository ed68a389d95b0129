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
