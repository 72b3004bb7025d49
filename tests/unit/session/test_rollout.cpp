// Rollout bucketing (src/meshflow/session/rollout.h): deterministic, uniform, 0 % / 100 %,
// monotonic in the percentage, forced modes.
#include <gtest/gtest.h>

#include <glib.h>

#include <array>
#include <string>

#include "meshflow/session/rollout.h"

using mf::session::choose_transport;
using mf::session::rollout_bucket;
using mf::session::Transport;

namespace {

std::string user(int i) { return "user-" + std::to_string(i); }

// The bucket computed independently: SHA-256 as hex from GLib, first 8 hex digits as a number.
int reference_bucket(const std::string &id) {
  gchar *hex = g_compute_checksum_for_string(G_CHECKSUM_SHA256, id.c_str(), static_cast<gssize>(id.size()));
  const unsigned long v = std::stoul(std::string(hex, 8), nullptr, 16);
  g_free(hex);
  return static_cast<int>(v % 100);
}

}  // namespace

TEST(Rollout, BucketIsFirstFourBytesOfSha256BigEndianMod100) {
  // SHA-256("alice") = 2bd806c9... -> 0x2bd806c9 = 735577801 -> 1
  EXPECT_EQ(rollout_bucket("alice"), 735577801 % 100);
  for (int i = 0; i < 200; i++) EXPECT_EQ(rollout_bucket(user(i)), reference_bucket(user(i))) << user(i);
  // The empty id and bytes beyond ASCII are fine.
  EXPECT_EQ(rollout_bucket(""), reference_bucket(""));
  EXPECT_EQ(rollout_bucket("zoë"), reference_bucket("zoë"));
}

TEST(Rollout, SameUserSameTransport) {
  for (int p : {0, 13, 37, 50, 99, 100}) {
    for (int i = 0; i < 500; i++) {
      auto a = choose_transport("auto", p, user(i));
      auto b = choose_transport("auto", p, user(i));
      EXPECT_EQ(a.transport, b.transport);
      EXPECT_EQ(a.bucket, b.bucket);
      EXPECT_EQ(a.transport == Transport::WebRtc, a.bucket < p);
    }
  }
}

TEST(Rollout, BucketsAreUniformWithinTwoPercentPerDecile) {
  constexpr int kUsers = 10000;
  std::array<int, 10> deciles{};
  for (int i = 0; i < kUsers; i++) {
    int b = rollout_bucket(user(i));
    ASSERT_GE(b, 0);
    ASSERT_LT(b, 100);
    deciles[b / 10]++;
  }
  for (int d = 0; d < 10; d++) {
    EXPECT_NEAR(deciles[d], kUsers / 10, kUsers * 0.02) << "decile " << d;
  }
  // And the share actually offered WebRTC follows the percentage.
  for (int p : {10, 37, 50, 90}) {
    int webrtc = 0;
    for (int i = 0; i < kUsers; i++) webrtc += choose_transport("auto", p, user(i)).transport == Transport::WebRtc;
    EXPECT_NEAR(webrtc, kUsers * p / 100, kUsers * 0.02) << p << "%";
  }
}

TEST(Rollout, ZeroPercentIsEveryoneOnWebSocketHundredIsEveryoneOnWebRtc) {
  for (int i = 0; i < 2000; i++) {
    EXPECT_EQ(choose_transport("auto", 0, user(i)).transport, Transport::WebSocket);
    EXPECT_EQ(choose_transport("auto", 100, user(i)).transport, Transport::WebRtc);
  }
  // Out-of-range percentages are clamped, not wrapped.
  EXPECT_EQ(choose_transport("auto", -5, "x").transport, Transport::WebSocket);
  EXPECT_EQ(choose_transport("auto", 250, "x").transport, Transport::WebRtc);
}

TEST(Rollout, RaisingThePercentNeverMovesAWebRtcUserBack) {
  for (int i = 0; i < 2000; i++) {
    bool was_webrtc = false;
    for (int p = 0; p <= 100; p++) {
      bool webrtc = choose_transport("auto", p, user(i)).transport == Transport::WebRtc;
      EXPECT_FALSE(was_webrtc && !webrtc) << user(i) << " moved back at " << p << "%";
      was_webrtc = webrtc;
    }
    EXPECT_TRUE(was_webrtc);
  }
}

TEST(Rollout, ForcedModesIgnoreThePercent) {
  for (int i = 0; i < 300; i++) {
    auto w = choose_transport("webrtc", 0, user(i));
    EXPECT_EQ(w.transport, Transport::WebRtc);
    EXPECT_EQ(w.bucket, rollout_bucket(user(i)));
    EXPECT_EQ(choose_transport("websocket", 100, user(i)).transport, Transport::WebSocket);
  }
  EXPECT_NE(choose_transport("websocket", 100, "u").reason.find("forced"), std::string::npos);
  EXPECT_NE(choose_transport("auto", 37, "u").reason.find("rollout"), std::string::npos);
  EXPECT_STREQ(mf::session::transport_name(Transport::WebRtc), "webrtc");
  EXPECT_STREQ(mf::session::transport_name(Transport::WebSocket), "websocket");
}
