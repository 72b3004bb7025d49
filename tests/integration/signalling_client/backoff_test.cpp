// The reconnect schedule as a deterministic function of an injected RNG.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "meshflow/signalling/client_backoff.h"

using mf::signalling::BackoffConfig;
using mf::signalling::BackoffSchedule;
using std::chrono::milliseconds;

TEST(BackoffSchedule, NominalDoublesFromOneSecondToThirtySeconds) {
  BackoffSchedule b({}, [] { return 0.5; });  // u = 0.5: no jitter
  std::vector<long> got;
  for (int i = 0; i < 8; i++) got.push_back(static_cast<long>(b.next().delay.count()));
  EXPECT_EQ(got, (std::vector<long>{1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000}));
}

TEST(BackoffSchedule, JitterIsBoundedToPlusMinusTwentyPercent) {
  BackoffSchedule lo({}, [] { return 0.0; });
  BackoffSchedule hi({}, [] { return 0.999999; });
  for (unsigned i = 0; i < 7; i++) {
    auto a = lo.next();
    auto b = hi.next();
    EXPECT_EQ(a.nominal, b.nominal);
    EXPECT_EQ(a.delay.count(), static_cast<long>(a.nominal.count() * 0.8)) << "attempt " << i;
    EXPECT_NEAR(static_cast<double>(b.delay.count()), a.nominal.count() * 1.2, 1.0)
        << "attempt " << i;
    EXPECT_GE(a.delay, lo.lower_bound(i));
    EXPECT_LE(b.delay, hi.upper_bound(i));
  }
}

TEST(BackoffSchedule, OutOfRangeRngIsClamped) {
  BackoffSchedule b({}, [] { return 7.0; });
  EXPECT_LE(b.next().delay, milliseconds(1200));
  BackoffSchedule n({}, [] { return -3.0; });
  EXPECT_EQ(n.next().delay, milliseconds(800));
}

TEST(BackoffSchedule, ResetStartsOver) {
  BackoffSchedule b({}, [] { return 0.5; });
  b.next();
  b.next();
  EXPECT_EQ(b.attempt(), 2u);
  b.reset();
  auto s = b.next();
  EXPECT_EQ(s.attempt, 0u);
  EXPECT_EQ(s.delay, milliseconds(1000));
}

TEST(BackoffSchedule, OverridableForTests) {
  BackoffConfig c;
  c.initial = milliseconds(50);
  c.max = milliseconds(400);
  BackoffSchedule b(c, [] { return 0.5; });
  std::vector<long> got;
  for (int i = 0; i < 6; i++) got.push_back(static_cast<long>(b.next().delay.count()));
  EXPECT_EQ(got, (std::vector<long>{50, 100, 200, 400, 400, 400}));
}

TEST(BackoffSchedule, SeededSchedulesAreSpreadAndInBand) {
  // Ten clients with different RNG streams: every delay in band, and not all the same.
  std::set<long> first;
  for (int client = 0; client < 10; client++) {
    uint64_t x = 0x9E3779B97F4A7C15ull * (client + 1);
    BackoffSchedule b({}, [x]() mutable {  // xorshift: deterministic per client
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      return static_cast<double>(x >> 11) / 9007199254740992.0;
    });
    for (unsigned i = 0; i < 6; i++) {
      auto s = b.next();
      EXPECT_GE(s.delay, b.lower_bound(i));
      EXPECT_LE(s.delay, b.upper_bound(i));
      if (i == 0) first.insert(static_cast<long>(s.delay.count()));
    }
  }
  EXPECT_GT(first.size(), 1u);
}

TEST(BackoffSchedule, DefaultRngIsInBand) {
  BackoffSchedule b;
  for (unsigned i = 0; i < 10; i++) {
    auto s = b.next();
    EXPECT_GE(s.delay, b.lower_bound(i));
    EXPECT_LE(s.delay, b.upper_bound(i));
  }
}
