// Harness for the llm_bridge tests: the mock realtime server as a real process on 127.0.0.1:0,
// its /log read over HTTP (libsoup), and condition waits with a generous upper bound (never a
// fixed sleep as an assertion).
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "process.h"

namespace mf::test {

/// Iterates the thread-default main context (if `ctx`) while polling `cond` until true or timeout.
inline bool wait_until(const std::function<bool()> &cond, std::chrono::milliseconds timeout = std::chrono::seconds(20),
                       GMainContext *ctx = nullptr) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    if (ctx) {
      while (g_main_context_iteration(ctx, FALSE)) {
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return cond();
}

/// One record of the mock server's log (see tests/fixtures/mock_realtime/event_log.h).
struct LogEvent {
  std::string dir, type;
  int conn = 0;
  double t_ms = 0;
  gint64 mono_us = 0;
  JsonObject *obj = nullptr;  // borrowed from the MockLog it came from
  gint64 get_int(const char *k, gint64 dflt = -1) const {
    return obj && json_object_has_member(obj, k) ? json_object_get_int_member(obj, k) : dflt;
  }
  std::string get_string(const char *k) const {
    JsonNode *n = obj && json_object_has_member(obj, k) ? json_object_get_member(obj, k) : nullptr;
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING ? json_node_get_string(n) : "";
  }
};

struct MockLog {
  int handshakes = 0, connections = 0;
  std::vector<LogEvent> events;
  std::shared_ptr<JsonParser> parser;
  std::vector<LogEvent> of(const std::string &dir, const std::string &type) const {
    std::vector<LogEvent> out;
    for (const auto &e : events)
      if (e.dir == dir && e.type == type) out.push_back(e);
    return out;
  }
  size_t count(const std::string &dir, const std::string &type) const { return of(dir, type).size(); }
};

/// The mock server process. Arguments are its flags (see tests/fixtures/mock_realtime/options.h).
class MockServer {
 public:
  explicit MockServer(const std::vector<std::string> &args) {
    std::vector<std::string> argv = {env_path("MESHFLOW_MOCK_REALTIME")};
    argv.insert(argv.end(), args.begin(), args.end());
    proc_ = std::make_unique<Background>(argv);
    port_ = port_from_line(proc_->wait_for_stderr("listening on"));
    session_ = soup_session_new();
  }
  ~MockServer() {
    g_object_unref(session_);
    proc_->interrupt_and_wait();
  }
  int port() const { return port_; }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/v1/realtime"; }
  const std::string &stderr_text() const { return proc_->stderr_text(); }

  /// GET /log (synchronously).
  MockLog log() {
    MockLog out;
    std::string uri = "http://127.0.0.1:" + std::to_string(port_) + "/log";
    SoupMessage *msg = soup_message_new("GET", uri.c_str());
    GBytes *body = soup_session_send_and_read(session_, msg, nullptr, nullptr);
    g_object_unref(msg);
    if (!body) return out;
    out.parser.reset(json_parser_new(), g_object_unref);
    gsize n = 0;
    const char *data = static_cast<const char *>(g_bytes_get_data(body, &n));
    if (json_parser_load_from_data(out.parser.get(), data, gssize(n), nullptr)) {
      JsonObject *root = json_node_get_object(json_parser_get_root(out.parser.get()));
      out.handshakes = int(json_object_get_int_member(root, "handshakes"));
      out.connections = int(json_object_get_int_member(root, "connections"));
      JsonArray *ev = json_object_get_array_member(root, "events");
      for (guint i = 0; i < json_array_get_length(ev); ++i) {
        JsonObject *o = json_array_get_object_element(ev, i);
        LogEvent e;
        e.obj = o;
        e.dir = json_object_get_string_member(o, "dir");
        e.type = json_object_has_member(o, "type") ? json_object_get_string_member(o, "type") : "";
        e.conn = int(json_object_get_int_member(o, "conn"));
        e.t_ms = json_object_get_double_member(o, "t_ms");
        e.mono_us = json_object_get_int_member(o, "mono_us");
        out.events.push_back(e);
      }
    }
    g_bytes_unref(body);
    return out;
  }

 private:
  std::unique_ptr<Background> proc_;
  int port_ = 0;
  SoupSession *session_ = nullptr;
};

/// PCM16 mono helpers: `ms` of a sine (speech-like loudness) or of silence at `rate`.
inline std::vector<int16_t> tone(int rate, int ms, double hz = 300.0, double amp = 6000.0) {
  std::vector<int16_t> s(size_t(rate) * size_t(ms) / 1000);
  for (size_t i = 0; i < s.size(); ++i) s[i] = int16_t(amp * std::sin(2 * M_PI * hz * double(i) / rate));
  return s;
}
inline std::vector<int16_t> silence(int rate, int ms) { return std::vector<int16_t>(size_t(rate) * size_t(ms) / 1000, 0); }

}  // namespace mf::test
