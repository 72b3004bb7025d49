// Reconnect schedule of the signalling client: exponential backoff with bounded jitter.
//
// Nominal delay of attempt n (0-based) = min(initial * factor^n, max). The delay actually waited is
// nominal * (1 + jitter * (2u - 1)) with u drawn from the injected RNG in [0, 1), i.e. uniformly in
// [nominal * (1 - jitter), nominal * (1 + jitter)). Defaults: 1 s doubling to 30 s, +-20 %.
// reset() goes back to attempt 0; the client calls it after every successful peer.announce.
//
// The RNG is injected so the schedule is a deterministic, unit-testable function:
//   mf::signalling::BackoffSchedule b({}, [] { return 0.5; });   // no jitter
//   b.next().delay == 1000 ms, then 2000, 4000, 8000, 16000, 30000, 30000...
// Not thread-safe: one schedule belongs to one client thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>

namespace mf::signalling {

struct BackoffConfig {
  std::chrono::milliseconds initial{1000};
  std::chrono::milliseconds max{30000};
  double factor = 2.0;
  double jitter = 0.2;  // fraction of the nominal delay, 0 <= jitter < 1
};

class BackoffSchedule {
 public:
  /// Returns a number uniformly distributed in [0, 1).
  using Rng = std::function<double()>;

  struct Step {
    unsigned attempt = 0;                 // 0-based index of this delay since the last reset
    std::chrono::milliseconds nominal{0}; // initial * factor^attempt, capped at max
    std::chrono::milliseconds delay{0};   // nominal with jitter applied: what is actually waited
  };

  explicit BackoffSchedule(BackoffConfig cfg = {}, Rng rng = {})
      : cfg_(sanitize(cfg)), rng_(rng ? std::move(rng) : default_rng()) {}

  /// Nominal (jitter-free) delay of attempt `attempt`.
  std::chrono::milliseconds nominal(unsigned attempt) const {
    double ms = static_cast<double>(cfg_.initial.count()) *
                std::pow(cfg_.factor, static_cast<double>(std::min(attempt, 64u)));
    double cap = static_cast<double>(cfg_.max.count());
    return std::chrono::milliseconds(static_cast<int64_t>(std::llround(std::min(ms, cap))));
  }

  /// Lower and upper bound of the jittered delay of attempt `attempt`.
  std::chrono::milliseconds lower_bound(unsigned attempt) const {
    return std::chrono::milliseconds(static_cast<int64_t>(
        std::floor(static_cast<double>(nominal(attempt).count()) * (1.0 - cfg_.jitter))));
  }
  std::chrono::milliseconds upper_bound(unsigned attempt) const {
    return std::chrono::milliseconds(static_cast<int64_t>(
        std::ceil(static_cast<double>(nominal(attempt).count()) * (1.0 + cfg_.jitter))));
  }

  /// The next delay to wait; advances the attempt counter.
  Step next() {
    Step s;
    s.attempt = attempt_;
    s.nominal = nominal(attempt_);
    double u = rng_();
    if (!(u >= 0.0)) u = 0.0;          // also catches NaN
    if (u >= 1.0) u = std::nextafter(1.0, 0.0);
    double ms = static_cast<double>(s.nominal.count()) * (1.0 + cfg_.jitter * (2.0 * u - 1.0));
    s.delay = std::chrono::milliseconds(static_cast<int64_t>(std::llround(std::max(ms, 0.0))));
    if (attempt_ < 1000) attempt_++;
    return s;
  }

  void reset() { attempt_ = 0; }
  unsigned attempt() const { return attempt_; }
  const BackoffConfig &config() const { return cfg_; }

  /// A per-instance Mersenne Twister seeded from std::random_device.
  static Rng default_rng() {
    auto gen = std::make_shared<std::mt19937_64>(std::random_device{}());
    return [gen]() { return std::uniform_real_distribution<double>(0.0, 1.0)(*gen); };
  }

 private:
  static BackoffConfig sanitize(BackoffConfig c) {
    if (c.initial.count() < 1) c.initial = std::chrono::milliseconds(1);
    if (c.max < c.initial) c.max = c.initial;
    if (!(c.factor >= 1.0)) c.factor = 1.0;
    if (!(c.jitter >= 0.0)) c.jitter = 0.0;
    if (c.jitter > 0.95) c.jitter = 0.95;
    return c;
  }

  BackoffConfig cfg_;
  Rng rng_;
  unsigned attempt_ = 0;
};

}  // namespace mf::signalling
