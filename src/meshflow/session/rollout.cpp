#include "meshflow/session/rollout.h"

#include <glib.h>

#include <algorithm>
#include <string>

namespace mf::session {

const char *transport_name(Transport t) { return t == Transport::WebRtc ? "webrtc" : "websocket"; }

int rollout_bucket(std::string_view user_id) {
  GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
  g_checksum_update(sum, reinterpret_cast<const guchar *>(user_id.data()),
                    static_cast<gssize>(user_id.size()));
  guint8 digest[32];
  gsize len = sizeof digest;
  g_checksum_get_digest(sum, digest, &len);
  g_checksum_free(sum);
  const uint32_t v = (uint32_t(digest[0]) << 24) | (uint32_t(digest[1]) << 16) |
                     (uint32_t(digest[2]) << 8) | uint32_t(digest[3]);
  return static_cast<int>(v % 100u);
}

TransportChoice choose_transport(std::string_view mode, int percent, std::string_view user_id) {
  TransportChoice c;
  c.bucket = rollout_bucket(user_id);
  if (mode == "webrtc" || mode == "websocket") {
    c.transport = mode == "webrtc" ? Transport::WebRtc : Transport::WebSocket;
    c.reason = "forced by session.transport: " + std::string(mode);
    return c;
  }
  percent = std::clamp(percent, 0, 100);
  const bool webrtc = c.bucket < percent;
  c.transport = webrtc ? Transport::WebRtc : Transport::WebSocket;
  c.reason = "rollout: bucket " + std::to_string(c.bucket) + (webrtc ? " < " : " >= ") +
             std::to_string(percent) + "%";
  return c;
}

}  // namespace mf::session
