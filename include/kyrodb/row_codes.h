// 7-bit codes of float rows with a bound that keeps a search over them exact.
//
// A first pass over many rows (the hot tier) on codes reads a quarter of the bytes and runs an
// integer kernel. Every dimension shares one step, so the squared distance between two codes is
// an integer, |c|^2 + |q|^2 - 2 q.c, with |c|^2 kept per row and q.c from code7_dots (7 bits
// let it multiply bytes without saturating). Each row keeps its exact quantization error
// e_x = |x - x^|, and the query its own e_q, so by the triangle inequality
//     |q - x|  >=  |q^ - x^| - e_q - e_x
// for any row, also one outside the grid (clamped codes only make e_x larger). The caller
// computes the exact distance of the rows whose bound does not rule them out.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kyrodb/metric.h"

namespace kyrodb {

// Gives back v's room beyond max(v.size(), n) elements (shrink_to_fit is only a request).
template <typename T>
void shrink_capacity(std::vector<T> &v, std::size_t n) {
    if (n < v.size()) n = v.size();
    if (v.capacity() <= n) return;
    std::vector<T> fitted;
    fitted.reserve(n);
    fitted.assign(v.begin(), v.end());
    v.swap(fitted);
}

class RowCodes {
  public:
    // Encodes rows [size(), n) of `rows` (element rows `stride` floats apart, the first `dim`
    // floats of each the vector). The grid comes from the rows first seen; it is chosen again,
    // and every row encoded again, each time the rows double, up to kSettledRows, so that a
    // grid set from a handful of rows does not stay. Allocates: call it outside pg_call.
    void update(std::size_t dim, const float *rows, std::size_t n, std::size_t stride);
    // Room for n rows of `dim` dimensions without moving them (update() grows by doubling
    // otherwise).
    void reserve(std::size_t dim, std::size_t n);
    // Gives back the room beyond max(size(), n) rows: reserve() and growth keep what they took.
    void shrink_to(std::size_t n);
    // Bytes allocated, used or not.
    std::size_t reserved_bytes() const;
    // Drops rows [n, size()) (the caller dropped them from its rows); the grid stays.
    void truncate(std::size_t n);
    // Drops rows [0, n) (the caller dropped them from its rows).
    void erase_front(std::size_t n);
    void clear();
    std::size_t size() const { return errors_.size(); }
    // Whether the values allowed a grid (finite steps): if not, lower_bounds must not be called.
    bool usable() const { return step_ > 0; }

    // out[i] = a lower bound of index_distance(metric, query, row i) as the float kernels
    // compute it (their rounding included), for every row; for cosine, `query` and the rows as
    // prepare_vector left them. Inner products come from |q - x|, |q| and |x| (kept per row).
    // Never NaN.
    void lower_bounds(Metric metric, const float *query, float *out) const;

    static constexpr std::size_t kSettledRows = 4096;

  private:
    void choose_grid(const float *rows, std::size_t n, std::size_t stride);
    // Returns |v - v^|, and sets *square to |v|^2 (if asked), both rounded up.
    float encode(const float *v, uint8_t *code, uint32_t *norm, float *square = nullptr) const;

    std::size_t dim_ = 0;
    std::size_t grid_rows_ = 0;   // rows the grid was chosen from
    float step_ = 0;              // 0: no grid
    std::vector<float> lo_;       // per dimension: the value of code 0
    std::vector<uint8_t> codes_;  // dim_ per row, 0..127
    std::vector<uint32_t> norms_; // per row: sum of its codes squared
    std::vector<float> squares_;  // per row: |x|^2
    std::vector<float> errors_;   // per row
};

}  // namespace kyrodb
