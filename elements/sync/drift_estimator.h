// Sender clock drift estimator: fits the lower envelope of (capture time, arrival time) points.
//
// Method: the linear-programming skew estimator of Moon, Skelly & Towsley (1999). Over a sliding
// window of points, find the line a = alpha + beta * c that lies below every point and minimises
// the sum of vertical distances to them. Its solution is the edge of the lower convex hull that
// spans the mean capture time, so it is computed in O(n) with a monotone-chain hull. Queueing
// delay only ever adds to the transit time, so the lower envelope is the minimum-delay path and
// queueing noise does not bias the slope (an ordinary regression would be biased by bursts).
// beta is local ns per sender ns; drift_ppm() = (1/beta - 1) * 1e6 (positive: sender clock fast).
// Pure C++, not thread-safe (the owner locks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "timeline.h"

namespace mf::sync {

class DriftEstimator {
 public:
  /// window_ns: span of sender time kept; min_span_ns: span needed before the slope is fitted
  /// (before that, beta = 1 and the envelope is the minimum transit seen).
  explicit DriftEstimator(int64_t window_ns = 30'000'000'000, int64_t min_span_ns = 2'000'000'000);

  void reset();
  void add(int64_t capture_ns, int64_t arrival_ns);

  bool has_data() const { return !pts_.empty(); }
  bool slope_valid() const { return slope_valid_; }
  double beta() const { return 1.0 + slope_; }
  double drift_ppm() const { return slope_valid_ ? (1.0 / beta() - 1.0) * 1e6 : 0.0; }
  /// The envelope: earliest local arrival expected for a sample captured at c.
  int64_t local_at(int64_t capture_ns) const;
  /// The envelope as a Timeline (target 0) referenced at capture time c_ref.
  Timeline timeline(int64_t c_ref) const;
  size_t size() const { return pts_.size(); }
  /// Number of resets caused by a timestamp discontinuity (> 2 s off the envelope).
  uint64_t resets() const { return resets_; }

 private:
  struct Pt {
    int64_t c;
    int64_t a;
  };
  void refit();

  int64_t window_ns_;
  int64_t min_span_ns_;
  std::deque<Pt> pts_;  // sorted by capture time
  std::vector<double> hx_, hy_;  // scratch for the hull
  // Envelope: transit(c) = base_transit_ + y0_ + slope_ * (c - c0_), transit = a - c.
  int64_t c0_ = 0;
  int64_t base_transit_ = 0;
  double y0_ = 0.0;
  double slope_ = 0.0;
  bool slope_valid_ = false;
  uint64_t resets_ = 0;
};

}  // namespace mf::sync
