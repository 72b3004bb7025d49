// webrtc_sink `route: origin` without an origin peer (how llm_bridge reply-to=speaker answers
// whoever spoke): the pad follows its stream's `meshflow-peer-id` tag. Three in-process peers: the
// "agent" sends a live tone on such a pad; alice and bob only receive. Before any tag both get it;
// after a tag naming alice only alice decodes it, then only bob, then alice again, and the
// switches cost no offer (no renegotiation) and no loss burst (each slot's RTP sequence stays
// contiguous).
#include <gst/rtp/rtp.h>
#include <gtest/gtest.h>

#include "harness.h"
#include "meshflow/metrics/registry.h"

using namespace mf::test;
using namespace std::chrono_literals;

namespace {

// A stream tag naming `peer`, sent into the sink pad like any serialized event (it takes the
// pad's stream lock: it lands between two buffers).
void tag_stream(GstPad *pad, const char *peer) {
  GstTagList *tags = gst_tag_list_new_empty();
  gst_tag_list_add(tags, GST_TAG_MERGE_REPLACE, "meshflow-peer-id", peer, nullptr);
  gst_tag_list_set_scope(tags, GST_TAG_SCOPE_STREAM);
  ASSERT_TRUE(gst_pad_send_event(pad, gst_event_new_tag(tags)));
}

double offers() {
  return mf::metrics::Registry::global().value("meshflow_signalling_forwarded_total", {{"method", "peer.offer"}});
}

// A per-peer counter of an element's `stats` (in the structure of peer `peer`).
bool peer_stat(GstElement *e, const char *peer, const char *field, guint64 *out) {
  GstStructure *st = nullptr;
  g_object_get(e, "stats", &st, nullptr);
  bool ok = false;
  if (const GValue *v = st ? gst_structure_get_value(st, peer) : nullptr)
    ok = gst_structure_get_uint64(gst_value_get_structure(v), field, out);
  if (st) gst_structure_free(st);
  return ok;
}

// The largest step between consecutive RTP sequence numbers through a pad.
struct SeqWatch {
  std::mutex mu;  // protects all
  std::string name;
  bool have = false;
  guint16 last = 0;
  int max_jump = 0;
  uint64_t packets = 0;
  static GstPadProbeReturn probe(GstPad *, GstPadProbeInfo *info, gpointer d) {
    auto *w = static_cast<SeqWatch *>(d);
    GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
    if (!gst_rtp_buffer_map(GST_PAD_PROBE_INFO_BUFFER(info), GST_MAP_READ, &rtp)) return GST_PAD_PROBE_OK;
    guint16 seq = gst_rtp_buffer_get_seq(&rtp);
    gst_rtp_buffer_unmap(&rtp);
    std::lock_guard<std::mutex> l(w->mu);
    if (w->have) w->max_jump = std::max(w->max_jump, int(guint16(seq - w->last)));
    w->have = true;
    w->last = seq;
    w->packets++;
    return GST_PAD_PROBE_OK;
  }
};

}  // namespace

TEST(WebrtcInProcess, RouteOriginWithoutOriginPeerFollowsTheStreamTag) {
  ServerThread server;
  std::vector<std::unique_ptr<SeqWatch>> watches;  // probes on the agent's pads: outlive its pipeline
  auto quiet = [&](const char *id) {
    PeerOptions o = peer_options(server.url(), id);
    o.audio = o.video = false;
    return o;
  };
  PeerPipeline agent(quiet("agent")), pa(quiet("alice")), pb(quiet("bob"));
  // The agent's answer stream: a tone into a pad with route origin and no origin-peer.
  GstElement *tone = gst_parse_bin_from_description(
      "audiotestsrc is-live=true wave=sine samplesperbuffer=480 ! audio/x-raw,rate=48000,channels=1", TRUE, nullptr);
  ASSERT_NE(tone, nullptr);
  gst_bin_add(GST_BIN(agent.pipeline()), tone);
  GstPad *pad = gst_element_request_pad_simple(agent.sink(), "audio_%u");
  ASSERT_NE(pad, nullptr);
  g_object_set(pad, "route", "origin", nullptr);
  GstPad *tone_src = gst_element_get_static_pad(tone, "src");
  ASSERT_EQ(gst_pad_link(tone_src, pad), GST_PAD_LINK_OK);
  gst_object_unref(tone_src);

  ASSERT_TRUE(agent.start());
  ASSERT_TRUE(wait_for([&] { return agent.has_event("announced:agent"); }, 10s));
  ASSERT_TRUE(pa.start());
  ASSERT_TRUE(pb.start());
  // No tag yet: everybody gets it (so both peers have negotiated it).
  ASSERT_TRUE(wait_for([&] { return pa.count("audio_agent") > 25 && pb.count("audio_agent") > 25; }, 30s))
      << "alice " << pa.count("audio_agent") << ", bob " << pb.count("audio_agent");
  // Let any follow-up negotiation settle, then count offers from here on.
  std::this_thread::sleep_for(1s);
  const double offers_before = offers();
  // Watch the RTP sequence numbers each peer's slot sends (the agent's slot queues, after their
  // rewrite probe).
  GstIterator *it = gst_bin_iterate_elements(GST_BIN(agent.sink()));
  GValue v = G_VALUE_INIT;
  while (gst_iterator_next(it, &v) == GST_ITERATOR_OK) {
    auto *e = GST_ELEMENT(g_value_get_object(&v));
    if (std::string(GST_ELEMENT_NAME(e)).find("-aq") != std::string::npos) {
      watches.push_back(std::make_unique<SeqWatch>());
      watches.back()->name = GST_ELEMENT_NAME(e);
      GstPad *q = gst_element_get_static_pad(e, "src");
      gst_pad_add_probe(q, GST_PAD_PROBE_TYPE_BUFFER, SeqWatch::probe, watches.back().get(), nullptr);
      gst_object_unref(q);
    }
    g_value_reset(&v);
  }
  g_value_unset(&v);
  gst_iterator_free(it);

  // Over `period`, how many decoded buffers alice and bob got after the target became `who`
  // (the first 500 ms after the tag are not counted: packets already in the queues and jitter
  // buffers, and the decoders, drain).
  auto turn = [&](const char *who, std::chrono::milliseconds period) {
    tag_stream(pad, who);
    std::this_thread::sleep_for(500ms);
    uint64_t a0 = pa.count("audio_agent"), b0 = pb.count("audio_agent");
    std::this_thread::sleep_for(period);
    return std::make_pair(pa.count("audio_agent") - a0, pb.count("audio_agent") - b0);
  };
  auto [a1, b1] = turn("alice", 1500ms);
  EXPECT_GT(a1, 40u) << "alice's turn: alice must hear the agent";
  EXPECT_EQ(b1, 0u) << "alice's turn: bob must not";
  auto [a2, b2] = turn("bob", 1500ms);
  EXPECT_EQ(a2, 0u) << "bob's turn: alice must not hear the agent";
  EXPECT_GT(b2, 40u) << "bob's turn: bob must";
  auto [a3, b3] = turn("alice", 2500ms);
  EXPECT_GT(a3, 60u);
  EXPECT_EQ(b3, 0u);

  EXPECT_EQ(offers(), offers_before) << "a target switch must not renegotiate";
  // The agent gated packets away from each peer in turn ...
  guint64 gated_a = 0, gated_b = 0;
  EXPECT_TRUE(peer_stat(agent.sink(), "alice", "packets-gated", &gated_a));
  EXPECT_TRUE(peer_stat(agent.sink(), "bob", "packets-gated", &gated_b));
  EXPECT_GT(gated_a, 40u);
  EXPECT_GT(gated_b, 40u);
  // ... and what each peer was sent is one contiguous RTP sequence across the gated stretches
  // (whose ~100 packets would otherwise show as one loss burst). The receivers' own loss stats are
  // no measure here: with the default 0 ms audio jitter-buffer latency a loaded test machine counts
  // late packets as lost.
  int slots = 0;
  for (auto &w : watches) {
    std::lock_guard<std::mutex> l(w->mu);
    if (w->packets == 0) continue;
    slots++;
    EXPECT_LE(w->max_jump, 3) << w->name << ": the sequence jumps by " << w->max_jump << " after " << w->packets
                              << " packets";
  }
  EXPECT_EQ(slots, 2) << "alice's and bob's audio slots";

  gst_object_unref(pad);
  for (auto &e : agent.errors) ADD_FAILURE() << "agent: " << e;
  for (auto &e : pa.errors) ADD_FAILURE() << "alice: " << e;
  for (auto &e : pb.errors) ADD_FAILURE() << "bob: " << e;
}
