// See drift_estimator.h.
#include "drift_estimator.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace mf::sync {

DriftEstimator::DriftEstimator(int64_t window_ns, int64_t min_span_ns)
    : window_ns_(window_ns), min_span_ns_(min_span_ns) {}

void DriftEstimator::reset() {
  pts_.clear();
  slope_ = 0.0;
  y0_ = 0.0;
  slope_valid_ = false;
}

int64_t DriftEstimator::local_at(int64_t c) const {
  return c + base_transit_ + std::llround(y0_ + slope_ * double(c - c0_));
}

Timeline DriftEstimator::timeline(int64_t c_ref) const {
  Timeline t;
  t.valid = has_data();
  t.c_ref = c_ref;
  t.a_ref = local_at(c_ref);
  t.beta = beta();
  return t;
}

void DriftEstimator::add(int64_t c, int64_t a) {
  if (!pts_.empty() && std::llabs(a - local_at(c)) > 2'000'000'000) {
    // The sender's clock jumped (restart, new epoch): start over.
    reset();
    ++resets_;
  }
  if (pts_.empty()) base_transit_ = a - c;
  // Keep the deque sorted by capture time (reordered packets are rare: search from the back).
  auto it = pts_.end();
  while (it != pts_.begin() && std::prev(it)->c > c) --it;
  pts_.insert(it, Pt{c, a});
  while (pts_.size() > 2 && pts_.back().c - pts_.front().c > window_ns_) pts_.pop_front();
  refit();
}

void DriftEstimator::refit() {
  const int64_t c0 = pts_.front().c;
  const int64_t span = pts_.back().c - c0;
  c0_ = c0;
  if (span < min_span_ns_ || pts_.size() < 3) {
    // Not enough span for a slope: envelope = minimum transit, beta = 1.
    int64_t min_tr = INT64_MAX;
    for (const auto &p : pts_) min_tr = std::min(min_tr, (p.a - p.c) - base_transit_);
    slope_ = 0.0;
    y0_ = double(min_tr);
    slope_valid_ = false;
    return;
  }
  // Lower convex hull of (x = c - c0, y = transit - base_transit), x ascending.
  hx_.clear();
  hy_.clear();
  double sum_x = 0.0;
  for (const auto &p : pts_) {
    const double x = double(p.c - c0);
    const double y = double((p.a - p.c) - base_transit_);
    sum_x += x;
    while (hx_.size() >= 2) {
      const size_t n = hx_.size();
      const double cross = (hx_[n - 1] - hx_[n - 2]) * (y - hy_[n - 2]) -
                           (hy_[n - 1] - hy_[n - 2]) * (x - hx_[n - 2]);
      if (cross <= 0) {
        hx_.pop_back();
        hy_.pop_back();
      } else {
        break;
      }
    }
    if (!hx_.empty() && hx_.back() == x) {
      // Same capture time twice: keep the lower point.
      if (y < hy_.back()) hy_.back() = y;
      continue;
    }
    hx_.push_back(x);
    hy_.push_back(y);
  }
  const double mean_x = sum_x / double(pts_.size());
  if (hx_.size() < 2) {
    slope_ = 0.0;
    y0_ = hy_.empty() ? 0.0 : hy_[0];
    slope_valid_ = false;
    return;
  }
  size_t i = 0;
  while (i + 2 < hx_.size() && hx_[i + 1] < mean_x) ++i;
  slope_ = (hy_[i + 1] - hy_[i]) / (hx_[i + 1] - hx_[i]);
  y0_ = hy_[i] - slope_ * hx_[i];
  slope_valid_ = true;
}

}  // namespace mf::sync
