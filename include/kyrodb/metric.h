// Metrics of the kyrodb index and the ranking distance it orders elements by (pure C++).
#pragma once
#include <cstddef>
#include <cstdint>

namespace kyrodb {

enum class Metric : uint32_t { L2 = 1, InnerProduct = 2, Cosine = 3 };

// True for the three metrics above (for validating values read from disk or SQL).
bool valid_metric(uint32_t m);

// Ranking distance used inside the index (smaller = nearer):
//   L2 -> squared L2; InnerProduct -> -(a.b); Cosine -> 1 - (a.b) on vectors already normalized by
//   prepare_vector.
// Computed with kyrodb::kernels(); the builder and the Searcher use exactly the same expressions, so
// a distance computed here is bit-identical to the one the index ranked by.
float index_distance(Metric m, const float *a, const float *b, std::size_t dim);

// Approximate ranking distance against an 8-bit scalar-quantized vector (segment.h's SQ8:
// x_j ~ lo_j + step_j * c_j), asymmetric (the query stays float), with the same definition as
// index_distance applied to the decoded vector. Prepare the query once, then per element:
//   sq8_prepare_query writes dim floats to `prepared` and returns `bias`:
//     L2: prepared = q - lo, bias = 0;  InnerProduct, Cosine: prepared = q * step, bias = q . lo.
//   sq8_index_distance(m, prepared, bias, step, codes, dim):
//     L2: sum_j (prepared_j - step_j c_j)^2;  InnerProduct: -(bias + prepared . c);
//     Cosine: 1 - (bias + prepared . c)   (decoded vectors are only approximately unit).
float sq8_prepare_query(Metric m, const float *query, const float *lo, const float *step, std::size_t dim,
                        float *prepared);
float sq8_index_distance(Metric m, const float *prepared, float bias, const float *step, const uint8_t *codes,
                         std::size_t dim);

// Makes a vector ready for the index, in place. Cosine: scales to unit L2 norm (norm computed in
// double), returns false for a zero vector (not indexable). Other metrics: no change, returns true.
bool prepare_vector(Metric m, float *v, std::size_t dim);

}  // namespace kyrodb
