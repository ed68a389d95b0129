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

float RowCodes::encode(const float *v, uint8_t *code, uint32_t *norm) const {
    double err = 0;
    *norm = 0;
    for (std::size_t d = 0; d < dim_; d++) {
        const double c = std::nearbyint((double(v[d]) - lo_[d]) / step_);
        const uint8_t k = uint8_t(std::clamp(c, 0.0, double(kTop)));
        code[d] = k;
        *norm += uint32_t(k) * k;
        const double diff = double(v[d]) - (double(lo_[d]) + double(step_) * k);
        err += diff * diff;
    }
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
    errors_.resize(n);
    for (std::size_t r = from; r < n; r++) errors_[r] = encode(rows + r * stride, &codes_[r * dim_], &norms_[r]);
}

void RowCodes::erase_front(std::size_t n) {
    n = std::min(n, size());
    codes_.erase(codes_.begin(), codes_.begin() + std::ptrdiff_t(n * dim_));
    norms_.erase(norms_.begin(), norms_.begin() + std::ptrdiff_t(n));
    errors_.erase(errors_.begin(), errors_.begin() + std::ptrdiff_t(n));
}

void RowCodes::clear() {
    dim_ = grid_rows_ = 0;
    step_ = 0;
    lo_.clear();
    codes_.clear();
    norms_.clear();
    errors_.clear();
}

void RowCodes::l2_lower_bounds(const float *query, float *out) const {
    std::vector<uint8_t> q(dim_);
    uint32_t qnorm;
    const double eq = encode(query, q.data(), &qnorm);
    const std::size_t n = size();
    // q.c first (into out's bits), then the bounds in a loop the compiler vectorizes
    auto *dots = reinterpret_cast<uint32_t *>(out);
    kernels().code7_dots(q.data(), codes_.data(), dim_, n, dots);
    // l2_squared sums dim_ float products: its result is within a relative (dim_ + 4) * 2^-24 of
    // the real squared distance (in any summation order), so the bound is lowered by that much.
    // The float arithmetic here errs by a few 2^-24 relative more, which the 1e-6 margins cover.
    const float margin = float((1 - double(dim_ + 4) * std::ldexp(1.0, -24)) * (1 - 1e-6));
    const float step = float(step_ * (1 - 1e-6)), query_error = float(eq * (1 + 1e-6));
    for (std::size_t r = 0; r < n; r++) {
        // exact in integers: |c|^2 + |q|^2 - 2 q.c >= 0, below 2^31 for dim_ < 133,000
        const int32_t sum = int32_t(norms_[r] + qnorm - 2 * dots[r]);
        const float bound = std::max(step * std::sqrt(float(sum)) - query_error - errors_[r] * (1 + 1e-6f), 0.0f);
        out[r] = bound * bound * margin;
    }
}

}  // namespace kyrodb
