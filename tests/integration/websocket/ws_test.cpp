// The WebSocket media transport end to end: meshflow-launch (a real process on port 0) serving
// manifests/ws-echo*.yaml, and a foreign client written with Node's `ws` package
// (ws_client.mjs) sending PCM16 with bursty, jittered timing, bad frames and floods.
// Checks are counts and contents, never times.
#include <gtest/gtest.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include <string>

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
std::string script() { return env_path("MESHFLOW_SOURCE_ROOT") + "/tests/integration/websocket/ws_client.mjs"; }
std::string manifest(const char *name) { return env_path("MESHFLOW_TEST_MANIFESTS") + "/" + name; }

struct Json {
  JsonParser *p = json_parser_new();
  JsonObject *o = nullptr;
  explicit Json(const std::string &text) {
    if (json_parser_load_from_data(p, text.c_str(), -1, nullptr) && json_parser_get_root(p) &&
        JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
      o = json_node_get_object(json_parser_get_root(p));
  }
  ~Json() { g_object_unref(p); }
  int64_t i(const char *k) const { return o && json_object_has_member(o, k) ? json_object_get_int_member(o, k) : -1; }
  bool b(const char *k) const { return o && json_object_has_member(o, k) && json_object_get_boolean_member(o, k); }
  std::string s(const char *k) const {
    JsonNode *n = o ? json_object_get_member(o, k) : nullptr;
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING ? json_node_get_string(n) : "";
  }
};

// A launcher on 127.0.0.1:0 running `m`, with its port.
struct Launcher {
  Background proc;
  int port = 0;
  Launcher(const std::string &m, std::vector<std::string> extra = {})
      : proc([&] {
          std::vector<std::string> a{env_path("MESHFLOW_LAUNCH"), "--listen", "127.0.0.1:0"};
          a.insert(a.end(), extra.begin(), extra.end());
          a.push_back(m);
          return a;
        }()) {
    port = port_from_line(proc.wait_for_stderr("signalling on"));
    proc.wait_for_stderr("running");
  }
  std::string url(const std::string &room = "ws-echo") const {
    return "ws://127.0.0.1:" + std::to_string(port) + "/ws?room=" + room;
  }
  std::string metrics() const {
    SoupSession *s = soup_session_new();
    SoupMessage *msg = soup_message_new("GET", ("http://127.0.0.1:" + std::to_string(port) + "/metrics").c_str());
    GBytes *b = soup_session_send_and_read(s, msg, nullptr, nullptr);
    std::string out;
    if (b) {
      gsize n = 0;
      auto *d = static_cast<const char *>(g_bytes_get_data(b, &n));
      out.assign(d ? d : "", n);
      g_bytes_unref(b);
    }
    g_object_unref(msg);
    g_object_unref(s);
    return out;
  }
  double metric(const std::string &series) const {
    std::string text = metrics();
    auto pos = text.find("\n" + series + " ");
    if (pos == std::string::npos) return 0;
    return std::stod(text.substr(pos + series.size() + 2));
  }
};

std::string client(const std::vector<std::string> &args, int timeout_s = 120) {
  std::vector<std::string> a{node(), script()};
  a.insert(a.end(), args.begin(), args.end());
  auto r = run_process(a, {}, timeout_s);
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
  return r.out;
}

#define REQUIRE_NODE()                                                                  \
  if (node().empty() || !have_ws()) GTEST_SKIP() << "node or node_modules/ws missing: ./dev setup"

}  // namespace

TEST(WebSocketTransport, BurstyEchoComesBackSampleExact) {
  REQUIRE_NODE();
  Launcher l(manifest("ws-echo-direct.yaml"));
  ASSERT_GT(l.port, 0) << l.proc.stderr_text();
  Json r(client({"echo", "--url", l.url(), "--frames", "150", "--burst", "--seed", "7"}));
  ASSERT_TRUE(r.o);
  EXPECT_TRUE(r.b("connected"));
  EXPECT_EQ(r.i("received_samples"), 150 * 960);
  EXPECT_EQ(r.i("exact_from"), 0);
  EXPECT_EQ(r.i("exact_samples"), 150 * 960);  // every sample, in order
  EXPECT_EQ(r.i("received_frames"), 150);
  EXPECT_TRUE(r.b("seq_contiguous"));
  JsonArray *starts = json_object_get_array_member(r.o, "stream_starts");
  ASSERT_EQ(json_array_get_length(starts), 1u);  // one stream.start, before the frames
  EXPECT_EQ(json_object_get_int_member(json_array_get_object_element(starts, 0), "stream_id"), 1);
  EXPECT_EQ(json_array_get_length(json_object_get_array_member(r.o, "errors")), 0u);
  EXPECT_GE(l.metric("meshflow_ws_frames_received_total"), 150);
}

TEST(WebSocketTransport, BurstyEchoThroughJitterSync) {
  REQUIRE_NODE();
  Launcher l(manifest("ws-echo.yaml"));
  ASSERT_GT(l.port, 0) << l.proc.stderr_text();
  Json r(client({"echo", "--url", l.url(), "--frames", "150", "--burst", "--seed", "3"}));
  ASSERT_TRUE(r.o);
  // jitter_sync plays continuously (10 ms chunks, silence after the end); the audio sent comes
  // back: as many non-silent samples as were sent, give or take concealment and drift
  // correction (at most 1 % + 20 ms of fade).
  int64_t sent = 150 * 960, nonzero = r.i("nonzero_samples");
  EXPECT_GE(nonzero, sent * 97 / 100);
  EXPECT_LE(nonzero, sent * 101 / 100 + 960);
  EXPECT_GE(r.i("received_samples"), sent);
  EXPECT_TRUE(r.b("seq_contiguous"));
  EXPECT_EQ(json_array_get_length(json_object_get_array_member(r.o, "errors")), 0u);
}

TEST(WebSocketTransport, BadFramesGetAnErrorAndACounterAndHarmNobody) {
  REQUIRE_NODE();
  Launcher l(manifest("ws-echo-direct.yaml"));
  ASSERT_GT(l.port, 0);
  Json r(client({"bad", "--url", l.url()}));
  ASSERT_TRUE(r.o);
  JsonArray *cases = json_object_get_array_member(r.o, "cases");
  ASSERT_EQ(json_array_get_length(cases), 11u);
  for (guint k = 0; k < json_array_get_length(cases); k++) {
    JsonObject *c = json_array_get_object_element(cases, k);
    const char *got = json_object_get_null_member(c, "got") ? "(none)" : json_object_get_string_member(c, "got");
    EXPECT_STREQ(got, json_object_get_string_member(c, "expected")) << json_object_get_string_member(c, "name");
    if (!json_object_get_null_member(c, "message")) {
      EXPECT_GT(strlen(json_object_get_string_member(c, "message")), 10u);  // says what and where
    }
  }
  EXPECT_TRUE(r.b("still_open"));  // bad frames are dropped, the connection kept
  ASSERT_TRUE(json_object_has_member(r.o, "pong") && !json_object_get_null_member(r.o, "pong"));
  EXPECT_EQ(r.i("good_exact_samples"), r.i("good_sent_samples"));  // the other peer: all its audio
  EXPECT_NE(r.i("oversize_close_code"), -1);                        // over 64 KiB: closed
  EXPECT_GE(l.metric("meshflow_ws_errors_total{code=\"bad_frame\"}"), 3);
  EXPECT_GE(l.metric("meshflow_ws_errors_total{code=\"unknown_stream\"}"), 2);
  EXPECT_GE(l.metric("meshflow_ws_errors_total{code=\"too_large\"}"), 3);
  EXPECT_GE(l.metric("meshflow_ws_errors_total{code=\"bad_json\"}"), 2);
  EXPECT_GE(l.metric("meshflow_ws_errors_total{code=\"unknown_type\"}"), 1);
  EXPECT_GE(l.metric("meshflow_ws_errors_total{code=\"bad_message\"}"), 1);
}

TEST(WebSocketTransport, MessageFloodIsRateLimitedThenClosed) {
  REQUIRE_NODE();
  Launcher l(manifest("ws-echo-direct.yaml"));
  ASSERT_GT(l.port, 0);
  Json r(client({"flood", "--url", l.url(), "--count", "4000"}));
  ASSERT_TRUE(r.o);
  EXPECT_GE(r.i("rate_limited_errors"), 1);
  EXPECT_LT(r.i("pongs"), 4000);                 // not everything was served
  EXPECT_EQ(r.i("close_code"), 4429);            // a sustained flood ends the connection
  EXPECT_EQ(r.s("disconnecting"), "message flood");
  EXPECT_EQ(r.i("good_exact_samples"), r.i("good_sent_samples"));
  EXPECT_GE(l.metric("meshflow_ws_errors_total{code=\"rate_limited\"}"), 2000);
}

TEST(WebSocketTransport, SlowReaderHasABoundedQueue) {
  REQUIRE_NODE();
  Launcher l(manifest("ws-echo-direct.yaml"),
             {"--set", "ws_in.byte-rate=20000000", "--set", "ws_out.byte-rate=20000000", "--set",
              "ws_in.max-queue-bytes=200000", "--set", "ws_out.max-queue-bytes=200000"});
  ASSERT_GT(l.port, 0) << l.proc.stderr_text();
  Json r(client({"slow", "--url", l.url(), "--frames", "300"}));
  ASSERT_TRUE(r.o);
  EXPECT_GT(l.metric("meshflow_ws_outbound_dropped_total"), 0);  // oldest media dropped, counted
  EXPECT_LT(r.i("received_frames"), r.i("sent_frames"));
  EXPECT_EQ(r.i("other_received_samples"), r.i("other_sent_samples"));  // others unaffected
}

TEST(WebSocketTransport, UnknownRoomIsClosed4404) {
  REQUIRE_NODE();
  Launcher l(manifest("ws-echo-direct.yaml"));
  Json r(client({"echo", "--url", l.url("no-such-room"), "--frames", "1"}));
  ASSERT_TRUE(r.o);
  EXPECT_FALSE(r.b("connected"));
  EXPECT_EQ(r.i("closeCode"), 4404);
  EXPECT_GE(l.metric("meshflow_ws_connections_total{result=\"no_room\"}"), 1);
}

TEST(WebSocketTransport, SilentPeerIsClosedAfterThreeHeartbeats) {
  REQUIRE_NODE();
  Launcher l(manifest("ws-echo-direct.yaml"),
             {"--set", "ws_in.heartbeat-ms=200", "--set", "ws_out.heartbeat-ms=200"});
  Json r(client({"silent", "--url", l.url()}));
  ASSERT_TRUE(r.o);
  EXPECT_TRUE(r.b("connected"));
  EXPECT_EQ(r.i("heartbeat_ms"), 200);
  EXPECT_EQ(r.i("close_code"), 4408);
  EXPECT_EQ(r.s("disconnecting"), "heartbeat timeout");  // status: disconnecting came first
  EXPECT_GE(l.metric("meshflow_ws_errors_total{code=\"heartbeat_timeout\"}"), 1);
}

TEST(WebSocketTransport, EndlessFragmentedMessageIsCutAtTheBudget) {
  REQUIRE_NODE();
  Launcher l(manifest("ws-echo-direct.yaml"));
  double before = l.metric("meshflow_ws_errors_total{code=\"too_large\"}");
  Json r(client({"fragments", "--url", l.url()}));
  ASSERT_TRUE(r.o);
  EXPECT_LT(r.i("sent"), 8 * 1024 * 1024);  // not everything was taken
  EXPECT_EQ(r.i("close_code"), 1009);
  EXPECT_GE(l.metric("meshflow_ws_errors_total{code=\"too_large\"}"), before + 1);
}
