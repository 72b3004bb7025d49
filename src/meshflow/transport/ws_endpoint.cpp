#include "meshflow/transport/ws_endpoint.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "meshflow/metrics/registry.h"
#include "meshflow/signalling/client_backoff.h"
#include "meshflow/signalling/counting_stream.h"
#include "meshflow/signalling/token.h"

namespace mf::transport {

namespace {
metrics::Registry &reg() { return metrics::Registry::global(); }
void count_error(const std::string &code) {
  reg().counter("meshflow_ws_errors_total", "WebSocket media transport: bad input refused, by error code",
                {{"code", code}}).inc();
}
void count_conn(const char *result) {
  reg().counter("meshflow_ws_connections_total", "WebSocket media connections, by handshake result",
                {{"result", result}}).inc();
}
void count_closed(const std::string &reason) {
  reg().counter("meshflow_ws_closed_total", "WebSocket media connections closed, by reason",
                {{"reason", reason}}).inc();
}
metrics::Gauge &open_gauge() {
  return reg().gauge("meshflow_ws_connections", "Open WebSocket media connections");
}
// Bytes of a WebSocket frame carrying `n` payload bytes (server frames are unmasked; +4 if masked).
uint64_t frame_bytes(uint64_t n, bool masked) {
  return n + (n < 126 ? 2 : n < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

struct Bucket {
  double rate = 0, burst = 0, level = 0;
  gint64 last = 0;
  void init(double r, double b) {
    rate = r;
    burst = b;
    level = b;
    last = g_get_monotonic_time();
  }
  bool take(double n, gint64 now) {
    level = std::min(burst, level + rate * double(now - last) / 1e6);
    last = now;
    if (level < n) return false;
    level -= n;
    return true;
  }
};

bool valid_peer_id(const std::string &s) {
  if (s.empty() || s.size() > 64) return false;
  for (char ch : s)
    if (!g_ascii_isalnum(ch) && ch != '-' && ch != '_') return false;
  return true;
}
}  // namespace

struct Conn;

struct WsHub::State {
  std::string room, session_id;
  WsLimits lim;
  Listener listener;
  mutable std::mutex mu;  // protects peer_list
  std::vector<std::string> peer_list;
  // Endpoint thread only.
  std::map<std::string, Conn *> conns;
  bool stopped = false;
  bool registered = false;
  // Client mode (endpoint thread).
  bool client = false;
  std::string url;
  signalling::BackoffSchedule backoff;
  GSource *retry = nullptr;
  GCancellable *cancel = nullptr;
  SoupSession *session = nullptr;
};

struct WsEndpoint::Impl {
  GMainContext *ctx = g_main_context_new();
  GMainLoop *loop = g_main_loop_new(ctx, FALSE);
  std::thread thread;
  std::mutex mu;  // protects rooms, soup, origins
  std::map<std::string, std::weak_ptr<WsHub::State>> rooms;
  SoupServer *soup = nullptr;
  std::vector<std::string> origins;
  std::set<SoupServerMessage *> pending;  // server thread only
  std::unique_ptr<signalling::TokenVerifier> verifier;
  std::atomic<size_t> nconns{0};
  size_t max_connections = 1024;
  // Endpoint thread only.
  std::map<Conn *, std::unique_ptr<Conn>> conns;
  std::vector<Conn *> reap;
  GSource *reap_source = nullptr;

  Impl() {
    if (const char *s = g_getenv("MESHFLOW_SECRET"); s && *s)
      verifier = std::make_unique<signalling::TokenVerifier>(s);
    thread = std::thread([this] {
      pthread_setname_np(pthread_self(), "mf-ws-io");
      g_main_context_push_thread_default(ctx);
      GSource *tick = g_timeout_source_new(20);
      g_source_set_callback(tick, [](gpointer d) -> gboolean {
        static_cast<Impl *>(d)->on_tick();
        return G_SOURCE_CONTINUE;
      }, this, nullptr);
      g_source_attach(tick, ctx);
      g_source_unref(tick);
      g_main_loop_run(loop);
      g_main_context_pop_thread_default(ctx);
    });
  }

  bool on_thread() const { return g_main_context_is_owner(ctx); }

  void post(std::function<void()> fn) {
    auto *f = new std::function<void()>(std::move(fn));
    g_main_context_invoke_full(ctx, G_PRIORITY_DEFAULT, [](gpointer d) -> gboolean {
      (*static_cast<std::function<void()> *>(d))();
      return G_SOURCE_REMOVE;
    }, f, [](gpointer d) { delete static_cast<std::function<void()> *>(d); });
  }

  void run_sync(const std::function<void()> &fn) {
    if (on_thread()) return fn();
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    post([&] {
      fn();
      std::lock_guard<std::mutex> l(m);
      done = true;
      cv.notify_all();
    });
    std::unique_lock<std::mutex> l(m);
    cv.wait(l, [&] { return done; });
  }

  std::shared_ptr<WsHub::State> hub_for(const std::string &room) {
    std::lock_guard<std::mutex> l(mu);
    auto it = rooms.find(room);
    return it == rooms.end() ? nullptr : it->second.lock();
  }

  void on_tick();
  void schedule_reap(Conn *c);
  void accept(GIOStream *base, const std::string &room, const std::string &peer_req,
              const std::string &origin, GUri *uri);
  void client_connect(const std::shared_ptr<WsHub::State> &st);
  void schedule_retry(const std::shared_ptr<WsHub::State> &st);

  static void handler(SoupServer *, SoupServerMessage *msg, const char *, GHashTable *query,
                      gpointer data);
  static void on_wrote_informational(SoupServerMessage *m, gpointer d);
};

// ---------------------------------------------------------------------------------------------
// One WebSocket connection (endpoint thread).
struct Conn {
  WsEndpoint::Impl *ep;
  std::shared_ptr<WsHub::State> hub;
  bool client = false;
  SoupWebsocketConnection *ws = nullptr;
  GIOStream *io = nullptr;  // our counting wrapper (server mode)
  signalling::StreamBudget budget;
  std::string peer;
  bool joined = false, closing = false, closed = false;
  GSource *abort_timer = nullptr;
  std::map<uint16_t, StreamFormat> in;
  struct Out {
    uint16_t id = 0;
    uint32_t seq = 0;
  };
  std::map<uint32_t, Out> out;
  uint16_t next_out = 1;
  struct Item {
    bool media;
    bool binary;
    GBytes *bytes;
  };
  std::deque<Item> q;
  size_t qbytes = 0;
  uint64_t handed = 0;
  Bucket msgs, bytes;
  uint64_t rate_drops = 0;
  gint64 rate_window = 0, last_rate_error = 0;
  gint64 last_rx = g_get_monotonic_time(), last_tx = g_get_monotonic_time();
  unsigned hb_ms;

  Conn(WsEndpoint::Impl *e, std::shared_ptr<WsHub::State> h, bool is_client)
      : ep(e), hub(std::move(h)), client(is_client) {
    const WsLimits lim = hub ? hub->lim : WsLimits{};
    msgs.init(lim.messages_per_s, lim.message_burst);
    bytes.init(lim.bytes_per_s, lim.byte_burst);
    hb_ms = lim.heartbeat_ms;
    ep->nconns++;
    open_gauge().inc();
  }
  ~Conn() {
    if (abort_timer) {
      g_source_destroy(abort_timer);
      g_source_unref(abort_timer);
    }
    for (auto &i : q) g_bytes_unref(i.bytes);
    if (ws) {
      g_signal_handlers_disconnect_by_data(ws, this);
      if (soup_websocket_connection_get_state(ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(ws, 1001, "going away");
      g_object_unref(ws);
    }
    if (io) {
      signalling::counting_io_stream_detach(io);
      g_object_unref(io);
    }
    ep->nconns--;
    open_gauge().dec();
  }

  const WsLimits &lim() const { return hub->lim; }
  bool open() const { return !closing && !closed && ws && soup_websocket_connection_get_state(ws) == SOUP_WEBSOCKET_STATE_OPEN; }
  uint64_t inflight() const {
    return client ? 0 : (handed > budget.written_total ? handed - budget.written_total : 0);
  }
  // Client mode has no counting stream (libsoup's session made the connection): hand libsoup a
  // frame only while the socket is writable, so its own queue holds at most one frame.
  bool socket_full() const {
    if (!client || !ws) return false;
    GIOStream *io = soup_websocket_connection_get_io_stream(ws);
    if (GTlsConnection *tls = G_IS_TLS_CONNECTION(io) ? G_TLS_CONNECTION(io) : nullptr) {
      GIOStream *base = nullptr;
      g_object_get(tls, "base-io-stream", &base, nullptr);
      bool full = base && G_IS_SOCKET_CONNECTION(base) &&
                  !(g_socket_condition_check(g_socket_connection_get_socket(G_SOCKET_CONNECTION(base)), G_IO_OUT) & G_IO_OUT);
      if (base) g_object_unref(base);
      return full;
    }
    return G_IS_SOCKET_CONNECTION(io) &&
           !(g_socket_condition_check(g_socket_connection_get_socket(G_SOCKET_CONNECTION(io)), G_IO_OUT) & G_IO_OUT);
  }

  void pump() {
    while (!q.empty() && open() && inflight() < lim().socket_high_water && !socket_full()) {
      Item it = q.front();
      q.pop_front();
      gsize n = 0;
      const void *p = g_bytes_get_data(it.bytes, &n);
      qbytes -= n;
      if (it.binary) {
        soup_websocket_connection_send_binary(ws, p, n);
        reg().counter("meshflow_ws_frames_sent_total", "WebSocket media frames sent").inc();
      } else {
        soup_websocket_connection_send_text(ws, static_cast<const char *>(p));
        n = n ? n - 1 : 0;  // the terminating NUL is not sent
      }
      handed += frame_bytes(n, client);
      last_tx = g_get_monotonic_time();
      g_bytes_unref(it.bytes);
    }
  }

  void enqueue(GBytes *b, bool media, bool binary) {
    size_t n = g_bytes_get_size(b);
    // Full: the oldest media goes first; control messages are kept (bounded below).
    while (qbytes + n > lim().max_queue_bytes) {
      auto it = std::find_if(q.begin(), q.end(), [](const Item &i) { return i.media; });
      if (it == q.end()) break;
      qbytes -= g_bytes_get_size(it->bytes);
      g_bytes_unref(it->bytes);
      q.erase(it);
      reg().counter("meshflow_ws_outbound_dropped_total",
                    "Media frames dropped from a slow consumer's outbound queue").inc();
    }
    if (qbytes + n > lim().max_queue_bytes) {
      if (media) {
        reg().counter("meshflow_ws_outbound_dropped_total",
                      "Media frames dropped from a slow consumer's outbound queue").inc();
        g_bytes_unref(b);
        return;
      }
      if (qbytes + n > 4 * lim().max_queue_bytes) {  // control alone overflowing: give up on it
        g_bytes_unref(b);
        count_error("slow_consumer");
        close(1008, "slow consumer", false);
        return;
      }
    }
    q.push_back(Item{media, binary, b});
    qbytes += n;
    pump();
  }

  void send_text(const std::string &s) {
    if (closing || closed) return;
    enqueue(g_bytes_new(s.c_str(), s.size() + 1), false, false);
  }
  void error(const std::string &code, const std::string &message) {
    count_error(code);
    send_text(make_error(code, message));
  }

  void close(gushort code, const std::string &reason, bool graceful) {
    if (closing || closed) return;
    closing = true;
    count_closed(reason);
    if (ws && soup_websocket_connection_get_state(ws) == SOUP_WEBSOCKET_STATE_OPEN) {
      if (graceful) soup_websocket_connection_send_text(ws, make_status_disconnecting(reason).c_str());
      soup_websocket_connection_close(ws, code, reason.c_str());
    }
    // A peer that never answers the close handshake (half-open) is cut after 2 s.
    abort_timer = g_timeout_source_new(2000);
    g_source_set_callback(abort_timer, [](gpointer d) -> gboolean {
      auto *c = static_cast<Conn *>(d);
      if (c->io)
        signalling::counting_io_stream_abort(c->io);
      else if (c->ws)
        g_io_stream_close(soup_websocket_connection_get_io_stream(c->ws), nullptr, nullptr);
      g_clear_pointer(&c->abort_timer, g_source_unref);
      return G_SOURCE_REMOVE;
    }, this, nullptr);
    g_source_attach(abort_timer, ep->ctx);
  }

  void join(const std::string &id) {
    peer = id;
    joined = true;
    hub->conns[peer] = this;
    {
      std::lock_guard<std::mutex> l(hub->mu);
      hub->peer_list.push_back(peer);
    }
    if (!hub->stopped && hub->listener.peer_joined) hub->listener.peer_joined(peer);
  }

  void leave(const std::string &reason) {
    if (!joined) return;
    joined = false;
    auto it = hub->conns.find(peer);
    if (it != hub->conns.end() && it->second == this) hub->conns.erase(it);
    {
      std::lock_guard<std::mutex> l(hub->mu);
      auto &v = hub->peer_list;
      v.erase(std::remove(v.begin(), v.end(), peer), v.end());
    }
    if (!hub->stopped) {
      for (auto &[id, f] : in)
        if (hub->listener.stream_stopped) hub->listener.stream_stopped(peer, id);
      if (hub->listener.peer_left) hub->listener.peer_left(peer, reason);
    }
    in.clear();
  }

  bool rate_ok(size_t n) {
    gint64 now = g_get_monotonic_time();
    if (msgs.take(1, now) && bytes.take(double(n), now)) return true;
    if (now - rate_window > 10 * G_USEC_PER_SEC) {
      rate_window = now;
      rate_drops = 0;
    }
    rate_drops++;
    count_error("rate_limited");
    if (now - last_rate_error >= G_USEC_PER_SEC) {  // tell the peer at most once a second
      last_rate_error = now;
      send_text(make_error("rate_limited", "over the budget of " +
                                               std::to_string(int(lim().messages_per_s)) +
                                               " messages/s and " + std::to_string(int(lim().bytes_per_s)) +
                                               " bytes/s: message dropped"));
    }
    if (rate_drops > lim().flood_close_after) close(4429, "message flood", true);
    return false;
  }

  void on_text(std::string_view text) {
    Control c = parse_control(text);
    if (!c.ok) return error(c.code, c.message);
    if (c.type == "ping") return send_text(make_pong(c));
    if (c.type == "stream.start") {
      uint16_t id = uint16_t(c.stream_id);
      if (!in.count(id) && in.size() >= 16)
        return error("too_many_streams", "stream.start " + std::to_string(id) + ": at most 16 streams per connection");
      if (in.count(id)) {  // restart: the old one ends first
        if (!hub->stopped && hub->listener.stream_stopped) hub->listener.stream_stopped(peer, id);
        in.erase(id);
      }
      bool ok = hub->stopped || !hub->listener.stream_started || hub->listener.stream_started(peer, id, c.format);
      if (!ok)
        return error("stream_rejected", "stream.start " + std::to_string(id) + ": this session takes one audio stream per peer");
      in[id] = c.format;
      return;
    }
    if (c.type == "stream.stop") {
      uint16_t id = uint16_t(c.stream_id);
      if (!in.erase(id)) return error("unknown_stream", "stream.stop for stream " + std::to_string(id) + " that was not started");
      if (!hub->stopped && hub->listener.stream_stopped) hub->listener.stream_stopped(peer, id);
      return;
    }
    if (c.type == "status" && client) {
      if (c.state == "connected") {
        hub->backoff.reset();
        if (c.heartbeat_ms >= 100 && c.heartbeat_ms <= 600000) hb_ms = unsigned(c.heartbeat_ms);
      }
      return;
    }
    // pong, transcript, error, status from a client: nothing to do.
  }

  void on_binary(const uint8_t *p, size_t n) {
    MediaFrame f = parse_media(p, n);
    if (!f.ok) return error(f.code, f.message);
    auto it = in.find(f.header.stream_id);
    if (it == in.end())
      return error("unknown_stream", "binary frame (seq " + std::to_string(f.header.seq) + ") for stream " +
                                         std::to_string(f.header.stream_id) + " before its stream.start");
    std::string code, msg;
    if (!check_payload(it->second, f.payload_bytes, &code, &msg))
      return error(code, "stream " + std::to_string(f.header.stream_id) + " seq " + std::to_string(f.header.seq) + ": " + msg);
    reg().counter("meshflow_ws_frames_received_total", "WebSocket media frames received").inc();
    if (!hub->stopped && hub->listener.media)
      hub->listener.media(peer, f.header.stream_id, f.header, f.payload, f.payload_bytes);
  }

  static void on_message(SoupWebsocketConnection *, gint type, GBytes *message, gpointer data) {
    auto *c = static_cast<Conn *>(data);
    gsize len = 0;
    const auto *p = static_cast<const uint8_t *>(g_bytes_get_data(message, &len));
    c->budget.consumed(frame_bytes(len, true));
    if (c->closing || c->closed) return;
    c->last_rx = g_get_monotonic_time();
    if (!c->rate_ok(len)) return;
    if (type == SOUP_WEBSOCKET_DATA_TEXT)
      c->on_text(std::string_view(reinterpret_cast<const char *>(p ? p : (const uint8_t *)""), len));
    else
      c->on_binary(p, len);
  }
  static void on_pong(SoupWebsocketConnection *, GBytes *payload, gpointer data) {
    auto *c = static_cast<Conn *>(data);
    c->budget.consumed(frame_bytes(payload ? g_bytes_get_size(payload) : 0, true));
    c->last_rx = g_get_monotonic_time();
  }
  static void on_error(SoupWebsocketConnection *, GError *error, gpointer) {
    if (error && error->domain == SOUP_WEBSOCKET_ERROR)
      count_error(error->code == SOUP_WEBSOCKET_CLOSE_TOO_BIG ? "too_large" : "websocket_protocol");
  }
  static void on_closed(SoupWebsocketConnection *ws, gpointer data) {
    auto *c = static_cast<Conn *>(data);
    if (c->closed) return;
    if (!c->closing) count_closed("peer");
    c->closed = true;
    gushort code = soup_websocket_connection_get_close_code(ws);
    c->leave(code == 1000 || code == 1001 ? "disconnect" : "closed");
    if (c->client && !c->hub->stopped) c->ep->schedule_retry(c->hub);
    c->ep->schedule_reap(c);
  }

  void wire() {
    g_signal_connect(ws, "message", G_CALLBACK(on_message), this);
    g_signal_connect(ws, "closed", G_CALLBACK(on_closed), this);
    g_signal_connect(ws, "error", G_CALLBACK(on_error), this);
    if (g_signal_lookup("pong", SOUP_TYPE_WEBSOCKET_CONNECTION))
      g_signal_connect(ws, "pong", G_CALLBACK(on_pong), this);
  }
};

void WsEndpoint::Impl::schedule_reap(Conn *c) {
  reap.push_back(c);
  if (reap_source) return;
  reap_source = g_idle_source_new();
  g_source_set_callback(reap_source, [](gpointer d) -> gboolean {
    auto *self = static_cast<Impl *>(d);
    g_clear_pointer(&self->reap_source, g_source_unref);
    std::vector<Conn *> dead;
    dead.swap(self->reap);
    for (Conn *x : dead) self->conns.erase(x);
    return G_SOURCE_REMOVE;
  }, this, nullptr);
  g_source_attach(reap_source, ctx);
}

void WsEndpoint::Impl::on_tick() {
  gint64 now = g_get_monotonic_time();
  for (auto &[p, c] : conns) {
    if (c->closing || c->closed) continue;
    c->pump();
    gint64 hb = gint64(c->hb_ms) * 1000;
    if (now - c->last_rx > 3 * hb) {
      count_error("heartbeat_timeout");
      c->close(4408, "heartbeat timeout", true);
    } else if (c->client && now - c->last_tx > hb) {
      c->send_text(make_ping(g_get_real_time() / 1000));
    }
  }
}

void WsEndpoint::Impl::accept(GIOStream *base, const std::string &room, const std::string &peer_req,
                              const std::string &origin, GUri *uri) {
  auto hub = hub_for(room);
  auto conn = std::make_unique<Conn>(this, hub ? hub : std::make_shared<WsHub::State>(), false);
  Conn *c = conn.get();
  const WsLimits &lim = c->hub->lim;
  c->budget.limit = lim.max_message_bytes + lim.max_message_bytes / 8 + 1024;
  c->budget.context = ctx;
  c->budget.on_exceeded = [c] {
    count_error("too_large");
    c->close(1009, "message too big", false);
  };
  c->io = signalling::counting_io_stream_new(base, &c->budget);
  c->ws = SOUP_WEBSOCKET_CONNECTION(g_object_new(
      SOUP_TYPE_WEBSOCKET_CONNECTION, "io-stream", c->io, "uri", uri, "connection-type",
      SOUP_WEBSOCKET_CONNECTION_SERVER, "origin", origin.empty() ? nullptr : origin.c_str(),
      "max-incoming-payload-size", guint64(lim.max_message_bytes), "keepalive-interval", 0u, nullptr));
  c->wire();
  conns[c] = std::move(conn);
  if (!hub || hub->stopped) {
    count_conn("no_room");
    c->close(4404, "no session for room", false);
    c->hub = std::make_shared<WsHub::State>();  // never the (absent) session's
    return;
  }
  std::string id = peer_req;
  if (!id.empty() && hub->conns.count(id)) {
    count_conn("duplicate_peer");
    c->send_text(make_error("duplicate_peer", "peer_id '" + id + "' is already connected to this room"));
    c->close(4409, "duplicate peer id", false);
    return;
  }
  if (id.empty()) {
    do {
      id = "ws-" + std::to_string(g_random_int_range(0, 0x7fffffff));
    } while (hub->conns.count(id));
  }
  count_conn("accepted");
  c->send_text(make_status_connected(id, room, lim.heartbeat_ms, hub->session_id));
  c->join(id);
}

namespace {
struct Up {
  WsEndpoint::Impl *self;
  std::string room, peer, origin;
};
}  // namespace

void WsEndpoint::Impl::on_wrote_informational(SoupServerMessage *m, gpointer d) {
  auto *u = static_cast<Up *>(d);
  Impl *s = u->self;
  s->pending.erase(m);
  GIOStream *base = soup_server_message_steal_connection(m);
  GUri *uri = g_uri_ref(soup_server_message_get_uri(m));
  std::string room = u->room, peer = u->peer, origin = u->origin;
  g_signal_handlers_disconnect_matched(m, G_SIGNAL_MATCH_DATA, 0, 0, nullptr, nullptr, d);  // frees u
  g_object_unref(m);
  s->post([s, base, uri, room, peer, origin] {
    s->accept(base, room, peer, origin, uri);
    g_object_unref(base);
    g_uri_unref(uri);
  });
}

void WsEndpoint::Impl::handler(SoupServer *, SoupServerMessage *msg, const char *, GHashTable *query,
                               gpointer data) {
  auto *self = static_cast<Impl *>(data);
  auto param = [&](const char *k) -> std::string {
    const char *v = query ? static_cast<const char *>(g_hash_table_lookup(query, k)) : nullptr;
    return v ? v : "";
  };
  auto refuse = [&](guint status, const char *result, const char *why) {
    count_conn(result);
    soup_server_message_set_status(msg, status, nullptr);
    soup_server_message_set_response(msg, "text/plain", SOUP_MEMORY_COPY, why, strlen(why));
  };
  SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
  const char *origin = soup_message_headers_get_one(h, "Origin");
  std::string room = param("room"), peer = param("peer_id"), token = param("token");
  {
    std::lock_guard<std::mutex> l(self->mu);
    if (!self->origins.empty() &&
        std::find(self->origins.begin(), self->origins.end(), origin ? origin : "") == self->origins.end())
      return refuse(SOUP_STATUS_FORBIDDEN, "origin", "origin not allowed");
  }
  if (room.empty() || room.size() > 128) return refuse(SOUP_STATUS_BAD_REQUEST, "bad_request", "query parameter room (1..128 bytes) required");
  if (!peer.empty() && !valid_peer_id(peer))
    return refuse(SOUP_STATUS_BAD_REQUEST, "bad_request", "peer_id: 1..64 of [A-Za-z0-9_-]");
  if (self->verifier) {
    auto e = self->verifier->verify(token, room);
    if (e != signalling::TokenError::None) return refuse(SOUP_STATUS_UNAUTHORIZED, "unauthorized", "valid token for the room required");
  }
  if (self->nconns.load() + self->pending.size() >= self->max_connections)
    return refuse(SOUP_STATUS_SERVICE_UNAVAILABLE, "limit", "too many connections");
  // No extensions: permessage-deflate would let a small input inflate past every byte budget.
  if (!soup_websocket_server_process_handshake(msg, nullptr, nullptr, nullptr, nullptr)) {
    count_conn("handshake");
    return;  // libsoup set 400 and the reason
  }
  self->pending.insert(msg);
  g_object_ref(msg);
  auto *up = new Up{self, room, peer, origin ? origin : ""};
  g_signal_connect_data(msg, "wrote-informational", G_CALLBACK(on_wrote_informational), up,
                        [](gpointer d, GClosure *) { delete static_cast<Up *>(d); }, GConnectFlags(0));
  // A client gone before the 101 was written: forget the message (no ref or count leaks).
  g_signal_connect(msg, "finished", G_CALLBACK(+[](SoupServerMessage *m, gpointer d) {
    Impl *s = static_cast<Up *>(d)->self;
    if (!s->pending.erase(m)) return;
    g_signal_handlers_disconnect_matched(m, G_SIGNAL_MATCH_DATA, 0, 0, nullptr, nullptr, d);  // frees d
    g_object_unref(m);
  }), up);
}

void WsEndpoint::Impl::schedule_retry(const std::shared_ptr<WsHub::State> &st) {
  if (st->stopped || st->retry) return;
  auto step = st->backoff.next();
  reg().counter("meshflow_ws_client_reconnects_total", "WebSocket client-mode reconnect attempts").inc();
  st->retry = g_timeout_source_new(guint(step.delay.count()));
  auto *ref = new std::shared_ptr<WsHub::State>(st);
  g_source_set_callback(st->retry, [](gpointer d) -> gboolean {
    auto &s = *static_cast<std::shared_ptr<WsHub::State> *>(d);
    g_clear_pointer(&s->retry, g_source_unref);
    WsEndpoint::global().impl()->client_connect(s);
    return G_SOURCE_REMOVE;
  }, ref, [](gpointer d) { delete static_cast<std::shared_ptr<WsHub::State> *>(d); });
  g_source_attach(st->retry, ctx);
}

void WsEndpoint::Impl::client_connect(const std::shared_ptr<WsHub::State> &st) {
  if (st->stopped) return;
  SoupMessage *msg = soup_message_new("GET", st->url.c_str());
  if (!msg) {
    count_error("bad_url");
    g_warning("websocket: cannot connect to '%s': not a valid URL", st->url.c_str());
    return;
  }
  if (!st->session) st->session = soup_session_new();
  g_clear_object(&st->cancel);
  st->cancel = g_cancellable_new();
  struct Job {
    Impl *self;
    std::shared_ptr<WsHub::State> st;
  };
  soup_session_websocket_connect_async(
      st->session, msg, nullptr, nullptr, G_PRIORITY_DEFAULT, st->cancel,
      [](GObject *src, GAsyncResult *res, gpointer d) {
        std::unique_ptr<Job> job(static_cast<Job *>(d));
        GError *err = nullptr;
        SoupWebsocketConnection *ws = soup_session_websocket_connect_finish(SOUP_SESSION(src), res, &err);
        auto &st = job->st;
        if (!ws) {
          bool cancelled = g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED);
          if (!cancelled) {
            count_conn("client_failed");
            g_message("websocket: connecting to %s failed: %s", st->url.c_str(), err ? err->message : "?");
            job->self->schedule_retry(st);
          }
          g_clear_error(&err);
          return;
        }
        if (st->stopped) {
          soup_websocket_connection_close(ws, 1001, "session stopped");
          g_object_unref(ws);
          return;
        }
        auto conn = std::make_unique<Conn>(job->self, st, true);
        Conn *c = conn.get();
        c->ws = ws;
        g_object_set(ws, "max-incoming-payload-size", guint64(st->lim.max_message_bytes),
                     "keepalive-interval", 0u, nullptr);
        c->wire();
        job->self->conns[c] = std::move(conn);
        count_conn("client_connected");
        c->join("remote");
      },
      new Job{this, st});
  g_object_unref(msg);
}

// ---------------------------------------------------------------------------------------------

WsEndpoint::WsEndpoint() : impl_(std::make_unique<Impl>()) {}
WsEndpoint::~WsEndpoint() = default;

WsEndpoint &WsEndpoint::global() {
  static WsEndpoint *e = new WsEndpoint();  // lives for the process (its thread too)
  return *e;
}

bool WsEndpoint::attach(SoupServer *server, const std::vector<std::string> &origins) {
  std::lock_guard<std::mutex> l(impl_->mu);
  if (impl_->soup) return false;
  impl_->soup = SOUP_SERVER(g_object_ref(server));
  impl_->origins = origins;
  soup_server_add_handler(server, "/ws", Impl::handler, impl_.get(), nullptr);
  return true;
}

void WsEndpoint::detach() {
  std::lock_guard<std::mutex> l(impl_->mu);
  if (!impl_->soup) return;
  soup_server_remove_handler(impl_->soup, "/ws");
  g_clear_object(&impl_->soup);
}

size_t WsEndpoint::connection_count() const { return impl_->nconns.load(); }

// ---------------------------------------------------------------------------------------------

WsHub::WsHub(std::string room, std::string session_id, WsLimits limits)
    : st_(std::make_shared<State>()) {
  st_->room = std::move(room);
  st_->session_id = std::move(session_id);
  st_->lim = limits;
}

WsHub::~WsHub() { stop(); }

void WsHub::set_listener(Listener l) { st_->listener = std::move(l); }
const std::string &WsHub::room() const { return st_->room; }

bool WsHub::start_server(std::string *error) {
  auto *ep = WsEndpoint::global().impl();
  std::lock_guard<std::mutex> l(ep->mu);
  auto &slot = ep->rooms[st_->room];
  if (auto other = slot.lock(); other && other != st_) {
    if (error) *error = "room '" + st_->room + "' is already served by another websocket session";
    return false;
  }
  slot = st_;
  st_->registered = true;
  return true;
}

void WsHub::start_client(const std::string &url) {
  auto *ep = WsEndpoint::global().impl();
  std::string u = url;
  if (u.find('?') == std::string::npos) {
    gchar *esc = g_uri_escape_string(st_->room.c_str(), nullptr, FALSE);
    u += std::string("?room=") + esc;
    g_free(esc);
  }
  auto st = st_;
  ep->post([ep, st, u] {
    st->client = true;
    st->url = u;
    ep->client_connect(st);
  });
}

void WsHub::stop() {
  auto *ep = WsEndpoint::global().impl();
  auto st = st_;
  if (st->registered) {
    std::lock_guard<std::mutex> l(ep->mu);
    auto it = ep->rooms.find(st->room);
    if (it != ep->rooms.end() && it->second.lock() == st) ep->rooms.erase(it);
    st->registered = false;
  }
  ep->run_sync([st] {
    if (st->stopped) return;
    st->stopped = true;  // no listener call after this
    if (st->retry) {
      g_source_destroy(st->retry);
      g_clear_pointer(&st->retry, g_source_unref);
    }
    if (st->cancel) g_cancellable_cancel(st->cancel);
    auto conns = st->conns;
    for (auto &[peer, c] : conns) {
      c->pump();
      c->close(1001, "session stopped", true);
    }
  });
}

std::vector<std::string> WsHub::peers() const {
  std::lock_guard<std::mutex> l(st_->mu);
  return st_->peer_list;
}

void WsHub::send_media(const std::string &peer, uint32_t key, const StreamFormat &f, uint64_t capture_us,
                       bool discont, GBytes *payload) {
  auto st = st_;
  g_bytes_ref(payload);
  WsEndpoint::global().impl()->post([st, peer, key, f, capture_us, discont, payload] {
    auto it = st->conns.find(peer);
    if (st->stopped || it == st->conns.end() || !it->second->open()) {
      g_bytes_unref(payload);
      return;
    }
    Conn *c = it->second;
    auto o = c->out.find(key);
    if (o == c->out.end()) {
      o = c->out.emplace(key, Conn::Out{c->next_out++, 0}).first;
      c->send_text(make_stream_start(o->second.id, f));
    }
    gsize n = 0;
    const void *p = g_bytes_get_data(payload, &n);
    auto *buf = static_cast<uint8_t *>(g_malloc(kMediaHeaderBytes + n));
    MediaHeader h;
    h.flags = discont ? kFlagDiscontinuity : 0;
    h.stream_id = o->second.id;
    h.seq = o->second.seq++;
    h.capture_ts_us = capture_us;
    write_media_header(h, buf);
    if (n) memcpy(buf + kMediaHeaderBytes, p, n);
    g_bytes_unref(payload);
    c->enqueue(g_bytes_new_take(buf, kMediaHeaderBytes + n), true, true);
  });
}

void WsHub::send_text(const std::string &peer, std::string json) {
  auto st = st_;
  WsEndpoint::global().impl()->post([st, peer, json = std::move(json)] {
    auto it = st->conns.find(peer);
    if (!st->stopped && it != st->conns.end()) it->second->send_text(json);
  });
}

void WsHub::stop_stream(uint32_t key) {
  auto st = st_;
  WsEndpoint::global().impl()->post([st, key] {
    for (auto &[peer, c] : st->conns) {
      auto o = c->out.find(key);
      if (o == c->out.end()) continue;
      c->send_text(make_stream_stop(o->second.id));
      c->out.erase(o);
    }
  });
}

}  // namespace mf::transport
