// Active-speaker detection: see speaker_detect.h for the rules.
#include "speaker_detect.h"

#include <algorithm>
#include <cmath>

namespace mf::mixer {

double rms_db(double sum_squares, double samples) {
  if (samples <= 0 || sum_squares <= 0) return kSilenceDb;
  const double db = 10.0 * std::log10(sum_squares / samples);
  return std::max(db, kSilenceDb);
}

bool SpeakerDetector::update(const std::vector<SpeakerLevel> &levels) {
  const std::string before = active_;
  // The loudest talking input, and the active one's level (if it is still here).
  const SpeakerLevel *loudest = nullptr;
  const SpeakerLevel *current = nullptr;
  for (const auto &l : levels) {
    if (l.db >= cfg_.threshold_db && (!loudest || l.db > loudest->db)) loudest = &l;
    if (!active_.empty() && l.key == active_) current = &l;
  }
  if (!active_.empty() && !current) {  // the active input went away
    active_.clear();
    quiet_ = 0;
  }
  if (current) {
    active_db_ = current->db;
    quiet_ = current->db >= cfg_.threshold_db ? 0 : quiet_ + 1;
  }

  // Who could take over this window: the loudest talking input, if it beats the active one.
  const SpeakerLevel *challenger = nullptr;
  if (loudest && loudest->key != active_) {
    if (active_.empty() || quiet_ > 0 || loudest->db >= current->db + cfg_.margin_db) challenger = loudest;
  }
  if (challenger) {
    if (candidate_ == challenger->key) {
      candidate_windows_++;
    } else {
      candidate_ = challenger->key;
      candidate_windows_ = 1;
    }
    const int needed = active_.empty() ? cfg_.onset_windows : cfg_.switch_windows;
    if (candidate_windows_ >= needed) {
      active_ = challenger->key;
      active_db_ = challenger->db;
      quiet_ = 0;
      candidate_.clear();
      candidate_windows_ = 0;
    }
  } else {
    candidate_.clear();
    candidate_windows_ = 0;
  }
  if (!active_.empty() && quiet_ >= cfg_.hold_windows) {
    active_.clear();
    quiet_ = 0;
  }
  if (active_.empty()) active_db_ = loudest ? loudest->db : kSilenceDb;
  return active_ != before;
}

}  // namespace mf::mixer
