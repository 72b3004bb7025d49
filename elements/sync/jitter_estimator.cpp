// See jitter_estimator.h.
#include "jitter_estimator.h"

#include <algorithm>
#include <cmath>

namespace mf::sync {

void JitterEstimator::reset() {
  have_prev_ = false;
  j_ = 0.0;
  win_.clear();
}

void JitterEstimator::add(int64_t c, int64_t a, int64_t excess) {
  if (have_prev_) {
    const double d = double((a - prev_a_) - (c - prev_c_));
    j_ += (std::fabs(d) - j_) / 16.0;
  }
  have_prev_ = true;
  prev_c_ = c;
  prev_a_ = a;
  win_.emplace_back(a, std::max<int64_t>(0, excess));
  while (win_.size() > 1 && a - win_.front().first > window_ns_) win_.pop_front();
}

int64_t JitterEstimator::quantile_ns(double q) const {
  if (win_.empty()) return 0;
  scratch_.clear();
  for (const auto &e : win_) scratch_.push_back(e.second);
  size_t k = size_t(std::floor(std::clamp(q, 0.0, 1.0) * double(scratch_.size())));
  if (k >= scratch_.size()) k = scratch_.size() - 1;
  std::nth_element(scratch_.begin(), scratch_.begin() + long(k), scratch_.end());
  return scratch_[k];
}

}  // namespace mf::sync
