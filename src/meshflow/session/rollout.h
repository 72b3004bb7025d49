// Transport choice for one user of a session: WebRTC or WebSocket, from the manifest's
// `session.transport` (auto | webrtc | websocket) and `session.webrtc_rollout_percent`.
//
// In auto mode users are bucketed deterministically: bucket = the first 4 bytes (big-endian u32) of
// SHA-256(user id) mod 100, and a user gets WebRTC iff bucket < percent. So the same user always
// gets the same transport, 0 % moves everyone to WebSocket, 100 % everyone to WebRTC, and raising
// the percentage only ever moves users from WebSocket to WebRTC (never back). Pure functions: no
// state, no I/O; served by the launcher as `GET /session-config` (docs/protocols.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mf::session {

enum class Transport { WebRtc, WebSocket };

/// "webrtc" / "websocket".
const char *transport_name(Transport t);

/// 0..99: SHA-256(user_id)[0..3] as a big-endian u32, mod 100.
int rollout_bucket(std::string_view user_id);

struct TransportChoice {
  Transport transport = Transport::WebRtc;
  int bucket = 0;        // rollout_bucket(user id), reported even when the mode forces the transport
  std::string reason;    // "forced by session.transport" or "rollout: bucket B < P" / ">= P"
};

/// `mode` is "auto", "webrtc" or "websocket" (anything else is treated as auto); `percent` is
/// clamped to 0..100.
TransportChoice choose_transport(std::string_view mode, int percent, std::string_view user_id);

}  // namespace mf::session
