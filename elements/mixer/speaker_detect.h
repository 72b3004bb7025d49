// Active-speaker detection for mfmixer (kind=audio): pure logic, no GStreamer, tested directly.
//
// Every window (20 ms of output) the mixer feeds each input's RMS level in dBFS (0 dBFS = full
// scale; an input without data in the window is silence). The detector keeps one active speaker:
//   - speech: an input at or above `threshold_db` (default -45 dBFS) is talking;
//   - onset: from nobody, the loudest talking input becomes active after `onset_windows` windows
//     in a row (default 2 = 40 ms) of being the loudest talking input;
//   - switch: while someone is active, another input takes over only if it is louder by
//     `margin_db` (default 6 dB) than the active one (or the active one is below the threshold)
//     for `switch_windows` windows in a row (default 5 = 100 ms): short interjections and two
//     inputs at similar levels do not make it flap;
//   - silence: the active input stays active through pauses shorter than `hold_windows` windows
//     (default 15 = 300 ms) below the threshold; after that nobody is active;
//   - an input that goes away (its level no longer fed) stops being active at once.
#pragma once

#include <string>
#include <vector>

namespace mf::mixer {

struct SpeakerLevel {
  std::string key;  // which input (the mixer uses the pad name, sink_N)
  double db;        // RMS level of the window in dBFS (<= 0; silence is kSilenceDb)
};

constexpr double kSilenceDb = -120.0;

struct SpeakerConfig {
  double threshold_db = -45.0;
  double margin_db = 6.0;
  int onset_windows = 2;
  int switch_windows = 5;
  int hold_windows = 15;
};

/// RMS level in dBFS of `sum_squares` over `samples` normalized samples (full scale 1.0),
/// clamped to [kSilenceDb, 0+].
double rms_db(double sum_squares, double samples);

class SpeakerDetector {
 public:
  explicit SpeakerDetector(SpeakerConfig cfg = {}) : cfg_(cfg) {}
  /// One window's levels of every current input. True if the active speaker changed.
  bool update(const std::vector<SpeakerLevel> &levels);
  /// The active input's key, or "" if nobody is talking.
  const std::string &active() const { return active_; }
  /// The active input's level in the last window (kSilenceDb if nobody is active).
  double active_db() const { return active_db_; }
  void reset() { *this = SpeakerDetector(cfg_); }

 private:
  SpeakerConfig cfg_;
  std::string active_;
  double active_db_ = kSilenceDb;
  int quiet_ = 0;          // windows in a row the active input was below the threshold
  std::string candidate_;  // who is about to take over
  int candidate_windows_ = 0;
};

}  // namespace mf::mixer
