// A WebSocket server on 127.0.0.1 (port 0) inside the test process, standing in for a realtime
// LLM service in unit tests of mfllmbridge's network side. It records the handshake and every
// message per connection and runs a scripted `on_open` per connection. It lives on the test
// thread's default GMainContext: tests call spin_until() to run it.
#pragma once

#include <gst/gst.h>
#include <libsoup/soup.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace llmtest {

struct Server {
  SoupServer *server = soup_server_new(nullptr, nullptr);
  int port = 0;
  int connections = 0;
  std::string auth, beta, query, path;
  std::vector<std::pair<int, std::string>> received;  // (connection index, text)
  std::vector<SoupWebsocketConnection *> conns;
  std::function<void(SoupWebsocketConnection *, int index)> on_open;

  Server() {
    soup_server_add_websocket_handler(server, nullptr, nullptr, nullptr, on_ws, this, nullptr);
    GError *err = nullptr;
    if (!soup_server_listen_local(server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &err)) {
      g_printerr("listen: %s\n", err->message);
      g_error_free(err);
      return;
    }
    GSList *uris = soup_server_get_uris(server);
    port = g_uri_get_port(static_cast<GUri *>(uris->data));
    g_slist_free_full(uris, reinterpret_cast<GDestroyNotify>(g_uri_unref));
  }
  ~Server() {
    for (auto *c : conns) {
      g_signal_handlers_disconnect_by_data(c, this);
      g_object_unref(c);
    }
    soup_server_disconnect(server);
    g_object_unref(server);
  }
  std::string url(const char *p) const { return "ws://127.0.0.1:" + std::to_string(port) + p; }
  SoupWebsocketConnection *last() { return conns.empty() ? nullptr : conns.back(); }
  void send(const std::string &text) {
    if (last() && soup_websocket_connection_get_state(last()) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_send_text(last(), text.c_str());
  }

  static void on_ws(SoupServer *, SoupServerMessage *msg, const char *path,
                    SoupWebsocketConnection *conn, gpointer p) {
    auto *s = static_cast<Server *>(p);
    int index = s->connections++;
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
    const char *a = soup_message_headers_get_one(h, "Authorization");
    const char *b = soup_message_headers_get_one(h, "OpenAI-Beta");
    s->auth = a ? a : "";
    s->beta = b ? b : "";
    const char *q = g_uri_get_query(soup_server_message_get_uri(msg));
    s->query = q ? q : "";
    s->path = path;
    s->conns.push_back(SOUP_WEBSOCKET_CONNECTION(g_object_ref(conn)));
    g_object_set_data(G_OBJECT(conn), "index", GINT_TO_POINTER(index));
    g_signal_connect(conn, "message", G_CALLBACK(on_msg), s);
    if (s->on_open) s->on_open(conn, index);
  }
  static void on_msg(SoupWebsocketConnection *c, gint, GBytes *m, gpointer p) {
    gsize n;
    const char *d = static_cast<const char *>(g_bytes_get_data(m, &n));
    int index = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(c), "index"));
    static_cast<Server *>(p)->received.emplace_back(index, std::string(d, n));
  }
  bool got(const char *needle, int index = -1) const {
    for (auto &r : received)
      if ((index < 0 || r.first == index) && r.second.find(needle) != std::string::npos)
        return true;
    return false;
  }
  std::string find(const char *needle) const {
    for (auto &r : received)
      if (r.second.find(needle) != std::string::npos) return r.second;
    return "";
  }
};

// Runs the default main context (the server's) until pred() or a hang guard of 20 s.
template <typename F> bool spin_until(F pred) {
  gint64 end = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
  while (!pred()) {
    if (g_get_monotonic_time() > end) return false;
    g_main_context_iteration(nullptr, FALSE);
    g_usleep(1000);
  }
  return true;
}

inline GstElement *pipeline_with(const std::string &bridge_props, GstElement **bridge,
                                 int rate = 16000) {
  std::string desc = "audiotestsrc is-live=true wave=silence samplesperbuffer=" +
                     std::to_string(rate / 50) + " ! audio/x-raw,format=S16LE,channels=1,rate=" +
                     std::to_string(rate) + " ! mfllmbridge name=b " + bridge_props +
                     " ! fakesink sync=false";
  GError *err = nullptr;
  GstElement *p = gst_parse_launch(desc.c_str(), &err);
  if (err) {
    g_printerr("parse: %s\n", err->message);
    g_error_free(err);
  }
  *bridge = p ? gst_bin_get_by_name(GST_BIN(p), "b") : nullptr;
  return p;
}

inline guint64 stat_u64(GstElement *b, const char *field) {
  GstStructure *s = nullptr;
  g_object_get(b, "stats", &s, nullptr);
  guint64 v = 0;
  gst_structure_get_uint64(s, field, &v);
  gst_structure_free(s);
  return v;
}

inline gint64 stat_i64(GstElement *b, const char *field) {
  GstStructure *s = nullptr;
  g_object_get(b, "stats", &s, nullptr);
  gint64 v = -999;
  gst_structure_get_int64(s, field, &v);
  gst_structure_free(s);
  return v;
}

}  // namespace llmtest
