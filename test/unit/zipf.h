// Zipf(s) ranks over n keys, shared by the result cache's and access model's tests.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace kyrodb_test {

class Zipf {
  public:
    Zipf(uint32_t n, double s) : cdf_(n) {
        double sum = 0;
        for (uint32_t r = 0; r < n; r++) cdf_[r] = sum += std::pow(r + 1.0, -s);
        for (auto &c : cdf_) c /= sum;
    }
    uint32_t operator()(std::mt19937_64 &rng) {
        double u = std::uniform_real_distribution<double>(0, 1)(rng);
        return std::min<uint32_t>(uint32_t(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin()),
                                  uint32_t(cdf_.size() - 1));
    }

  private:
    std::vector<double> cdf_;
};

}  // namespace kyrodb_test
