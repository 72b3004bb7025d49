#include "web_routes.h"

#include <cstring>
#include <string>

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

}  // namespace

std::string find_web_dir() {
  for (const char *dir : {MESHFLOW_SOURCE_WEB_DIR, MESHFLOW_INSTALL_WEB_DIR}) {
    gchar *f = g_build_filename(dir, "client.html", nullptr);
    bool ok = g_file_test(f, G_FILE_TEST_IS_REGULAR);
    g_free(f);
    if (ok) return dir;
  }
  return "";
}

void add_web_routes(SoupServer *server, const std::string &web_dir) {
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
