// The WebSocket media transport's network side (`/ws`, protocol v1 in docs/protocols.md).
//
// WsEndpoint: one per process. The launcher attaches it to its SoupServer next to /rpc:
//   mf::transport::WsEndpoint::global().attach(server->soup_server(), server->config().allowed_origins);
// Each connection is routed by its `room` query parameter to the WsHub serving that room (the
// hub of the websocket_source/websocket_sink elements of one session); no hub: close 4404.
// With MESHFLOW_SECRET set, `token` is verified for the room (as /rpc does); bad: HTTP 401.
//
// WsHub: one per (pipeline, session) of elements. Server mode: start_server() registers its room
// with the endpoint and every client becomes a peer. Client mode: start_client(url) dials a remote
// /ws and reconnects with exponential backoff (1 s doubling to 30 s, +-20 %); the remote end is
// the peer "remote".
//
// Threading: every socket is served by the endpoint's own thread and GMainContext ("mf-ws-io").
// Listener callbacks run there and must not block; send_*() may be called from any thread
// (streaming threads) and only post to it.
//
// Defences (each counted in meshflow_ws_* metrics and, where the peer can be told, answered with
// an `error` message): frame and message size (libsoup's max-incoming-payload-size plus our own
// byte count of fragmented messages, see signalling/counting_stream.h), message and byte rate per
// connection (token buckets: excess frames dropped with `rate_limited`, a sustained flood closes
// 4429), an application heartbeat (silent 3 x heartbeat_ms: close 4408), a bounded outbound queue
// per connection (the oldest media frame is dropped when full, counted; control messages are
// kept), connection count.
#pragma once

#include <glib.h>
#include <libsoup/soup.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "meshflow/transport/ws_frame.h"

namespace mf::transport {

struct WsLimits {
  unsigned heartbeat_ms = 5000;
  size_t max_message_bytes = 64 * 1024;      // one WebSocket message (frame or reassembled)
  double messages_per_s = 200, message_burst = 400;
  double bytes_per_s = 1 << 20, byte_burst = 2 << 20;
  uint64_t flood_close_after = 2000;         // frames dropped for rate within 10 s: close 4429
  size_t max_queue_bytes = 256 * 1024;       // outbound, beyond what the socket has taken
  size_t socket_high_water = 64 * 1024;      // handed to libsoup, not yet written
  size_t inbound_queue_frames = 50;          // per source pad (elements' side)
};

class WsHub;

class WsEndpoint {
 public:
  static WsEndpoint &global();
  /// Serve `/ws` on `server` (its own main context dispatches the handshake; the connections are
  /// moved to the endpoint thread). `origins` non-empty: the handshake Origin must be one of them.
  bool attach(SoupServer *server, const std::vector<std::string> &origins = {});
  void detach();
  size_t connection_count() const;

  struct Impl;
  Impl *impl() { return impl_.get(); }

 private:
  WsEndpoint();
  ~WsEndpoint();
  std::unique_ptr<Impl> impl_;
};

class WsHub {
 public:
  struct Listener {  // called on the endpoint thread; keep short
    std::function<void(const std::string &peer)> peer_joined;
    std::function<void(const std::string &peer, const std::string &reason)> peer_left;
    /// Return false to refuse the stream (the peer gets an error, its frames are unknown_stream).
    std::function<bool(const std::string &peer, uint16_t stream, const StreamFormat &)> stream_started;
    std::function<void(const std::string &peer, uint16_t stream)> stream_stopped;
    std::function<void(const std::string &peer, uint16_t stream, const MediaHeader &, const uint8_t *,
                       size_t)> media;
  };

  WsHub(std::string room, std::string session_id, WsLimits limits = {});
  ~WsHub();  // stops
  WsHub(const WsHub &) = delete;
  WsHub &operator=(const WsHub &) = delete;

  void set_listener(Listener l);  // before start
  /// Server mode: serve `room` at the endpoint. False (with error) if another hub serves it.
  bool start_server(std::string *error);
  /// Client mode: dial `url` (ws:// or wss://; `room` is appended when the URL has no query).
  void start_client(const std::string &url);
  /// Graceful: `status: disconnecting`, close 1001, unregister. Synchronous; idempotent.
  void stop();

  std::vector<std::string> peers() const;
  /// `key` identifies the sender-side stream (a sink pad); each peer gets its own stream id for it
  /// (1, 2, ... in first-use order) and a `stream.start` before the first frame.
  void send_media(const std::string &peer, uint32_t key, const StreamFormat &f, uint64_t capture_us,
                  bool discont, GBytes *payload);
  void send_text(const std::string &peer, std::string json);
  void stop_stream(uint32_t key);  // stream.stop to every peer that got the stream

  const std::string &room() const;
  struct State;

 private:
  std::shared_ptr<State> st_;
};

}  // namespace mf::transport
