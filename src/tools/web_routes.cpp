#include "web_routes.h"

#include <json-glib/json-glib.h>

#include <cstring>
#include <string>

#include "meshflow/session/rollout.h"

namespace mf::tools {

namespace {

struct WebRoot {
  std::string dir;
};

const char *content_type(const std::string &name) {
  auto ends = [&](const char *ext) {
    size_t n = std::strlen(ext);
    return name.size() >= n && name.compare(name.size() - n, n, ext) == 0;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js") || ends(".mjs")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".json")) return "application/json";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  return "application/octet-stream";
}

bool safe_name(const std::string &name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  for (char c : name)
    if (!(g_ascii_isalnum(c) || c == '-' || c == '_' || c == '.')) return false;
  return name.find("..") == std::string::npos;
}

void serve_file(SoupServerMessage *msg, const std::string &dir, const std::string &name) {
  const char *method = soup_server_message_get_method(msg);
  if (g_strcmp0(method, "GET") != 0 && g_strcmp0(method, "HEAD") != 0) {
    soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, nullptr);
    return;
  }
  if (!safe_name(name)) {
    soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, nullptr);
    return;
  }
  gchar *path = g_build_filename(dir.c_str(), name.c_str(), nullptr);
  gchar *data = nullptr;
  gsize len = 0;
  if (g_file_test(path, G_FILE_TEST_IS_REGULAR) && g_file_get_contents(path, &data, &len, nullptr)) {
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Cache-Control", "no-cache");
    soup_server_message_set_response(msg, content_type(name), SOUP_MEMORY_TAKE, data, len);
    soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
  } else {
    soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, nullptr);
  }
  g_free(path);
}

void reply_json(SoupServerMessage *msg, guint status, JsonBuilder *b) {
  JsonNode *root = json_builder_get_root(b);
  gchar *text = json_to_string(root, FALSE);
  json_node_unref(root);
  auto *headers = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(headers, "Cache-Control", "no-store");
  soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE, text, std::strlen(text));
  soup_server_message_set_status(msg, status, nullptr);
}

void reply_error(SoupServerMessage *msg, guint status, const SessionConfig &cfg, const char *reason,
                 const std::string &message) {
  cfg.registry->counter("meshflow_session_config_errors_total",
                        "GET /session-config requests refused, by reason", {{"reason", reason}})
      .inc();
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "error");
  json_builder_add_string_value(b, reason);
  json_builder_set_member_name(b, "message");
  json_builder_add_string_value(b, message.c_str());
  json_builder_end_object(b);
  reply_json(msg, status, b);
  g_object_unref(b);
}

// Why a client offered WebRTC uses WebSocket (POST /session-config?...&fallback=REASON).
const char *const kFallbackReasons[] = {"no_webrtc", "ice_timeout"};

// GET /session-config?room=ROOM&user=USER: the decision.
// POST /session-config?room=ROOM&user=USER&fallback=no_webrtc|ice_timeout: a client reports that it
// fell back to WebSocket (counted; 204).
void session_config(SoupServerMessage *msg, GHashTable *query, const SessionConfig &cfg) {
  const char *method = soup_server_message_get_method(msg);
  const bool post = g_strcmp0(method, "POST") == 0;
  if (!post && g_strcmp0(method, "GET") != 0 && g_strcmp0(method, "HEAD") != 0) {
    reply_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, cfg, "method", "/session-config: use GET (or POST a fallback)");
    return;
  }
  const char *room = query ? static_cast<const char *>(g_hash_table_lookup(query, "room")) : nullptr;
  const char *user = query ? static_cast<const char *>(g_hash_table_lookup(query, "user")) : nullptr;
  if (!user || !*user) {
    reply_error(msg, SOUP_STATUS_BAD_REQUEST, cfg, "missing_user",
                "/session-config: query parameter 'user' is missing or empty (?room=ROOM&user=USER)");
    return;
  }
  if (std::strlen(user) > kMaxUserIdBytes || !g_utf8_validate(user, -1, nullptr)) {
    reply_error(msg, SOUP_STATUS_BAD_REQUEST, cfg, "bad_user",
                "/session-config: 'user' must be valid UTF-8 of at most " +
                    std::to_string(kMaxUserIdBytes) + " bytes");
    return;
  }
  if (room && (std::strlen(room) > 128 || !g_utf8_validate(room, -1, nullptr))) {
    reply_error(msg, SOUP_STATUS_BAD_REQUEST, cfg, "bad_room",
                "/session-config: 'room' must be valid UTF-8 of at most 128 bytes");
    return;
  }
  if (post) {
    const char *why = query ? static_cast<const char *>(g_hash_table_lookup(query, "fallback")) : nullptr;
    const char *reason = nullptr;
    for (const char *r : kFallbackReasons)
      if (g_strcmp0(why, r) == 0) reason = r;
    if (!reason) {
      reply_error(msg, SOUP_STATUS_BAD_REQUEST, cfg, "bad_fallback",
                  "/session-config: POST needs fallback=no_webrtc or fallback=ice_timeout");
      return;
    }
    cfg.registry
        ->counter("meshflow_transport_fallbacks_total",
                  "Clients that fell back from WebRTC to WebSocket, by reason (reported by the client)",
                  {{"reason", reason}})
        .inc();
    soup_server_message_set_status(msg, SOUP_STATUS_NO_CONTENT, nullptr);
    return;
  }
  const std::string room_s = room && *room ? room : cfg.room;
  auto choice = session::choose_transport(cfg.transport, cfg.webrtc_rollout_percent, user);
  const char *transport = session::transport_name(choice.transport);
  cfg.registry
      ->counter("meshflow_session_config_total",
                "Transport decisions served by GET /session-config, by transport and session.transport mode",
                {{"transport", transport}, {"mode", cfg.transport}})
      .inc();
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  auto str = [b](const char *k, const std::string &v) {
    json_builder_set_member_name(b, k);
    json_builder_add_string_value(b, v.c_str());
  };
  auto num = [b](const char *k, gint64 v) {
    json_builder_set_member_name(b, k);
    json_builder_add_int_value(b, v);
  };
  str("room", room_s);
  str("user", user);
  str("transport", transport);
  num("bucket", choice.bucket);
  num("rollout_percent", cfg.webrtc_rollout_percent);
  str("mode", cfg.transport);
  num("ice_timeout_ms", cfg.ice_timeout_ms);
  str("reason", choice.reason);
  json_builder_end_object(b);
  reply_json(msg, SOUP_STATUS_OK, b);
  g_object_unref(b);
}

}  // namespace

SessionConfig SessionConfig::from(const manifest::Session &s, metrics::Registry &registry) {
  SessionConfig c;
  c.room = s.room;
  c.transport = s.transport;
  c.webrtc_rollout_percent = s.webrtc_rollout_percent;
  c.registry = &registry;
  return c;
}

std::string find_web_dir() {
  for (const char *dir : {MESHFLOW_SOURCE_WEB_DIR, MESHFLOW_INSTALL_WEB_DIR}) {
    gchar *f = g_build_filename(dir, "client.html", nullptr);
    bool ok = g_file_test(f, G_FILE_TEST_IS_REGULAR);
    g_free(f);
    if (ok) return dir;
  }
  return "";
}

void add_web_routes(SoupServer *server, const std::string &web_dir, const SessionConfig &session) {
  auto *cfg = new SessionConfig(session);
  if (!cfg->registry) cfg->registry = &metrics::Registry::global();
  soup_server_add_handler(
      server, "/session-config",
      [](SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer d) {
        if (g_strcmp0(path, "/session-config") != 0) {
          soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, nullptr);
          return;
        }
        session_config(msg, query, *static_cast<SessionConfig *>(d));
      },
      cfg, [](gpointer d) { delete static_cast<SessionConfig *>(d); });
  if (web_dir.empty()) return;
  auto *root = new WebRoot{web_dir};
  soup_server_add_handler(
      server, "/client",
      [](SoupServer *, SoupServerMessage *msg, const char *, GHashTable *, gpointer d) {
        serve_file(msg, static_cast<WebRoot *>(d)->dir, "client.html");
      },
      root, nullptr);
  soup_server_add_handler(
      server, "/web",
      [](SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *, gpointer d) {
        std::string p = path;
        std::string name = p.size() > 5 && p.compare(0, 5, "/web/") == 0 ? p.substr(5) : "";
        serve_file(msg, static_cast<WebRoot *>(d)->dir, name);
      },
      root, [](gpointer d) { delete static_cast<WebRoot *>(d); });
}

}  // namespace mf::tools
