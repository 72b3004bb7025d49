// The per-session WebSocket hub shared by the websocket_source (mfwssrc) and websocket_sink
// (mfwssink) elements of one pipeline, and the properties both elements have.
//
// Sharing: a process-wide registry keyed by (top-level pipeline, `session` property), like the
// WebRTC PeerManager: elements acquire the session at NULL->READY, activate it at READY->PAUSED
// (the first activation starts the transport::WsHub in server mode, or in client mode when `url`
// is set, with the settings of the element that activates first), deactivate at PAUSED->READY
// (the last one stops the hub: `status: disconnecting` + close to every peer) and release it at
// READY->NULL.
//
// The source registers a listener (called on the endpoint's network thread); the sink asks for
// the peers and sends through the hub.
#pragma once

#include <gst/gst.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "meshflow/transport/ws_endpoint.h"

GST_DEBUG_CATEGORY_EXTERN(mf_ws_debug);

namespace mf::websocket {

/// Name of the custom stream tag carrying the origin peer (same as webrtc_source's).
constexpr const char *kPeerIdTag = "meshflow-peer-id";
void ensure_initialized();  // debug category, custom tag (once per process)

struct Settings {
  std::string room = "default";
  std::string url;  // empty: server mode at /ws of the launcher
  std::string session = "default";
  transport::WsLimits limits;
};

/// Properties both elements install (ids 1..PROP_WS_LAST-1).
enum {
  PROP_WS_0,
  PROP_WS_ROOM,
  PROP_WS_URL,
  PROP_WS_SESSION,
  PROP_WS_HEARTBEAT,
  PROP_WS_QUEUE_BYTES,
  PROP_WS_MESSAGE_RATE,
  PROP_WS_BYTE_RATE,
  PROP_WS_LAST
};
void install_properties(GObjectClass *oc);
bool set_property(Settings &s, std::mutex &mu, guint id, const GValue *v);
bool get_property(const Settings &s, std::mutex &mu, guint id, GValue *v);

class WsSession {
 public:
  static std::shared_ptr<WsSession> acquire(GstElement *element, const std::string &session);
  ~WsSession();

  void set_listener(GstElement *owner, transport::WsHub::Listener l);  // the source; {} = none
  void clear_listener(GstElement *owner);
  /// READY->PAUSED. The first call starts the hub; false (error set) if the room is taken.
  bool activate(GstElement *e, const Settings &s, std::string *error);
  void deactivate(GstElement *e);  // PAUSED->READY; the last one stops the hub
  std::vector<std::string> peers() const;
  std::shared_ptr<transport::WsHub> hub() const;

 private:
  WsSession(GstObject *pipeline, std::string session) : pipeline_(pipeline), session_(std::move(session)) {}
  GstObject *pipeline_;  // registry key only
  std::string session_;
  mutable std::mutex mu_;  // protects everything below
  std::shared_ptr<transport::WsHub> hub_;
  std::vector<GstElement *> active_;
  GstElement *listener_owner_ = nullptr;
  transport::WsHub::Listener listener_;
};

}  // namespace mf::websocket
