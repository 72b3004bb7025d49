// Video (and any non-audio) playout queue: frames ordered by capture time, released when their
// capture time is due on the (group) timeline; duplicates and late frames dropped and counted.
// No concealment (a missing frame is simply not shown). Pure C++ template over the payload
// type (the element stores GstBuffer references), not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "arrival_model.h"
#include "audio_playout.h"

namespace mf::sync {

template <class Payload>
class VideoPlayout {
 public:
  explicit VideoPlayout(const DelayConfig &cfg) : model_(cfg, 0) {}

  void set_config(const DelayConfig &cfg) { model_.set_config(cfg); }

  PushResult push(uint32_t seq, int64_t capture, int64_t arrival, Payload &&p) {
    if (!model_.accept_seq(seq)) return PushResult::kDuplicate;
    model_.observe(capture, arrival);
    if (have_played_ && capture <= played_until_) {
      ++model_.stats().late_drops;
      return PushResult::kLate;
    }
    if (queue_.count(capture)) {
      ++model_.stats().duplicates;
      return PushResult::kDuplicate;
    }
    queue_.emplace(capture, std::move(p));
    ++model_.stats().received;
    return PushResult::kQueued;
  }

  bool has_data() const { return model_.has_data(); }
  bool empty() const { return queue_.empty(); }
  Timeline timeline() const { return model_.timeline(); }

  /// Removes and returns (capture time, payload) of every frame with capture <= c_due.
  std::vector<std::pair<int64_t, Payload>> pop_due(int64_t t, int64_t c_due) {
    std::vector<std::pair<int64_t, Payload>> out;
    while (!queue_.empty() && queue_.begin()->first <= c_due) {
      auto it = queue_.begin();
      last_delay_ = t - model_.env(it->first);
      out.emplace_back(it->first, std::move(it->second));
      queue_.erase(it);
      ++model_.stats().output_buffers;
    }
    if (!have_played_ || c_due > played_until_) played_until_ = c_due;
    have_played_ = true;
    return out;
  }

  StreamStats stats() const {
    StreamStats s = model_.stats();
    model_.fill_gauges(&s);
    s.delay_ms = double(last_delay_) / 1e6;
    return s;
  }

 private:
  ArrivalModel model_;
  std::map<int64_t, Payload> queue_;
  bool have_played_ = false;
  int64_t played_until_ = 0;
  int64_t last_delay_ = 0;
};

}  // namespace mf::sync
