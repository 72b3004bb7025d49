// Meshflow signalling server: JSON-RPC 2.0 over WebSocket at `/rpc` (docs/protocols.md).
//
// Embeddable: `attach()` adds the handlers to an existing SoupServer (the launcher's single HTTP
// port, which later also serves /ws, /metrics and /client); `listen()` is a convenience that makes
// its own SoupServer on host:port (port 0 = ephemeral) and reports the bound port. Everything runs
// on the thread-default GMainContext current when the Server was constructed; call every method
// from that thread.
//
//   mf::signalling::ServerConfig cfg = mf::signalling::ServerConfig::from_env();
//   mf::signalling::Server server(cfg);
//   std::string err;
//   if (!server.listen("127.0.0.1", 0, &err)) g_printerr("%s\n", err.c_str());
//   g_print("%s\n", server.url().c_str());   // ws://127.0.0.1:PORT/rpc
//   ... run the main loop ...
//   server.shutdown();                        // every client closed with 1001
//
// Every limit below is enforced by the server, answered with its error code (or a close code),
// and counted in the metrics registry (meshflow_signalling_errors_total{code=...},
// meshflow_signalling_limit_total{limit=...}, meshflow_signalling_closed_total{reason=...}).
#pragma once

#include <libsoup/soup.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "meshflow/metrics/registry.h"

namespace mf::signalling {

/// One ICE server handed to peers in the `peer.announce` result.
struct IceServer {
  std::vector<std::string> urls;
  std::string username;
  std::string credential;
};

struct ServerConfig {
  // --- endpoints ---
  std::string path = "/rpc";                 // WebSocket endpoint
  bool token_endpoint = true;                // POST /token (needs secret AND admin_key)
  bool metrics_endpoint = false;             // GET /metrics (Prometheus text) on the same server

  // --- auth ---
  std::string secret;                        // MESHFLOW_SECRET; empty = no tokens, loopback only
  std::string admin_key;                     // MESHFLOW_ADMIN_KEY; Bearer key for POST /token
  bool single_use_tokens = false;            // a token's nonce is accepted once (-32001 replayed)
  int64_t max_token_ttl_s = 24 * 3600;       // POST /token refuses longer ttl
  int64_t token_leeway_s = 5;                // clock skew tolerated on exp/nbf
  std::vector<std::string> allowed_origins;  // non-empty: handshake Origin must match, else 403

  // --- message limits ---
  size_t max_message_bytes = 64 * 1024;      // one text message, all frames: close 1009
  size_t max_frame_bytes = 64 * 1024;        // max-incoming-payload-size (never 0)
  int max_json_depth = 32;                   // -32700 reason "depth"
  size_t max_batch = 16;                     // -32008 reason "batch"
  size_t max_string_bytes = 128;             // room, peer_id, display_name, ids in the envelope
  double messages_per_second = 50;           // token bucket per connection: -32004
  double message_burst = 100;
  uint32_t rate_limit_close_after = 1000;    // this many rate-limited requests in a row: close 1008

  // --- rooms ---
  size_t max_peers_per_room = 10;            // -32002
  size_t max_rooms = 1000;                   // -32008 reason "rooms"
  size_t max_connections = 10000;            // handshake answered 503

  // --- SDP and ICE ---
  size_t max_sdp_bytes = 16 * 1024;          // -32009
  size_t max_mlines = 16;                    // -32009
  size_t max_candidates_per_peer = 256;      // per connection and announce: -32008 reason "candidates"
  double candidates_per_second = 50;         // token bucket per connection: -32004
  double candidate_burst = 100;

  // --- liveness and back-pressure ---
  uint32_t heartbeat_ms = 5000;              // clients send something (peer.ping) at least this often
  uint32_t missed_heartbeats = 3;            // silent for missed*heartbeat: removed, reason "timeout"
  size_t max_outbound_bytes = 1024 * 1024;   // queued, unsent bytes per client: close 1008 slow consumer

  // --- handed to peers ---
  std::vector<IceServer> ice_servers;        // peer.announce result "ice_servers"

  /// Defaults, with secret and admin key from MESHFLOW_SECRET / MESHFLOW_ADMIN_KEY.
  static ServerConfig from_env();
};

/// Room lifecycle, for a host that runs one session per room (meshflow-launch --serve). Called on
/// the server's thread from inside the hub, after its state has changed (so rooms()/peers() already
/// tell the new state). Do not shut the server down from a callback; defer heavy work (an idle).
struct RoomEvents {
  std::function<void(const std::string &room)> room_created;   // first peer announced into it
  std::function<void(const std::string &room)> room_emptied;   // its last peer left (room gone)
  std::function<void(const std::string &room, const std::string &peer)> peer_joined, peer_left;
};

class Hub;

class Server {
 public:
  /// `registry` must outlive the server (default: the global registry).
  explicit Server(ServerConfig config,
                  metrics::Registry &registry = metrics::Registry::global());
  ~Server();  // shutdown() if still running
  Server(const Server &) = delete;
  Server &operator=(const Server &) = delete;

  /// Adds the /rpc (and, as configured, /token and /metrics) handlers to `server`. The caller
  /// keeps listening on it. The server is ref'd until shutdown()/destruction. False if already
  /// attached.
  bool attach(SoupServer *server, std::string *error = nullptr);

  /// Convenience: a SoupServer of our own listening on host:port (port 0 = ephemeral). Refuses a
  /// non-loopback host when no secret is configured.
  bool listen(const std::string &host, unsigned port, std::string *error = nullptr);

  /// Bound port and URL of listen() (0 / "" when attached to a foreign server).
  unsigned port() const;
  std::string url() const;  // "ws://HOST:PORT/rpc"
  SoupServer *soup_server() const;

  /// Graceful shutdown: closes every client with 1001 ("going away"), removes our handlers,
  /// stops our own listener. Idempotent.
  void shutdown();

  // --- introspection (tests, dashboard) ---
  size_t connection_count() const;
  size_t room_count() const;
  std::vector<std::string> peers(const std::string &room) const;  // announced peer ids
  std::vector<std::string> rooms() const;                          // rooms with a peer, sorted
  /// Replace the room lifecycle callbacks (no wire-visible effect). Not called on shutdown().
  void set_room_events(RoomEvents events);
  const ServerConfig &config() const;
  metrics::Registry &registry() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mf::signalling
