// The properties webrtc_source and webrtc_sink share (they configure the session's PeerManager),
// and the per-element state behind them. See peer_manager.h for the precedence rule.
#pragma once

#include <gst/gst.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "common.h"

namespace mf::webrtc {

class PeerManager;

enum CommonProp : guint {
  PROP_SIGNALLING_URL = 1,
  PROP_ROOM,
  PROP_PEER_ID,
  PROP_TOKEN,
  PROP_ICE_LOCAL_ADDRESSES,
  PROP_STUN_SERVER,
  PROP_TURN_SERVER,
  PROP_ICE_SERVERS,
  PROP_LATENCY,
  PROP_SESSION,
  PROP_INACTIVITY_TIMEOUT,
  PROP_SETUP_TIMEOUT,
  PROP_DATA_CHANNEL,
  PROP_STATS,
  PROP_AUDIO_LATENCY,
  PROP_VIDEO_LATENCY,
  PROP_REMOTE_PEERS,
  PROP_COMMON_LAST,
};

/// State every WebRTC element keeps (held by pointer from the GObject instance struct).
struct ElementState {
  std::mutex mu;  // protects settings, mask, session, manager
  Settings settings;
  uint32_t mask = 0;  // Settings::Field bits explicitly set on this element
  std::string session = "default";
  std::shared_ptr<PeerManager> manager;  // from NULL->READY to READY->NULL

  /// Record a setting and forward it to the manager (if acquired).
  void set(uint32_t field, const std::function<void(Settings &)> &fn);
  /// NULL->READY: acquire the manager and apply the explicit settings.
  std::shared_ptr<PeerManager> acquire(GstElement *e);
  std::shared_ptr<PeerManager> get();
};

void install_common_properties(GObjectClass *klass);
/// True if `id` was a common property (handled).
bool set_common_property(ElementState &st, guint id, const GValue *value);
bool get_common_property(ElementState &st, guint id, GValue *value);

}  // namespace mf::webrtc
