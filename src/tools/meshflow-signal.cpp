// meshflow-signal: the Meshflow signalling server (JSON-RPC 2.0 over WebSocket at /rpc), standalone.
//
//   meshflow-signal [--listen 127.0.0.1:8090] [--max-peers 10] [--max-rooms 1000] ...
//   MESHFLOW_SECRET=... MESHFLOW_ADMIN_KEY=... meshflow-signal --listen 0.0.0.0:8090
//
// Prints the bound URL (ws://HOST:PORT/rpc) on stdout, then serves until SIGINT/SIGTERM, when
// every client is closed with 1001. Without MESHFLOW_SECRET it only binds loopback addresses.
// Protocol reference: docs/protocols.md.
#include <glib-unix.h>
#include <glib.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "meshflow/signalling/server.h"

namespace {

bool split_host_port(const std::string &s, std::string *host, unsigned *port) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  *host = s.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']')
    *host = host->substr(1, host->size() - 2);
  char *end = nullptr;
  unsigned long p = std::strtoul(s.c_str() + colon + 1, &end, 10);
  if (!end || *end || p > 65535 || colon + 1 == s.size()) return false;
  *port = unsigned(p);
  return !host->empty();
}

gboolean on_signal(gpointer loop) {
  g_main_loop_quit(static_cast<GMainLoop *>(loop));
  return G_SOURCE_CONTINUE;  // removed by main()
}

}  // namespace

int main(int argc, char **argv) {
  mf::signalling::ServerConfig cfg = mf::signalling::ServerConfig::from_env();
  gchar *listen = nullptr;
  gint max_peers = int(cfg.max_peers_per_room), max_rooms = int(cfg.max_rooms);
  gint max_conns = int(cfg.max_connections), max_msg = int(cfg.max_message_bytes);
  gint heartbeat = int(cfg.heartbeat_ms), max_cands = int(cfg.max_candidates_per_peer);
  gint max_sdp = int(cfg.max_sdp_bytes), max_mlines = int(cfg.max_mlines);
  gdouble rate = cfg.messages_per_second, cand_rate = cfg.candidates_per_second;
  gchar **origins = nullptr, **stun = nullptr;
  gboolean single_use = FALSE, metrics = FALSE;
  GOptionEntry entries[] = {
      {"listen", 'l', 0, G_OPTION_ARG_STRING, &listen, "Address to listen on (default 127.0.0.1:8090; port 0 = any)", "HOST:PORT"},
      {"max-peers", 0, 0, G_OPTION_ARG_INT, &max_peers, "Peers per room (default 10)", "N"},
      {"max-rooms", 0, 0, G_OPTION_ARG_INT, &max_rooms, "Rooms per server (default 1000)", "N"},
      {"max-connections", 0, 0, G_OPTION_ARG_INT, &max_conns, "Connections (default 10000)", "N"},
      {"max-message-bytes", 0, 0, G_OPTION_ARG_INT, &max_msg, "Bytes per message, all frames (default 65536)", "BYTES"},
      {"max-sdp-bytes", 0, 0, G_OPTION_ARG_INT, &max_sdp, "SDP size (default 16384)", "BYTES"},
      {"max-mlines", 0, 0, G_OPTION_ARG_INT, &max_mlines, "m-lines per SDP (default 16)", "N"},
      {"max-candidates", 0, 0, G_OPTION_ARG_INT, &max_cands, "Candidates per peer per offer (default 256)", "N"},
      {"rate", 0, 0, G_OPTION_ARG_DOUBLE, &rate, "Messages per second per connection (default 50)", "N"},
      {"candidate-rate", 0, 0, G_OPTION_ARG_DOUBLE, &cand_rate, "Candidates per second per connection (default 50)", "N"},
      {"heartbeat-ms", 0, 0, G_OPTION_ARG_INT, &heartbeat, "Heartbeat interval; 3 missed = removed (default 5000)", "MS"},
      {"allow-origin", 0, 0, G_OPTION_ARG_STRING_ARRAY, &origins, "Allowed Origin (repeatable; default any)", "ORIGIN"},
      {"ice-server", 0, 0, G_OPTION_ARG_STRING_ARRAY, &stun, "STUN/TURN URL handed to peers (repeatable)", "URL"},
      {"single-use-tokens", 0, 0, G_OPTION_ARG_NONE, &single_use, "Accept each token once", nullptr},
      {"metrics", 0, 0, G_OPTION_ARG_NONE, &metrics, "Serve GET /metrics on the same port", nullptr},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  GOptionContext *octx = g_option_context_new("- Meshflow signalling server");
  g_option_context_set_description(
      octx, "Environment: MESHFLOW_SECRET (enables tokens; required for non-loopback addresses),\n"
            "MESHFLOW_ADMIN_KEY (Bearer key for POST /token). Protocol: docs/protocols.md\n");
  g_option_context_add_main_entries(octx, entries, nullptr);
  GError *err = nullptr;
  if (!g_option_context_parse(octx, &argc, &argv, &err)) {
    g_printerr("meshflow-signal: %s\n", err->message);
    g_error_free(err);
    g_option_context_free(octx);
    return 2;
  }
  g_option_context_free(octx);
  auto positive = [](gint v, const char *name) {
    if (v <= 0) {
      g_printerr("meshflow-signal: --%s must be positive\n", name);
      std::exit(2);
    }
    return size_t(v);
  };
  cfg.max_peers_per_room = positive(max_peers, "max-peers");
  cfg.max_rooms = positive(max_rooms, "max-rooms");
  cfg.max_connections = positive(max_conns, "max-connections");
  cfg.max_message_bytes = positive(max_msg, "max-message-bytes");
  cfg.max_frame_bytes = cfg.max_message_bytes;
  cfg.max_sdp_bytes = positive(max_sdp, "max-sdp-bytes");
  cfg.max_mlines = positive(max_mlines, "max-mlines");
  cfg.max_candidates_per_peer = positive(max_cands, "max-candidates");
  cfg.heartbeat_ms = uint32_t(positive(heartbeat, "heartbeat-ms"));
  cfg.messages_per_second = rate;
  cfg.candidates_per_second = cand_rate;
  cfg.single_use_tokens = single_use;
  cfg.metrics_endpoint = metrics;
  for (gchar **o = origins; o && *o; o++) cfg.allowed_origins.emplace_back(*o);
  for (gchar **s = stun; s && *s; s++) cfg.ice_servers.push_back({{*s}, {}, {}});
  g_strfreev(origins);
  g_strfreev(stun);

  std::string host = "127.0.0.1";
  unsigned port = 8090;
  if (listen && !split_host_port(listen, &host, &port)) {
    g_printerr("meshflow-signal: --listen wants HOST:PORT, got '%s'\n", listen);
    g_free(listen);
    return 2;
  }
  g_free(listen);

  GMainLoop *loop = g_main_loop_new(nullptr, FALSE);
  int rc = 0;
  {
    mf::signalling::Server server(cfg);
    std::string error;
    if (!server.listen(host, port, &error)) {
      g_printerr("meshflow-signal: %s\n", error.c_str());
      rc = 1;
    } else {
      std::printf("%s\n", server.url().c_str());
      std::fflush(stdout);
      g_printerr("meshflow-signal: listening on %s (%s)\n", server.url().c_str(),
                 cfg.secret.empty() ? "no secret: tokens off, loopback only" : "tokens required");
      guint s1 = g_unix_signal_add(SIGINT, on_signal, loop);
      guint s2 = g_unix_signal_add(SIGTERM, on_signal, loop);
      g_main_loop_run(loop);
      g_source_remove(s1);
      g_source_remove(s2);
      g_printerr("meshflow-signal: shutting down (closing %zu clients with 1001)\n",
                 server.connection_count());
      server.shutdown();
    }
  }
  g_main_loop_unref(loop);
  return rc;
}
