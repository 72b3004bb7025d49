// Per-peer outputs (DESIGN.md default manifest): `peers_in.audio -> mix (mixer, mode mix_minus)` and
// `mix -> peers_out route: origin`: each peer gets its own mix-minus. The session links each of the
// mixer's src_N (pad property peer-id) to a new request pad of the sink with route origin and
// origin-peer = that peer, and releases it when the peer goes. Stand-ins defined here: a per-peer
// audio source (constant level per peer: audiotestsrc square wave at 0 Hz) and a webrtc_sink-like
// sink whose request pads carry `route` / `origin-peer` and keep their last sample.
#include <gtest/gtest.h>

#include <map>

#include "meshflow/graph/plan.h"
#include "meshflow/graph/registry.h"
#include "meshflow/manifest/loader.h"
#include "meshflow/sdk/node.h"
#include "meshflow/session/session.h"

using namespace mf;

// --- testaudiopeers: a GstBin whose SOMETIMES pads audio_<peer> appear on add_peer() ------------
struct TestAudioPeers {
  GstBin parent;
};
struct TestAudioPeersClass {
  GstBinClass parent_class;
};
G_DEFINE_TYPE(TestAudioPeers, test_audio_peers, GST_TYPE_BIN)
static void test_audio_peers_class_init(TestAudioPeersClass *klass) {
  auto *ec = GST_ELEMENT_CLASS(klass);
  gst_element_class_set_static_metadata(ec, "Test per-peer audio", "Source/Audio", "test", "Meshflow");
  mf_node_class_set_name(ec, "test_audio_peers");
  mf_node_class_set_per_peer(ec);
  static GstStaticPadTemplate audio = GST_STATIC_PAD_TEMPLATE(
      "audio_%s", GST_PAD_SRC, GST_PAD_SOMETIMES, GST_STATIC_CAPS("audio/x-raw"));
  gst_element_class_add_static_pad_template(ec, &audio);
}
static void test_audio_peers_init(TestAudioPeers *) {}

// --- testroutesink: request pads audio_%u with `route` and `origin-peer`, like webrtc_sink's -----
struct TestRoutePad {
  GstGhostPad parent;
  gchar *route, *origin;
};
struct TestRoutePadClass {
  GstGhostPadClass parent_class;
};
G_DEFINE_TYPE(TestRoutePad, test_route_pad, GST_TYPE_GHOST_PAD)
static void test_route_pad_set(GObject *o, guint id, const GValue *v, GParamSpec *) {
  auto *p = reinterpret_cast<TestRoutePad *>(o);
  gchar **dst = id == 1 ? &p->route : &p->origin;
  g_free(*dst);
  *dst = g_value_dup_string(v);
}
static void test_route_pad_get(GObject *o, guint id, GValue *v, GParamSpec *) {
  auto *p = reinterpret_cast<TestRoutePad *>(o);
  g_value_set_string(v, id == 1 ? p->route : p->origin);
}
static void test_route_pad_finalize(GObject *o) {
  auto *p = reinterpret_cast<TestRoutePad *>(o);
  g_free(p->route);
  g_free(p->origin);
  G_OBJECT_CLASS(test_route_pad_parent_class)->finalize(o);
}
static void test_route_pad_class_init(TestRoutePadClass *klass) {
  auto *oc = G_OBJECT_CLASS(klass);
  oc->set_property = test_route_pad_set;
  oc->get_property = test_route_pad_get;
  oc->finalize = test_route_pad_finalize;
  g_object_class_install_property(oc, 1, g_param_spec_string("route", "", "", nullptr, G_PARAM_READWRITE));
  g_object_class_install_property(oc, 2, g_param_spec_string("origin-peer", "", "", nullptr, G_PARAM_READWRITE));
}
static void test_route_pad_init(TestRoutePad *) {}

struct TestRouteSink {
  GstBin parent;
  int next;
};
struct TestRouteSinkClass {
  GstBinClass parent_class;
};
G_DEFINE_TYPE(TestRouteSink, test_route_sink, GST_TYPE_BIN)
static GstStaticPadTemplate route_sink_templ =
    GST_STATIC_PAD_TEMPLATE("audio_%u", GST_PAD_SINK, GST_PAD_REQUEST, GST_STATIC_CAPS("audio/x-raw"));

static GstPad *test_route_sink_request(GstElement *e, GstPadTemplate *templ, const gchar *, const GstCaps *) {
  auto *self = reinterpret_cast<TestRouteSink *>(e);
  std::string name = "audio_" + std::to_string(self->next++);
  GstElement *chain = gst_parse_bin_from_description(
      "audioconvert ! audio/x-raw,format=S16LE ! fakesink name=s sync=false async=false", TRUE, nullptr);
  gst_object_set_name(GST_OBJECT(chain), (name + "_chain").c_str());
  gst_bin_add(GST_BIN(e), chain);
  GstPad *target = gst_element_get_static_pad(chain, "sink");
  GstPad *pad = GST_PAD(g_object_new(test_route_pad_get_type(), "name", name.c_str(), "direction", GST_PAD_SINK,
                                     "template", templ, nullptr));
  gst_ghost_pad_set_target(GST_GHOST_PAD(pad), target);
  gst_object_unref(target);
  gst_pad_set_active(pad, TRUE);
  gst_element_add_pad(e, pad);
  gst_element_sync_state_with_parent(chain);
  return pad;
}
static void test_route_sink_release(GstElement *e, GstPad *pad) {
  std::string name = std::string(GST_PAD_NAME(pad)) + "_chain";
  GstElement *chain = gst_bin_get_by_name(GST_BIN(e), name.c_str());
  gst_pad_set_active(pad, FALSE);
  gst_element_remove_pad(e, pad);
  if (chain) {
    gst_element_set_state(chain, GST_STATE_NULL);
    gst_bin_remove(GST_BIN(e), chain);
    gst_object_unref(chain);
  }
}
static void test_route_sink_class_init(TestRouteSinkClass *klass) {
  auto *ec = GST_ELEMENT_CLASS(klass);
  gst_element_class_set_static_metadata(ec, "Test route sink", "Sink/Audio", "test", "Meshflow");
  mf_node_class_set_name(ec, "test_route_sink");
  gst_element_class_add_static_pad_template_with_gtype(ec, &route_sink_templ, test_route_pad_get_type());
  ec->request_new_pad = test_route_sink_request;
  ec->release_pad = test_route_sink_release;
}
static void test_route_sink_init(TestRouteSink *self) {
  self->next = 0;
}

namespace {

// Constant level of each peer's stand-in audio (S16): audiotestsrc's square wave at 0 Hz.
int level(double volume) { return int(volume * 32767); }

void add_peer(GstElement *bin, const std::string &peer, double volume) {
  GstElement *src = gst_element_factory_make("audiotestsrc", ("a_" + peer).c_str());
  g_object_set(src, "is-live", TRUE, "wave", 1 /* square */, "freq", 0.0, "volume", volume, "samplesperbuffer", 480,
               nullptr);
  GstElement *caps = gst_element_factory_make("capsfilter", ("ac_" + peer).c_str());
  GstCaps *c = gst_caps_from_string("audio/x-raw,format=S16LE,rate=48000,channels=1");
  g_object_set(caps, "caps", c, nullptr);
  gst_caps_unref(c);
  gst_bin_add_many(GST_BIN(bin), src, caps, nullptr);
  gst_element_link(src, caps);
  GstPad *target = gst_element_get_static_pad(caps, "src");
  GstPadTemplate *tmpl = gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(bin), "audio_%s");
  GstPad *ghost = gst_ghost_pad_new_from_template(("audio_" + peer).c_str(), target, tmpl);
  gst_object_unref(target);
  gst_pad_set_active(ghost, TRUE);
  gst_element_add_pad(bin, ghost);  // the session links it into the mixer here
  gst_element_sync_state_with_parent(caps);
  gst_element_sync_state_with_parent(src);
}

void remove_peer(GstElement *bin, const std::string &peer) {
  GstElement *src = gst_bin_get_by_name(GST_BIN(bin), ("a_" + peer).c_str());
  GstElement *caps = gst_bin_get_by_name(GST_BIN(bin), ("ac_" + peer).c_str());
  GstPad *ghost = gst_element_get_static_pad(bin, ("audio_" + peer).c_str());
  gst_element_set_state(src, GST_STATE_NULL);
  gst_element_set_state(caps, GST_STATE_NULL);
  gst_element_remove_pad(bin, ghost);
  gst_bin_remove_many(GST_BIN(bin), src, caps, nullptr);
  gst_object_unref(ghost);
  gst_object_unref(src);
  gst_object_unref(caps);
}

const char *kMixMinus =
    "version: 1\nnodes:\n  - {id: peers, type: test_audio_peers}\n"
    "  - {id: mix, type: mixer, properties: {kind: audio, mode: mix_minus}}\n"
    "  - {id: out, type: test_route_sink}\nlinks:\n"
    "  - {from: peers.audio, to: mix}\n  - {from: mix, to: out, route: origin}\n";

class MixMinus : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_element_register(nullptr, "testaudiopeers", GST_RANK_NONE, test_audio_peers_get_type());
    gst_element_register(nullptr, "testroutesink", GST_RANK_NONE, test_route_sink_get_type());
  }
  void SetUp() override {
    ctx_ = g_main_context_new();
    g_main_context_push_thread_default(ctx_);
  }
  void TearDown() override {
    if (peers_) gst_object_unref(peers_);
    if (out_) gst_object_unref(out_);
    session_.reset();
    g_main_context_pop_thread_default(ctx_);
    g_main_context_unref(ctx_);
  }
  Diagnostics compile(const std::string &yaml, graph::Plan &plan) {
    manifest::Manifest m;
    Diagnostics d = manifest::load_string(yaml, "mix.yaml", {}, m);
    if (!d.ok()) return d;
    graph::Registry reg;
    return graph::compile(m, reg, plan);
  }
  void start() {
    graph::Plan plan;
    Diagnostics d = compile(kMixMinus, plan);
    ASSERT_TRUE(d.ok()) << d.format();
    session_ = session::Session::create(plan, {}, d);
    ASSERT_TRUE(session_) << d.format();
    ASSERT_TRUE(session_->start(d)) << d.format();
    peers_ = gst_bin_get_by_name(GST_BIN(session_->pipeline()), "peers");
    out_ = gst_bin_get_by_name(GST_BIN(session_->pipeline()), "out");
  }
  // origin-peer -> route of every request pad of `out`.
  std::map<std::string, std::string> outputs() {
    std::map<std::string, std::string> m;
    GstIterator *it = gst_element_iterate_sink_pads(out_);
    GValue v = G_VALUE_INIT;
    while (gst_iterator_next(it, &v) == GST_ITERATOR_OK) {
      gchar *route = nullptr, *origin = nullptr;
      g_object_get(g_value_get_object(&v), "route", &route, "origin-peer", &origin, nullptr);
      m[origin ? origin : ""] = route ? route : "";
      g_free(route);
      g_free(origin);
      g_value_reset(&v);
    }
    g_value_unset(&v);
    gst_iterator_free(it);
    return m;
  }
  // The first sample of the last buffer that reached `peer`'s output, or INT32_MIN.
  int last_level(const std::string &peer) {
    GstIterator *it = gst_element_iterate_sink_pads(out_);
    GValue v = G_VALUE_INIT;
    int result = INT32_MIN;
    while (gst_iterator_next(it, &v) == GST_ITERATOR_OK) {
      GstPad *pad = GST_PAD(g_value_get_object(&v));
      gchar *origin = nullptr;
      g_object_get(pad, "origin-peer", &origin, nullptr);
      if (origin && peer == origin) {
        std::string name = std::string(GST_PAD_NAME(pad)) + "_chain";
        GstElement *chain = gst_bin_get_by_name(GST_BIN(out_), name.c_str());
        GstElement *sink = chain ? gst_bin_get_by_name(GST_BIN(chain), "s") : nullptr;
        GstSample *s = nullptr;
        if (sink) g_object_get(sink, "last-sample", &s, nullptr);
        if (s) {
          GstMapInfo map;
          GstBuffer *b = gst_sample_get_buffer(s);
          if (b && gst_buffer_map(b, &map, GST_MAP_READ)) {
            if (map.size >= 2) result = reinterpret_cast<const gint16 *>(map.data)[map.size / 2 - 1];
            gst_buffer_unmap(b, &map);
          }
          gst_sample_unref(s);
        }
        if (sink) gst_object_unref(sink);
        if (chain) gst_object_unref(chain);
      }
      g_free(origin);
      g_value_reset(&v);
    }
    g_value_unset(&v);
    gst_iterator_free(it);
    return result;
  }
  // Waits (iterating the session's context) until `peer`'s output level is `want` (+-2).
  bool gets(const std::string &peer, int want) {
    for (int i = 0; i < 500; i++) {
      g_main_context_iteration(ctx_, FALSE);
      int got = last_level(peer);
      if (got != INT32_MIN && std::abs(got - want) <= 2) return true;
      g_usleep(10000);
    }
    return false;
  }

  GMainContext *ctx_ = nullptr;
  std::unique_ptr<session::Session> session_;
  GstElement *peers_ = nullptr, *out_ = nullptr;
};

TEST_F(MixMinus, PlanRoutesTheMixersPerPeerOutputs) {
  graph::Plan plan;
  ASSERT_TRUE(compile(kMixMinus, plan).ok());
  EXPECT_TRUE(plan.find("mix")->per_peer_outputs);
  EXPECT_EQ(plan.find("mix")->peer_scope, "");
  bool found = false;
  for (const auto &l : plan.links)
    if (l.src == "mix") {
      found = true;
      EXPECT_TRUE(l.per_peer_output);
      EXPECT_EQ(l.src_pad, "src_%u");
      EXPECT_TRUE(l.dst_request);
    }
  EXPECT_TRUE(found);
  EXPECT_TRUE(plan.part("").links.empty()) << "the mixer's outputs are linked per peer by the session";
}

TEST_F(MixMinus, RouteOriginNeedsPerPeerOutputs) {
  graph::Plan plan;
  std::string yaml = kMixMinus;
  yaml.replace(yaml.find("mode: mix_minus"), 15, "mode: all");
  Diagnostics d = compile(yaml, plan);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.errors[0].code, "no-per-peer-outputs") << d.format();
  EXPECT_EQ(d.errors[0].loc.line, 8) << d.format();  // the mix -> out link
}

TEST_F(MixMinus, EachPeerGetsTheMixOfTheOthersAndItsOutputGoesWithIt) {
  start();
  const double alice = 0.05, bob = 0.1, carol = 0.2;
  add_peer(peers_, "alice", alice);
  add_peer(peers_, "bob", bob);
  add_peer(peers_, "carol", carol);
  auto outs = outputs();
  EXPECT_EQ(outs, (std::map<std::string, std::string>{{"alice", "origin"}, {"bob", "origin"}, {"carol", "origin"}}));
  EXPECT_TRUE(gets("alice", level(bob) + level(carol))) << last_level("alice");
  EXPECT_TRUE(gets("bob", level(alice) + level(carol))) << last_level("bob");
  EXPECT_TRUE(gets("carol", level(alice) + level(bob))) << last_level("carol");

  remove_peer(peers_, "carol");
  for (int i = 0; i < 50; i++) {
    while (g_main_context_iteration(ctx_, FALSE)) {
    }
    g_usleep(2000);
  }
  outs = outputs();
  EXPECT_EQ(outs, (std::map<std::string, std::string>{{"alice", "origin"}, {"bob", "origin"}}))
      << "carol's output pad must be released";
  EXPECT_EQ(GST_ELEMENT(out_)->numsinkpads, 2);
  EXPECT_TRUE(gets("alice", level(bob))) << last_level("alice");
  EXPECT_TRUE(gets("bob", level(alice))) << last_level("bob");
  GstState state;
  gst_element_get_state(GST_ELEMENT(session_->pipeline()), &state, nullptr, GST_SECOND);
  EXPECT_EQ(state, GST_STATE_PLAYING);
  EXPECT_EQ(session_->peer_chains().size(), 4u) << "alice and bob: one input and one output each";
}

TEST_F(MixMinus, ChurnLeavesNoOutputsBehind) {
  start();
  add_peer(peers_, "stay", 0.1);
  add_peer(peers_, "warmup", 0.05);
  remove_peer(peers_, "warmup");
  for (int i = 0; i < 50; i++) {
    while (g_main_context_iteration(ctx_, FALSE)) {
    }
    g_usleep(2000);
  }
  GstElement *mix = gst_bin_get_by_name(GST_BIN(session_->pipeline()), "mix");
  int children = GST_BIN(mix)->numchildren + GST_BIN(out_)->numchildren;
  for (int i = 0; i < 20; i++) {
    std::string p = "p" + std::to_string(i);
    add_peer(peers_, p, 0.05);
    EXPECT_EQ(GST_ELEMENT(out_)->numsinkpads, 2);
    remove_peer(peers_, p);
  }
  for (int i = 0; i < 50; i++) {
    while (g_main_context_iteration(ctx_, FALSE)) {
    }
    g_usleep(2000);
  }
  EXPECT_EQ(GST_ELEMENT(out_)->numsinkpads, 1);
  EXPECT_EQ(GST_BIN(mix)->numchildren + GST_BIN(out_)->numchildren, children);
  EXPECT_EQ(outputs(), (std::map<std::string, std::string>{{"stay", "origin"}}));
  EXPECT_EQ(session_->peer_chains().size(), 2u);
  EXPECT_TRUE(gets("stay", 0)) << "alone: its mix-minus is silence";
  gst_object_unref(mix);
}

}  // namespace
