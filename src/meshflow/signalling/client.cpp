// Meshflow signalling client (see client.h for the contract).
//
// Structure: every piece of mutable connection state lives on the client's loop thread. Public
// methods post closures to a per-client mailbox (one idle GSource drains it, FIFO); timers, the
// WebSocket signals and the connect callback run on the same thread. JSON is built and parsed with
// json-glib only; the WebSocket is libsoup 3's client (soup_session_websocket_connect_async).
#define G_LOG_DOMAIN "meshflow-signalling-client"

#include "meshflow/signalling/client.h"

#include "meshflow/json/json_text.h"
#include "meshflow/signalling/jsonrpc.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace mf::signalling {

const char *to_string(ClientState s) {
  switch (s) {
    case ClientState::Idle: return "idle";
    case ClientState::Connecting: return "connecting";
    case ClientState::Connected: return "connected";
    case ClientState::Announced: return "announced";
    case ClientState::Reconnecting: return "reconnecting";
    case ClientState::Closed: return "closed";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// ClientLoop

struct ClientLoop::State {
  GMainContext *ctx = nullptr;
  GMainLoop *loop = nullptr;
  std::thread thread;
  std::thread::id thread_id;
  std::mutex mu;
  std::condition_variable cv;
  bool running = false;
  int tid = 0;
};

ClientLoop::ClientLoop() : s_(std::make_unique<State>()) {
  s_->ctx = g_main_context_new();
  s_->loop = g_main_loop_new(s_->ctx, FALSE);
  State *s = s_.get();
  s_->thread = std::thread([s] {
    g_main_context_push_thread_default(s->ctx);
    {
      std::lock_guard<std::mutex> lk(s->mu);
      s->tid = static_cast<int>(syscall(SYS_gettid));
      s->running = true;
    }
    s->cv.notify_all();
    g_main_loop_run(s->loop);
    g_main_context_pop_thread_default(s->ctx);
  });
  s_->thread_id = s_->thread.get_id();
  std::unique_lock<std::mutex> lk(s_->mu);
  s_->cv.wait(lk, [&] { return s_->running; });
}

ClientLoop::~ClientLoop() {
  // g_main_loop_quit is thread-safe, but the loop may not be running yet: quit from inside it.
  GSource *src = g_idle_source_new();
  g_source_set_callback(
      src, [](gpointer l) -> gboolean {
        g_main_loop_quit(static_cast<GMainLoop *>(l));
        return G_SOURCE_REMOVE;
      },
      s_->loop, nullptr);
  g_source_attach(src, s_->ctx);
  g_source_unref(src);
  if (s_->thread.get_id() == std::this_thread::get_id()) {
    g_critical("ClientLoop destroyed on its own thread; detaching it");
    s_->thread.detach();
    (void)s_.release();  // leaked on purpose: the thread still uses it
    return;
  }
  s_->thread.join();
  g_main_loop_unref(s_->loop);
  g_main_context_unref(s_->ctx);
}

GMainContext *ClientLoop::context() const { return s_->ctx; }
bool ClientLoop::on_thread() const { return std::this_thread::get_id() == s_->thread_id; }
int ClientLoop::tid() const { return s_->tid; }

// ---------------------------------------------------------------------------------------------
// JSON helpers (json-glib only)

namespace {

using Clock = std::chrono::steady_clock;

std::string to_json(JsonNode *node) { return mf::json::to_text(node); }

JsonNode *member(JsonObject *o, const char *name) {
  return (o && json_object_has_member(o, name)) ? json_object_get_member(o, name) : nullptr;
}

const char *get_string(JsonObject *o, const char *name) {
  JsonNode *n = member(o, name);
  if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
    return nullptr;
  return json_node_get_string(n);
}

bool get_int(JsonObject *o, const char *name, int64_t *out) {
  JsonNode *n = member(o, name);
  if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64) return false;
  *out = json_node_get_int(n);
  return true;
}

bool get_bool(JsonObject *o, const char *name, bool fallback) {
  JsonNode *n = member(o, name);
  if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
    return fallback;
  return json_node_get_boolean(n);
}

JsonObject *get_object(JsonObject *o, const char *name) {
  JsonNode *n = member(o, name);
  return (n && JSON_NODE_HOLDS_OBJECT(n)) ? json_node_get_object(n) : nullptr;
}

JsonArray *get_array(JsonObject *o, const char *name) {
  JsonNode *n = member(o, name);
  return (n && JSON_NODE_HOLDS_ARRAY(n)) ? json_node_get_array(n) : nullptr;
}

PeerInfo parse_peer(JsonNode *n) {
  PeerInfo p;
  if (!n) return p;
  if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING) {
    p.peer_id = json_node_get_string(n);
  } else if (JSON_NODE_HOLDS_OBJECT(n)) {
    JsonObject *o = json_node_get_object(n);
    if (const char *s = get_string(o, "peer_id")) p.peer_id = s;
    if (const char *s = get_string(o, "display_name")) p.display_name = s;
    if (JsonObject *m = get_object(o, "media")) {
      p.media.audio = get_bool(m, "audio", true);
      p.media.video = get_bool(m, "video", true);
      p.media.data = get_bool(m, "data", true);
    }
  }
  p.json = to_json(n);
  return p;
}

std::vector<IceServer> parse_ice_servers(JsonArray *a) {
  std::vector<IceServer> out;
  if (!a) return out;
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonNode *n = json_array_get_element(a, i);
    if (!JSON_NODE_HOLDS_OBJECT(n)) continue;
    JsonObject *o = json_node_get_object(n);
    IceServer s;
    JsonNode *urls = member(o, "urls");
    if (urls && JSON_NODE_HOLDS_ARRAY(urls)) {
      JsonArray *ua = json_node_get_array(urls);
      for (guint j = 0; j < json_array_get_length(ua); j++) {
        JsonNode *u = json_array_get_element(ua, j);
        if (JSON_NODE_HOLDS_VALUE(u) && json_node_get_value_type(u) == G_TYPE_STRING)
          s.urls.emplace_back(json_node_get_string(u));
      }
    } else if (const char *u = get_string(o, "urls")) {
      s.urls.emplace_back(u);
    }
    if (const char *v = get_string(o, "username")) s.username = v;
    if (const char *v = get_string(o, "credential")) s.credential = v;
    out.push_back(std::move(s));
  }
  return out;
}

JsonNode *empty_object() {
  JsonNode *n = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(n, json_object_new());
  return n;
}

bool is_client_side(int code) { return code <= client_error::kDisconnected && code >= -32059; }

// Normalise ws[s]:// to http[s]:// (what SoupMessage wants) and check there is a host.
bool http_url_for(const std::string &url, std::string *out) {
  GUri *uri = g_uri_parse(url.c_str(), G_URI_FLAGS_NONE, nullptr);
  if (!uri) return false;
  const char *scheme = g_uri_get_scheme(uri);
  const char *host = g_uri_get_host(uri);
  bool ok = host && *host && scheme;
  std::string mapped;
  if (ok) {
    if (g_ascii_strcasecmp(scheme, "ws") == 0 || g_ascii_strcasecmp(scheme, "http") == 0)
      mapped = "http";
    else if (g_ascii_strcasecmp(scheme, "wss") == 0 || g_ascii_strcasecmp(scheme, "https") == 0)
      mapped = "https";
    else
      ok = false;
  }
  if (ok) {
    GUri *http = g_uri_build(G_URI_FLAGS_NONE, mapped.c_str(), g_uri_get_userinfo(uri), host,
                             g_uri_get_port(uri), g_uri_get_path(uri), g_uri_get_query(uri),
                             nullptr);
    gchar *s = g_uri_to_string(http);
    *out = s;
    g_free(s);
    g_uri_unref(http);
  }
  g_uri_unref(uri);
  return ok;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Client::Impl

struct Client::Impl {
  // A request waiting for its reply. `internal` (announce, ping, disconnect) gets the parsed
  // result node; otherwise `reply` (user) or, when there is none and it failed, on_error.
  struct Pending {
    std::string method;
    std::string to;
    ReplyCallback reply;
    std::function<void(const Response &, JsonNode *result)> internal;
    Clock::time_point deadline;
  };
  struct Outgoing {
    std::string method;
    NodePtr params;
    Pending pending;
  };
  struct Done {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
  };

  Impl(ClientConfig c, ClientCallbacks cb)
      : cfg(std::move(c)),
        cbs(std::move(cb)),
        peer_id(cfg.peer_id),
        backoff(cfg.backoff, cfg.rng) {}

  // --- immutable after construction
  ClientConfig cfg;
  ClientCallbacks cbs;
  std::string http_url;
  std::shared_ptr<ClientLoop> loop;
  GMainContext *ctx = nullptr;

  // --- shared with other threads
  std::atomic<ClientState> state{ClientState::Idle};
  std::atomic<bool> started{false};
  std::atomic<uint64_t> reconnects{0};
  std::atomic<uint64_t> undelivered{0};
  mutable std::mutex info_mu;  // protects peer_id, announce, delays
  std::string peer_id;
  AnnounceResult announce;
  std::deque<ReconnectDelay> delays;

  std::mutex mbox_mu;  // protects mbox, mbox_source, accepting
  std::deque<std::function<void()>> mbox;
  GSource *mbox_source = nullptr;
  bool accepting = false;
  std::shared_ptr<Done> done = std::make_shared<Done>();

  // --- loop thread only
  SoupSession *session = nullptr;
  SoupWebsocketConnection *ws = nullptr;
  GCancellable *connect_cancel = nullptr;
  bool connecting = false;
  bool announced = false;
  bool stopping = false;
  bool finished = false;
  GSource *reconnect_timer = nullptr;
  GSource *tick_timer = nullptr;
  GSource *connect_timer = nullptr;
  GSource *close_timer = nullptr;
  BackoffSchedule backoff;
  int64_t next_id = 1;
  std::unordered_map<int64_t, Pending> pending;
  std::deque<Outgoing> queue;
  Clock::time_point last_rx;
  Clock::time_point last_ping;
  std::chrono::milliseconds hb_interval{5000};

  // ------------------------------------------------------------------ posting and timers
  bool post(std::function<void()> fn) {
    std::lock_guard<std::mutex> lk(mbox_mu);
    if (!accepting) return false;
    mbox.push_back(std::move(fn));
    if (!mbox_source) {
      mbox_source = g_idle_source_new();
      g_source_set_priority(mbox_source, G_PRIORITY_DEFAULT);
      g_source_set_callback(
          mbox_source, [](gpointer d) -> gboolean {
            static_cast<Impl *>(d)->drain_mailbox();
            return G_SOURCE_REMOVE;
          },
          this, nullptr);
      g_source_attach(mbox_source, ctx);
    }
    return true;
  }

  void drain_mailbox() {
    std::deque<std::function<void()>> work;
    {
      std::lock_guard<std::mutex> lk(mbox_mu);
      work.swap(mbox);
      if (mbox_source) {
        g_source_unref(mbox_source);
        mbox_source = nullptr;
      }
    }
    for (auto &fn : work) fn();
  }

  using TimerFn = std::function<void()>;
  // A one-shot timer on the client context. The handler runs after the GSource* slot is cleared.
  GSource *timer(std::chrono::milliseconds ms, GSource **slot, TimerFn fn) {
    struct Data {
      GSource **slot;
      TimerFn fn;
    };
    GSource *src = g_timeout_source_new(static_cast<guint>(std::max<int64_t>(ms.count(), 0)));
    g_source_set_callback(
        src, [](gpointer p) -> gboolean {
          auto *d = static_cast<Data *>(p);
          if (d->slot && *d->slot) {
            g_source_unref(*d->slot);
            *d->slot = nullptr;
          }
          d->fn();
          return G_SOURCE_REMOVE;
        },
        new Data{slot, std::move(fn)}, [](gpointer p) { delete static_cast<Data *>(p); });
    g_source_attach(src, ctx);
    *slot = src;
    return src;
  }

  static void cancel_timer(GSource **slot) {
    if (*slot) {
      g_source_destroy(*slot);
      g_source_unref(*slot);
      *slot = nullptr;
    }
  }

  // ------------------------------------------------------------------ callbacks (guarded)
  template <typename F> void guarded(const char *what, F &&f) {
    try {
      f();
    } catch (const std::exception &e) {
      g_warning("exception in Client %s callback: %s", what, e.what());
    } catch (...) {
      g_warning("exception in Client %s callback", what);
    }
  }

  void set_state(ClientState s) {
    if (state.exchange(s) == s) return;
    g_debug("client %s: state %s", peer_id_copy().c_str(), to_string(s));
    if (cbs.on_state) guarded("on_state", [&] { cbs.on_state(s); });
  }

  void error(int code, const std::string &message) {
    g_debug("client error %d: %s", code, message.c_str());
    if (cbs.on_error) guarded("on_error", [&] { cbs.on_error(code, message); });
  }

  std::string peer_id_copy() const {
    std::lock_guard<std::mutex> lk(info_mu);
    return peer_id;
  }

  // ------------------------------------------------------------------ completion
  void complete(Pending &p, const Response &r, JsonNode *result) {
    if (is_client_side(r.code)) undelivered++;
    if (p.internal) {
      p.internal(r, result);
      return;
    }
    if (p.reply) {
      if (r.ok() && result) {
        Response copy = r;
        copy.result = to_json(result);
        guarded("reply", [&] { p.reply(copy); });
      } else {
        guarded("reply", [&] { p.reply(r); });
      }
      return;
    }
    if (!r.ok()) {
      std::string what = p.method + (p.to.empty() ? std::string() : " to '" + p.to + "'");
      error(r.code, what + ": " + r.message);
    }
  }

  void fail(Pending &p, int code, const std::string &message) {
    Response r;
    r.code = code;
    r.message = message;
    complete(p, r, nullptr);
  }

  void fail_all_pending(int code, const std::string &message) {
    auto all = std::move(pending);
    pending.clear();
    for (auto &kv : all) fail(kv.second, code, message);
  }

  void fail_queue(int code, const std::string &message) {
    auto all = std::move(queue);
    queue.clear();
    for (auto &o : all) fail(o.pending, code, message);
  }

  // ------------------------------------------------------------------ sending
  void send_now(Outgoing o) {
    if (!ws || soup_websocket_connection_get_state(ws) != SOUP_WEBSOCKET_STATE_OPEN) {
      fail(o.pending, client_error::kDisconnected, "not connected to the signalling server");
      return;
    }
    int64_t id = next_id++;
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "jsonrpc");
    json_builder_add_string_value(b, "2.0");
    json_builder_set_member_name(b, "method");
    json_builder_add_string_value(b, o.method.c_str());
    json_builder_set_member_name(b, "params");
    json_builder_add_value(b, o.params ? o.params.release() : empty_object());
    json_builder_set_member_name(b, "id");
    json_builder_add_int_value(b, id);
    json_builder_end_object(b);
    JsonNode *root = json_builder_get_root(b);
    g_object_unref(b);
    std::string text = to_json(root);
    json_node_unref(root);
    o.pending.deadline = Clock::now() + cfg.request_timeout;
    pending.emplace(id, std::move(o.pending));
    soup_websocket_connection_send_text(ws, text.c_str());
  }

  // Called for every user message and every request: send, queue or fail.
  void submit(Outgoing o) {
    if (stopping) {
      fail(o.pending, client_error::kClosed, "client stopped");
      return;
    }
    if (announced && ws) {
      send_now(std::move(o));
      return;
    }
    if (queue.size() >= cfg.max_queue) {
      auto it = std::find_if(queue.begin(), queue.end(),
                             [](const Outgoing &q) { return q.method == "peer.ice_candidate"; });
      if (it == queue.end()) {
        fail(o.pending, client_error::kQueueFull,
             "outgoing queue full (" + std::to_string(cfg.max_queue) + ") while " +
                 to_string(state.load()));
        return;
      }
      Outgoing dropped = std::move(*it);
      queue.erase(it);
      fail(dropped.pending, client_error::kQueueFull,
           "dropped (oldest queued ICE candidate) while " + std::string(to_string(state.load())));
    }
    queue.push_back(std::move(o));
  }

  void flush_queue() {
    while (!queue.empty() && announced && ws && !stopping) {
      Outgoing o = std::move(queue.front());
      queue.pop_front();
      send_now(std::move(o));
    }
  }

  Outgoing make(const char *method, NodePtr params, const std::string &to, ReplyCallback reply) {
    Outgoing o;
    o.method = method;
    o.params = std::move(params);
    o.pending.method = method;
    o.pending.to = to;
    o.pending.reply = std::move(reply);
    return o;
  }

  // ------------------------------------------------------------------ connection
  void begin_connect() {
    if (stopping) return;
    set_state(ClientState::Connecting);
    SoupMessage *msg = soup_message_new("GET", http_url.c_str());
    if (!msg) {  // checked in start(); defensive
      error(client_error::kConnectFailed, "invalid url " + cfg.url);
      schedule_reconnect();
      return;
    }
    connect_cancel = g_cancellable_new();
    connecting = true;
    soup_session_websocket_connect_async(
        session, msg, cfg.origin.empty() ? nullptr : cfg.origin.c_str(), nullptr,
        G_PRIORITY_DEFAULT, connect_cancel,
        [](GObject *src, GAsyncResult *res, gpointer d) {
          static_cast<Impl *>(d)->on_connected(SOUP_SESSION(src), res);
        },
        this);
    g_object_unref(msg);
    GCancellable *c = connect_cancel;
    timer(cfg.connect_timeout, &connect_timer, [c] { g_cancellable_cancel(c); });
  }

  void on_connected(SoupSession *s, GAsyncResult *res) {
    connecting = false;
    cancel_timer(&connect_timer);
    bool timed_out = connect_cancel && g_cancellable_is_cancelled(connect_cancel);
    g_clear_object(&connect_cancel);
    GError *err = nullptr;
    SoupWebsocketConnection *conn = soup_session_websocket_connect_finish(s, res, &err);
    if (stopping) {
      if (err) g_error_free(err);
      if (conn) {
        g_io_stream_close(soup_websocket_connection_get_io_stream(conn), nullptr, nullptr);
        g_object_unref(conn);
      }
      finish_stop();
      return;
    }
    if (!conn) {
      std::string why = timed_out ? "timed out after " +
                                        std::to_string(cfg.connect_timeout.count()) + " ms"
                                  : std::string(err ? err->message : "unknown error");
      if (err) g_error_free(err);
      error(client_error::kConnectFailed, "connect to " + cfg.url + " failed: " + why);
      schedule_reconnect();
      return;
    }
    ws = conn;
    soup_websocket_connection_set_max_incoming_payload_size(ws, cfg.max_message_bytes);
    soup_websocket_connection_set_keepalive_interval(ws, 0);
    g_signal_connect(ws, "message", G_CALLBACK(+[](SoupWebsocketConnection *, gint type,
                                                   GBytes *data, gpointer d) {
                       static_cast<Impl *>(d)->on_message(type, data);
                     }),
                     this);
    g_signal_connect(ws, "closed", G_CALLBACK(+[](SoupWebsocketConnection *, gpointer d) {
                       static_cast<Impl *>(d)->on_closed();
                     }),
                     this);
    g_signal_connect(ws, "error",
                     G_CALLBACK(+[](SoupWebsocketConnection *, GError *e, gpointer) {
                       g_debug("websocket error: %s", e ? e->message : "?");
                     }),
                     nullptr);
    last_rx = Clock::now();
    last_ping = last_rx;
    hb_interval = cfg.heartbeat.count() > 0 ? cfg.heartbeat : std::chrono::milliseconds(5000);
    set_state(ClientState::Connected);
    start_tick();
    send_announce();
  }

  void send_announce() {
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "room");
    json_builder_add_string_value(b, cfg.room.c_str());
    std::string id = peer_id_copy();
    if (!id.empty()) {
      json_builder_set_member_name(b, "peer_id");
      json_builder_add_string_value(b, id.c_str());
    }
    if (!cfg.token.empty()) {
      json_builder_set_member_name(b, "token");
      json_builder_add_string_value(b, cfg.token.c_str());
    }
    if (!cfg.display_name.empty()) {
      json_builder_set_member_name(b, "display_name");
      json_builder_add_string_value(b, cfg.display_name.c_str());
    }
    json_builder_set_member_name(b, "media");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "audio");
    json_builder_add_boolean_value(b, cfg.media.audio);
    json_builder_set_member_name(b, "video");
    json_builder_add_boolean_value(b, cfg.media.video);
    json_builder_set_member_name(b, "data");
    json_builder_add_boolean_value(b, cfg.media.data);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "envelope");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "user_id");
    json_builder_add_string_value(b, cfg.envelope.user_id.c_str());
    json_builder_set_member_name(b, "session_id");
    json_builder_add_string_value(b, cfg.envelope.session_id.c_str());
    json_builder_set_member_name(b, "run_id");
    json_builder_add_string_value(b, cfg.envelope.run_id.c_str());
    json_builder_end_object(b);
    json_builder_end_object(b);
    NodePtr params(json_builder_get_root(b));
    g_object_unref(b);

    Outgoing o = make("peer.announce", std::move(params), {}, {});
    SoupWebsocketConnection *conn = ws;
    o.pending.internal = [this, conn](const Response &r, JsonNode *result) {
      on_announce_reply(conn, r, result);
    };
    send_now(std::move(o));  // bypasses the queue: it is what opens it
  }

  void on_announce_reply(SoupWebsocketConnection *conn, const Response &r, JsonNode *result) {
    if (conn != ws || stopping) return;  // a stale connection, or stopping: nothing to do
    if (!r.ok()) {
      if (is_client_side(r.code) && r.code != client_error::kTimeout) return;  // being handled
      error(r.code, "peer.announce failed: " + r.message);
      drop_connection();
      return;
    }
    JsonObject *o = (result && JSON_NODE_HOLDS_OBJECT(result)) ? json_node_get_object(result)
                                                                : nullptr;
    const char *pid = get_string(o, "peer_id");
    if (!pid || !*pid) {
      error(client_error::kBadMessage, "peer.announce result without peer_id");
      drop_connection();
      return;
    }
    AnnounceResult a;
    a.peer_id = pid;
    if (const char *room = get_string(o, "room")) a.room = room;
    else a.room = cfg.room;
    if (JsonArray *peers = get_array(o, "peers")) {
      for (guint i = 0; i < json_array_get_length(peers); i++) {
        PeerInfo p = parse_peer(json_array_get_element(peers, i));
        if (!p.peer_id.empty() && p.peer_id != a.peer_id) a.peers.push_back(std::move(p));
      }
    }
    a.ice_servers = parse_ice_servers(get_array(o, "ice_servers"));
    int64_t hb = 0;
    if (get_int(o, "heartbeat_ms", &hb) && hb > 0 && hb < 3600 * 1000) a.heartbeat_ms = int(hb);
    {
      std::lock_guard<std::mutex> lk(info_mu);
      peer_id = a.peer_id;
      announce = a;
    }
    if (cfg.heartbeat.count() <= 0 && a.heartbeat_ms > 0) {
      hb_interval = std::chrono::milliseconds(a.heartbeat_ms);
      start_tick();  // new interval
    }
    backoff.reset();
    announced = true;
    last_ping = Clock::now();
    flush_queue();
    set_state(ClientState::Announced);
    if (cbs.on_announced)
      guarded("on_announced", [&] { cbs.on_announced(a.peer_id, a.peers, a.ice_servers); });
  }

  // Tear the connection down (closing the socket at once) and, unless stopping, reconnect.
  // We may be inside one of the connection's own signal emissions: close its socket now, but
  // drop our reference from an idle (or when the context goes away).
  void teardown_ws() {
    if (!ws) return;
    g_signal_handlers_disconnect_by_data(ws, this);
    if (soup_websocket_connection_get_state(ws) != SOUP_WEBSOCKET_STATE_CLOSED)
      g_io_stream_close(soup_websocket_connection_get_io_stream(ws), nullptr, nullptr);
    GSource *src = g_idle_source_new();
    g_source_set_priority(src, G_PRIORITY_DEFAULT);  // DEFAULT_IDLE could starve under load
    g_source_set_callback(
        src, [](gpointer) -> gboolean { return G_SOURCE_REMOVE; }, ws, g_object_unref);
    g_source_attach(src, ctx);
    g_source_unref(src);
    ws = nullptr;
  }

  void drop_connection() {
    cancel_timer(&tick_timer);
    teardown_ws();
    announced = false;
    fail_all_pending(client_error::kDisconnected, "connection to the signalling server lost");
    if (!stopping) schedule_reconnect();
  }

  void schedule_reconnect() {
    if (stopping) return;
    BackoffSchedule::Step step = backoff.next();
    {
      std::lock_guard<std::mutex> lk(info_mu);
      delays.push_back(step);
      if (delays.size() > 1024) delays.pop_front();
    }
    reconnects++;
    set_state(ClientState::Reconnecting);
    g_debug("reconnect attempt %u in %lld ms (nominal %lld ms)", step.attempt,
            static_cast<long long>(step.delay.count()),
            static_cast<long long>(step.nominal.count()));
    timer(step.delay, &reconnect_timer, [this] { begin_connect(); });
  }

  void on_closed() {
    if (stopping) {
      finish_stop();
      return;
    }
    gushort code = ws ? soup_websocket_connection_get_close_code(ws) : 0;
    error(client_error::kDisconnected,
          "connection closed by the server (close code " + std::to_string(code) + ")");
    drop_connection();
  }

  // ------------------------------------------------------------------ heartbeat
  void start_tick() {
    cancel_timer(&tick_timer);
    auto period = std::clamp(hb_interval / 4, std::chrono::milliseconds(5),
                             std::chrono::milliseconds(250));
    struct Data {
      Impl *self;
    };
    tick_timer = g_timeout_source_new(static_cast<guint>(period.count()));
    g_source_set_callback(
        tick_timer, [](gpointer p) -> gboolean {
          return static_cast<Impl *>(p)->tick() ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
        },
        this, nullptr);
    g_source_attach(tick_timer, ctx);
  }

  // Returns false when the tick timer must stop (it has then been released).
  bool tick() {
    auto now = Clock::now();
    // Request deadlines.
    std::vector<int64_t> expired;
    for (auto &kv : pending)
      if (kv.second.deadline <= now) expired.push_back(kv.first);
    for (int64_t id : expired) {
      auto it = pending.find(id);
      if (it == pending.end()) continue;
      Pending p = std::move(it->second);
      pending.erase(it);
      fail(p, client_error::kTimeout,
           "no reply within " + std::to_string(cfg.request_timeout.count()) + " ms");
      if (!tick_timer) return false;  // the connection was dropped by that failure
    }
    if (!ws) return false;
    auto deadline = hb_interval * std::max(cfg.heartbeat_misses, 1);
    if (now - last_rx > deadline) {
      error(client_error::kHeartbeatTimeout,
            "nothing received from the server for " +
                std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - last_rx)
                                   .count()) +
                " ms (heartbeat " + std::to_string(hb_interval.count()) + " ms x " +
                std::to_string(cfg.heartbeat_misses) + "): reconnecting");
      // drop_connection cancels (destroys) this very source; release our ref first.
      GSource *self = tick_timer;
      tick_timer = nullptr;
      g_source_destroy(self);
      g_source_unref(self);
      drop_connection();
      return false;
    }
    if (announced && now - last_ping >= hb_interval) {
      last_ping = now;
      Outgoing o = make("peer.ping", NodePtr(empty_object()), {}, {});
      o.pending.internal = [](const Response &, JsonNode *) {};
      send_now(std::move(o));
    }
    return true;
  }

  // ------------------------------------------------------------------ receiving
  void on_message(gint type, GBytes *data) {
    last_rx = Clock::now();
    gsize len = 0;
    const char *text = static_cast<const char *>(g_bytes_get_data(data, &len));
    if (type != SOUP_WEBSOCKET_DATA_TEXT) {
      error(client_error::kBadMessage, "binary message from the signalling server ignored");
      return;
    }
    PrescanLimits limits;
    limits.max_bytes = cfg.max_message_bytes;
    PrescanResult pre = prescan(std::string_view(text ? text : "", text ? len : 0), limits);
    if (!pre.ok) {
      error(client_error::kBadMessage, "bad message from the signalling server: " + pre.reason +
                                           " at byte " + std::to_string(pre.offset));
      return;
    }
    JsonParser *parser = json_parser_new_immutable();
    GError *err = nullptr;
    if (!json_parser_load_from_data(parser, text, static_cast<gssize>(len), &err)) {
      error(client_error::kBadMessage,
            std::string("invalid JSON from the signalling server: ") + err->message);
      g_error_free(err);
      g_object_unref(parser);
      return;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (root && JSON_NODE_HOLDS_OBJECT(root)) {
      handle(json_node_get_object(root));
    } else if (root && JSON_NODE_HOLDS_ARRAY(root)) {  // a batch
      JsonArray *a = json_node_get_array(root);
      json_array_ref(a);
      for (guint i = 0; i < json_array_get_length(a) && ws; i++) {
        JsonNode *n = json_array_get_element(a, i);
        if (JSON_NODE_HOLDS_OBJECT(n)) handle(json_node_get_object(n));
      }
      json_array_unref(a);
    } else {
      error(client_error::kBadMessage, "signalling message is not a JSON object or array");
    }
    g_object_unref(parser);
  }

  void respond(JsonNode *id, JsonNode *result, int code, const char *message) {
    if (!ws || soup_websocket_connection_get_state(ws) != SOUP_WEBSOCKET_STATE_OPEN) {
      if (result) json_node_unref(result);
      return;
    }
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "jsonrpc");
    json_builder_add_string_value(b, "2.0");
    if (code == 0) {
      json_builder_set_member_name(b, "result");
      json_builder_add_value(b, result);
    } else {
      json_builder_set_member_name(b, "error");
      json_builder_begin_object(b);
      json_builder_set_member_name(b, "code");
      json_builder_add_int_value(b, code);
      json_builder_set_member_name(b, "message");
      json_builder_add_string_value(b, message);
      json_builder_end_object(b);
    }
    json_builder_set_member_name(b, "id");
    json_builder_add_value(b, json_node_copy(id));
    json_builder_end_object(b);
    JsonNode *root = json_builder_get_root(b);
    g_object_unref(b);
    soup_websocket_connection_send_text(ws, to_json(root).c_str());
    json_node_unref(root);
  }

  void handle(JsonObject *o) {
    const char *method = get_string(o, "method");
    JsonNode *id = member(o, "id");
    if (method) {
      JsonObject *params = get_object(o, "params");
      if (id && !JSON_NODE_HOLDS_NULL(id)) {  // a request from the server
        if (g_strcmp0(method, "peer.ping") == 0) {
          respond(id, empty_object(), 0, nullptr);
        } else {
          respond(id, nullptr, -32601, "Method not found");
        }
        return;
      }
      notification(method, params);
      return;
    }
    int64_t rid = 0;
    if (!get_int(o, "id", &rid)) {
      if (JsonObject *e = get_object(o, "error")) {  // e.g. a parse error with id null
        const char *m = get_string(e, "message");
        int64_t code = 0;
        get_int(e, "code", &code);
        error(static_cast<int>(code), std::string("server error: ") + (m ? m : ""));
      } else {
        error(client_error::kBadMessage, "signalling message without method or integer id");
      }
      return;
    }
    auto it = pending.find(rid);
    if (it == pending.end()) {
      g_debug("reply to unknown or expired request %lld", static_cast<long long>(rid));
      return;
    }
    Pending p = std::move(it->second);
    pending.erase(it);
    Response r;
    JsonNode *result = member(o, "result");
    if (JsonObject *e = get_object(o, "error")) {
      int64_t code = -32603;
      get_int(e, "code", &code);
      r.code = code == 0 ? -32603 : static_cast<int>(code);
      const char *m = get_string(e, "message");
      r.message = m ? m : "";
      if (JsonNode *d = member(e, "data")) r.data = to_json(d);
      result = nullptr;
    } else if (!result) {
      r.code = client_error::kBadMessage;
      r.message = "reply without result or error";
    }
    complete(p, r, result);
  }

  void notification(const char *method, JsonObject *params) {
    auto need = [&](const char *name) -> const char * {
      const char *s = get_string(params, name);
      if (!s) {
        error(client_error::kBadMessage,
              std::string(method) + " notification without string '" + name + "'");
      }
      return s;
    };
    if (g_strcmp0(method, "peer.offer") == 0 || g_strcmp0(method, "peer.answer") == 0) {
      const char *from = need("from");
      const char *sdp = from ? need("sdp") : nullptr;
      if (!from || !sdp) return;
      auto &cb = method[5] == 'o' ? cbs.on_offer : cbs.on_answer;
      if (cb) guarded(method, [&] { cb(from, sdp); });
    } else if (g_strcmp0(method, "peer.ice_candidate") == 0) {
      const char *from = need("from");
      if (!from) return;
      IceCandidate c;
      if (const char *s = get_string(params, "candidate")) c.candidate = s;
      int64_t mline = 0;
      if (get_int(params, "sdp_mline_index", &mline)) c.sdp_mline_index = static_cast<int>(mline);
      if (const char *s = get_string(params, "sdp_mid")) c.sdp_mid = s;
      if (cbs.on_ice_candidate) guarded(method, [&] { cbs.on_ice_candidate(from, c); });
    } else if (g_strcmp0(method, "peer.joined") == 0) {
      if (!params) {
        error(client_error::kBadMessage, "peer.joined notification without params");
        return;
      }
      JsonNode *pn = json_node_alloc();
      json_node_init_object(pn, params);
      PeerInfo p = parse_peer(pn);
      json_node_unref(pn);
      if (p.peer_id.empty()) {
        error(client_error::kBadMessage, "peer.joined notification without peer_id");
        return;
      }
      if (cbs.on_peer_joined) guarded(method, [&] { cbs.on_peer_joined(p); });
    } else if (g_strcmp0(method, "peer.left") == 0) {
      const char *pid = need("peer_id");
      if (!pid) return;
      const char *reason = get_string(params, "reason");
      if (cbs.on_peer_left) guarded(method, [&] { cbs.on_peer_left(pid, reason ? reason : ""); });
    } else {
      g_debug("ignoring unknown notification %s", method);
    }
  }

  // ------------------------------------------------------------------ start/stop (loop thread)
  void begin() {
    session = soup_session_new();
    begin_connect();
  }

  void begin_stop() {
    if (stopping) return;
    stopping = true;
    cancel_timer(&reconnect_timer);
    cancel_timer(&tick_timer);
    fail_queue(client_error::kClosed, "client stopped");
    if (connecting) {
      g_cancellable_cancel(connect_cancel);  // on_connected() finishes
      return;
    }
    if (ws && soup_websocket_connection_get_state(ws) == SOUP_WEBSOCKET_STATE_OPEN) {
      if (announced) {
        Outgoing o = make("peer.disconnect", NodePtr(empty_object()), {}, {});
        o.pending.internal = [](const Response &, JsonNode *) {};
        send_now(std::move(o));
      }
      fail_all_pending(client_error::kClosed, "client stopped");
      soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
      timer(cfg.close_timeout, &close_timer, [this] { finish_stop(); });
      return;
    }
    finish_stop();
  }

  void finish_stop() {
    if (finished) return;
    finished = true;
    cancel_timer(&close_timer);
    cancel_timer(&connect_timer);
    cancel_timer(&reconnect_timer);
    cancel_timer(&tick_timer);
    teardown_ws();
    announced = false;
    fail_all_pending(client_error::kClosed, "client stopped");
    // Whatever was posted before stop() closed the mailbox still runs (and fails with kClosed).
    for (;;) {
      std::deque<std::function<void()>> work;
      {
        std::lock_guard<std::mutex> lk(mbox_mu);
        work.swap(mbox);
        if (work.empty() && mbox_source) {
          g_source_destroy(mbox_source);
          g_source_unref(mbox_source);
          mbox_source = nullptr;
        }
      }
      if (work.empty()) break;
      for (auto &fn : work) fn();
    }
    fail_queue(client_error::kClosed, "client stopped");
    if (session) {
      soup_session_abort(session);
      g_object_unref(session);
      session = nullptr;
    }
    set_state(ClientState::Closed);
    // Signal stop() from a separate idle so nothing on this stack touches `this` afterwards.
    auto *d = new std::shared_ptr<Done>(done);
    GSource *src = g_idle_source_new();
    g_source_set_priority(src, G_PRIORITY_DEFAULT);  // a lower one could starve under load
    g_source_set_callback(
        src, [](gpointer p) -> gboolean {
          auto &dn = *static_cast<std::shared_ptr<Done> *>(p);
          {
            std::lock_guard<std::mutex> lk(dn->mu);
            dn->done = true;
          }
          dn->cv.notify_all();
          return G_SOURCE_REMOVE;
        },
        d, [](gpointer p) { delete static_cast<std::shared_ptr<Done> *>(p); });
    g_source_attach(src, ctx);
    g_source_unref(src);
  }
};

// ---------------------------------------------------------------------------------------------
// Client

Client::Client(ClientConfig config, ClientCallbacks callbacks)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(callbacks))) {}

Client::~Client() { stop(); }

bool Client::start() {
  Impl &im = *impl_;
  if (im.started.exchange(true)) return false;
  if (!http_url_for(im.cfg.url, &im.http_url)) {
    im.error(client_error::kInvalidArgument,
             "invalid signalling url '" + im.cfg.url + "' (want ws://host:port/rpc)");
    return false;
  }
  im.loop = im.cfg.loop ? im.cfg.loop : std::make_shared<ClientLoop>();
  im.ctx = im.loop->context();
  {
    std::lock_guard<std::mutex> lk(im.mbox_mu);
    im.accepting = true;
  }
  im.post([&im] { im.begin(); });
  return true;
}

void Client::stop() {
  Impl &im = *impl_;
  if (!im.loop) return;
  if (im.loop->on_thread()) {
    g_critical("mf::signalling::Client::stop() called from a client callback; ignored");
    return;
  }
  bool posted;
  {
    std::lock_guard<std::mutex> lk(im.mbox_mu);
    posted = im.accepting;
  }
  if (posted) {
    // Post begin_stop, then close the mailbox so later sends are refused.
    im.post([&im] { im.begin_stop(); });
    std::lock_guard<std::mutex> lk(im.mbox_mu);
    im.accepting = false;
  }
  {
    std::unique_lock<std::mutex> lk(im.done->mu);
    im.done->cv.wait(lk, [&] { return im.done->done; });
  }
  im.loop.reset();  // joins a private loop's thread
}

namespace {
// params {to, sdp} of peer.offer / peer.answer.
NodePtr sdp_params(const std::string &to, const std::string &sdp) {
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "to");
  json_builder_add_string_value(b, to.c_str());
  json_builder_set_member_name(b, "sdp");
  json_builder_add_string_value(b, sdp.c_str());
  json_builder_end_object(b);
  NodePtr params(json_builder_get_root(b));
  g_object_unref(b);
  return params;
}
}  // namespace

bool Client::send_offer(const std::string &to, const std::string &sdp, ReplyCallback reply) {
  Impl *im = impl_.get();
  return im->post([im, to, sdp, reply]() mutable {
    im->submit(im->make("peer.offer", sdp_params(to, sdp), to, std::move(reply)));
  });
}

bool Client::send_answer(const std::string &to, const std::string &sdp, ReplyCallback reply) {
  Impl *im = impl_.get();
  return im->post([im, to, sdp, reply]() mutable {
    im->submit(im->make("peer.answer", sdp_params(to, sdp), to, std::move(reply)));
  });
}

bool Client::send_ice_candidate(const std::string &to, const std::string &candidate,
                                int sdp_mline_index, const std::string &sdp_mid,
                                ReplyCallback reply) {
  Impl *im = impl_.get();
  return im->post([im, to, candidate, sdp_mline_index, sdp_mid, reply]() mutable {
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "to");
    json_builder_add_string_value(b, to.c_str());
    json_builder_set_member_name(b, "candidate");
    json_builder_add_string_value(b, candidate.c_str());
    json_builder_set_member_name(b, "sdp_mline_index");
    json_builder_add_int_value(b, sdp_mline_index);
    json_builder_set_member_name(b, "sdp_mid");
    json_builder_add_string_value(b, sdp_mid.c_str());
    json_builder_end_object(b);
    NodePtr params(json_builder_get_root(b));
    g_object_unref(b);
    im->submit(im->make("peer.ice_candidate", std::move(params), to, std::move(reply)));
  });
}

bool Client::request(const std::string &method, const std::string &params_json,
                     ReplyCallback reply) {
  Impl *im = impl_.get();
  return im->post([im, method, params_json, reply]() mutable {
    NodePtr params;
    std::string problem;
    if (params_json.find_first_not_of(" \t\r\n") == std::string::npos) {
      params.reset(empty_object());
    } else if (PrescanResult pre = prescan(params_json); !pre.ok) {
      problem = "params are not valid JSON (" + pre.reason + " at byte " +
                std::to_string(pre.offset) + ")";
    } else {
      JsonParser *parser = json_parser_new();
      GError *err = nullptr;
      if (!json_parser_load_from_data(parser, params_json.data(),
                                      static_cast<gssize>(params_json.size()), &err)) {
        problem = std::string("params are not valid JSON: ") + err->message;
        g_error_free(err);
      } else {
        JsonNode *root = json_parser_get_root(parser);
        if (root && (JSON_NODE_HOLDS_OBJECT(root) || JSON_NODE_HOLDS_ARRAY(root)))
          params.reset(json_node_copy(root));
        else
          problem = "params must be a JSON object or array";
      }
      g_object_unref(parser);
    }
    Impl::Outgoing o = im->make("", std::move(params), {}, std::move(reply));
    o.method = method;
    o.pending.method = method;
    if (!problem.empty()) {
      im->fail(o.pending, client_error::kInvalidArgument, problem);
      return;
    }
    im->submit(std::move(o));
  });
}

ClientState Client::state() const { return impl_->state.load(); }
uint64_t Client::reconnects() const { return impl_->reconnects.load(); }
uint64_t Client::undelivered() const { return impl_->undelivered.load(); }

std::string Client::peer_id() const { return impl_->peer_id_copy(); }

AnnounceResult Client::announce_result() const {
  std::lock_guard<std::mutex> lk(impl_->info_mu);
  return impl_->announce;
}

std::vector<ReconnectDelay> Client::reconnect_delays() const {
  std::lock_guard<std::mutex> lk(impl_->info_mu);
  return {impl_->delays.begin(), impl_->delays.end()};
}

}  // namespace mf::signalling
