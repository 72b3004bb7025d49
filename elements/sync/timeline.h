// Mapping between a sender's capture clock and the local (running-time) clock, and the common
// playout timeline of the streams of one group (lip-sync). Pure C++, no GStreamer.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace mf::sync {

/// One stream's playout constraint: a sample captured at sender time c can arrive locally no
/// earlier than env(c) (the lower envelope of arrivals), and needs `target` ns more of buffering
/// to absorb the jitter. env(c) = a_ref + beta * (c - c_ref); beta = local ns per sender ns.
struct Timeline {
  bool valid = false;
  int64_t c_ref = 0;
  int64_t a_ref = 0;
  double beta = 1.0;
  int64_t target = 0;

  int64_t env(int64_t c) const { return a_ref + std::llround(beta * double(c - c_ref)); }
  /// Inverse of env: the sender time whose envelope arrival is local time `a`.
  int64_t sender_at(int64_t a) const { return c_ref + std::llround(double(a - a_ref) / beta); }
  int64_t playout(int64_t c) const { return env(c) + target; }
  int64_t due(int64_t t) const { return sender_at(t - target); }
};

/// Common timeline of a group: a capture time c plays at the latest of the members' playout
/// times, so every member has at least its own target delay (common delay = the max).
inline bool group_playout(const std::vector<Timeline> &g, int64_t c, int64_t *out) {
  bool any = false;
  for (const auto &t : g) {
    if (!t.valid) continue;
    int64_t p = t.playout(c);
    if (!any || p > *out) *out = p;
    any = true;
  }
  return any;
}

/// The sender time that is due at local time t on the common timeline (inverse of
/// group_playout: the earliest of the members' due times).
inline bool group_due(const std::vector<Timeline> &g, int64_t t, int64_t *out) {
  bool any = false;
  for (const auto &m : g) {
    if (!m.valid) continue;
    int64_t c = m.due(t);
    if (!any || c < *out) *out = c;
    any = true;
  }
  return any;
}

}  // namespace mf::sync
