#include "meshflow/signalling/server.h"

#include <json-glib/json-glib.h>

#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "meshflow/signalling/counting_stream.h"
#include "meshflow/signalling/hub.h"

namespace mf::signalling {

ServerConfig ServerConfig::from_env() {
  ServerConfig c;
  if (const char *s = g_getenv("MESHFLOW_SECRET")) c.secret = s;
  if (const char *s = g_getenv("MESHFLOW_ADMIN_KEY")) c.admin_key = s;
  return c;
}

namespace {
// Size of the unmasked server->client frame carrying `n` payload bytes.
uint64_t frame_bytes(uint64_t n) { return n + (n < 126 ? 2 : n < 65536 ? 4 : 10); }
// Size of a masked client->server frame carrying `n` payload bytes.
uint64_t client_frame_bytes(uint64_t n) { return frame_bytes(n) + 4; }
constexpr size_t kMaxTokenRequestBytes = 4096;

// libsoup 3.2 attaches a WebSocket connection's I/O sources to the thread-default context of the
// moment it queues a frame. Our callbacks may be dispatched by someone iterating our context while
// another one is thread-default (nested loops): make ours the thread-default for the duration.
class ContextGuard {
 public:
  explicit ContextGuard(GMainContext *ctx)
      : ctx_(g_main_context_get_thread_default() == ctx ||
                     (!g_main_context_get_thread_default() && ctx == g_main_context_default())
                 ? nullptr
                 : ctx) {
    if (ctx_) g_main_context_push_thread_default(ctx_);
  }
  ~ContextGuard() {
    if (ctx_) g_main_context_pop_thread_default(ctx_);
  }

 private:
  GMainContext *ctx_;
};
}  // namespace

struct Server::Impl {
  struct Client;

  ServerConfig cfg;
  metrics::Registry &reg;
  GMainContext *ctx;
  Hub hub;
  SoupServer *soup = nullptr;
  bool own_server = false;
  bool shutting_down = false;
  unsigned bound_port = 0;
  std::string host;
  GSource *sweep_source = nullptr;
  std::map<Client *, std::unique_ptr<Client>> clients;
  std::set<SoupServerMessage *> pending_upgrades;
  std::vector<Client *> reap;     // closed clients, freed by reap_source
  GSource *reap_source = nullptr;

  Impl(ServerConfig c, metrics::Registry &r)
      : cfg(std::move(c)), reg(r), ctx(g_main_context_ref_thread_default()), hub(cfg, r) {
    if (cfg.max_frame_bytes == 0) cfg.max_frame_bytes = cfg.max_message_bytes;  // never 0
  }
  ~Impl() {
    if (reap_source) {
      g_source_destroy(reap_source);
      g_source_unref(reap_source);
    }
    g_main_context_unref(ctx);
  }

  void count_limit(const char *limit) { hub.count_limit(limit); }

  // ------------------------------------------------------------------------------------------
  struct Client : Link {
    Impl *impl;
    SoupWebsocketConnection *ws = nullptr;
    GIOStream *io = nullptr;
    StreamBudget budget;
    uint64_t id = 0;
    uint64_t sent_total = 0;
    bool closed = false;
    GSource *abort_timer = nullptr;

    explicit Client(Impl *i) : impl(i) {}
    ~Client() override {
      if (abort_timer) {
        g_source_destroy(abort_timer);
        g_source_unref(abort_timer);
      }
      if (ws) {
        g_signal_handlers_disconnect_by_data(ws, this);
        if (soup_websocket_connection_get_state(ws) == SOUP_WEBSOCKET_STATE_OPEN)
          soup_websocket_connection_close(ws, kCloseGoingAway, "server going away");
        g_object_unref(ws);
      }
      if (io) {
        counting_io_stream_detach(io);
        g_object_unref(io);
      }
    }

    bool send(const std::string &text) override {
      if (closed || soup_websocket_connection_get_state(ws) != SOUP_WEBSOCKET_STATE_OPEN)
        return true;
      uint64_t queued = sent_total > budget.written_total ? sent_total - budget.written_total : 0;
      uint64_t f = frame_bytes(text.size());
      if (queued + f > impl->cfg.max_outbound_bytes) return false;
      sent_total += f;
      soup_websocket_connection_send_text(ws, text.c_str());
      return true;
    }

    void close(unsigned short code, const std::string &reason) override {
      if (closed) return;
      if (soup_websocket_connection_get_state(ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(ws, code, reason.c_str());
      // A peer that never answers the close handshake (half-open) is cut after 2 s.
      if (!abort_timer) {
        abort_timer = g_timeout_source_new(2000);
        g_source_set_callback(
            abort_timer,
            [](gpointer d) -> gboolean {
              auto *self = static_cast<Client *>(d);
              if (self->io) counting_io_stream_abort(self->io);
              g_clear_pointer(&self->abort_timer, g_source_unref);
              return G_SOURCE_REMOVE;
            },
            this, nullptr);
        g_source_attach(abort_timer, impl->ctx);
      }
    }
  };

  static void on_message(SoupWebsocketConnection *, gint type, GBytes *message, gpointer data) {
    auto *c = static_cast<Client *>(data);
    if (c->closed) return;
    ContextGuard guard(c->impl->ctx);
    gsize len = 0;
    const char *p = static_cast<const char *>(g_bytes_get_data(message, &len));
    c->budget.consumed(client_frame_bytes(len));
    if (type != SOUP_WEBSOCKET_DATA_TEXT) {
      c->impl->count_limit("binary");
      c->impl->hub.kick(c->id, 1003, "text messages only", "binary");
      return;
    }
    c->impl->hub.receive(c->id, std::string_view(p ? p : "", len));
  }

  static void on_pong(SoupWebsocketConnection *, GBytes *payload, gpointer data) {
    auto *c = static_cast<Client *>(data);
    ContextGuard guard(c->impl->ctx);
    c->budget.consumed(client_frame_bytes(payload ? g_bytes_get_size(payload) : 0));
    c->impl->hub.alive(c->id);
  }

  // libsoup's own protocol defences (a frame over max-incoming-payload-size, invalid UTF-8, bad
  // close codes...) end the connection; count them too.
  static void on_error(SoupWebsocketConnection *, GError *error, gpointer data) {
    auto *c = static_cast<Client *>(data);
    if (error && error->domain == SOUP_WEBSOCKET_ERROR) {
      c->impl->count_limit(error->code == SOUP_WEBSOCKET_CLOSE_TOO_BIG ? "frame_bytes"
                                                                         : "websocket_protocol");
    }
  }

  static void on_closed(SoupWebsocketConnection *ws, gpointer data) {
    auto *c = static_cast<Client *>(data);
    if (c->closed) return;
    c->closed = true;
    ContextGuard guard(c->impl->ctx);
    gushort code = soup_websocket_connection_get_close_code(ws);
    c->impl->hub.disconnect(c->id, code == 1000 || code == 1001 ? "disconnect" : "closed");
    // Free outside libsoup's emission, from an idle the Impl owns (destroyed with it).
    Impl *impl = c->impl;
    impl->reap.push_back(c);
    if (!impl->reap_source) {
      impl->reap_source = g_idle_source_new();
      g_source_set_callback(
          impl->reap_source,
          [](gpointer d) -> gboolean {
            auto *self = static_cast<Impl *>(d);
            g_clear_pointer(&self->reap_source, g_source_unref);
            std::vector<Client *> dead;
            dead.swap(self->reap);
            for (Client *x : dead) self->clients.erase(x);
            return G_SOURCE_REMOVE;
          },
          impl, nullptr);
      g_source_attach(impl->reap_source, impl->ctx);
    }
  }

  void on_exceeded(Client *c) {
    ContextGuard guard(ctx);
    count_limit("message_bytes_fragmented");
    hub.kick(c->id, kCloseTooBig, "message too big", "size");
  }

  // ------------------------------------------------------------------------------------------
  static void on_upgrade(SoupServerMessage *msg, gpointer data) {
    auto *impl = static_cast<Impl *>(data);
    g_signal_handlers_disconnect_by_data(msg, impl);
    impl->pending_upgrades.erase(msg);
    if (impl->shutting_down) {
      g_object_unref(msg);
      return;
    }
    GIOStream *base = soup_server_message_steal_connection(msg);
    auto client = std::make_unique<Client>(impl);
    Client *c = client.get();
    c->budget.limit = impl->cfg.max_message_bytes + impl->cfg.max_message_bytes / 8 + 1024;
    c->budget.on_exceeded = [impl, c]() { impl->on_exceeded(c); };
    c->budget.context = impl->ctx;
    c->io = counting_io_stream_new(base, &c->budget);
    g_object_unref(base);
    const char *origin = soup_message_headers_get_one(
        soup_server_message_get_request_headers(msg), "Origin");
    guint keepalive = impl->cfg.heartbeat_ms >= 1000 ? impl->cfg.heartbeat_ms / 1000 : 0;
    ContextGuard guard(impl->ctx);
    c->ws = SOUP_WEBSOCKET_CONNECTION(g_object_new(
        SOUP_TYPE_WEBSOCKET_CONNECTION, "io-stream", c->io, "uri",
        soup_server_message_get_uri(msg), "connection-type", SOUP_WEBSOCKET_CONNECTION_SERVER,
        "origin", origin, "max-incoming-payload-size", guint64(impl->cfg.max_frame_bytes),
        "keepalive-interval", keepalive, nullptr));
    g_object_unref(msg);
    g_signal_connect(c->ws, "message", G_CALLBACK(on_message), c);
    g_signal_connect(c->ws, "closed", G_CALLBACK(on_closed), c);
    g_signal_connect(c->ws, "error", G_CALLBACK(on_error), c);
    if (g_signal_lookup("pong", SOUP_TYPE_WEBSOCKET_CONNECTION))
      g_signal_connect(c->ws, "pong", G_CALLBACK(on_pong), c);
    impl->clients[c] = std::move(client);
    c->id = impl->hub.connect(c);
  }

  static void rpc_handler(SoupServer *, SoupServerMessage *msg, const char *, GHashTable *,
                          gpointer data) {
    auto *impl = static_cast<Impl *>(data);
    if (impl->shutting_down) {
      soup_server_message_set_status(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, nullptr);
      return;
    }
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
    if (!impl->cfg.allowed_origins.empty()) {
      const char *origin = soup_message_headers_get_one(h, "Origin");
      bool ok = false;
      for (auto &o : impl->cfg.allowed_origins) ok = ok || (origin && o == origin);
      if (!ok) {
        impl->count_limit("origin");
        soup_server_message_set_status(msg, SOUP_STATUS_FORBIDDEN, nullptr);
        return;
      }
    }
    if (impl->hub.connection_count() + impl->pending_upgrades.size() >=
        impl->cfg.max_connections) {
      impl->count_limit("connections");
      soup_server_message_set_status(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, nullptr);
      return;
    }
    // No extensions offered: permessage-deflate would let a small compressed input inflate past
    // every byte budget.
    if (!soup_websocket_server_process_handshake(msg, nullptr, nullptr, nullptr, nullptr)) {
      impl->count_limit("handshake");
      return;  // libsoup set 400 and the reason
    }
    impl->pending_upgrades.insert(msg);
    g_object_ref(msg);
    g_signal_connect(msg, "wrote-informational", G_CALLBACK(on_upgrade), impl);
  }

  static void reply_json(SoupServerMessage *msg, guint status, JsonNode *body) {
    std::string text = to_string(body);
    soup_server_message_set_status(msg, status, nullptr);
    soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, text.data(),
                                     text.size());
  }

  static void reply_error(SoupServerMessage *msg, guint status, const char *error) {
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "error", error);
    NodePtr n(json_node_init_object(json_node_alloc(), o));
    json_object_unref(o);
    reply_json(msg, status, n.get());
  }

  static void token_handler(SoupServer *, SoupServerMessage *msg, const char *, GHashTable *,
                            gpointer data) {
    auto *impl = static_cast<Impl *>(data);
    auto count = [&](const char *status) {
      impl->reg.counter("meshflow_signalling_token_requests_total", "POST /token, by outcome",
                        {{"status", status}})
          .inc();
    };
    if (soup_server_message_get_method(msg) != SOUP_METHOD_POST) {
      soup_message_headers_append(soup_server_message_get_response_headers(msg), "Allow", "POST");
      return reply_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "POST only");
    }
    if (impl->cfg.secret.empty() || impl->cfg.admin_key.empty()) {
      count("disabled");
      return reply_error(msg, SOUP_STATUS_FORBIDDEN,
                         "token issuing needs MESHFLOW_SECRET and MESHFLOW_ADMIN_KEY");
    }
    const char *auth = soup_message_headers_get_one(
        soup_server_message_get_request_headers(msg), "Authorization");
    std::string presented;
    if (auth && g_ascii_strncasecmp(auth, "Bearer ", 7) == 0) presented = auth + 7;
    if (!constant_time_equal(presented, impl->cfg.admin_key)) {
      count("unauthorized");
      impl->count_limit("admin_key");
      soup_message_headers_append(soup_server_message_get_response_headers(msg),
                                  "WWW-Authenticate", "Bearer");
      return reply_error(msg, SOUP_STATUS_UNAUTHORIZED, "admin key required");
    }
    SoupMessageBody *body = soup_server_message_get_request_body(msg);
    GBytes *bytes = soup_message_body_flatten(body);
    gsize len = 0;
    const char *p = static_cast<const char *>(g_bytes_get_data(bytes, &len));
    std::string text(p ? p : "", len);
    g_bytes_unref(bytes);
    PrescanLimits lim;
    lim.max_bytes = kMaxTokenRequestBytes;
    lim.max_depth = 2;
    std::string room, user;
    int64_t ttl = 3600;
    bool ok = prescan(text, lim).ok;
    if (ok) {
      JsonParser *parser = json_parser_new_immutable();
      ok = json_parser_load_from_data(parser, text.data(), gssize(text.size()), nullptr);
      JsonNode *root = ok ? json_parser_get_root(parser) : nullptr;
      ok = root && JSON_NODE_HOLDS_OBJECT(root);
      if (ok) {
        JsonObject *o = json_node_get_object(root);
        auto str = [&](const char *k, std::string *out) {
          JsonNode *n = json_object_get_member(o, k);
          if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
            return false;
          *out = json_node_get_string(n);
          return true;
        };
        ok = str("room", &room) && str("user", &user);
        JsonNode *t = json_object_get_member(o, "ttl");
        if (ok && t) {
          ok = JSON_NODE_HOLDS_VALUE(t) && json_node_get_value_type(t) == G_TYPE_INT64;
          if (ok) ttl = json_node_get_int(t);
        }
      }
      g_object_unref(parser);
    }
    if (!ok || ttl <= 0 || ttl > impl->cfg.max_token_ttl_s || room.empty() || user.empty() ||
        room.size() > impl->cfg.max_string_bytes || user.size() > impl->cfg.max_string_bytes) {
      count("bad_request");
      return reply_error(msg, SOUP_STATUS_BAD_REQUEST,
                         "body must be {\"room\": string, \"user\": string, \"ttl\": seconds}");
    }
    std::string token = issue_token(impl->cfg.secret, room, user, ttl);
    if (token.empty()) {
      count("bad_request");
      return reply_error(msg, SOUP_STATUS_BAD_REQUEST, "invalid room or user");
    }
    count("issued");
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "token", token.c_str());
    json_object_set_int_member(o, "expires_at", g_get_real_time() / G_USEC_PER_SEC + ttl);
    json_object_set_string_member(o, "room", room.c_str());
    json_object_set_string_member(o, "user", user.c_str());
    NodePtr n(json_node_init_object(json_node_alloc(), o));
    json_object_unref(o);
    reply_json(msg, SOUP_STATUS_OK, n.get());
    soup_message_headers_append(soup_server_message_get_response_headers(msg), "Cache-Control",
                                "no-store");
  }

  static void metrics_handler(SoupServer *, SoupServerMessage *msg, const char *, GHashTable *,
                              gpointer data) {
    auto *impl = static_cast<Impl *>(data);
    if (soup_server_message_get_method(msg) != SOUP_METHOD_GET &&
        soup_server_message_get_method(msg) != SOUP_METHOD_HEAD) {
      soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, nullptr);
      return;
    }
    std::string text = impl->reg.render();
    soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
    soup_server_message_set_response(msg, "text/plain; version=0.0.4; charset=utf-8",
                                     SOUP_MEMORY_COPY, text.data(), text.size());
  }

  void start_sweeper() {
    if (sweep_source || cfg.heartbeat_ms == 0) return;
    guint period = std::max<guint>(10, cfg.heartbeat_ms / 4);
    sweep_source = g_timeout_source_new(period);
    g_source_set_callback(
        sweep_source,
        [](gpointer d) -> gboolean {
          ContextGuard guard(static_cast<Impl *>(d)->ctx);
          static_cast<Impl *>(d)->hub.sweep();
          return G_SOURCE_CONTINUE;
        },
        this, nullptr);
    g_source_attach(sweep_source, ctx);
  }

  void shutdown() {
    if (shutting_down) return;
    shutting_down = true;
    if (sweep_source) {
      g_source_destroy(sweep_source);
      g_clear_pointer(&sweep_source, g_source_unref);
    }
    for (SoupServerMessage *m : pending_upgrades) {
      g_signal_handlers_disconnect_by_data(m, this);
      g_object_unref(m);
    }
    pending_upgrades.clear();
    hub.set_room_events({});  // nobody is told about rooms vanishing with the server
    {
      ContextGuard guard(ctx);
      hub.shutdown();  // every client: close 1001
    }
    // Let the close handshakes run (bounded: 1 s), on our own context.
    if (!clients.empty() && g_main_context_acquire(ctx)) {
      gint64 deadline = g_get_monotonic_time() + G_USEC_PER_SEC;
      while (!clients.empty() && g_get_monotonic_time() < deadline) {
        bool closing = false;
        for (auto &[p, c] : clients) closing = closing || !c->closed;
        if (!closing) break;
        g_main_context_iteration(ctx, FALSE);
        g_usleep(1000);
      }
      g_main_context_release(ctx);
    }
    for (auto &[p, c] : clients) c->closed = true;
    reap.clear();
    clients.clear();
    if (soup) {
      soup_server_remove_handler(soup, cfg.path.c_str());
      if (cfg.token_endpoint) soup_server_remove_handler(soup, "/token");
      if (cfg.metrics_endpoint) soup_server_remove_handler(soup, "/metrics");
      if (own_server) soup_server_disconnect(soup);
      g_clear_object(&soup);
    }
  }
};

Server::Server(ServerConfig config, metrics::Registry &registry)
    : impl_(std::make_unique<Impl>(std::move(config), registry)) {}

Server::~Server() { impl_->shutdown(); }

bool Server::attach(SoupServer *server, std::string *error) {
  if (impl_->soup || impl_->shutting_down) {
    if (error) *error = impl_->soup ? "already attached" : "server was shut down";
    return false;
  }
  impl_->soup = SOUP_SERVER(g_object_ref(server));
  soup_server_add_handler(server, impl_->cfg.path.c_str(), Impl::rpc_handler, impl_.get(),
                          nullptr);
  if (impl_->cfg.token_endpoint)
    soup_server_add_handler(server, "/token", Impl::token_handler, impl_.get(), nullptr);
  if (impl_->cfg.metrics_endpoint)
    soup_server_add_handler(server, "/metrics", Impl::metrics_handler, impl_.get(), nullptr);
  impl_->start_sweeper();
  return true;
}

static bool is_loopback(const std::string &host) {
  if (host == "localhost") return true;
  GInetAddress *a = g_inet_address_new_from_string(host.c_str());
  if (!a) return false;
  bool lo = g_inet_address_get_is_loopback(a);
  g_object_unref(a);
  return lo;
}

bool Server::listen(const std::string &host_in, unsigned port, std::string *error) {
  std::string host = host_in == "localhost" ? "127.0.0.1" : host_in;
  if (impl_->cfg.secret.empty() && !is_loopback(host)) {
    if (error)
      *error = "refusing to listen on " + host +
               " without a secret: set MESHFLOW_SECRET (tokens) or listen on 127.0.0.1";
    return false;
  }
  if (port > 65535) {
    if (error) *error = "invalid port";
    return false;
  }
  GInetAddress *addr = g_inet_address_new_from_string(host.c_str());
  if (!addr) {
    if (error) *error = "not an IP address: " + host;
    return false;
  }
  GSocketAddress *sa = g_inet_socket_address_new(addr, guint16(port));
  g_object_unref(addr);
  SoupServer *s = SOUP_SERVER(g_object_new(SOUP_TYPE_SERVER, "server-header", "meshflow", nullptr));
  GError *err = nullptr;
  if (!soup_server_listen(s, sa, SoupServerListenOptions(0), &err)) {
    if (error) *error = std::string("cannot listen on ") + host + ":" + std::to_string(port) +
                        ": " + err->message;
    g_error_free(err);
    g_object_unref(sa);
    g_object_unref(s);
    return false;
  }
  g_object_unref(sa);
  GSList *listeners = soup_server_get_listeners(s);
  if (listeners) {
    GSocketAddress *local = g_socket_get_local_address(G_SOCKET(listeners->data), nullptr);
    if (local) {
      impl_->bound_port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
      g_object_unref(local);
    }
  }
  g_slist_free(listeners);
  impl_->host = host;
  bool ok = attach(s, error);
  impl_->own_server = ok;
  g_object_unref(s);
  return ok;
}

unsigned Server::port() const { return impl_->bound_port; }
std::string Server::url() const {
  if (!impl_->bound_port) return {};
  std::string h = impl_->host.find(':') != std::string::npos ? "[" + impl_->host + "]" : impl_->host;
  return "ws://" + h + ":" + std::to_string(impl_->bound_port) + impl_->cfg.path;
}
SoupServer *Server::soup_server() const { return impl_->soup; }
void Server::shutdown() { impl_->shutdown(); }
size_t Server::connection_count() const { return impl_->hub.connection_count(); }
size_t Server::room_count() const { return impl_->hub.room_count(); }
std::vector<std::string> Server::peers(const std::string &room) const {
  return impl_->hub.peers(room);
}
std::vector<std::string> Server::rooms() const { return impl_->hub.rooms(); }
void Server::set_room_events(RoomEvents events) { impl_->hub.set_room_events(std::move(events)); }
const ServerConfig &Server::config() const { return impl_->cfg; }
metrics::Registry &Server::registry() const { return impl_->reg; }

}  // namespace mf::signalling
