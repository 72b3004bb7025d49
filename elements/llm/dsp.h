// Small DSP pieces of the LLM bridge: the mock provider's energy VAD, a streaming linear
// resampler for user speech (any input rate -> the provider's rate) and the mock's reply tones.
// Pure C++.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mf::llm {

/// Energy VAD on 10 ms frames: a frame is voiced when its RMS >= threshold. Speech starts on
/// the first voiced frame (after `start_frames` consecutive voiced frames) and ends after
/// `silence_ms` of unvoiced frames.
class EnergyVad {
 public:
  enum class Event { None, SpeechStart, SpeechEnd };
  void configure(int rate, int threshold_rms, int silence_ms, int start_frames = 2);
  /// Feeds samples; returns the events in order (at most one start and one end per frame).
  std::vector<Event> feed(const int16_t *s, size_t n);
  bool in_speech() const { return in_speech_; }
  void reset();

 private:
  int frame_ = 160;
  double thr2_ = 800.0 * 800.0;
  int silence_frames_ = 40;
  int start_frames_ = 2;
  std::vector<int16_t> partial_;
  bool in_speech_ = false;
  int voiced_run_ = 0;
  int unvoiced_run_ = 0;
};

/// Streaming linear-interpolation resampler (mono S16). Adequate for speech into a speech
/// model; the same rate passes through bit-exactly.
class LinearResampler {
 public:
  void configure(int in_rate, int out_rate);
  void process(const int16_t *in, size_t n, std::vector<int16_t> *out);
  int in_rate() const { return in_; }

 private:
  int in_ = 0, out_ = 0;
  double step_ = 1.0;
  double pos_ = 0.0;  // position of the next output sample; 0 = `prev_`
  int16_t prev_ = 0;
  bool have_prev_ = false;
};

/// The mock reply: `ms` of a three-note chirp sequence at `rate`, with 5 ms fades, amplitude
/// about -12 dBFS. Never all-zero for ms >= 10.
std::vector<int16_t> mock_reply_tone(int rate, int ms, unsigned seed);

}  // namespace mf::llm
