// WebSocket client thread of the LLM bridge (see net_client.h).
#include "net_client.h"

#include <gst/gst.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include <algorithm>
#include <cstdlib>

GST_DEBUG_CATEGORY_EXTERN(mf_llm_bridge_debug);
#define GST_CAT_DEFAULT mf_llm_bridge_debug

namespace mf::llm {

namespace {
constexpr size_t kMaxHistory = 20;
constexpr int kMaxBacklog = 50;  // queued audio sends (20 ms each): one second
constexpr gint64 kRolloverGraceUs = 10 * G_USEC_PER_SEC;
constexpr gint64 kHealthyUs = 10 * G_USEC_PER_SEC;

std::string http_url(const std::string &ws) {
  if (g_str_has_prefix(ws.c_str(), "ws://")) return "http://" + ws.substr(5);
  if (g_str_has_prefix(ws.c_str(), "wss://")) return "https://" + ws.substr(6);
  return ws;
}
}  // namespace

struct NetClient::Impl {
  NetClient *self = nullptr;
  NetSettings s;
  Callbacks cb;
  GMainContext *ctx = nullptr;
  GMainLoop *loop = nullptr;
  GThread *thread = nullptr;
  std::atomic<int> backlog{0};
  std::atomic<bool> stopping{false};

  // Network-thread state.
  SoupSession *session = nullptr;
  SoupMessage *msg = nullptr;
  SoupWebsocketConnection *conn = nullptr;
  GCancellable *cancel = nullptr;
  GSource *retry_src = nullptr;
  GSource *tick_src = nullptr;
  bool connecting = false;
  bool ever_attempted = false;
  gint64 connect_started_us = 0;
  guint backoff_ms = 0;
  bool awaiting_ready = false;  // session ack due
  bool response_due = false;
  gint64 last_event_us = 0;
  gint64 session_start_us = 0;
  std::deque<HistoryItem> history;
  std::string gemini_out_text;
  // Input timeline of this session: where each sent chunk started (samples appended in this
  // session at the provider rate) and the running time of its first sample in the sink stream.
  struct InputMark {
    uint64_t offset;
    uint64_t running_time;
  };
  std::deque<InputMark> input_marks;  // bounded (kMaxInputMarks)
  uint64_t input_samples = 0;
  static constexpr size_t kMaxInputMarks = 3000;  // ~60 s of 20 ms chunks

  void note_input(size_t n, uint64_t running_time) {
    if (running_time != UINT64_MAX) {
      input_marks.push_back({input_samples, running_time});
      while (input_marks.size() > kMaxInputMarks) input_marks.pop_front();
    }
    input_samples += n;
  }

  // audio_end_ms of this session -> running time of that input sample, UINT64_MAX if unknown.
  uint64_t input_time_of(int64_t ms) const {
    if (ms < 0 || input_marks.empty()) return UINT64_MAX;
    int rate = provider_input_rate(s.provider);
    uint64_t off = uint64_t(ms) * uint64_t(rate) / 1000;
    if (off < input_marks.front().offset) return UINT64_MAX;  // older than what we remember
    auto it = std::upper_bound(input_marks.begin(), input_marks.end(), off,
                               [](uint64_t v, const InputMark &m) { return v < m.offset; });
    const InputMark &m = *(it - 1);
    return m.running_time + (off - m.offset) * 1000000000ull / uint64_t(rate);
  }

  // ---- helpers on the network thread ----
  void send(const std::string &text) {
    if (conn && soup_websocket_connection_get_state(conn) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_send_text(conn, text.c_str());
  }

  void error(const char *kind, const std::string &m) {
    GST_WARNING("llm %s error: %s", kind, m.c_str());
    if (cb.on_error) cb.on_error(kind, m);
  }

  void drop_connection() {
    if (conn) {
      g_signal_handlers_disconnect_by_data(conn, this);
      if (soup_websocket_connection_get_state(conn) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(conn, SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
      // Unref later: this may run inside one of the connection's own signal emissions.
      GSource *idle = g_idle_source_new();
      g_source_set_callback(idle, [](gpointer) -> gboolean { return G_SOURCE_REMOVE; }, conn,
                            g_object_unref);
      g_source_attach(idle, ctx);
      g_source_unref(idle);
      conn = nullptr;
    }
    if (cancel) {
      g_cancellable_cancel(cancel);
      g_object_unref(cancel);
      cancel = nullptr;
    }
    g_clear_object(&msg);
    connecting = false;
    awaiting_ready = false;
    response_due = false;
    if (self->connected_.exchange(false) && cb.on_connected) cb.on_connected(false);
  }

  void schedule(guint delay_ms) {
    if (stopping) return;
    if (retry_src) {
      g_source_destroy(retry_src);
      g_source_unref(retry_src);
    }
    retry_src = g_timeout_source_new(delay_ms);
    g_source_set_callback(
        retry_src,
        [](gpointer p) -> gboolean {
          auto *im = static_cast<Impl *>(p);
          g_source_unref(im->retry_src);
          im->retry_src = nullptr;
          im->connect();
          return G_SOURCE_REMOVE;
        },
        this, nullptr);
    g_source_attach(retry_src, ctx);
  }

  guint next_backoff() {
    guint lo = std::max(1u, s.reconnect_min_ms);
    backoff_ms = backoff_ms == 0 ? lo : std::min(s.reconnect_max_ms, backoff_ms * 2);
    return std::min(backoff_ms, std::max(lo, s.reconnect_max_ms));
  }

  void retry_after_failure(guint delay_ms) { schedule(delay_ms); }

  // ---- connect ----
  void connect() {
    if (stopping || conn || connecting) return;
    if (ever_attempted && cb.on_reconnect) cb.on_reconnect();
    ever_attempted = true;
    if (!s.token_url.empty()) {
      fetch_token();
      return;
    }
    const char *key = s.key_env.empty() ? nullptr : g_getenv(s.key_env.c_str());
    if (!key || !*key) {
      error("auth", "environment variable " + s.key_env + " (api-key-env) is not set or empty");
      retry_after_failure(s.reconnect_max_ms);
      return;
    }
    open(key, false);
  }

  void fetch_token() {
    SoupMessage *m = soup_message_new("POST", s.token_url.c_str());
    if (!m) {
      error("auth", "token-url is not a valid http(s) URL");
      retry_after_failure(s.reconnect_max_ms);
      return;
    }
    GBytes *empty = g_bytes_new_static("", 0);
    soup_message_set_request_body_from_bytes(m, "application/json", empty);
    g_bytes_unref(empty);
    connecting = true;
    connect_started_us = g_get_monotonic_time();
    cancel = g_cancellable_new();
    msg = m;
    soup_session_send_and_read_async(session, m, G_PRIORITY_DEFAULT, cancel, on_token, this);
  }

  static void on_token(GObject *src, GAsyncResult *res, gpointer p) {
    GError *err = nullptr;
    GBytes *body = soup_session_send_and_read_finish(SOUP_SESSION(src), res, &err);
    if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      g_error_free(err);
      if (body) g_bytes_unref(body);
      return;  // p may be gone
    }
    auto *im = static_cast<Impl *>(p);
    guint status = im->msg ? soup_message_get_status(im->msg) : 0;
    g_clear_object(&im->msg);
    g_clear_object(&im->cancel);
    im->connecting = false;
    std::string token;
    if (!err && status >= 200 && status < 300 && body) {
      gsize len = 0;
      const char *d = static_cast<const char *>(g_bytes_get_data(body, &len));
      JsonParser *jp = json_parser_new();
      if (json_parser_load_from_data(jp, d, gssize(len), nullptr)) {
        JsonNode *root = json_parser_get_root(jp);
        if (root && JSON_NODE_HOLDS_OBJECT(root)) {
          JsonObject *o = json_node_get_object(root);
          auto str = [](JsonObject *ob, const char *n) -> std::string {
            if (!ob || !json_object_has_member(ob, n)) return "";
            JsonNode *nd = json_object_get_member(ob, n);
            if (JSON_NODE_HOLDS_VALUE(nd) && json_node_get_value_type(nd) == G_TYPE_STRING)
              return json_node_get_string(nd);
            return "";
          };
          if (json_object_has_member(o, "client_secret")) {
            JsonNode *cs = json_object_get_member(o, "client_secret");
            token = JSON_NODE_HOLDS_OBJECT(cs) ? str(json_node_get_object(cs), "value")
                                               : str(o, "client_secret");
          }
          if (token.empty()) token = str(o, "value");
          if (token.empty()) token = str(o, "token");
        }
      }
      g_object_unref(jp);
    }
    if (body) g_bytes_unref(body);
    if (token.empty()) {
      std::string why = err ? err->message : ("HTTP " + std::to_string(status));
      if (err) g_error_free(err);
      bool auth = status == 401 || status == 403;
      im->error("auth", "could not get an ephemeral token from token-url (" + why + ")");
      im->retry_after_failure(auth ? im->s.reconnect_max_ms : im->next_backoff());
      return;
    }
    im->open(token, true);
  }

  void open(const std::string &secret, bool ephemeral) {
    std::string url = s.url.empty() ? default_url(s.provider, s.session.model.empty()
                                                                  ? default_model(s.provider)
                                                                  : s.session.model)
                                    : s.url;
    if (s.provider == Provider::Gemini)
      url = with_query_param(url, ephemeral ? "access_token" : "key", secret);
    SoupMessage *m = soup_message_new("GET", http_url(url).c_str());
    if (!m) {
      error("network", "url " + redact_url(url) + " is not a valid ws:// or wss:// URL");
      retry_after_failure(s.reconnect_max_ms);
      return;
    }
    if (s.provider == Provider::OpenAI) {
      SoupMessageHeaders *h = soup_message_get_request_headers(m);
      if (url_is_azure(url) && !ephemeral) {
        soup_message_headers_replace(h, "api-key", secret.c_str());
      } else {
        std::string bearer = "Bearer " + secret;
        soup_message_headers_replace(h, "Authorization", bearer.c_str());
      }
      soup_message_headers_replace(h, "OpenAI-Beta", "realtime=v1");
    }
    GST_INFO("llm: connecting to %s", redact_url(url).c_str());
    msg = m;
    cancel = g_cancellable_new();
    connecting = true;
    connect_started_us = g_get_monotonic_time();
    soup_session_websocket_connect_async(session, m, nullptr, nullptr, G_PRIORITY_DEFAULT,
                                         cancel, on_connected, this);
  }

  static void on_connected(GObject *src, GAsyncResult *res, gpointer p) {
    GError *err = nullptr;
    SoupWebsocketConnection *c =
        soup_session_websocket_connect_finish(SOUP_SESSION(src), res, &err);
    if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      g_error_free(err);
      if (c) g_object_unref(c);
      return;
    }
    auto *im = static_cast<Impl *>(p);
    im->connecting = false;
    g_clear_object(&im->cancel);
    if (!c) {
      guint status = im->msg ? soup_message_get_status(im->msg) : 0;
      std::string why = err ? err->message : "unknown";
      g_clear_error(&err);
      guint delay;
      if (status == 401 || status == 403) {
        im->error("auth", "upgrade refused with HTTP " + std::to_string(status) +
                              " (check the key in the environment variable)");
        delay = im->s.reconnect_max_ms;
      } else if (status == 429) {
        const char *ra =
            soup_message_headers_get_one(soup_message_get_response_headers(im->msg), "Retry-After");
        guint64 secs = ra ? g_ascii_strtoull(ra, nullptr, 10) : 0;
        im->error("rate_limit", "upgrade refused with HTTP 429" +
                                    std::string(ra ? " (Retry-After " + std::string(ra) + ")" : ""));
        guint backoff = im->next_backoff();
        delay = std::max(backoff, guint(std::min<guint64>(secs * 1000, 3600000)));
      } else if (status >= 500) {
        im->error("server", "upgrade failed with HTTP " + std::to_string(status));
        delay = im->next_backoff();
      } else if (status >= 100) {
        im->error("protocol", "upgrade failed with HTTP " + std::to_string(status) + ": " + why);
        delay = im->next_backoff();
      } else {
        im->error("network", "connect failed: " + why);
        delay = im->next_backoff();
      }
      g_clear_object(&im->msg);
      im->retry_after_failure(delay);
      return;
    }
    g_clear_object(&im->msg);
    im->conn = c;
    soup_websocket_connection_set_max_incoming_payload_size(c, 64 * 1024 * 1024);
    g_signal_connect(c, "message", G_CALLBACK(on_message), im);
    g_signal_connect(c, "closed", G_CALLBACK(on_closed), im);
    g_signal_connect(c, "error", G_CALLBACK(on_ws_error), im);
    im->session_start_us = g_get_monotonic_time();
    im->last_event_us = im->session_start_us;
    im->awaiting_ready = true;
    im->response_due = false;
    im->input_marks.clear();
    im->input_samples = 0;
    // Audio may be sent from now on (the server counts it from here); the element reports
    // `connected` only when the session is acknowledged (SessionReady below).
    im->self->connected_ = true;
    im->send_setup();
  }

  void send_setup() {
    std::vector<HistoryItem> h(history.begin(), history.end());
    if (s.provider == Provider::OpenAI) {
      send(openai_session_update(s.session));
      for (const auto &it : h) send(openai_history_item(it));
    } else {
      send(gemini_setup(s.session));
      if (!h.empty()) send(gemini_history(h));
    }
  }

  void remember(bool user, const std::string &text) {
    if (text.empty()) return;
    history.push_back({user, text});
    while (history.size() > kMaxHistory) history.pop_front();
  }

  static void on_message(SoupWebsocketConnection *, gint, GBytes *message, gpointer p) {
    auto *im = static_cast<Impl *>(p);
    gsize len = 0;
    const char *d = static_cast<const char *>(g_bytes_get_data(message, &len));
    im->last_event_us = g_get_monotonic_time();
    std::vector<ServerEvent> evs;
    std::string err;
    bool ok;
    if (im->s.provider == Provider::OpenAI) {
      ServerEvent ev;
      ok = openai_parse(d, len, &ev, &err);
      if (ok) evs.push_back(std::move(ev));
    } else {
      ok = gemini_parse(d, len, &evs, &err);
    }
    if (!ok) im->error("protocol", err);
    for (auto &ev : evs) {
      if (!im->handle(ev)) return;  // connection replaced
    }
  }

  // Internal bookkeeping, then the element. False when the connection was dropped.
  bool handle(ServerEvent &ev) {
    switch (ev.kind) {
      case EventKind::SessionReady:
        if (awaiting_ready && cb.on_connected) cb.on_connected(true);
        awaiting_ready = false;
        break;
      case EventKind::SpeechStopped:
        ev.input_time = input_time_of(ev.audio_ms);
        response_due = true;
        break;
      case EventKind::ResponseCreated: response_due = true; break;
      case EventKind::AudioDelta: response_due = s.provider == Provider::Gemini ? true : response_due; break;
      case EventKind::ResponseDone:
        response_due = false;
        if (s.provider == Provider::Gemini && !gemini_out_text.empty()) {
          remember(false, gemini_out_text);
          gemini_out_text.clear();
        }
        break;
      case EventKind::Interrupted: response_due = false; gemini_out_text.clear(); break;
      case EventKind::UserText: remember(true, ev.text); break;
      case EventKind::AssistantTextDelta:
        if (s.provider == Provider::Gemini) gemini_out_text += ev.text;
        break;
      case EventKind::AssistantTextDone: remember(false, ev.text); break;
      case EventKind::Unknown:
        GST_DEBUG("llm: unknown server event type %s", ev.type.c_str());
        if (cb.on_unknown_event) cb.on_unknown_event();
        return true;
      default: break;
    }
    if (ev.kind == EventKind::Error) {
      bool rate = ev.error_code.find("rate_limit") != std::string::npos;
      error(rate ? "rate_limit" : "server",
            "server error event " + ev.error_code + ": " + ev.error_message);
    }
    if (cb.on_event) cb.on_event(ev);
    if (ev.kind == EventKind::GoAway ||
        (ev.kind == EventKind::Error && ev.error_code == "session_expired")) {
      rollover();
      return false;
    }
    return true;
  }

  static void on_closed(SoupWebsocketConnection *c, gpointer p) {
    auto *im = static_cast<Impl *>(p);
    gushort code = soup_websocket_connection_get_close_code(c);
    // A session that lived a while was healthy: start the backoff over. One that is closed right
    // after the upgrade keeps backing off (no reconnect storm against a failing server).
    if (g_get_monotonic_time() - im->session_start_us > kHealthyUs) im->backoff_ms = 0;
    im->drop_connection();
    if (im->stopping) return;
    im->error("network", "connection closed by the server (code " + std::to_string(code) + ")");
    im->retry_after_failure(im->next_backoff());
  }

  static void on_ws_error(SoupWebsocketConnection *, GError *e, gpointer p) {
    GST_DEBUG("llm: websocket error: %s", e ? e->message : "?");
    (void)p;  // "closed" follows and handles the reconnect
  }

  void rollover() {
    GST_INFO("llm: rolling the session over");
    drop_connection();
    if (cb.on_rollover) cb.on_rollover();
    ever_attempted = false;  // a planned new session is not a reconnect
    schedule(0);
  }

  // Every 100 ms: watchdog, handshake timeout, session age.
  void tick() {
    gint64 now = g_get_monotonic_time();
    gint64 wd = gint64(s.watchdog_ms) * 1000;
    if (connecting && now - connect_started_us > std::max<gint64>(wd, 10 * G_USEC_PER_SEC)) {
      error("network", "connect timed out");
      drop_connection();
      retry_after_failure(next_backoff());
      return;
    }
    if (conn && (awaiting_ready || response_due) && now - last_event_us > wd) {
      error("watchdog", std::string("no server event for ") + std::to_string(s.watchdog_ms) +
                            " ms while " + (awaiting_ready ? "the session ack" : "a response") +
                            " was due");
      drop_connection();
      backoff_ms = 0;
      schedule(std::max(1u, s.reconnect_min_ms));
      return;
    }
    if (conn && s.max_session_s > 0) {
      gint64 age = now - session_start_us;
      gint64 limit = gint64(s.max_session_s) * G_USEC_PER_SEC;
      if (age >= limit && (!response_due || age >= limit + kRolloverGraceUs)) rollover();
    }
  }

  static gpointer thread_main(gpointer p) {
    auto *im = static_cast<Impl *>(p);
    g_main_context_push_thread_default(im->ctx);
    im->session = soup_session_new();
    im->tick_src = g_timeout_source_new(100);
    g_source_set_callback(
        im->tick_src, [](gpointer q) -> gboolean {
          static_cast<Impl *>(q)->tick();
          return G_SOURCE_CONTINUE;
        }, im, nullptr);
    g_source_attach(im->tick_src, im->ctx);
    im->connect();
    g_main_loop_run(im->loop);
    // Shutdown on this thread.
    im->drop_connection();
    if (im->retry_src) {
      g_source_destroy(im->retry_src);
      g_source_unref(im->retry_src);
      im->retry_src = nullptr;
    }
    g_source_destroy(im->tick_src);
    g_source_unref(im->tick_src);
    g_object_unref(im->session);
    im->session = nullptr;
    // Let cancelled operations finish their callbacks before the context goes away.
    while (g_main_context_iteration(im->ctx, FALSE)) {
    }
    g_main_context_pop_thread_default(im->ctx);
    return nullptr;
  }

  void invoke(std::function<void()> fn) {
    auto *f = new std::function<void()>(std::move(fn));
    g_main_context_invoke_full(
        ctx, G_PRIORITY_DEFAULT,
        [](gpointer q) -> gboolean {
          (*static_cast<std::function<void()> *>(q))();
          return G_SOURCE_REMOVE;
        },
        f, [](gpointer q) { delete static_cast<std::function<void()> *>(q); });
  }
};

NetClient::NetClient(NetSettings settings, Callbacks cb) : impl_(std::make_unique<Impl>()) {
  impl_->self = this;
  impl_->s = std::move(settings);
  impl_->cb = std::move(cb);
  impl_->ctx = g_main_context_new();
  impl_->loop = g_main_loop_new(impl_->ctx, FALSE);
}

NetClient::~NetClient() {
  stop();
  g_main_loop_unref(impl_->loop);
  g_main_context_unref(impl_->ctx);
}

void NetClient::stop() {
  if (!impl_->thread) return;
  impl_->stopping = true;
  GMainLoop *loop = impl_->loop;
  impl_->invoke([loop] { g_main_loop_quit(loop); });
  g_thread_join(impl_->thread);
  impl_->thread = nullptr;
  connected_ = false;
}

void NetClient::start() {
  if (!impl_->thread) impl_->thread = g_thread_new("mf-llm-net", Impl::thread_main, impl_.get());
}

bool NetClient::send_audio(std::vector<int16_t> samples, uint64_t running_time) {
  if (!connected_.load() || impl_->backlog.load() > kMaxBacklog) return false;
  impl_->backlog++;
  Impl *im = impl_.get();
  im->invoke([im, v = std::move(samples), running_time] {
    im->backlog--;
    if (!im->conn) return;  // dropped meanwhile: not part of any session's input
    im->note_input(v.size(), running_time);
    if (im->s.provider == Provider::OpenAI)
      im->send(openai_audio_append(v.data(), v.size()));
    else
      im->send(gemini_audio(v.data(), v.size(), provider_input_rate(Provider::Gemini)));
  });
  return true;
}

void NetClient::cancel_and_truncate(const std::string &item_id, int64_t audio_end_ms) {
  Impl *im = impl_.get();
  if (im->s.provider != Provider::OpenAI) return;  // Gemini cancels server-side on interruption
  im->invoke([im, item_id, audio_end_ms] {
    im->send(openai_response_cancel());
    if (!item_id.empty()) im->send(openai_truncate(item_id, audio_end_ms));
  });
}

}  // namespace mf::llm
