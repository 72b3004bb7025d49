// In-process WebRTC tests: pipelines in one process (one per peer, as in production) joined through
// an in-process signalling server on loopback (the test runs in a loopback-only netns).
#include <gtest/gtest.h>

#include "harness.h"

using namespace mf::test;
using namespace std::chrono_literals;

TEST(WebrtcInProcess, TwoPeersExchangeAudioAndVideo) {
  ServerThread server;
  PeerOptions a;
  a.url = server.url();
  a.peer_id = "alice";
  PeerOptions b = a;
  b.peer_id = "bob";
  PeerPipeline pa(a), pb(b);
  ASSERT_TRUE(pa.start());
  ASSERT_TRUE(wait_for([&] { return pa.has_event("announced:alice"); }, 10s));
  ASSERT_TRUE(pb.start());
  bool ok = wait_for([&] {
    pa.poll_bus();
    pb.poll_bus();
    return pa.count("audio_bob") > 20 && pa.count("video_bob") > 20 && pb.count("audio_alice") > 20 &&
           pb.count("video_alice") > 20;
  }, 30s);
  EXPECT_TRUE(ok) << "alice got audio " << pa.count("audio_bob") << " video " << pa.count("video_bob")
                  << "; bob got audio " << pb.count("audio_alice") << " video " << pb.count("video_alice");
  EXPECT_EQ(pa.peer_tag("video_bob"), "bob");
  EXPECT_EQ(pb.peer_tag("audio_alice"), "alice");
  for (auto &e : pa.errors) ADD_FAILURE() << "alice: " << e;
  for (auto &e : pb.errors) ADD_FAILURE() << "bob: " << e;
  // Stats are filled from webrtcbin.
  GstStructure *st = nullptr;
  ASSERT_TRUE(wait_for([&] {
    if (st) gst_structure_free(st);
    g_object_get(pa.source(), "stats", &st, nullptr);
    const GValue *v = gst_structure_get_value(st, "bob");
    if (!v) return false;
    const GstStructure *ps = gst_value_get_structure(v);
    double setup = -1, rtt = -1;
    gst_structure_get_double(ps, "setup-ms", &setup);
    gst_structure_get_double(ps, "rtt-ms", &rtt);
    return setup > 0 && rtt >= 0;
  }, 15s)) << (st ? gst_structure_to_string(st) : "");
  if (st) gst_structure_free(st);
  // Bob leaves: alice's pads for bob go away.
  pb.stop();
  EXPECT_TRUE(wait_for([&] { return !pa.has_pad("audio_bob") && !pa.has_pad("video_bob"); }, 10s));
  EXPECT_TRUE(pa.has_event("peer-left:bob"));
}
