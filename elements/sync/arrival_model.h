// Per-stream arrival model shared by the audio and video playout queues: sequence tracking
// (duplicates, reordering), the drift estimator (envelope), the jitter estimator and the
// adaptive playout target, plus the counters reported as stats. Pure C++, not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <set>
#include <utility>

#include "drift_estimator.h"
#include "jitter_estimator.h"
#include "timeline.h"

namespace mf::sync {

struct DelayConfig {
  int64_t min_delay_ns = 10'000'000;   // lower clamp of the target
  int64_t max_delay_ns = 500'000'000;  // upper clamp of the target (and of underrun expansion)
  int64_t headroom_ns = 2'000'000;     // added to the jitter quantile (plus, for audio, 1 period)
  double quantile = 0.98;              // quantile of the arrival excess the target covers
  int64_t jitter_window_ns = 10'000'000'000;
  int64_t drift_window_ns = 30'000'000'000;
  // Peak hold: arrivals whose excess the target did not cover (they underran, or would have)
  // form peak episodes (uncovered arrivals less than 200 ms apart are one episode). Once two or
  // more episodes lie within this window the target covers the largest of them (recurring
  // stalls), until they expire; a single isolated stall does not hold the delay up.
  // 0 = off (the target is the quantile alone).
  int64_t peak_window_ns = 30'000'000'000;
  // Slew limits of the target, in ns of target change per ns of arrival time.
  double target_rise_rate = 0.05;
  double target_fall_rate = 0.01;
};

/// Counters and gauges of one stream (the `stats` property and the per-second messages).
struct StreamStats {
  uint64_t received = 0;           // buffers accepted into the queue
  uint64_t duplicates = 0;         // dropped: sequence number already seen
  uint64_t late_drops = 0;         // dropped: arrived after their playout time
  uint64_t reordered = 0;          // arrived with a lower sequence number than one already seen
  uint64_t underruns = 0;          // episodes where the queue ran dry at playout time
  uint64_t concealed_samples = 0;  // audio frames synthesised (loss concealment + expansion)
  uint64_t expanded_samples = 0;   // of which inserted to stretch time on an underrun
  uint64_t output_buffers = 0;
  double jitter_ms = 0.0;          // RFC 3550 interarrival jitter
  double delay_ms = 0.0;           // current added delay above the arrival envelope
  double target_ms = 0.0;          // current target delay (own, before lip-sync)
  double drift_ppm = 0.0;          // sender clock rate vs local clock, (sender/local - 1) * 1e6
};

class ArrivalModel {
 public:
  explicit ArrivalModel(const DelayConfig &cfg, int64_t extra_headroom_ns = 0);

  void set_config(const DelayConfig &cfg) { cfg_ = cfg; }
  const DelayConfig &config() const { return cfg_; }

  /// Sequence bookkeeping. Returns false for a duplicate (and counts it).
  bool accept_seq(uint32_t seq);
  /// Feeds one arrival into the estimators and updates the target.
  void observe(int64_t capture_ns, int64_t arrival_ns);

  bool has_data() const { return drift_.has_data(); }
  int64_t env(int64_t capture_ns) const { return drift_.local_at(capture_ns); }
  int64_t target_ns() const { return target_; }
  Timeline timeline() const;
  double drift_ppm() const { return drift_.drift_ppm(); }
  double rho() const { return 1.0 / drift_.beta(); }  // sender ns per local ns

  StreamStats &stats() { return stats_; }
  const StreamStats &stats() const { return stats_; }
  void fill_gauges(StreamStats *s) const;

 private:
  int64_t raw_target() const;

  DelayConfig cfg_;
  int64_t extra_headroom_;
  DriftEstimator drift_;
  JitterEstimator jitter_;
  StreamStats stats_;
  // Sequence numbers: extended to 64 bits; recent ones remembered for duplicate detection.
  bool have_seq_ = false;
  int64_t highest_seq_ = 0;
  std::set<int64_t> seen_;
  int64_t last_capture_ = 0;
  int64_t last_arrival_ = 0;
  bool have_target_ = false;
  int64_t target_ = 0;
  // Peak episodes of the last peak_window_ns: (last arrival, largest excess), oldest first.
  std::deque<std::pair<int64_t, int64_t>> peaks_;
};

}  // namespace mf::sync
