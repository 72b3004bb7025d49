// Arrival jitter: the RFC 3550 interarrival jitter (reported) and a quantile of the arrival
// excess over the lower envelope in a sliding window (used for the playout target).
// Pure C++, not thread-safe (the owner locks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

namespace mf::sync {

class JitterEstimator {
 public:
  explicit JitterEstimator(int64_t window_ns = 10'000'000'000) : window_ns_(window_ns) {}

  void reset();
  /// capture/arrival in ns; excess_ns = arrival - envelope(capture), clamped at 0.
  void add(int64_t capture_ns, int64_t arrival_ns, int64_t excess_ns);

  /// RFC 3550 section 6.4.1 interarrival jitter J (ns), in arrival order.
  double rfc3550_ns() const { return j_; }
  /// q-quantile (0..1) of the excess over the window (ns); 0 when empty.
  int64_t quantile_ns(double q) const;
  size_t size() const { return win_.size(); }

 private:
  int64_t window_ns_;
  bool have_prev_ = false;
  int64_t prev_c_ = 0, prev_a_ = 0;
  double j_ = 0.0;
  std::deque<std::pair<int64_t, int64_t>> win_;  // (arrival, excess)
  mutable std::vector<int64_t> scratch_;
};

}  // namespace mf::sync
