// See bare_client.h.
#include "bare_client.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include <cmath>
#include <future>
#include <vector>

namespace mf::bench {

struct BareClient::Impl {
  static void on_message(SoupWebsocketConnection *, gint, GBytes *msg, gpointer self) {
    auto *c = static_cast<BareClient *>(self);
    const gint64 now = g_get_monotonic_time();
    gsize n = 0;
    const char *d = static_cast<const char *>(g_bytes_get_data(msg, &n));
    JsonParser *p = json_parser_new();
    if (json_parser_load_from_data(p, d, gssize(n), nullptr) && JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
      JsonObject *o = json_node_get_object(json_parser_get_root(p));
      const std::string type = json_object_has_member(o, "type") ? json_object_get_string_member(o, "type") : "";
      if (type == "response.audio.delta") {
        gsize len = 0;
        guchar *raw = g_base64_decode(json_object_get_string_member(o, "delta"), &len);
        g_free(raw);
        c->delta_samples_ += int64_t(len / 2);
        gint64 zero = 0;
        c->first_delta_us_.compare_exchange_strong(zero, now);
      } else if (type == "input_audio_buffer.speech_started") {
        gint64 zero = 0;
        c->speech_started_us_.compare_exchange_strong(zero, now);
      } else if (type == "response.done") {
        ++c->done_;
      }
    }
    g_object_unref(p);
  }
  static gboolean tick(gpointer self) {
    auto *c = static_cast<BareClient *>(self);
    auto *ws = static_cast<SoupWebsocketConnection *>(g_object_get_data(G_OBJECT(c->session_obj), "ws"));
    if (!ws || soup_websocket_connection_get_state(ws) != SOUP_WEBSOCKET_STATE_OPEN) return G_SOURCE_CONTINUE;
    std::vector<int16_t> block(480, 0);
    bool speech = false, last = false;
    {
      std::lock_guard<std::mutex> lock(c->mu_);
      for (size_t i = 0; i < block.size() && !c->pending_.empty(); ++i) {
        block[i] = c->pending_.front();
        c->pending_.pop_front();
        speech = true;
      }
      last = speech && c->pending_.empty();
    }
    gchar *b64 = g_base64_encode(reinterpret_cast<const guchar *>(block.data()), block.size() * 2);
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "type", "input_audio_buffer.append");
    json_object_set_string_member(o, "audio", b64);
    g_free(b64);
    JsonNode *node = json_node_init_object(json_node_alloc(), o);
    gchar *s = json_to_string(node, FALSE);
    soup_websocket_connection_send_text(ws, s);
    g_free(s);
    json_node_unref(node);
    json_object_unref(o);
    const gint64 now = g_get_monotonic_time();
    if (speech && !c->was_speaking_) c->speech_start_us_ = now;
    if (last) c->speech_end_us_ = now;
    c->was_speaking_ = speech && !last;
    return G_SOURCE_CONTINUE;
  }
};

BareClient::BareClient(const std::string &url, const std::string &key) {
  ctx_ = g_main_context_new();
  loop_ = g_main_loop_new(ctx_, FALSE);
  thread_ = std::thread([this, url, key] { run(url, key); });
}

BareClient::~BareClient() {
  g_main_context_invoke(ctx_, [](gpointer loop) -> gboolean {
    g_main_loop_quit(static_cast<GMainLoop *>(loop));
    return G_SOURCE_REMOVE;
  }, loop_);
  thread_.join();
  g_main_loop_unref(loop_);
  g_main_context_unref(ctx_);
}

void BareClient::run(const std::string &url, const std::string &key) {
  g_main_context_push_thread_default(ctx_);
  SoupSession *session = soup_session_new();
  session_obj = G_OBJECT(session);
  SoupMessage *msg = soup_message_new("GET", url.c_str());
  soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization", ("Bearer " + key).c_str());
  soup_message_headers_replace(soup_message_get_request_headers(msg), "OpenAI-Beta", "realtime=v1");
  soup_session_websocket_connect_async(session, msg, nullptr, nullptr, G_PRIORITY_DEFAULT, nullptr,
      [](GObject *src, GAsyncResult *res, gpointer self) {
        auto *c = static_cast<BareClient *>(self);
        SoupWebsocketConnection *ws = soup_session_websocket_connect_finish(SOUP_SESSION(src), res, nullptr);
        if (!ws) {
          g_printerr("bare client: cannot connect\n");
          return;
        }
        soup_websocket_connection_set_max_incoming_payload_size(ws, 0);
        g_signal_connect(ws, "message", G_CALLBACK(Impl::on_message), c);
        g_object_set_data_full(G_OBJECT(src), "ws", ws, g_object_unref);
        // The same session setup the bridge sends (audio in and out as PCM16, server VAD).
        JsonObject *session = json_object_new();
        JsonArray *modalities = json_array_new();
        json_array_add_string_element(modalities, "audio");
        json_array_add_string_element(modalities, "text");
        json_object_set_array_member(session, "modalities", modalities);
        json_object_set_string_member(session, "input_audio_format", "pcm16");
        json_object_set_string_member(session, "output_audio_format", "pcm16");
        JsonObject *td = json_object_new();
        json_object_set_string_member(td, "type", "server_vad");
        json_object_set_object_member(session, "turn_detection", td);
        JsonObject *update = json_object_new();
        json_object_set_string_member(update, "type", "session.update");
        json_object_set_object_member(update, "session", session);
        JsonNode *node = json_node_init_object(json_node_alloc(), update);
        gchar *text = json_to_string(node, FALSE);
        soup_websocket_connection_send_text(ws, text);
        g_free(text);
        json_node_unref(node);
        json_object_unref(update);
        c->connected_ = true;
      }, this);
  GSource *t = g_timeout_source_new(20);
  g_source_set_priority(t, G_PRIORITY_HIGH);
  g_source_set_callback(t, Impl::tick, this, nullptr);
  g_source_attach(t, ctx_);
  g_main_loop_run(loop_);
  g_source_destroy(t);
  g_source_unref(t);
  g_object_set_data(G_OBJECT(session), "ws", nullptr);
  g_object_unref(msg);
  g_object_unref(session);
  g_main_context_pop_thread_default(ctx_);
}

void BareClient::say(int ms) {
  std::lock_guard<std::mutex> lock(mu_);
  const size_t n = size_t(24000) * size_t(ms) / 1000;
  for (size_t i = 0; i < n; ++i) pending_.push_back(int16_t(6000 * std::sin(2 * M_PI * 300.0 * double(i) / 24000)));
}

void BareClient::arm() {
  first_delta_us_ = 0;
  speech_started_us_ = 0;
}

}  // namespace mf::bench
