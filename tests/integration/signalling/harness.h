// Integration harness: a real mf::signalling::Server on 127.0.0.1:0 and real libsoup WebSocket
// clients, all driven on one GMainContext pushed as thread-default for the test. Waits have a
// generous deadline only so that a broken build fails instead of hanging; nothing asserts timing.
#pragma once

#include <gio/gio.h>
#include <gtest/gtest.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "meshflow/signalling/jsonrpc.h"
#include "meshflow/signalling/server.h"

namespace sigtest {

using mf::signalling::NodePtr;

inline long proc_status_kb(const char *key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + std::strlen(key));
  return -1;
}
inline long vm_rss_kb() { return proc_status_kb("VmRSS:"); }
/// Peak RSS since the last reset_peak_rss() (VmHWM). A buffer that is freed again (libsoup frees a
/// reassembled message when the connection closes) only shows up here, not in VmRSS afterwards.
inline long vm_hwm_kb() { return proc_status_kb("VmHWM:"); }
/// Resets VmHWM to the current RSS (Linux >= 4.0: "5" > /proc/self/clear_refs). False if refused.
inline bool reset_peak_rss() {
  FILE *f = std::fopen("/proc/self/clear_refs", "w");
  if (!f) return false;
  bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

/// Spin `ctx` until pred() or the deadline (then false).
inline bool spin_until(GMainContext *ctx, const std::function<bool()> &pred, int timeout_ms = 10000) {
  gint64 deadline = g_get_monotonic_time() + gint64(timeout_ms) * 1000;
  GSource *tick = g_timeout_source_new(5);
  g_source_set_callback(tick, [](gpointer) -> gboolean { return G_SOURCE_CONTINUE; }, nullptr,
                        nullptr);
  g_source_attach(tick, ctx);
  bool ok = true;
  while (!pred()) {
    if (g_get_monotonic_time() > deadline) {
      ok = false;
      break;
    }
    g_main_context_iteration(ctx, TRUE);
  }
  g_source_destroy(tick);
  g_source_unref(tick);
  return ok;
}

/// Parsed JSON object helper.
struct Json {
  NodePtr node;
  Json() = default;
  explicit Json(const std::string &text) {
    JsonParser *p = json_parser_new();
    if (json_parser_load_from_data(p, text.data(), gssize(text.size()), nullptr) &&
        json_parser_get_root(p))
      node.reset(json_node_copy(json_parser_get_root(p)));
    g_object_unref(p);
  }
  JsonObject *obj() const {
    return node && JSON_NODE_HOLDS_OBJECT(node.get()) ? json_node_get_object(node.get()) : nullptr;
  }
  JsonObject *member(const char *k) const {
    JsonObject *o = obj();
    JsonNode *n = o ? json_object_get_member(o, k) : nullptr;
    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : nullptr;
  }
  std::string str(const char *k) const {
    JsonObject *o = obj();
    return o && json_object_has_member(o, k) ? json_object_get_string_member(o, k) : "";
  }
  int64_t error_code() const {
    JsonObject *e = member("error");
    return e ? json_object_get_int_member(e, "code") : 0;
  }
  std::string error_reason() const {
    JsonObject *e = member("error");
    JsonNode *d = e ? json_object_get_member(e, "data") : nullptr;
    if (!d || !JSON_NODE_HOLDS_OBJECT(d)) return "";
    JsonObject *dobj = json_node_get_object(d);
    return json_object_has_member(dobj, "reason") ? json_object_get_string_member(dobj, "reason")
                                                  : "";
  }
  std::string method() const { return str("method"); }
  JsonObject *params() const { return member("params"); }
  JsonObject *result() const { return member("result"); }
};

class WsClient {
 public:
  explicit WsClient(GMainContext *ctx) : ctx_(ctx) {
    session_ = soup_session_new();
  }
  ~WsClient() {
    if (ws_) {
      g_signal_handlers_disconnect_by_data(ws_, this);
      if (soup_websocket_connection_get_state(ws_) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(ws_, 1000, nullptr);
      g_object_unref(ws_);
    }
    g_object_unref(session_);
  }

  /// Connects; true when the WebSocket is open. `status` gets the HTTP status on failure.
  bool connect(const std::string &url, const char *origin = nullptr) {
    SoupMessage *msg = soup_message_new("GET", url.c_str());
    done_ = false;
    soup_session_websocket_connect_async(
        session_, msg, origin, nullptr, G_PRIORITY_DEFAULT, nullptr,
        [](GObject *src, GAsyncResult *res, gpointer d) {
          auto *self = static_cast<WsClient *>(d);
          GError *err = nullptr;
          self->ws_ = soup_session_websocket_connect_finish(SOUP_SESSION(src), res, &err);
          if (err) {
            self->error_ = err->message;
            g_error_free(err);
          }
          self->done_ = true;
        },
        this);
    bool finished = spin_until(ctx_, [&] { return done_; });
    status_ = soup_message_get_status(msg);
    g_object_unref(msg);
    if (!finished || !ws_) return false;
    soup_websocket_connection_set_max_incoming_payload_size(ws_, 16 * 1024 * 1024);
    g_signal_connect(ws_, "message", G_CALLBACK(+[](SoupWebsocketConnection *, gint, GBytes *b,
                                                     gpointer d) {
                       gsize n;
                       const char *p = static_cast<const char *>(g_bytes_get_data(b, &n));
                       static_cast<WsClient *>(d)->inbox.emplace_back(p ? p : "", n);
                     }),
                     this);
    g_signal_connect(ws_, "closed", G_CALLBACK(+[](SoupWebsocketConnection *c, gpointer d) {
                       auto *self = static_cast<WsClient *>(d);
                       self->closed = true;
                       self->close_code = soup_websocket_connection_get_close_code(c);
                     }),
                     this);
    return true;
  }

  void send(const std::string &text) {
    if (ws_ && soup_websocket_connection_get_state(ws_) == SOUP_WEBSOCKET_STATE_OPEN)
    {
      GBytes *b = g_bytes_new(text.data(), text.size());
      soup_websocket_connection_send_message(ws_, SOUP_WEBSOCKET_DATA_TEXT, b);
      g_bytes_unref(b);
    }
  }

  /// Send a request and wait for the response with the same id.
  Json request(const std::string &method, const std::string &params_json = "{}") {
    int id = next_id_++;
    send("{\"jsonrpc\":\"2.0\",\"id\":" + std::to_string(id) + ",\"method\":\"" + method +
         "\",\"params\":" + params_json + "}");
    return wait_response(id);
  }

  Json wait_response(int id) {
    std::string found;
    spin_until(ctx_, [&] {
      for (auto it = inbox.begin(); it != inbox.end(); ++it) {
        Json j(*it);
        JsonObject *o = j.obj();
        if (o && json_object_has_member(o, "id") && !json_object_get_null_member(o, "id") &&
            JSON_NODE_HOLDS_VALUE(json_object_get_member(o, "id")) &&
            json_object_get_int_member(o, "id") == id) {
          found = *it;
          inbox.erase(it);
          return true;
        }
      }
      return closed;
    });
    return Json(found);
  }

  /// Wait for a notification `method` (consumed from the inbox); empty Json on timeout.
  Json wait_notification(const std::string &method, int timeout_ms = 10000) {
    std::string found;
    spin_until(
        ctx_,
        [&] {
          for (auto it = inbox.begin(); it != inbox.end(); ++it) {
            if (Json(*it).method() == method) {
              found = *it;
              inbox.erase(it);
              return true;
            }
          }
          return false;
        },
        timeout_ms);
    return Json(found);
  }

  bool has_notification(const std::string &method) const {
    for (auto &m : inbox)
      if (Json(m).method() == method) return true;
    return false;
  }

  bool wait_closed(int timeout_ms = 10000) {
    return spin_until(ctx_, [&] { return closed; }, timeout_ms);
  }

  SoupWebsocketConnection *ws() const { return ws_; }
  guint status() const { return status_; }
  bool is_open() const {
    return ws_ && !closed && soup_websocket_connection_get_state(ws_) == SOUP_WEBSOCKET_STATE_OPEN;
  }

  std::vector<std::string> inbox;
  bool closed = false;
  int close_code = 0;

 private:
  GMainContext *ctx_;
  SoupSession *session_;
  SoupWebsocketConnection *ws_ = nullptr;
  bool done_ = false;
  std::string error_;
  guint status_ = 0;
  int next_id_ = 1;
};

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ctx_ = g_main_context_new();
    g_main_context_push_thread_default(ctx_);
  }
  void TearDown() override {
    clients_.clear();
    server_.reset();
    // let closes finish
    for (int i = 0; i < 50 && g_main_context_iteration(ctx_, FALSE); i++) {
    }
    g_main_context_pop_thread_default(ctx_);
    g_main_context_unref(ctx_);
  }

  void start() {
    server_ = std::make_unique<mf::signalling::Server>(cfg_, reg_);
    std::string err;
    ASSERT_TRUE(server_->listen("127.0.0.1", 0, &err)) << err;
    ASSERT_NE(server_->port(), 0u);
  }
  std::string url() const { return server_->url(); }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

  WsClient &client() {
    clients_.push_back(std::make_unique<WsClient>(ctx_));
    WsClient &c = *clients_.back();
    EXPECT_TRUE(c.connect(url()));
    return c;
  }
  /// A connected client announced in `room` as `peer` (server-assigned if empty).
  WsClient &peer(const std::string &room, const std::string &peer_id = "",
                 std::string *assigned = nullptr) {
    WsClient &c = client();
    std::string p = "{\"room\":\"" + room + "\"";
    if (!peer_id.empty()) p += ",\"peer_id\":\"" + peer_id + "\"";
    Json r = c.request("peer.announce", p + "}");
    EXPECT_TRUE(r.result()) << "announce failed: " << r.error_code();
    if (assigned && r.result()) *assigned = json_object_get_string_member(r.result(), "peer_id");
    return c;
  }
  bool spin(const std::function<bool()> &pred, int timeout_ms = 10000) {
    return spin_until(ctx_, pred, timeout_ms);
  }
  double metric(const char *name, mf::metrics::Labels labels = {}) {
    return reg_.value(name, labels);
  }

  /// Run a subprocess while the context keeps spinning; returns its exit status (-1 on timeout).
  int run_process(const std::vector<std::string> &argv, std::string *out = nullptr,
                  int timeout_ms = 60000) {
    std::vector<const char *> a;
    for (auto &s : argv) a.push_back(s.c_str());
    a.push_back(nullptr);
    GError *err = nullptr;
    GSubprocess *p = g_subprocess_newv(
        a.data(), GSubprocessFlags(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE),
        &err);
    if (!p) {
      if (out) *out = err->message;
      g_error_free(err);
      return -2;
    }
    struct St {
      bool done = false;
      std::string text;
    } st;
    g_subprocess_communicate_utf8_async(
        p, nullptr, nullptr,
        [](GObject *src, GAsyncResult *res, gpointer d) {
          auto *s = static_cast<St *>(d);
          gchar *o = nullptr;
          g_subprocess_communicate_utf8_finish(G_SUBPROCESS(src), res, &o, nullptr, nullptr);
          if (o) s->text = o;
          g_free(o);
          s->done = true;
        },
        &st);
    bool ok = spin([&] { return st.done; }, timeout_ms);
    if (!ok) {
      g_subprocess_force_exit(p);
      spin([&] { return st.done; }, 5000);
    }
    if (out) *out = st.text;
    int rc = ok && g_subprocess_get_if_exited(p) ? g_subprocess_get_exit_status(p) : -1;
    g_object_unref(p);
    return rc;
  }

  /// HTTP request on the server's port (async, so the server keeps running).
  guint http(const char *method, const std::string &path, const std::string &body,
             const char *auth, std::string *response) {
    SoupSession *s = soup_session_new();
    SoupMessage *m = soup_message_new(method, (base() + path).c_str());
    if (auth) soup_message_headers_append(soup_message_get_request_headers(m), "Authorization", auth);
    if (!body.empty()) {
      GBytes *b = g_bytes_new(body.data(), body.size());
      soup_message_set_request_body_from_bytes(m, "application/json", b);
      g_bytes_unref(b);
    }
    struct St {
      bool done = false;
      std::string text;
    } st;
    soup_session_send_and_read_async(
        s, m, G_PRIORITY_DEFAULT, nullptr,
        [](GObject *src, GAsyncResult *res, gpointer d) {
          auto *x = static_cast<St *>(d);
          GBytes *b = soup_session_send_and_read_finish(SOUP_SESSION(src), res, nullptr);
          if (b) {
            gsize n;
            const char *p = static_cast<const char *>(g_bytes_get_data(b, &n));
            x->text.assign(p ? p : "", n);
            g_bytes_unref(b);
          }
          x->done = true;
        },
        &st);
    spin([&] { return st.done; });
    guint status = soup_message_get_status(m);
    if (response) *response = st.text;
    g_object_unref(m);
    g_object_unref(s);
    return status;
  }

  GMainContext *ctx_ = nullptr;
  mf::signalling::ServerConfig cfg_;
  mf::metrics::Registry reg_;
  std::unique_ptr<mf::signalling::Server> server_;
  std::vector<std::unique_ptr<WsClient>> clients_;
};

}  // namespace sigtest
