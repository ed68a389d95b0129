#include "kyrodb/row_codes.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kyrodb/distance.h"

namespace kyrodb {

namespace {

constexpr int kTop = 127;  // the largest code

// The next float up from a double, so that a float error never understates the real one.
float round_up(double x) {
    float f = float(x);
    return double(f) >= x ? f : std::nextafter(f, std::numeric_limits<float>::infinity());
}

}  // namespace

void RowCodes::choose_grid(const float *rows, std::size_t n, std::size_t stride) {
    lo_.assign(dim_, 0.0f);
    grid_rows_ = n;
    double widest = 0;
    std::vector<double> mid(dim_);
    for (std::size_t d = 0; d < dim_; d++) {
        double lo = rows[d], hi = rows[d];
        for (std::size_t r = 1; r < n; r++) {
            lo = std::min<double>(lo, rows[r * stride + d]);
            hi = std::max<double>(hi, rows[r * stride + d]);
        }
        widest = std::max(widest, hi - lo);
        mid[d] = (lo + hi) / 2;
    }
    // A quarter of the range to spare, for rows that come later; any step works when every
    // value is equal.
    double step = widest > 0 ? widest * 1.25 / kTop : 1.0;
    step_ = float(step);
    for (std::size_t d = 0; d < dim_; d++) {
        lo_[d] = float(mid[d] - kTop / 2.0 * double(step_));
        if (!std::isfinite(lo_[d])) step_ = 0;
    }
    if (!std::isfinite(step_) || !(step_ > 0)) step_ = 0;
}

float RowCodes::encode(const float *v, uint8_t *code, uint32_t *norm, float *square) const {
    double err = 0, sq = 0;
    *norm = 0;
    for (std::size_t d = 0; d < dim_; d++) {
        const double c = std::nearbyint((double(v[d]) - lo_[d]) / step_);
        const uint8_t k = uint8_t(std::clamp(c, 0.0, double(kTop)));
        code[d] = k;
        *norm += uint32_t(k) * k;
        const double diff = double(v[d]) - (double(lo_[d]) + double(step_) * k);
        err += diff * diff;
        sq += double(v[d]) * v[d];
    }
    if (square != nullptr) *square = round_up(sq * (1 + 1e-12));
    return round_up(std::sqrt(err) * (1 + 1e-12));
}

void RowCodes::update(std::size_t dim, const float *rows, std::size_t n, std::size_t stride) {
    if (dim != dim_ || n < size()) clear();
    dim_ = dim;
    if (n == 0) return;
    std::size_t from = size();
    if (step_ == 0 || (n >= 2 * grid_rows_ && grid_rows_ < kSettledRows)) {
        choose_grid(rows, n, stride);
        from = 0;
    }
    if (step_ == 0) return;
    codes_.resize(n * dim_);
    norms_.resize(n);
    squares_.resize(n);
    errors_.resize(n);
    for (std::size_t r = from; r < n; r++)
        errors_[r] = encode(rows + r * stride, &codes_[r * dim_], &norms_[r], &squares_[r]);
}

void RowCodes::reserve(std::size_t dim, std::size_t n) {
    if (n <= errors_.capacity()) return;
    codes_.reserve(n * dim);
    norms_.reserve(n);
    squares_.reserve(n);
    errors_.reserve(n);
}

void RowCodes::shrink_to(std::size_t n) {
    shrink_capacity(codes_, n * dim_);
    shrink_capacity(norms_, n);
    shrink_capacity(squares_, n);
    shrink_capacity(errors_, n);
}

std::size_t RowCodes::reserved_bytes() const {
    return lo_.capacity() * sizeof(float) + codes_.capacity() + norms_.capacity() * sizeof(uint32_t) +
           (squares_.capacity() + errors_.capacity()) * sizeof(float);
}

void RowCodes::truncate(std::size_t n) {
    if (n >= size()) return;
    codes_.resize(n * dim_);
    norms_.resize(n);
    squares_.resize(n);
    errors_.resize(n);
}

void RowCodes::erase_front(std::size_t n) {
    n = std::min(n, size());
    codes_.erase(codes_.begin(), codes_.begin() + std::ptrdiff_t(n * dim_));
    norms_.erase(norms_.begin(), norms_.begin() + std::ptrdiff_t(n));
    squares_.erase(squares_.begin(), squares_.begin() + std::ptrdiff_t(n));
    errors_.erase(errors_.begin(), errors_.begin() + std::ptrdiff_t(n));
}

void RowCodes::clear() {
    dim_ = grid_rows_ = 0;
    step_ = 0;
    lo_.clear();
    codes_.clear();
    norms_.clear();
    squares_.clear();
    errors_.clear();
}

void RowCodes::lower_bounds(Metric metric, const float *query, float *out) const {
    std::vector<uint8_t> q(dim_);
    uint32_t qnorm;
    const double eq = encode(query, q.data(), &qnorm);
    const std::size_t n = size();
    // q.c first (into out's bits), then a lower bound of the real |q - x| in a loop the compiler
    // vectorizes: its float arithmetic errs by a few 2^-24 relative, which the 1e-6 margins cover.
    auto *dots = reinterpret_cast<uint32_t *>(out);
    kernels().code7_dots(q.data(), codes_.data(), dim_, n, dots);
    const float step = float(step_ * (1 - 1e-6)), query_error = float(eq * (1 + 1e-6));
    // Through locals the compiler knows out cannot move the members' arrays, and vectorizes.
    const uint32_t *__restrict norms = norms_.data();
    const float *__restrict errors = errors_.data();
    for (std::size_t r = 0; r < n; r++) {
        // exact in integers: |c|^2 + |q|^2 - 2 q.c >= 0, below 2^31 for dim_ < 133,000
        const int32_t sum = int32_t(norms[r] + qnorm - 2 * dots[r]);
        const float bound = step * std::sqrt(float(sum)) - query_error - errors[r] * (1 + 1e-6f);
        out[r] = bound > 0.0f ? bound : 0.0f;
    }
    // The float kernels sum dim_ products: l2_squared errs by at most (dim_ + 4) 2^-24 of the
    // real squared distance, inner_product by as much of |q| |x| (Cauchy-Schwarz), in any order.
    const double rounding = double(dim_ + 8) * std::ldexp(1.0, -24);
    if (metric == Metric::L2) {
        const float margin = float((1 - rounding) * (1 - 1e-6));
        for (std::size_t r = 0; r < n; r++) out[r] = out[r] * out[r] * margin;
        return;
    }
    // -q.x = (|q - x|^2 - |q|^2 - |x|^2) / 2, with both squared norms rounded up; cosine ranks by
    // 1 - q.x, whose last subtraction rounds once more. In double, then rounded down to float.
    double qn = 0;
    for (std::size_t d = 0; d < dim_; d++) qn += double(query[d]) * query[d];
    qn *= 1 + 1e-12;
    for (std::size_t r = 0; r < n; r++) {
        const double xn = squares_[r], cross = std::sqrt(qn * xn);
        double bound = (double(out[r]) * out[r] - qn - xn) / 2 - rounding * cross;
        if (metric == Metric::Cosine) bound = 1 + bound - rounding * (1 + cross);
        if (std::isnan(bound)) bound = -std::numeric_limits<double>::infinity();  // |x|^2 overflowed: no bound
        const float f = float(bound);
        out[r] = double(f) <= bound ? f : std::nextafter(f, -std::numeric_limits<float>::infinity());
    }
}

}  // namespace kyrodb
