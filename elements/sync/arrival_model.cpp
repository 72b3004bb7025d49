// See arrival_model.h.
#include "arrival_model.h"

#include <algorithm>
#include <cmath>

namespace mf::sync {

namespace {
constexpr int64_t kSeqMemory = 4096;  // how many sequence numbers back duplicates are detected
constexpr int64_t kEpisodeGap = 200'000'000;  // uncovered arrivals closer than this: one episode
constexpr size_t kMaxEpisodes = 256;
}

ArrivalModel::ArrivalModel(const DelayConfig &cfg, int64_t extra_headroom_ns)
    : cfg_(cfg),
      extra_headroom_(extra_headroom_ns),
      drift_(cfg.drift_window_ns),
      jitter_(cfg.jitter_window_ns) {}

bool ArrivalModel::accept_seq(uint32_t seq) {
  int64_t ext;
  if (!have_seq_) {
    ext = seq;
    have_seq_ = true;
    highest_seq_ = ext;
  } else {
    // Unwrap relative to the highest extended sequence number seen.
    const uint32_t hi32 = uint32_t(highest_seq_);
    const int32_t delta = int32_t(seq - hi32);
    ext = highest_seq_ + delta;
  }
  if (seen_.count(ext)) {
    ++stats_.duplicates;
    return false;
  }
  if (ext < highest_seq_) ++stats_.reordered;
  highest_seq_ = std::max(highest_seq_, ext);
  seen_.insert(ext);
  while (!seen_.empty() && *seen_.begin() < highest_seq_ - kSeqMemory) seen_.erase(seen_.begin());
  return true;
}

int64_t ArrivalModel::raw_target() const {
  const int64_t head = cfg_.headroom_ns + extra_headroom_;
  const int64_t lo = std::max(cfg_.min_delay_ns, head);
  const int64_t hi = std::max(lo, cfg_.max_delay_ns);
  int64_t cover = jitter_.quantile_ns(cfg_.quantile);
  if (peaks_.size() >= 2)
    for (const auto &p : peaks_) cover = std::max(cover, p.second);
  return std::clamp(cover + head, lo, hi);
}

void ArrivalModel::observe(int64_t c, int64_t a) {
  const uint64_t resets = drift_.resets();
  drift_.add(c, a);
  if (drift_.resets() != resets) {
    // New sender epoch: the old capture times mean nothing any more.
    last_capture_ = c;
    jitter_.reset();
    peaks_.clear();
  }
  const int64_t excess = std::max<int64_t>(0, a - drift_.local_at(c));
  jitter_.add(c, a, excess);
  // Peak hold (like NetEq's peak detector): a quantile alone lets the tail it does not cover
  // underrun again and again (2% of the arrivals for q = 0.98); recurring uncovered peaks keep
  // the target above them for peak_window_ns (see DelayConfig).
  while (!peaks_.empty() && a - peaks_.front().first > cfg_.peak_window_ns) peaks_.pop_front();
  if (cfg_.peak_window_ns > 0 && have_target_ && excess + cfg_.headroom_ns + extra_headroom_ > target_) {
    if (!peaks_.empty() && a - peaks_.back().first <= kEpisodeGap) {
      peaks_.back().first = a;
      peaks_.back().second = std::max(peaks_.back().second, excess);
    } else {
      peaks_.emplace_back(a, excess);
      if (peaks_.size() > kMaxEpisodes) peaks_.pop_front();
    }
  }
  const int64_t raw = raw_target();
  if (!have_target_) {
    target_ = raw;
    have_target_ = true;
  } else {
    // Move the target smoothly: a bounded change per unit of arrival time.
    const double dt = double(std::max<int64_t>(0, a - last_arrival_));
    const int64_t up = std::llround(dt * cfg_.target_rise_rate);
    const int64_t down = std::llround(dt * cfg_.target_fall_rate);
    target_ = std::clamp(raw, target_ - down, target_ + up);
  }
  last_capture_ = std::max(last_capture_, c);
  last_arrival_ = std::max(last_arrival_, a);
}

Timeline ArrivalModel::timeline() const {
  Timeline t = drift_.timeline(last_capture_);
  t.target = target_;
  return t;
}

void ArrivalModel::fill_gauges(StreamStats *s) const {
  s->jitter_ms = jitter_.rfc3550_ns() / 1e6;
  s->target_ms = double(target_) / 1e6;
  s->drift_ppm = drift_.drift_ppm();
}

}  // namespace mf::sync
