// Stage 3: plans instantiated into real pipelines and run with real elements.
#include <gtest/gtest.h>

#include <set>

#include "meshflow/graph/builder.h"
#include "meshflow/graph/plan.h"
#include "meshflow/graph/registry.h"
#include "meshflow/manifest/loader.h"
#include "meshflow/session/session.h"

using namespace mf;

namespace {

graph::Plan plan_of(const std::string &yaml) {
  manifest::Manifest m;
  Diagnostics d = manifest::load_string(yaml, "test.yaml", {}, m);
  EXPECT_TRUE(d.ok()) << d.format();
  graph::Registry reg;
  graph::Plan plan;
  d = graph::compile(m, reg, plan);
  EXPECT_TRUE(d.ok()) << d.format();
  return plan;
}

// Runs a session on a private main context until EOS or error; returns the error (code "" if EOS).
Error run_session(const graph::Plan &plan, guint64 *buffers = nullptr, const char *count_sink = nullptr) {
  GMainContext *ctx = g_main_context_new();
  g_main_context_push_thread_default(ctx);
  Diagnostics d;
  auto s = session::Session::create(plan, {}, d);
  EXPECT_TRUE(s) << d.format();
  Error result;
  bool done = false;
  if (s) {
    s->on_eos = [&] { done = true; };
    s->on_error = [&](const Error &e) {
      result = e;
      done = true;
    };
    if (!s->start(d)) {
      result = d.errors.front();
      done = true;
    }
    gint64 deadline = g_get_monotonic_time() + 30 * G_TIME_SPAN_SECOND;
    while (!done && g_get_monotonic_time() < deadline) g_main_context_iteration(ctx, TRUE);
    EXPECT_TRUE(done) << "no EOS or error within 30 s";
    if (buffers && count_sink) {
      GstElement *sink = s->graph().element(count_sink);
      GstSample *last = nullptr;
      g_object_get(sink, "last-sample", &last, nullptr);
      *buffers = last ? 1 : 0;
      if (last) gst_sample_unref(last);
    }
    s.reset();
  }
  g_main_context_pop_thread_default(ctx);
  g_main_context_unref(ctx);
  return result;
}

TEST(Builder, ElementsAreNamedByNodeIdAndRunToEos) {
  auto plan = plan_of(
      "version: 1\nnodes:\n"
      "  - {id: cam, type: videotestsrc, properties: {num-buffers: 5}}\n"
      "  - {id: blur, type: blur, properties: {sigma: 2}}\n"
      "  - {id: out, type: fakesink}\n"
      "links:\n  - {from: cam, to: blur, caps: \"video/x-raw,format=AYUV,width=64,height=48\"}\n"
      "  - {from: blur, to: out}\n");
  GstElement *pipe = gst_pipeline_new("p");
  graph::Graph g;
  Diagnostics d = g.build(plan, GST_BIN(pipe));
  ASSERT_TRUE(d.ok()) << d.format();
  for (const char *name : {"cam", "blur", "out"}) {
    GstElement *e = gst_bin_get_by_name(GST_BIN(pipe), name);
    EXPECT_NE(e, nullptr) << name;
    if (e) gst_object_unref(e);
  }
  // AYUV is not a blur format: a converter was inserted after the capsfilter, named for the node.
  EXPECT_NE(g.element("blur_convert"), nullptr);
  g.remove();
  gst_object_unref(pipe);

  Error e = run_session(plan);
  EXPECT_EQ(e.code, "") << e.format();
}

TEST(Builder, BusErrorsNameTheNodeAndItsManifestLocation) {
  auto plan = plan_of(
      "version: 1\nnodes:\n"
      "  - {id: tone, type: audiotestsrc, properties: {num-buffers: 5}}\n"
      "  - id: out\n    type: filesink\n    properties: {location: /nonexistent-dir/x.raw}\n"
      "links:\n  - {from: tone, to: out}\n");
  Error e = run_session(plan);
  EXPECT_EQ(e.node, "out");
  EXPECT_EQ(e.loc.file, "test.yaml");
  EXPECT_EQ(e.loc.line, 4);
  EXPECT_NE(e.format().find("/nonexistent-dir/x.raw"), std::string::npos) << e.format();
}

TEST(Builder, SometimesPadsAreLinkedWhenTheyAppear) {
  auto plan = plan_of(
      "version: 1\nnodes:\n"
      "  - {id: tone, type: audiotestsrc, properties: {num-buffers: 10}}\n"
      "  - {id: wav, type: wavenc}\n  - {id: parse, type: decodebin}\n"
      "  - {id: out, type: fakesink}\n"
      "links:\n  - {from: tone, to: wav}\n  - {from: wav, to: parse}\n  - {from: parse, to: out}\n");
  guint64 got = 0;
  Error e = run_session(plan, &got, "out");
  EXPECT_EQ(e.code, "") << e.format();
  EXPECT_EQ(got, 1u) << "the sink saw no buffer: the sometimes pad was not linked";
}

TEST(Builder, FragmentNodeRuns) {
  auto plan = plan_of(
      "version: 1\nnodes:\n"
      "  - {id: cam, type: videotestsrc, properties: {num-buffers: 3}}\n"
      "  - {id: rot, type: gst, pipeline: \"videoconvert ! videoflip method=clockwise\"}\n"
      "  - {id: out, type: fakesink}\n"
      "links:\n  - {from: cam, to: rot}\n  - {from: rot, to: out}\n");
  Error e = run_session(plan);
  EXPECT_EQ(e.code, "") << e.format();
}

// The per-peer design: a chain is added to a PLAYING pipeline under a suffix and removed again,
// while the rest keeps running.
TEST(Builder, ChainAddedAndRemovedWhilePlaying) {
  auto base = plan_of(
      "version: 1\nnodes:\n  - {id: tick, type: audiotestsrc, properties: {is-live: true}}\n"
      "  - {id: out, type: fakesink, properties: {sync: true}}\nlinks:\n  - {from: tick, to: out}\n");
  auto chain = plan_of(
      "version: 1\nnodes:\n  - {id: cam, type: videotestsrc, properties: {is-live: true}}\n"
      "  - {id: blur, type: blur, properties: {sigma: 1}}\n"
      // A sink added to a PLAYING live pipeline must not preroll (async) or the pipeline loses
      // its state waiting for a preroll that live sources never give in PAUSED.
      "  - {id: out, type: fakesink, properties: {async: false}}\nlinks:\n"
      "  - {from: cam, to: blur, caps: \"video/x-raw,width=32,height=32\"}\n  - {from: blur, to: out}\n");
  GstElement *pipe = gst_pipeline_new("p");
  graph::Graph g;
  ASSERT_TRUE(g.build(base, GST_BIN(pipe)).ok());
  ASSERT_NE(gst_element_set_state(pipe, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ASSERT_EQ(gst_element_get_state(pipe, nullptr, nullptr, 10 * GST_SECOND), GST_STATE_CHANGE_SUCCESS);
  for (int round = 0; round < 5; round++) {
    graph::Graph peer;
    Diagnostics d = peer.build(chain, GST_BIN(pipe), "/peer" + std::to_string(round), true);
    ASSERT_TRUE(d.ok()) << d.format();
    GstElement *out = peer.element("out");
    ASSERT_NE(out, nullptr);
    EXPECT_STREQ(GST_OBJECT_NAME(out), ("out/peer" + std::to_string(round)).c_str());
    // Wait until the chain's sink has rendered something.
    GstSample *sample = nullptr;
    for (int i = 0; i < 200 && !sample; i++) {
      g_usleep(10000);
      g_object_get(out, "last-sample", &sample, nullptr);
    }
    EXPECT_NE(sample, nullptr) << "chain did not flow in round " << round;
    if (sample) gst_sample_unref(sample);
    peer.remove();
    EXPECT_EQ(gst_bin_get_by_name(GST_BIN(pipe), ("out/peer" + std::to_string(round)).c_str()), nullptr);
  }
  GstState state;
  gst_element_get_state(pipe, &state, nullptr, GST_SECOND);
  EXPECT_EQ(state, GST_STATE_PLAYING);
  gst_element_set_state(pipe, GST_STATE_NULL);
  g.remove();
  gst_object_unref(pipe);
}

}  // namespace

// A link's route reaches the sink's request pad for shared streams too (not only per-peer chains):
// the pad is requested and given the route before it is linked (webrtc_sink / websocket_sink
// route a stream from the moment its pad is linked). `route: origin` from a shared stream is
// valid: such a pad follows its stream's meshflow-peer-id tag.
TEST(Builder, SharedLinksSetTheRouteOnTheSinkPadBeforeLinking) {
  auto plan = plan_of(
      "version: 1\nnodes:\n"
      "  - {id: a, type: audiotestsrc}\n"
      "  - {id: b, type: audiotestsrc}\n"
      "  - {id: c, type: audiotestsrc}\n"
      "  - {id: out, type: websocket_sink}\n"
      "links:\n  - {from: a, to: out, route: origin}\n"
      "  - {from: b, to: out, route: \"peer:bob\"}\n"
      "  - {from: c, to: out}\n");
  GstElement *pipe = gst_pipeline_new("p");
  graph::Graph g;
  Diagnostics d = g.build(plan, GST_BIN(pipe));
  ASSERT_TRUE(d.ok()) << d.format();
  std::multiset<std::string> routes;
  GstIterator *it = gst_element_iterate_sink_pads(g.element("out"));
  GValue v = G_VALUE_INIT;
  while (gst_iterator_next(it, &v) == GST_ITERATOR_OK) {
    auto *pad = GST_PAD(g_value_get_object(&v));
    EXPECT_TRUE(gst_pad_is_linked(pad)) << GST_PAD_NAME(pad);
    gchar *route = nullptr;
    g_object_get(pad, "route", &route, nullptr);
    routes.insert(route ? route : "");
    g_free(route);
    g_value_reset(&v);
  }
  g_value_unset(&v);
  gst_iterator_free(it);
  EXPECT_EQ(routes, (std::multiset<std::string>{"broadcast", "origin", "peer:bob"}));
  g.remove();
  gst_object_unref(pipe);
}
