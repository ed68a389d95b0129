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

// Makes a vector ready for the index, in place. Cosine: scales to unit L2 norm (norm computed in
// double), returns false for a zero vector (not indexable). Other metrics: no change, returns true.
bool prepare_vector(Metric m, float *v, std::size_t dim);

}  // namespace kyrodb
