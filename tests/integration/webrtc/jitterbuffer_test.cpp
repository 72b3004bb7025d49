// The receive jitter buffers: audio is never retransmitted (no NACK/RTX for Opus), so its
// rtpjitterbuffer must not wait for retransmissions. webrtcbin 1.22 switched do-retransmission on
// for our audio jitter buffers as well; at audio-latency 0 every packet a few ms behind its expected
// time was then declared lost and dropped when it came: ~20 % of the audio in bench webrtc-audio.
// Video keeps NACK-based retransmission.
#include <gtest/gtest.h>

#include "harness.h"

using namespace mf::test;
using namespace std::chrono_literals;

namespace {

struct JitterBuffer {
  std::string media;  // audio | video
  bool do_retransmission = false;
  guint64 lost = 0, late = 0;
};

std::vector<JitterBuffer> jitter_buffers(GstElement *pipeline) {
  std::vector<JitterBuffer> out;
  GstIterator *it = gst_bin_iterate_recurse(GST_BIN(pipeline));
  GValue v = G_VALUE_INIT;
  for (GstIteratorResult r; (r = gst_iterator_next(it, &v)) != GST_ITERATOR_DONE && r != GST_ITERATOR_ERROR;) {
    if (r == GST_ITERATOR_RESYNC) {  // a child came or went: start over
      gst_iterator_resync(it);
      out.clear();
      continue;
    }
    GstElement *e = GST_ELEMENT(g_value_get_object(&v));
    GstElementFactory *f = gst_element_get_factory(e);
    if (f && !g_strcmp0(GST_OBJECT_NAME(f), "rtpjitterbuffer")) {
      JitterBuffer jb;
      // Which kind: by the latency our elements give each (audio-latency 0, video-latency 20 ms).
      guint latency = 0;
      g_object_get(e, "latency", &latency, nullptr);
      jb.media = latency == 0 ? "audio" : latency == 20 ? "video" : "";
      gboolean rtx = FALSE;
      GstStructure *st = nullptr;
      g_object_get(e, "do-retransmission", &rtx, "stats", &st, nullptr);
      jb.do_retransmission = rtx;
      gst_structure_get_uint64(st, "num-lost", &jb.lost);
      gst_structure_get_uint64(st, "num-late", &jb.late);
      gst_structure_free(st);
      out.push_back(jb);
    }
    g_value_reset(&v);
  }
  gst_iterator_free(it);
  return out;
}

}  // namespace

TEST(WebrtcJitterBuffer, AudioNeverWaitsForRetransmissions) {
  ServerThread server;
  PeerPipeline pa(peer_options(server.url(), "alice")), pb(peer_options(server.url(), "bob"));
  ASSERT_TRUE(pa.start());
  ASSERT_TRUE(wait_for([&] { return pa.has_event("announced:alice"); }, 10s));
  ASSERT_TRUE(pb.start());
  ASSERT_TRUE(wait_for([&] { return pb.count("audio_alice") > 50 && pb.count("video_alice") > 20; }, 30s))
      << "bob got audio " << pb.count("audio_alice") << " video " << pb.count("video_alice");
  int audio = 0, video = 0;
  for (const auto &jb : jitter_buffers(pb.pipeline())) {
    if (jb.media == "audio") {
      audio++;
      EXPECT_FALSE(jb.do_retransmission) << "an audio jitter buffer waits for retransmissions that never come";
      std::printf("bob's audio jitter buffer: lost %llu, late %llu\n", (unsigned long long)jb.lost,
                  (unsigned long long)jb.late);
    } else if (jb.media == "video") {
      video++;
      EXPECT_TRUE(jb.do_retransmission) << "video keeps NACK retransmission";
    }
  }
  EXPECT_EQ(audio, 1);
  EXPECT_EQ(video, 1);
  pa.poll_bus();
  pb.poll_bus();
  for (auto &e : pa.errors) ADD_FAILURE() << "alice: " << e;
  for (auto &e : pb.errors) ADD_FAILURE() << "bob: " << e;
}
