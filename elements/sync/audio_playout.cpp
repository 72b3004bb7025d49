// See audio_playout.h.
#include "audio_playout.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "resampler.h"

namespace mf::sync {

namespace {
constexpr int64_t kLateTolerance = 2;    // frames of overlap tolerated (capture-time rounding)
constexpr size_t kMaxQueued = 4096;      // packets; beyond, the oldest is discarded
constexpr double kServoGain = 1.0;       // rate correction per second of timeline error
constexpr double kDeadband = 0.001;      // s of timeline error left uncorrected
constexpr double kSlew = 0.01;           // max rate correction while audible
constexpr double kSlewQuiet = 0.10;      // ... while (nearly) silent
constexpr int kQuietPeak = 100;          // |sample| below this is "silence" (about -50 dBFS)
constexpr int64_t kResyncNs = 1'000'000'000;
}  // namespace

AudioPlayout::AudioPlayout(int rate, int channels, int64_t period_ns, const DelayConfig &cfg)
    : rate_(std::max(1, rate)),
      ch_(std::max(1, channels)),
      period_ns_(period_ns),
      period_frames_(size_t(std::max<int64_t>(1, (int64_t(rate_) * period_ns + 500'000'000) /
                                                     1'000'000'000))),
      model_(cfg, period_ns) {}

int64_t AudioPlayout::idx_of(int64_t c) const {
  const __int128 num = __int128(c - c0_) * rate_;
  const __int128 half = 500'000'000;
  return int64_t(num >= 0 ? (num + half) / 1'000'000'000 : -((-num + half) / 1'000'000'000));
}

int64_t AudioPlayout::capture_of(double sender_idx) const {
  return c0_ + std::llround(sender_idx * 1e9 / double(rate_));
}

double AudioPlayout::sender_of_lin(double lin) const {
  const Seg *s = &segs_.front();
  for (const auto &seg : segs_) {
    if (double(seg.lin_start) <= lin) s = &seg;
    else break;
  }
  return s->frozen ? double(s->fixed) : lin - double(s->off);
}

PushResult AudioPlayout::push(uint32_t seq, int64_t capture, int64_t arrival, const int16_t *pcm,
                              size_t frames) {
  if (frames == 0 || !pcm) return PushResult::kInvalid;
  if (!model_.accept_seq(seq)) return PushResult::kDuplicate;
  if (!have_c0_) {
    c0_ = capture;
    have_c0_ = true;
  }
  model_.observe(capture, arrival);
  const int64_t idx = idx_of(capture);
  if (started_ && s_next_ - idx > kLateTolerance) {
    ++model_.stats().late_drops;
    return PushResult::kLate;
  }
  if (queue_.count(idx)) {
    ++model_.stats().duplicates;
    return PushResult::kDuplicate;
  }
  queue_.emplace(idx, std::vector<int16_t>(pcm, pcm + frames * size_t(ch_)));
  ++model_.stats().received;
  while (queue_.size() > kMaxQueued) queue_.erase(queue_.begin());
  return PushResult::kQueued;
}

bool AudioPlayout::start(int64_t c_due) {
  if (queue_.empty()) return false;
  const int64_t first = queue_.begin()->first;
  const int64_t due = idx_of(c_due);
  if (due < first) return false;
  // Start exactly on the timeline (the output ticks are on a fixed grid, so the first packet
  // may be entered part-way): no initial delay error for the servo to work off.
  const int64_t begin = due;
  s_next_ = begin;
  lin_.clear();
  lin_base_ = 0;
  real_end_lin_ = 0;
  r_ = 0.0;
  segs_.assign(1, Seg{0, -begin, false, 0});
  in_conceal_ = false;
  underrun_episode_ = false;
  started_ = true;
  return true;
}

void AudioPlayout::append_real(const int16_t *pcm, size_t frames) {
  const size_t at = lin_.size();
  lin_.insert(lin_.end(), pcm, pcm + frames * size_t(ch_));
  if (in_conceal_) {
    // Fade real audio back in after a concealment.
    const size_t fade = std::min(frames, size_t(rate_ / 400) + 1);
    for (size_t k = 0; k < fade; ++k) {
      const float g = float(k + 1) / float(fade + 1);
      for (int c = 0; c < ch_; ++c) {
        int16_t &v = lin_[at + k * size_t(ch_) + size_t(c)];
        v = int16_t(std::lrint(float(v) * g));
      }
    }
    in_conceal_ = false;
  }
  real_end_lin_ = lin_end();
}

void AudioPlayout::append_conceal(int64_t n, bool advance) {
  if (n <= 0) return;
  if (!in_conceal_) {
    in_conceal_ = true;
    conceal_run_ = 0;
    const int64_t want = std::max<int64_t>(1, rate_ / 100);
    const int64_t have = int64_t(lin_.size() / size_t(ch_));
    const int64_t take = std::min(want, have);
    if (take > 0) {
      hist_.assign(lin_.end() - take * ch_, lin_.end());
    } else {
      hist_.assign(size_t(ch_), 0);
    }
  }
  const int64_t l0 = lin_end();
  const int64_t hist_frames = int64_t(hist_.size() / size_t(ch_));
  const double fade = double(rate_) * 0.020;
  for (int64_t j = 0; j < n; ++j, ++conceal_run_) {
    const double g = std::max(0.0, 1.0 - double(conceal_run_) / fade);
    const size_t src = size_t(conceal_run_ % hist_frames) * size_t(ch_);
    for (int c = 0; c < ch_; ++c)
      lin_.push_back(g > 0.0 ? int16_t(std::lrint(double(hist_[src + size_t(c)]) * g)) : 0);
  }
  if (advance) {
    s_next_ += n;
  } else {
    segs_.push_back(Seg{l0, 0, true, s_next_});
    segs_.push_back(Seg{l0 + n, l0 + n - s_next_, false, 0});
  }
}

void AudioPlayout::fill(int64_t need_end, bool allow_expand) {
  StreamStats &st = model_.stats();
  while (lin_end() < need_end) {
    const int64_t want = need_end - lin_end();
    while (!queue_.empty()) {
      auto it = queue_.begin();
      const int64_t end = it->first + int64_t(it->second.size() / size_t(ch_));
      if (end <= s_next_) queue_.erase(it);
      else break;
    }
    if (!queue_.empty()) {
      auto it = queue_.begin();
      const int64_t frames = int64_t(it->second.size() / size_t(ch_));
      if (it->first <= s_next_) {
        const int64_t skip = s_next_ - it->first;
        append_real(it->second.data() + skip * ch_, size_t(frames - skip));
        s_next_ = it->first + frames;
        queue_.erase(it);
        underrun_episode_ = false;
        continue;
      }
      const int64_t n = std::min(it->first - s_next_, want);
      append_conceal(n, true);
      st.concealed_samples += uint64_t(n);
      continue;
    }
    // Queue empty: an underrun (unless the stream has ended).
    if (!eos_ && !underrun_episode_) {
      ++st.underruns;
      underrun_episode_ = true;
    }
    if (allow_expand && !eos_) {
      append_conceal(want, false);
      st.expanded_samples += uint64_t(want);
    } else {
      append_conceal(want, true);
    }
    st.concealed_samples += uint64_t(want);
  }
}

void AudioPlayout::trim() {
  const int64_t keep = int64_t(std::floor(r_)) - 2;
  if (keep > lin_base_) {
    const int64_t drop = std::min<int64_t>(keep - lin_base_, int64_t(lin_.size() / size_t(ch_)));
    lin_.erase(lin_.begin(), lin_.begin() + drop * ch_);
    lin_base_ += drop;
  }
  while (segs_.size() >= 2 && segs_[1].lin_start <= keep - 2) segs_.erase(segs_.begin());
}

bool AudioPlayout::render(int64_t t, int64_t c_due, int16_t *out, int64_t *capture_out) {
  if (!started_ && !start(c_due)) return false;
  int64_t c_read = capture_of(sender_of_lin(r_));
  int64_t err = c_due - c_read;  // > 0: behind the timeline (too much delay): read faster
  if (std::llabs(err) > model_.config().max_delay_ns + kResyncNs) {
    // Far off the timeline (sender restart, long stall): start again from the due position.
    started_ = false;
    if (!start(c_due)) return false;
    c_read = capture_of(sender_of_lin(r_));
    err = c_due - c_read;
  }
  const double e = double(err) / 1e9;
  double corr = 0.0;
  if (std::fabs(e) > kDeadband) {
    const double slew = last_peak_ < kQuietPeak ? kSlewQuiet : kSlew;
    corr = std::clamp((e - std::copysign(kDeadband, e)) * kServoGain, -slew, slew);
  }
  const double rho = model_.rho() * (1.0 + corr);
  const size_t n = period_frames_;
  const double last = r_ + double(n - 1) * rho;
  const int64_t need_end = int64_t(std::floor(last)) + 3;
  const int64_t own_delay = t - model_.env(c_read);
  const DelayConfig &cfg = model_.config();
  fill(need_end, own_delay < cfg.max_delay_ns - period_ns_);
  resample_cubic(lin_.data(), lin_base_, lin_.size() / size_t(ch_), ch_, r_, rho, n, out);
  int peak = 0;
  for (size_t i = 0; i < n * size_t(ch_); ++i) peak = std::max(peak, std::abs(int(out[i])));
  last_peak_ = peak;
  r_ += double(n) * rho;
  trim();
  delay_ns_ = own_delay;
  *capture_out = c_read;
  ++model_.stats().output_buffers;
  return true;
}

bool AudioPlayout::drained() const {
  return eos_ && queue_.empty() && (!started_ || r_ >= double(real_end_lin_));
}

StreamStats AudioPlayout::stats() const {
  StreamStats s = model_.stats();
  model_.fill_gauges(&s);
  s.delay_ms = double(delay_ns_) / 1e6;
  return s;
}

}  // namespace mf::sync
