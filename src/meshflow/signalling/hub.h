// The signalling state machine: connections, rooms, peers, limits. No I/O: a connection is a
// `Link` (the server wraps a SoupWebsocketConnection; tests and the fuzzer use fakes), so the whole
// request path (pre-scan, parse, dispatch, forwarding) can be exercised without sockets.
//
// Single-threaded: every call from the thread that runs the server's GMainContext.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "meshflow/metrics/registry.h"
#include "meshflow/signalling/jsonrpc.h"
#include "meshflow/signalling/sdp.h"
#include "meshflow/signalling/server.h"
#include "meshflow/signalling/token.h"

namespace mf::signalling {

/// WebSocket close codes the server uses.
enum CloseCode : unsigned short {
  kCloseGoingAway = 1001,       // graceful shutdown
  kClosePolicy = 1008,          // rate-limit abuse, slow consumer
  kCloseTooBig = 1009,          // message over max_message_bytes (including fragmented ones)
  kCloseHeartbeat = 4001,       // silent for missed_heartbeats * heartbeat_ms
};

/// One client connection as the hub sees it.
class Link {
 public:
  virtual ~Link() = default;
  /// Queue one text message. False when the client's outbound budget is exhausted (slow
  /// consumer): the hub then closes it.
  virtual bool send(const std::string &text) = 0;
  /// Close with a WebSocket close code. The hub has already forgotten the connection.
  virtual void close(unsigned short code, const std::string &reason) = 0;
};

class Hub {
 public:
  using Clock = std::function<int64_t()>;  // monotonic microseconds

  Hub(const ServerConfig &config, metrics::Registry &registry, Clock clock = {});
  ~Hub();
  Hub(const Hub &) = delete;
  Hub &operator=(const Hub &) = delete;

  /// A new connection; the link must stay valid until disconnect() or until the hub closes it.
  uint64_t connect(Link *link);
  /// One complete text message from `conn`.
  void receive(uint64_t conn, std::string_view text);
  /// A sign of life that is not a message (a pong).
  void alive(uint64_t conn);
  /// The link closed (or failed); `reason` goes to the room in peer.left. Unknown ids: no-op.
  void disconnect(uint64_t conn, const std::string &reason);
  /// Close `conn` from outside the hub (a transport limit such as a fragmented oversize message):
  /// counted under closed_total{reason=metric_reason}, the room told peer.left{reason}.
  void kick(uint64_t conn, unsigned short code, const std::string &close_reason,
            const std::string &metric_reason);
  /// Remove connections silent for missed_heartbeats * heartbeat_ms (peer.left reason "timeout").
  void sweep();
  /// Close every connection with 1001 (no peer.left: everyone goes).
  void shutdown();

  size_t connection_count() const;
  size_t room_count() const;
  std::vector<std::string> peers(const std::string &room) const;
  std::vector<std::string> rooms() const;
  /// Room lifecycle callbacks (server.h RoomEvents); fired after the state changed.
  void set_room_events(RoomEvents events) { events_ = std::move(events); }
  const ServerConfig &config() const { return cfg_; }
  metrics::Registry &registry() const { return reg_; }

  /// Count an error/limit from the transport layer (same counters as the hub's own).
  void count_limit(const std::string &limit);

 private:
  struct Conn;
  struct Room;
  Reply announce(Conn &c, JsonObject *p);
  Reply relay(Conn &c, JsonObject *p, const char *method);
  Reply candidate(Conn &c, JsonObject *p);
  Reply leave(Conn &c);
  std::optional<RpcError> gate(Conn &c, const Call &call);
  std::optional<RpcError> check_envelope(Conn &c, JsonObject *p);
  void remove_from_room(Conn &c, const std::string &reason);
  void send_to(Conn &c, const std::string &text);
  void schedule_kick(Conn &c, unsigned short code, std::string close_reason,
                     std::string metric_reason, std::string left_reason);
  void flush_kicks();
  int64_t now() const;
  void update_gauges();

  ServerConfig cfg_;
  metrics::Registry &reg_;
  Clock clock_;
  Dispatcher dispatcher_;
  std::unique_ptr<TokenVerifier> verifier_;
  SdpLimits sdp_limits_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::map<std::string, std::unique_ptr<Room>> rooms_;
  struct Kick {
    uint64_t conn;
    unsigned short code;
    std::string close_reason, metric_reason, left_reason;
  };
  std::vector<Kick> kicks_;
  int depth_ = 0;  // re-entrancy guard for flush_kicks
  RoomEvents events_;
};

}  // namespace mf::signalling
