// websocket_source / websocket_sink as GStreamer elements in this process: transcripts from a
// text pad to a Node `ws` client, a `route: origin` pad without origin peer following its
// stream's meshflow-peer-id tag, client mode (`url`) against a real meshflow-launch, and client
// mode's reconnect with backoff against a closed port.
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <json-glib/json-glib.h>

#include <string>

#include "meshflow/metrics/registry.h"
#include "meshflow/signalling/server.h"
#include "meshflow/transport/ws_endpoint.h"
#include "process.h"

using namespace mf::test;

namespace {

std::string node() {
  const char *n = g_getenv("MESHFLOW_NODE");
  return n ? n : "";
}
bool have_ws() {
  return g_file_test((env_path("MESHFLOW_SOURCE_ROOT") + "/node_modules/ws/package.json").c_str(),
                     G_FILE_TEST_EXISTS);
}
#define REQUIRE_NODE()                                                                  \
  if (node().empty() || !have_ws()) GTEST_SKIP() << "node or node_modules/ws missing: ./dev setup"

// One in-process HTTP server with /ws for the whole binary.
mf::signalling::Server &server() {
  static mf::signalling::Server *s = [] {
    auto *srv = new mf::signalling::Server(mf::signalling::ServerConfig{});
    std::string err;
    EXPECT_TRUE(srv->listen("127.0.0.1", 0, &err)) << err;
    mf::transport::WsEndpoint::global().attach(srv->soup_server());
    return srv;
  }();
  return *s;
}

// Iterate the default context (the server's handshakes) until `pred` or ~30 s.
template <class P>
bool spin_until(P pred) {
  for (int i = 0; i < 15000 && !pred(); i++) {
    g_main_context_iteration(nullptr, FALSE);
    g_usleep(2000);
  }
  return pred();
}

double counter(const char *name) { return mf::metrics::Registry::global().value(name); }

}  // namespace

TEST(WebSocketElements, TranscriptsFromATextPadReachThePeer) {
  REQUIRE_NODE();
  unsigned port = server().port();
  GError *err = nullptr;
  GstElement *pipe = gst_parse_launch(
      "appsrc name=src is-live=true format=time caps=text/x-raw,format=utf8 ! mfwssink.text_0 "
      "mfwssink name=mfwssink room=tx",
      &err);
  ASSERT_TRUE(pipe) << (err ? err->message : "");
  ASSERT_NE(gst_element_set_state(pipe, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/ws?room=tx";
  // Every string the argv points into lives until the subprocess is made.
  const std::string node_bin = node();
  const std::string script = env_path("MESHFLOW_SOURCE_ROOT") + "/tests/integration/websocket/ws_client.mjs";
  const char *argv[] = {node_bin.c_str(), script.c_str(), "listen", "--url", url.c_str(), "--ms", "1500", nullptr};
  GSubprocess *p = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &err);
  ASSERT_TRUE(p);
  size_t before = mf::transport::WsEndpoint::global().connection_count();
  ASSERT_TRUE(spin_until([&] { return mf::transport::WsEndpoint::global().connection_count() > before; }));
  g_usleep(100000);
  GstElement *src = gst_bin_get_by_name(GST_BIN(pipe), "src");
  for (const char *t : {R"({"text":"hello there","speaker":"assistant","is_final":false,"confidence":0.5})",
                        "plain words", "{not json"}) {
    GstBuffer *b = gst_buffer_new_memdup(t, strlen(t));
    ASSERT_EQ(gst_app_src_push_buffer(GST_APP_SRC(src), b), GST_FLOW_OK);
  }
  gst_object_unref(src);
  bool exited = false;
  gchar *out = nullptr;
  g_subprocess_communicate_utf8_async(p, nullptr, nullptr, +[](GObject *o, GAsyncResult *r, gpointer d) {
    auto *pair = static_cast<std::pair<bool *, gchar **> *>(d);
    g_subprocess_communicate_utf8_finish(G_SUBPROCESS(o), r, pair->second, nullptr, nullptr);
    *pair->first = true;
  }, new std::pair<bool *, gchar **>(&exited, &out));
  ASSERT_TRUE(spin_until([&] { return exited; }));
  std::string text = out ? out : "";
  g_free(out);
  g_object_unref(p);
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(pipe);
  EXPECT_NE(text.find(R"("type":"transcript","text":"hello there","speaker":"assistant","is_final":false,"confidence":0.5)"),
            std::string::npos) << text;
  EXPECT_NE(text.find(R"("text":"plain words","speaker":"","is_final":true)"), std::string::npos) << text;
  EXPECT_EQ(text.find("not json"), std::string::npos);  // the bad one was dropped
  EXPECT_GE(mf::metrics::Registry::global().value("meshflow_ws_errors_total", {{"code", "bad_transcript"}}), 1);
}

TEST(WebSocketElements, ClientModeSendsAndReceivesThroughALauncher) {
  Background launcher({env_path("MESHFLOW_LAUNCH"), "--listen", "127.0.0.1:0",
                       env_path("MESHFLOW_TEST_MANIFESTS") + "/ws-echo-direct.yaml"});
  int port = port_from_line(launcher.wait_for_stderr("signalling on"));
  ASSERT_GT(port, 0);
  launcher.wait_for_stderr("running");
  std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/ws";
  // 100 buffers of 20 ms to the launcher, which sends them back (route origin) to this client:
  // the source's pad for the remote end is audio_remote.
  std::string line =
      "audiotestsrc is-live=true num-buffers=100 samplesperbuffer=960 wave=sine ! "
      "audio/x-raw,format=S16LE,rate=48000,channels=1,layout=interleaved ! mfwssink name=out url=" + url +
      " room=ws-echo   mfwssrc name=in url=" + url + " room=ws-echo";
  GError *err = nullptr;
  GstElement *pipe = gst_parse_launch(line.c_str(), &err);
  ASSERT_TRUE(pipe) << (err ? err->message : "");
  GstElement *sink = gst_element_factory_make("appsink", "got");
  g_object_set(sink, "sync", FALSE, "emit-signals", FALSE, nullptr);
  gst_bin_add(GST_BIN(pipe), sink);
  GstElement *in = gst_bin_get_by_name(GST_BIN(pipe), "in");
  g_signal_connect(in, "pad-added", G_CALLBACK(+[](GstElement *, GstPad *pad, gpointer s) {
    GstPad *sp = gst_element_get_static_pad(GST_ELEMENT(s), "sink");
    EXPECT_STREQ(GST_PAD_NAME(pad), "audio_remote");
    gst_pad_link(pad, sp);
    gst_object_unref(sp);
  }), sink);
  gst_object_unref(in);
  ASSERT_NE(gst_element_set_state(pipe, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  size_t samples = 0;
  int silent_for = 0;
  while (samples < 96000 && silent_for < 100) {  // until all came back, or 10 s of nothing
    GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 100 * GST_MSECOND);
    if (!s) {
      silent_for++;
      continue;
    }
    silent_for = 0;
    samples += gst_buffer_get_size(gst_sample_get_buffer(s)) / 2;
    gst_sample_unref(s);
  }
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(pipe);
  // The first frames may be sent before the launcher has our stream's chain; everything after
  // comes back. At least 90 % and never more than was sent.
  EXPECT_GE(samples, 96000u * 9 / 10);
  EXPECT_LE(samples, 96000u);
}

TEST(WebSocketElements, ClientModeReconnectsWithBackoff) {
  // A port nobody listens on: connecting fails, the client retries after ~1 s, then ~2 s.
  GSocket *s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, nullptr);
  GInetAddress *lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  GSocketAddress *sa = g_inet_socket_address_new(lo, 0);
  ASSERT_TRUE(g_socket_bind(s, sa, TRUE, nullptr));
  GSocketAddress *bound = g_socket_get_local_address(s, nullptr);
  unsigned port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  g_object_unref(bound);
  g_object_unref(sa);
  g_object_unref(lo);
  g_object_unref(s);  // closed: connections are refused
  double before = counter("meshflow_ws_client_reconnects_total");
  std::string line = "mfwssrc url=ws://127.0.0.1:" + std::to_string(port) + "/ws room=x ! fakesink";
  GstElement *pipe = gst_parse_launch(line.c_str(), nullptr);
  ASSERT_TRUE(pipe);
  ASSERT_NE(gst_element_set_state(pipe, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  EXPECT_TRUE(spin_until([&] { return counter("meshflow_ws_client_reconnects_total") >= before + 2; }));
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(pipe);
  EXPECT_GE(mf::metrics::Registry::global().value("meshflow_ws_connections_total", {{"result", "client_failed"}}), 2);
}

// A text pad with route origin and no origin-peer (llm_bridge reply-to=speaker's transcripts)
// follows its stream's meshflow-peer-id tag: before any tag both peers get the event; after a tag
// naming alice only alice, then only bob.
TEST(WebSocketElements, RouteOriginWithoutOriginPeerFollowsTheStreamTag) {
  REQUIRE_NODE();
  unsigned port = server().port();
  GstElement *sink = gst_element_factory_make("mfwssink", nullptr);
  ASSERT_TRUE(sink);
  g_object_set(sink, "room", "follow", nullptr);
  GstHarness *h = gst_harness_new_with_element(sink, "text_%u", nullptr);  // requests text_0
  gst_object_unref(sink);
  gst_harness_set_src_caps_str(h, "text/x-raw,format=utf8");
  GstPad *pad = gst_pad_get_peer(h->srcpad);
  ASSERT_TRUE(pad);
  g_object_set(pad, "route", "origin", nullptr);
  gst_object_unref(pad);

  const std::string node_bin = node();
  const std::string script = env_path("MESHFLOW_SOURCE_ROOT") + "/tests/integration/websocket/ws_client.mjs";
  size_t before = mf::transport::WsEndpoint::global().connection_count();
  struct Client {
    GSubprocess *p = nullptr;
    bool exited = false;
    gchar *out = nullptr;
  } clients[2];
  const char *ids[2] = {"alice", "bob"};
  for (int i = 0; i < 2; i++) {
    std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/ws?room=follow&peer_id=" + ids[i];
    const char *argv[] = {node_bin.c_str(), script.c_str(), "listen", "--url", url.c_str(), "--ms", "2000", nullptr};
    GError *err = nullptr;
    clients[i].p = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &err);
    ASSERT_TRUE(clients[i].p) << (err ? err->message : "");
  }
  ASSERT_TRUE(spin_until([&] { return mf::transport::WsEndpoint::global().connection_count() >= before + 2; }));
  g_usleep(200000);
  auto tag = [&](const char *peer) {
    GstTagList *tags = gst_tag_list_new_empty();
    gst_tag_list_add(tags, GST_TAG_MERGE_REPLACE, "meshflow-peer-id", peer, nullptr);
    gst_tag_list_set_scope(tags, GST_TAG_SCOPE_STREAM);
    ASSERT_TRUE(gst_harness_push_event(h, gst_event_new_tag(tags)));
  };
  auto say = [&](const char *text) {
    ASSERT_EQ(gst_harness_push(h, gst_buffer_new_memdup(text, strlen(text))), GST_FLOW_OK);
  };
  say("for everyone");
  tag("alice");
  say("for alice");
  tag("bob");
  say("for bob");
  for (auto &c : clients)
    g_subprocess_communicate_utf8_async(c.p, nullptr, nullptr, +[](GObject *o, GAsyncResult *r, gpointer d) {
      auto *c = static_cast<Client *>(d);
      g_subprocess_communicate_utf8_finish(G_SUBPROCESS(o), r, &c->out, nullptr, nullptr);
      c->exited = true;
    }, &c);
  ASSERT_TRUE(spin_until([&] { return clients[0].exited && clients[1].exited; }));
  gst_harness_teardown(h);
  std::string alice = clients[0].out ? clients[0].out : "", bob = clients[1].out ? clients[1].out : "";
  for (auto &c : clients) {
    g_free(c.out);
    g_object_unref(c.p);
  }
  EXPECT_NE(alice.find("for everyone"), std::string::npos) << alice;
  EXPECT_NE(bob.find("for everyone"), std::string::npos) << bob;
  EXPECT_NE(alice.find("for alice"), std::string::npos) << alice;
  EXPECT_EQ(alice.find("for bob"), std::string::npos) << alice;
  EXPECT_NE(bob.find("for bob"), std::string::npos) << bob;
  EXPECT_EQ(bob.find("for alice"), std::string::npos) << bob;
}
