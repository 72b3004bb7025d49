// Audio playout queue: the jitter buffer proper for one PCM16 stream. Pure C++, not thread-safe.
//
// Packets are placed by capture time on the sender's sample grid (index = (capture - first
// capture) * rate). A linearizer turns the reorder queue into a contiguous stream of sender
// samples, concealing what is missing when it is needed:
//   - a gap before a later packet that has arrived  -> loss: the missing sender samples are
//     synthesised (repeat of the last 10 ms with a linear fade to silence over 20 ms, then
//     silence; real audio after a concealment fades in over 2.5 ms);
//   - the queue is empty (an underrun: data is late) -> expansion: concealment is inserted
//     without consuming sender samples, so the late packet can still play (this is the only
//     way the delay grows at once, and it happens while concealing, never over real audio);
//     once the added delay reaches max-delay the missing samples are treated as lost instead.
// A packet arriving after its samples were consumed is dropped (late drop).
// The output is read from that stream at a fractional rate rho (sender samples per output
// sample) with a cubic resampler: rho = drift ratio (from the envelope fit) x a small servo
// correction (at most 1%, or 10% while the audio is near silence) that steers the read position
// to the sender time due now on the (group) timeline. Hence the buffer fill stays constant under
// drift and target changes are followed smoothly.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "arrival_model.h"
#include "timeline.h"

namespace mf::sync {

enum class PushResult { kQueued, kDuplicate, kLate, kInvalid };

class AudioPlayout {
 public:
  AudioPlayout(int rate, int channels, int64_t period_ns, const DelayConfig &cfg);

  void set_config(const DelayConfig &cfg) { model_.set_config(cfg); }
  int rate() const { return rate_; }
  int channels() const { return ch_; }
  size_t period_frames() const { return period_frames_; }

  PushResult push(uint32_t seq, int64_t capture_ns, int64_t arrival_ns, const int16_t *pcm,
                  size_t frames);
  bool has_data() const { return started_ || !queue_.empty(); }
  bool started() const { return started_; }
  /// This stream's own timeline (envelope + target) for the group computation.
  Timeline timeline() const { return model_.timeline(); }

  /// Renders one period for the output tick at local time t, given the sender time due at t on
  /// the common timeline. Returns false (nothing written) until playout has started.
  /// *capture_out = sender capture time of the first output sample.
  bool render(int64_t t, int64_t c_due, int16_t *out, int64_t *capture_out);

  void set_eos() { eos_ = true; }
  bool drained() const;
  StreamStats stats() const;

 private:
  struct Seg {
    int64_t lin_start;
    int64_t off;       // sender index = linear position - off
    bool frozen;       // an expansion: sender index stays at `fixed`
    int64_t fixed;
  };

  int64_t idx_of(int64_t capture_ns) const;
  int64_t capture_of(double sender_idx) const;
  double sender_of_lin(double lin) const;
  int64_t lin_end() const { return lin_base_ + int64_t(lin_.size() / size_t(ch_)); }
  bool start(int64_t c_due);
  void fill(int64_t need_end, bool allow_expand);
  void append_real(const int16_t *pcm, size_t frames);
  void append_conceal(int64_t n, bool advance);
  void trim();

  int rate_, ch_;
  int64_t period_ns_;
  size_t period_frames_;
  ArrivalModel model_;

  bool have_c0_ = false;
  int64_t c0_ = 0;
  std::map<int64_t, std::vector<int16_t>> queue_;  // start index -> interleaved PCM

  bool started_ = false;
  bool eos_ = false;
  int64_t s_next_ = 0;            // next sender index the linearizer appends
  std::vector<int16_t> lin_;      // linear stream, frames from lin_base_
  int64_t lin_base_ = 0;
  int64_t real_end_lin_ = 0;      // linear position after the last real sample
  double r_ = 0.0;                // read position (linear frames)
  std::vector<Seg> segs_;
  bool in_conceal_ = false;
  int64_t conceal_run_ = 0;
  std::vector<int16_t> hist_;
  bool underrun_episode_ = false;
  int last_peak_ = 0;
  int64_t delay_ns_ = 0;
};

}  // namespace mf::sync
