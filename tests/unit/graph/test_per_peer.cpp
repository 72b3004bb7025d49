// Per-peer fan-out (DESIGN.md): the chain downstream of a per-peer source's pad is built when the
// pad appears (a peer joins) and freed when it goes, while the pipeline keeps playing. A small
// per-peer source element defined here stands in for webrtc_source.
#include <gtest/gtest.h>

#include <dirent.h>

#include "meshflow/graph/plan.h"
#include "meshflow/graph/registry.h"
#include "meshflow/manifest/loader.h"
#include "meshflow/sdk/node.h"
#include "meshflow/session/session.h"

using namespace mf;

// --- testpeersrc: a GstBin whose SOMETIMES pads video_<peer> appear on add_peer() ---------------
struct TestPeerSrc {
  GstBin parent;
};
struct TestPeerSrcClass {
  GstBinClass parent_class;
};
G_DEFINE_TYPE(TestPeerSrc, test_peer_src, GST_TYPE_BIN)
static void test_peer_src_class_init(TestPeerSrcClass *klass) {
  auto *ec = GST_ELEMENT_CLASS(klass);
  gst_element_class_set_static_metadata(ec, "Test per-peer source", "Source/Video", "test", "Meshflow");
  mf_node_class_set_name(ec, "test_peers");
  mf_node_class_set_per_peer(ec);
  static GstStaticPadTemplate video = GST_STATIC_PAD_TEMPLATE(
      "video_%s", GST_PAD_SRC, GST_PAD_SOMETIMES, GST_STATIC_CAPS("video/x-raw"));
  gst_element_class_add_static_pad_template(ec, &video);
}
static void test_peer_src_init(TestPeerSrc *) {}

static void add_peer(GstElement *bin, const std::string &peer) {
  GstElement *src = gst_element_factory_make("videotestsrc", ("v_" + peer).c_str());
  g_object_set(src, "is-live", TRUE, nullptr);
  GstElement *caps = gst_element_factory_make("capsfilter", ("c_" + peer).c_str());
  GstCaps *c = gst_caps_from_string("video/x-raw,format=I420,width=32,height=24,framerate=30/1");
  g_object_set(caps, "caps", c, nullptr);
  gst_caps_unref(c);
  gst_bin_add_many(GST_BIN(bin), src, caps, nullptr);
  gst_element_link(src, caps);
  GstPad *target = gst_element_get_static_pad(caps, "src");
  GstPadTemplate *tmpl = gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(bin), "video_%s");
  GstPad *ghost = gst_ghost_pad_new_from_template(("video_" + peer).c_str(), target, tmpl);
  gst_object_unref(target);
  gst_pad_set_active(ghost, TRUE);
  gst_element_add_pad(bin, ghost);  // the session builds the chain here
  gst_element_sync_state_with_parent(caps);
  gst_element_sync_state_with_parent(src);
}

static void remove_peer(GstElement *bin, const std::string &peer) {
  GstElement *src = gst_bin_get_by_name(GST_BIN(bin), ("v_" + peer).c_str());
  GstElement *caps = gst_bin_get_by_name(GST_BIN(bin), ("c_" + peer).c_str());
  GstPad *ghost = gst_element_get_static_pad(bin, ("video_" + peer).c_str());
  gst_element_set_state(src, GST_STATE_NULL);
  gst_element_set_state(caps, GST_STATE_NULL);
  gst_element_remove_pad(bin, ghost);
  gst_bin_remove_many(GST_BIN(bin), src, caps, nullptr);
  gst_object_unref(ghost);
  gst_object_unref(src);
  gst_object_unref(caps);
}

namespace {

class PerPeer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_element_register(nullptr, "testpeersrc", GST_RANK_NONE, test_peer_src_get_type());
  }
  void SetUp() override {
    ctx_ = g_main_context_new();
    g_main_context_push_thread_default(ctx_);
  }
  void TearDown() override {
    session_.reset();
    g_main_context_pop_thread_default(ctx_);
    g_main_context_unref(ctx_);
  }
  Diagnostics compile(const std::string &yaml, graph::Plan &plan) {
    manifest::Manifest m;
    Diagnostics d = manifest::load_string(yaml, "peers.yaml", {}, m);
    if (!d.ok()) return d;
    graph::Registry reg;
    return graph::compile(m, reg, plan);
  }
  void start(const std::string &yaml) {
    graph::Plan plan;
    Diagnostics d = compile(yaml, plan);
    ASSERT_TRUE(d.ok()) << d.format();
    session_ = session::Session::create(plan, {}, d);
    ASSERT_TRUE(session_) << d.format();
    session_->on_peer = [this](const std::string &ev, const std::string &peer, const std::string &) {
      std::lock_guard<std::mutex> lock(events_mutex_);
      events_.push_back(ev + ":" + peer);
    };
    ASSERT_TRUE(session_->start(d)) << d.format();
    // Even with no peer yet (a merge point with no input): sessions with per-peer sources do not
    // preroll, so PLAYING is reached at once.
    ASSERT_EQ(gst_element_get_state(GST_ELEMENT(session_->pipeline()), nullptr, nullptr, 5 * GST_SECOND),
              GST_STATE_CHANGE_SUCCESS);
  }
  GstElement *element(const std::string &name) {
    return gst_bin_get_by_name(GST_BIN(session_->pipeline()), name.c_str());
  }
  bool exists(const std::string &name) {
    GstElement *e = element(name);
    if (e) gst_object_unref(e);
    return e != nullptr;
  }
  // Waits (iterating the session context) until `sink` has rendered a buffer.
  bool flows(const std::string &sink) {
    GstElement *e = element(sink);
    if (!e) return false;
    GstSample *s = nullptr;
    for (int i = 0; i < 500 && !s; i++) {
      g_main_context_iteration(ctx_, FALSE);
      g_usleep(10000);
      g_object_get(e, "last-sample", &s, nullptr);
    }
    gst_object_unref(e);
    if (s) gst_sample_unref(s);
    return s != nullptr;
  }
  void drain() {
    for (int i = 0; i < 50; i++) {
      while (g_main_context_iteration(ctx_, FALSE)) {
      }
      g_usleep(2000);
    }
  }
  GstElement *peers() { return element("peers"); }

  GMainContext *ctx_ = nullptr;
  std::unique_ptr<session::Session> session_;
  std::mutex events_mutex_;
  std::vector<std::string> events_;
};

const char *kChainToSink =
    "version: 1\nnodes:\n  - {id: peers, type: test_peers}\n  - {id: fx, type: blur, properties: {sigma: 1}}\n"
    "  - {id: out, type: fakesink}\nlinks:\n  - {from: peers.video, to: fx}\n  - {from: fx, to: out}\n";

TEST_F(PerPeer, PlanScopesTheChainDownstreamOfThePeerPads) {
  graph::Plan plan;
  ASSERT_TRUE(compile(kChainToSink, plan).ok());
  EXPECT_EQ(plan.find("peers")->peer_scope, "");
  EXPECT_TRUE(plan.find("peers")->per_peer_source);
  EXPECT_EQ(plan.find("fx")->peer_scope, "peers.video");
  EXPECT_EQ(plan.find("out")->peer_scope, "peers.video");
  EXPECT_EQ(plan.part("").elements.size(), 1u);
  EXPECT_EQ(plan.entry_links("peers.video").size(), 1u);
}

TEST_F(PerPeer, ChainsComeAndGoWithPeersWhileThePipelinePlays) {
  start(kChainToSink);
  GstElement *src = peers();
  add_peer(src, "alice");
  add_peer(src, "bob");
  EXPECT_TRUE(exists("fx@alice"));
  EXPECT_TRUE(exists("out@bob"));
  EXPECT_TRUE(flows("out@alice"));
  EXPECT_TRUE(flows("out@bob"));
  remove_peer(src, "alice");
  drain();
  EXPECT_FALSE(exists("fx@alice"));
  EXPECT_FALSE(exists("out@alice"));
  EXPECT_TRUE(flows("out@bob")) << "bob's chain must keep flowing";
  GstState state;
  gst_element_get_state(GST_ELEMENT(session_->pipeline()), &state, nullptr, GST_SECOND);
  EXPECT_EQ(state, GST_STATE_PLAYING);
  std::lock_guard<std::mutex> lock(events_mutex_);
  EXPECT_EQ(events_, (std::vector<std::string>{"joined:alice", "joined:bob", "left:alice"}));
  gst_object_unref(src);
}

TEST_F(PerPeer, ChainsEndAtSharedMergePointsThroughRequestPads) {
  start("version: 1\nnodes:\n  - {id: peers, type: test_peers}\n  - {id: fx, type: blur}\n"
        "  - {id: grid, type: compositor}\n  - {id: out, type: fakesink}\nlinks:\n"
        "  - {from: peers.video, to: fx}\n  - {from: fx, to: grid}\n  - {from: grid, to: out}\n");
  GstElement *src = peers();
  GstElement *grid = element("grid");
  add_peer(src, "p1");
  add_peer(src, "p2");
  EXPECT_EQ(GST_ELEMENT(grid)->numsinkpads, 2);
  EXPECT_TRUE(flows("out"));
  remove_peer(src, "p1");
  drain();
  EXPECT_EQ(GST_ELEMENT(grid)->numsinkpads, 1);
  EXPECT_FALSE(exists("fx@p1"));
  gst_object_unref(grid);
  gst_object_unref(src);
}

TEST_F(PerPeer, ChurnLeavesNothingBehind) {
  start(kChainToSink);
  GstElement *src = peers();
  add_peer(src, "warmup");
  remove_peer(src, "warmup");
  drain();
  int children = GST_BIN(session_->pipeline())->numchildren;
  for (int i = 0; i < 30; i++) {
    std::string p = "p" + std::to_string(i);
    add_peer(src, p);
    remove_peer(src, p);
  }
  drain();
  EXPECT_EQ(GST_BIN(session_->pipeline())->numchildren, children);
  EXPECT_TRUE(session_->peer_chains().empty());
  gst_object_unref(src);
}

TEST_F(PerPeer, LoadTimeErrors) {
  graph::Plan plan;
  Diagnostics d = compile(
      "version: 1\nnodes:\n  - {id: peers, type: test_peers}\n  - {id: fx, type: blur}\nlinks:\n"
      "  - {from: peers.video, to: fx}\n",
      plan);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.errors[0].code, "per-peer-dead-end") << d.format();
  EXPECT_EQ(d.errors[0].loc.line, 4);
  d = compile("version: 1\nnodes:\n  - {id: peers, type: test_peers}\n  - {id: out, type: fakesink}\nlinks:\n"
              "  - {from: peers, to: out}\n",
              plan);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.errors[0].code, "per-peer-pad") << d.format();
  EXPECT_NE(d.errors[0].format().find("peers.video"), std::string::npos);
}

}  // namespace
