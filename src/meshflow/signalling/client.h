// Meshflow signalling client: JSON-RPC 2.0 over WebSocket (`ws://host:port/rpc`), as specified in
// docs/protocols.md. Used by the WebRTC nodes (one client per session) and by tests and benchmarks.
//
// Threading
//   The client runs on a GMainContext and a thread of its own (a ClientLoop: private by default,
//   created by start() and joined by stop(); or one shared by many clients, ClientConfig::loop).
//   It never touches the caller's default context and never runs on a streaming thread. Every
//   public method is thread-safe (it posts to the client thread and returns at once), except
//   start()/stop()/the destructor, which must not be called from a callback. EVERY CALLBACK IS
//   INVOKED ON THE CLIENT'S THREAD; a callback must not block (hand work to your own thread or
//   context). Callbacks may call the senders (they are queued, never re-entered).
//
// Lifecycle
//   start() -> Connecting -> Connected (WebSocket open) -> peer.announce -> Announced.
//   On a lost connection (close, error, or no message from the server for `heartbeat_misses`
//   heartbeat intervals) -> Reconnecting: wait for the next backoff delay (1 s doubling to 30 s,
//   +-20 % jitter, see client_backoff.h), connect again and re-announce with the SAME peer id (the
//   one configured or, if none, the one the server assigned on the first announce). The backoff is
//   reset after every successful announce. A failed announce (unauthorized, room full, duplicate
//   id...) is reported through on_error and retried with backoff as well.
//   stop(): sends peer.disconnect if announced, closes the WebSocket with 1000 (waits at most
//   close_timeout for the close handshake), fails everything still queued or in flight with
//   kClosed (callbacks run before stop() returns), reports Closed, joins a private thread.
//
// Heartbeat
//   Once announced, `peer.ping` is sent every heartbeat interval (config.heartbeat, or else the
//   announce result's heartbeat_ms, or else 5 s). If nothing at all has been received from the
//   server for heartbeat_misses (3) intervals - before the announce the announce itself is the
//   probe - the connection is treated as dead: the socket is closed at once and the client
//   reconnects. libsoup 3.2 has no pong timeout of its own: this is what notices half-open peers.
//   A JSON-RPC `peer.ping` request from the server is answered with {}.
//
// Delivery guarantees
//   - Messages sent while Announced go out at once. Messages sent while not announced
//     (connecting, reconnecting, announcing) wait in a bounded queue (config.max_queue, default
//     256) and are sent in order right after the next successful announce.
//   - Queue full: the OLDEST queued ICE candidate is dropped to make room (candidates go stale
//     across a reconnect; ICE restarts anyway). If no candidate is queued, the NEW message is
//     refused. Offers and answers are never evicted.
//   - Every message that is not delivered - dropped from the queue, refused, in flight when the
//     connection is lost (kDisconnected), timed out (kTimeout), still pending at stop() (kClosed) -
//     is reported exactly once: to its reply callback if it has one, otherwise to on_error. Nothing
//     hangs: a request always gets its reply callback, at the latest after request_timeout.
//
// Example
//   mf::signalling::ClientConfig cfg;
//   cfg.url = "ws://127.0.0.1:8080/rpc";
//   cfg.room = "demo";
//   mf::signalling::ClientCallbacks cb;
//   cb.on_announced = [](const std::string &me, const std::vector<PeerInfo> &peers,
//                        const std::vector<IceServer> &) { /* offer to every peer */ };
//   cb.on_offer = [&](const std::string &from, const std::string &sdp) { /* answer */ };
//   mf::signalling::Client client(cfg, cb);
//   client.start();
//   client.send_offer("peer-2", sdp);
//   client.stop();
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <glib.h>

#include "meshflow/signalling/client_backoff.h"
#include "meshflow/signalling/server.h"  // IceServer (shared with the server)

namespace mf::signalling {

/// Error codes the client reports on its own (not sent by a server). JSON-RPC error codes from the
/// server (-32700..-32600, -32001..-32006) are passed through unchanged.
namespace client_error {
constexpr int kDisconnected = -32050;     // the connection was lost while the request was in flight
constexpr int kTimeout = -32051;          // no reply within request_timeout
constexpr int kQueueFull = -32052;        // outgoing queue full while not announced
constexpr int kClosed = -32053;           // stop() was called, or the client is not running
constexpr int kConnectFailed = -32054;    // WebSocket connect/handshake failed (retried)
constexpr int kHeartbeatTimeout = -32055; // nothing received for heartbeat_misses intervals
constexpr int kBadMessage = -32056;       // the server sent something that is not valid JSON-RPC
constexpr int kInvalidArgument = -32057;  // e.g. request() params that are not a JSON object/array
}  // namespace client_error

class ClientLoop;

enum class ClientState { Idle, Connecting, Connected, Announced, Reconnecting, Closed };
const char *to_string(ClientState s);

struct MediaFlags {
  bool audio = true;
  bool video = true;
  bool data = true;
};

/// Correlation envelope of DESIGN.md, sent with peer.announce.
struct Envelope {
  std::string user_id;
  std::string session_id;
  std::string run_id;
};

struct PeerInfo {
  std::string peer_id;
  std::string display_name;
  MediaFlags media;
  std::string json;  // the peer object as the server sent it (JSON text), for fields added later
};

struct IceCandidate {
  std::string candidate;  // empty = end of candidates
  int sdp_mline_index = 0;
  std::string sdp_mid;
};

struct AnnounceResult {
  std::string peer_id;
  std::string room;
  std::vector<PeerInfo> peers;  // peers already in the room (the newcomer offers to each)
  std::vector<IceServer> ice_servers;
  int heartbeat_ms = 0;  // 0 if the server did not say
};

/// Outcome of a request. ok() -> `result` holds the JSON text of the result member; otherwise
/// `code`/`message` (and `data`, JSON text, if the server sent one) describe the error.
struct Response {
  int code = 0;
  std::string message;
  std::string data;
  std::string result;
  bool ok() const { return code == 0; }
};
using ReplyCallback = std::function<void(const Response &)>;

struct ClientConfig {
  std::string url;           // ws://host:port/rpc
  std::string room;
  std::string peer_id;       // optional; empty = server-assigned (kept for every re-announce)
  std::string token;         // optional (needed when the server has a secret)
  std::string display_name;  // optional
  MediaFlags media;
  Envelope envelope;
  std::string origin;        // optional Origin header for the handshake

  /// 0 = use the announce result's heartbeat_ms (5 s if the server does not say).
  std::chrono::milliseconds heartbeat{0};
  int heartbeat_misses = 3;  // dead after this many intervals without any message
  BackoffConfig backoff;     // 1 s doubling to 30 s, +-20 % jitter
  BackoffSchedule::Rng rng;  // optional RNG in [0,1) for the jitter (tests); default: random
  std::chrono::milliseconds connect_timeout{10000};  // TCP + TLS + WebSocket handshake
  std::chrono::milliseconds request_timeout{10000};  // any request without a reply -> kTimeout
  std::chrono::milliseconds close_timeout{1000};     // stop(): longest wait for the close handshake
  std::size_t max_queue = 256;                       // outgoing messages held while not announced
  std::size_t max_message_bytes = 256 * 1024;        // incoming WebSocket message size limit
  /// The thread/context to run on; null = a private ClientLoop for this client.
  std::shared_ptr<ClientLoop> loop;
};

/// All optional. Invoked on the client's own thread (see the top of this file).
struct ClientCallbacks {
  std::function<void(ClientState)> on_state;
  std::function<void(const std::string &peer_id, const std::vector<PeerInfo> &peers,
                     const std::vector<IceServer> &ice_servers)>
      on_announced;
  std::function<void(const PeerInfo &peer)> on_peer_joined;
  std::function<void(const std::string &peer_id, const std::string &reason)> on_peer_left;
  std::function<void(const std::string &from, const std::string &sdp)> on_offer;
  std::function<void(const std::string &from, const std::string &sdp)> on_answer;
  std::function<void(const std::string &from, const IceCandidate &candidate)> on_ice_candidate;
  /// Asynchronous errors: failed announce (server code), connect failures, heartbeat timeouts,
  /// undeliverable messages that have no reply callback, garbage from the server.
  std::function<void(int code, const std::string &message)> on_error;
};

/// One reconnect delay the client chose (for tests and diagnostics).
using ReconnectDelay = BackoffSchedule::Step;

/// A thread running a GMainLoop on a GMainContext of its own, on which clients run. By default
/// every Client creates a private one; many clients may share one (a process with many sessions,
/// a load generator) by passing the same ClientLoop in ClientConfig::loop. The thread starts in the
/// constructor and is joined when the last reference goes away (never drop the last reference from
/// a callback running on it).
class ClientLoop {
 public:
  ClientLoop();
  ~ClientLoop();
  ClientLoop(const ClientLoop &) = delete;
  ClientLoop &operator=(const ClientLoop &) = delete;
  /// The loop's context (borrowed). Do not iterate it yourself.
  GMainContext *context() const;
  /// True when called on the loop's thread.
  bool on_thread() const;
  /// OS thread id (for affinity/CPU accounting), valid after construction.
  int tid() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

class Client {
 public:
  Client(ClientConfig config, ClientCallbacks callbacks);
  ~Client();  // stop()s
  Client(const Client &) = delete;
  Client &operator=(const Client &) = delete;

  /// Start the client (on its loop) and connect. A client starts once: returns false if it was
  /// already started, or if the URL is not ws://, wss://, http:// or https:// with a host.
  bool start();
  /// Graceful stop; returns when the client is Closed and, with a private loop, its thread joined
  /// (at most about close_timeout). Idempotent. Do not call from a callback.
  void stop();

  /// Thread-safe senders. They return false only if the client is stopped (nothing is sent and no
  /// callback is invoked). `reply`, if given, receives the server's reply or the client's error.
  bool send_offer(const std::string &to, const std::string &sdp, ReplyCallback reply = {});
  bool send_answer(const std::string &to, const std::string &sdp, ReplyCallback reply = {});
  bool send_ice_candidate(const std::string &to, const std::string &candidate, int sdp_mline_index,
                          const std::string &sdp_mid, ReplyCallback reply = {});
  /// Any JSON-RPC method. `params_json` is a JSON object or array text ("" = {}); it is parsed
  /// with json-glib (an invalid one fails the reply with kInvalidArgument).
  bool request(const std::string &method, const std::string &params_json, ReplyCallback reply);

  ClientState state() const;
  /// Reconnect attempts scheduled since start(): one per lost or failed connection (or failed
  /// announce); each is one entry of reconnect_delays().
  uint64_t reconnects() const;
  /// The peer id in use (configured or server-assigned), "" before the first announce.
  std::string peer_id() const;
  /// The last successful announce result.
  AnnounceResult announce_result() const;
  /// Every reconnect delay chosen since start() (the most recent 1024).
  std::vector<ReconnectDelay> reconnect_delays() const;
  /// Messages failed on the client side (queue full, disconnected, timeout, closed) since start().
  uint64_t undelivered() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mf::signalling
