// Self-tests of the mock realtime server (tests/fixtures/mock_realtime) with a plain libsoup
// WebSocket client: the handshake checks, a full turn (server VAD -> response with the known tone
// and a transcript), cancel/truncate recording, and every scripted fault. The bridge tests rely on
// exactly these behaviours.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "harness.h"

namespace mf::test {
namespace {

constexpr int kRate = 24000;

// A libsoup WebSocket client on a private main context iterated by the test thread.
class Client {
 public:
  Client(const std::string &url, const char *key = "sk-test-123", bool beta = true) {
    ctx_ = g_main_context_new();
    g_main_context_push_thread_default(ctx_);
    session_ = soup_session_new();
    SoupMessage *msg = soup_message_new("GET", url.c_str());
    if (key) soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization", (std::string("Bearer ") + key).c_str());
    if (beta) soup_message_headers_replace(soup_message_get_request_headers(msg), "OpenAI-Beta", "realtime=v1");
    soup_session_websocket_connect_async(session_, msg, nullptr, nullptr, G_PRIORITY_DEFAULT, nullptr, on_connected, this);
    msg_ = msg;
    wait_until([this] { return done_; }, std::chrono::seconds(10), ctx_);
  }
  ~Client() {
    if (ws_) {
      if (soup_websocket_connection_get_state(ws_) == SOUP_WEBSOCKET_STATE_OPEN) soup_websocket_connection_close(ws_, 1000, nullptr);
      wait_until([this] { return soup_websocket_connection_get_state(ws_) == SOUP_WEBSOCKET_STATE_CLOSED; },
                 std::chrono::seconds(3), ctx_);
      g_object_unref(ws_);
    }
    g_object_unref(msg_);
    g_object_unref(session_);
    g_main_context_pop_thread_default(ctx_);
    while (g_main_context_iteration(ctx_, FALSE)) {
    }
    g_main_context_unref(ctx_);
  }
  bool open() const { return ws_ && soup_websocket_connection_get_state(ws_) == SOUP_WEBSOCKET_STATE_OPEN; }
  guint status() const { return soup_message_get_status(msg_); }
  std::string response_header(const char *name) const {
    const char *v = soup_message_headers_get_one(soup_message_get_response_headers(msg_), name);
    return v ? v : "";
  }
  void send(const std::string &type, const std::function<void(JsonObject *)> &fill = {}) {
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "type", type.c_str());
    if (fill) fill(o);
    JsonNode *n = json_node_init_object(json_node_alloc(), o);
    gchar *s = json_to_string(n, FALSE);
    soup_websocket_connection_send_text(ws_, s);
    g_free(s);
    json_node_unref(n);
    json_object_unref(o);
  }
  void append(const std::vector<int16_t> &pcm) {
    gchar *b64 = g_base64_encode(reinterpret_cast<const guchar *>(pcm.data()), pcm.size() * 2);
    std::string s = b64;
    g_free(b64);
    send("input_audio_buffer.append", [&](JsonObject *o) { json_object_set_string_member(o, "audio", s.c_str()); });
  }
  /// Waits for an event of `type` (counting from the start); returns its index or -1.
  int wait_event(const std::string &type, size_t nth = 1, int timeout_ms = 10000) {
    int found = -1;
    wait_until([&] {
      size_t k = 0;
      for (size_t i = 0; i < types_.size(); ++i)
        if (types_[i] == type && ++k == nth) {
          found = int(i);
          return true;
        }
      return false;
    }, std::chrono::milliseconds(timeout_ms), ctx_);
    return found;
  }
  bool wait_closed() { return wait_until([this] { return closed_; }, std::chrono::seconds(10), ctx_); }
  void pump(int ms) { wait_until([] { return false; }, std::chrono::milliseconds(ms), ctx_); }
  std::vector<std::string> types_;
  std::vector<std::shared_ptr<JsonObject>> events_;
  std::vector<int16_t> audio_;
  bool closed_ = false;

 private:
  static void on_connected(GObject *src, GAsyncResult *res, gpointer self) {
    auto *c = static_cast<Client *>(self);
    c->ws_ = soup_session_websocket_connect_finish(SOUP_SESSION(src), res, nullptr);
    c->done_ = true;
    if (!c->ws_) return;
    soup_websocket_connection_set_max_incoming_payload_size(c->ws_, 0);
    g_signal_connect(c->ws_, "message", G_CALLBACK(on_message), c);
    g_signal_connect(c->ws_, "closed", G_CALLBACK(+[](SoupWebsocketConnection *, gpointer self) {
      static_cast<Client *>(self)->closed_ = true;
    }), c);
  }
  static void on_message(SoupWebsocketConnection *, gint, GBytes *msg, gpointer self) {
    auto *c = static_cast<Client *>(self);
    gsize n = 0;
    const char *d = static_cast<const char *>(g_bytes_get_data(msg, &n));
    JsonParser *p = json_parser_new();
    if (json_parser_load_from_data(p, d, gssize(n), nullptr) && JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
      JsonObject *o = json_object_ref(json_node_get_object(json_parser_get_root(p)));
      std::string type = json_object_get_string_member(o, "type");
      if (type == "response.audio.delta") {
        gsize len = 0;
        guchar *raw = g_base64_decode(json_object_get_string_member(o, "delta"), &len);
        const auto *s = reinterpret_cast<const int16_t *>(raw);
        c->audio_.insert(c->audio_.end(), s, s + len / 2);
        g_free(raw);
      }
      c->types_.push_back(type);
      c->events_.emplace_back(o, json_object_unref);
    } else {
      c->types_.push_back("<not json>");
      c->events_.emplace_back(nullptr);
    }
    g_object_unref(p);
  }

  GMainContext *ctx_ = nullptr;
  SoupSession *session_ = nullptr;
  SoupMessage *msg_ = nullptr;
  SoupWebsocketConnection *ws_ = nullptr;
  bool done_ = false;
};

// One user turn: `speech_ms` of a loud tone then `quiet_ms` of silence, in 20 ms appends.
void speak(Client &c, int speech_ms, int quiet_ms) {
  auto s = tone(kRate, speech_ms);
  auto q = silence(kRate, quiet_ms);
  s.insert(s.end(), q.begin(), q.end());
  const size_t step = kRate / 50;
  for (size_t i = 0; i < s.size(); i += step)
    c.append(std::vector<int16_t>(s.begin() + long(i), s.begin() + long(std::min(s.size(), i + step))));
}

TEST(MockRealtime, AnswersATurnWithTheToneAndATranscript) {
  MockServer srv({"--delay-ms", "100", "--answer-ms", "400", "--pace", "0", "--silence-ms", "200"});
  Client c(srv.url());
  ASSERT_TRUE(c.open()) << srv.stderr_text();
  ASSERT_GE(c.wait_event("session.created"), 0);
  c.send("session.update", [](JsonObject *o) { json_object_set_object_member(o, "session", json_object_new()); });
  ASSERT_GE(c.wait_event("session.updated"), 0);
  speak(c, 300, 300);
  int started = c.wait_event("input_audio_buffer.speech_started");
  int stopped = c.wait_event("input_audio_buffer.speech_stopped");
  ASSERT_GE(started, 0);
  ASSERT_GT(stopped, started);
  EXPECT_EQ(json_object_get_int_member(c.events_[size_t(started)].get(), "audio_start_ms"), 0);
  EXPECT_EQ(json_object_get_int_member(c.events_[size_t(stopped)].get(), "audio_end_ms"), 300);
  int done = c.wait_event("response.done");
  ASSERT_GT(done, stopped);
  EXPECT_STREQ(json_object_get_string_member(json_object_get_object_member(c.events_[size_t(done)].get(), "response"), "status"),
               "completed");
  ASSERT_GE(c.wait_event("response.audio_transcript.done"), 0);
  // 400 ms of the 440 Hz tone at 24 kHz, amplitude 12000: RMS 8485.
  ASSERT_EQ(c.audio_.size(), size_t(kRate * 400 / 1000));
  double sum = 0;
  for (int16_t v : c.audio_) sum += double(v) * v;
  EXPECT_NEAR(std::sqrt(sum / double(c.audio_.size())), 12000 / std::sqrt(2.0), 50);
  // The log has every client event, audio payload sizes instead of the audio.
  MockLog log = srv.log();
  EXPECT_EQ(log.handshakes, 1);
  EXPECT_EQ(log.count("in", "session.update"), 1u);
  auto appends = log.of("in", "input_audio_buffer.append");
  ASSERT_EQ(appends.size(), 30u);
  EXPECT_EQ(appends[0].get_int("audio_bytes"), kRate / 50 * 2);
  EXPECT_EQ(log.count("out", "mock.first_audio_delta"), 1u);
}

TEST(MockRealtime, ChecksTheHandshake) {
  MockServer srv({});
  {
    Client bad(srv.url(), "sk-wrong");
    EXPECT_FALSE(bad.open());
    EXPECT_EQ(bad.status(), 401u);
  }
  {
    Client nokey(srv.url(), nullptr);
    EXPECT_EQ(nokey.status(), 401u);
  }
  {
    Client nobeta(srv.url(), "sk-test-123", false);
    EXPECT_EQ(nobeta.status(), 400u);
  }
  MockLog log = srv.log();
  EXPECT_EQ(log.handshakes, 3);
  EXPECT_EQ(log.connections, 0);
  auto hs = log.of("handshake", "handshake");
  ASSERT_EQ(hs.size(), 3u);
  EXPECT_EQ(hs[0].get_string("auth"), "wrong");
  EXPECT_EQ(hs[1].get_string("auth"), "missing");
}

TEST(MockRealtime, RefusesTheFirstConnectionsAsScripted) {
  for (auto [mode, status] : std::vector<std::pair<std::string, guint>>{{"401", 401}, {"429", 429}, {"500", 500}}) {
    MockServer srv({"--mode", mode, "--faulty", "2", "--retry-after-s", "3"});
    {
      Client a(srv.url());
      EXPECT_EQ(a.status(), status) << mode;
      if (status == 429) {
        EXPECT_EQ(a.response_header("Retry-After"), "3");
      }
    }
    { Client b(srv.url()); EXPECT_EQ(b.status(), status) << mode; }
    Client c(srv.url());
    EXPECT_TRUE(c.open()) << mode;  // the third connection is not faulty
    EXPECT_GE(c.wait_event("session.created"), 0);
    EXPECT_EQ(srv.log().handshakes, 3);
  }
}

TEST(MockRealtime, StallsMidResponse) {
  MockServer srv({"--mode", "stall", "--delay-ms", "50", "--stall-after-chunks", "2"});
  Client c(srv.url());
  ASSERT_TRUE(c.open());
  speak(c, 200, 300);
  ASSERT_GE(c.wait_event("response.created"), 0);
  ASSERT_GE(c.wait_event("response.audio.delta", 2), 0);
  c.pump(800);  // far longer than the rest of the 1.5 s answer's first deltas would take
  EXPECT_EQ(c.wait_event("response.audio.delta", 3, 10), -1);
  EXPECT_EQ(c.wait_event("response.done", 1, 10), -1);
  EXPECT_TRUE(c.open());  // stalled, not closed
  c.send("response.cancel");
  // The server records it when it has read it: poll its log (bounded) instead of racing it.
  MockLog log = srv.log();
  for (int i = 0; i < 250 && log.count("in", "response.cancel") == 0; ++i) {
    c.pump(20);
    log = srv.log();
  }
  EXPECT_EQ(log.count("event", "mock.stall"), 1u);
  EXPECT_EQ(log.count("in", "response.cancel"), 1u);  // still reading and recording
}

TEST(MockRealtime, DisconnectsMidResponse) {
  MockServer srv({"--mode", "disconnect", "--delay-ms", "50"});
  Client c(srv.url());
  ASSERT_TRUE(c.open());
  speak(c, 200, 300);
  ASSERT_GE(c.wait_event("response.audio.delta", 2), 0);
  EXPECT_TRUE(c.wait_closed());
  EXPECT_EQ(c.wait_event("response.done", 1, 10), -1);
  EXPECT_EQ(srv.log().count("event", "mock.disconnect"), 1u);
}

TEST(MockRealtime, ErrorGarbageAndSilentModes) {
  {
    MockServer srv({"--mode", "error", "--delay-ms", "20", "--answer-ms", "100", "--pace", "0"});
    Client c(srv.url());
    speak(c, 200, 300);
    int err = c.wait_event("error");
    int done = c.wait_event("response.done");
    ASSERT_GE(err, 0);
    EXPECT_GT(done, err);  // the response still comes
  }
  {
    MockServer srv({"--mode", "garbage"});
    Client c(srv.url());
    EXPECT_GE(c.wait_event("<not json>"), 0);
    EXPECT_GE(c.wait_event("mock.unknown_event"), 0);
  }
  {
    MockServer srv({"--mode", "silent"});
    Client c(srv.url());
    ASSERT_TRUE(c.open());
    EXPECT_EQ(c.wait_event("session.created", 1, 500), -1);
  }
}

TEST(MockRealtime, BargeInCancelsAndRecordsTruncate) {
  MockServer srv({"--delay-ms", "50", "--answer-ms", "3000"});
  Client c(srv.url());
  speak(c, 200, 300);
  ASSERT_GE(c.wait_event("response.audio.delta", 3), 0);
  speak(c, 100, 0);  // the user talks over the answer
  int started = c.wait_event("input_audio_buffer.speech_started", 2);
  ASSERT_GE(started, 0);
  int done = c.wait_event("response.done");
  ASSERT_GE(done, 0);
  EXPECT_STREQ(json_object_get_string_member(json_object_get_object_member(c.events_[size_t(done)].get(), "response"), "status"),
               "cancelled");
  c.send("response.cancel");
  c.send("conversation.item.truncate", [](JsonObject *o) {
    json_object_set_string_member(o, "item_id", "item_mock_1");
    json_object_set_int_member(o, "content_index", 0);
    json_object_set_int_member(o, "audio_end_ms", 123);
  });
  ASSERT_GE(c.wait_event("conversation.item.truncated"), 0);
  MockLog log = srv.log();
  auto t = log.of("in", "conversation.item.truncate");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].get_int("audio_end_ms"), 123);
}

TEST(MockRealtime, SlowReadsStopReadingTheSocket) {
  MockServer srv({"--mode", "slow_reads", "--slow-read-ms", "1500"});
  Client c(srv.url());
  ASSERT_TRUE(c.open());
  c.send("session.update", [](JsonObject *o) { json_object_set_object_member(o, "session", json_object_new()); });
  ASSERT_GE(c.wait_event("session.updated"), 0);
  c.pump(200);
  // While the server sleeps, nothing it is sent gets answered; afterwards everything is read.
  speak(c, 200, 300);
  MockLog log;
  EXPECT_TRUE(wait_until([&] {
    c.pump(50);
    log = srv.log();
    return log.count("in", "input_audio_buffer.append") == 25;
  }));
  EXPECT_EQ(log.count("event", "mock.slow_read_begin"), 1u);
  EXPECT_EQ(log.count("event", "mock.slow_read_end"), 1u);
  auto end = log.of("event", "mock.slow_read_end");
  auto appends = log.of("in", "input_audio_buffer.append");
  ASSERT_EQ(appends.size(), 25u);
  EXPECT_GE(appends.front().t_ms, end[0].t_ms);  // read only after the pause
}

}  // namespace
}  // namespace mf::test
