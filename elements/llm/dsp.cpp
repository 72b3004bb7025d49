// VAD, resampler and reply tones of the LLM bridge (see dsp.h).
#include "dsp.h"

#include <algorithm>
#include <cmath>

namespace mf::llm {

void EnergyVad::configure(int rate, int threshold_rms, int silence_ms, int start_frames) {
  frame_ = std::max(1, rate / 100);
  thr2_ = double(threshold_rms) * double(threshold_rms);
  silence_frames_ = std::max(1, silence_ms / 10);
  start_frames_ = std::max(1, start_frames);
  reset();
}

void EnergyVad::reset() {
  partial_.clear();
  in_speech_ = false;
  voiced_run_ = 0;
  unvoiced_run_ = 0;
}

std::vector<EnergyVad::Event> EnergyVad::feed(const int16_t *s, size_t n) {
  std::vector<Event> ev;
  for (size_t i = 0; i < n; i++) {
    partial_.push_back(s[i]);
    if (int(partial_.size()) < frame_) continue;
    double e = 0;
    for (int16_t v : partial_) e += double(v) * double(v);
    partial_.clear();
    bool voiced = e / frame_ >= thr2_;
    if (voiced) {
      voiced_run_++;
      unvoiced_run_ = 0;
      if (!in_speech_ && voiced_run_ >= start_frames_) {
        in_speech_ = true;
        ev.push_back(Event::SpeechStart);
      }
    } else {
      voiced_run_ = 0;
      unvoiced_run_++;
      if (in_speech_ && unvoiced_run_ >= silence_frames_) {
        in_speech_ = false;
        ev.push_back(Event::SpeechEnd);
      }
    }
  }
  return ev;
}

void LinearResampler::configure(int in_rate, int out_rate) {
  in_ = in_rate;
  out_ = out_rate;
  step_ = out_rate > 0 ? double(in_rate) / double(out_rate) : 1.0;
  pos_ = 0.0;
  have_prev_ = false;
}

void LinearResampler::process(const int16_t *in, size_t n, std::vector<int16_t> *out) {
  if (n == 0) return;
  if (in_ == out_) {
    out->insert(out->end(), in, in + n);
    return;
  }
  if (!have_prev_) {
    prev_ = in[0];
    have_prev_ = true;
  }
  // x[0] = prev_, x[k] = in[k-1] for k in 1..n.
  auto x = [&](size_t k) { return k == 0 ? prev_ : in[k - 1]; };
  while (pos_ <= double(n)) {
    size_t i = size_t(pos_);
    double frac = pos_ - double(i);
    double a = x(i);
    double b = (i + 1 <= n) ? x(i + 1) : a;
    double v = a + (b - a) * frac;
    out->push_back(int16_t(std::lround(std::clamp(v, -32768.0, 32767.0))));
    pos_ += step_;
  }
  pos_ -= double(n);
  prev_ = in[n - 1];
}

std::vector<int16_t> mock_reply_tone(int rate, int ms, unsigned seed) {
  size_t n = size_t(int64_t(rate) * ms / 1000);
  std::vector<int16_t> out(n);
  static const double notes[] = {440.0, 554.37, 659.25, 880.0};
  size_t per = std::max<size_t>(1, n / 3);
  size_t fade = std::max<size_t>(1, size_t(rate) / 200);
  double phase = 0;
  for (size_t i = 0; i < n; i++) {
    size_t note = std::min<size_t>(2, i / per);
    double f0 = notes[(note + seed) % 4];
    double f = f0 * (1.0 + 0.1 * double(i % per) / double(per));  // upward chirp per note
    phase += 2.0 * M_PI * f / rate;
    double env = 1.0;
    if (i < fade) env = double(i + 1) / fade;
    if (n - i < fade) env = std::min(env, double(n - i) / fade);
    out[i] = int16_t(std::lround(8000.0 * env * std::sin(phase)));
  }
  return out;
}

}  // namespace mf::llm
