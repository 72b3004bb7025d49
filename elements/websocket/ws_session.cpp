#include "ws_session.h"

#include <map>

GST_DEBUG_CATEGORY(mf_ws_debug);

namespace mf::websocket {

void ensure_initialized() {
  static gsize once = 0;
  if (g_once_init_enter(&once)) {
    GST_DEBUG_CATEGORY_INIT(mf_ws_debug, "mfwebsocket", 0, "Meshflow WebSocket media transport");
    if (!gst_tag_exists(kPeerIdTag))
      gst_tag_register(kPeerIdTag, GST_TAG_FLAG_META, G_TYPE_STRING, "meshflow peer id",
                       "the Meshflow peer a stream comes from", gst_tag_merge_use_first);
    g_once_init_leave(&once, 1);
  }
}

void install_properties(GObjectClass *oc) {
  auto f = GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(oc, PROP_WS_ROOM,
      g_param_spec_string("room", "Room", "Room this session serves (server mode) or joins (client mode)",
                          "default", f));
  g_object_class_install_property(oc, PROP_WS_URL,
      g_param_spec_string("url", "URL", "Client mode: the remote ws://HOST:PORT/ws; empty = serve /ws on the launcher's port",
                          "", f));
  g_object_class_install_property(oc, PROP_WS_SESSION,
      g_param_spec_string("session", "Session", "Key of the hub shared by the source and sink of a pipeline",
                          "default", f));
  g_object_class_install_property(oc, PROP_WS_HEARTBEAT,
      g_param_spec_uint("heartbeat-ms", "Heartbeat", "Clients must send something this often (silent 3x: closed)",
                        100, 600000, 5000, f));
  g_object_class_install_property(oc, PROP_WS_QUEUE_BYTES,
      g_param_spec_uint("max-queue-bytes", "Outbound queue", "Per-peer outbound queue bound (oldest media dropped)",
                        4096, 64u << 20, 256 * 1024, f));
  g_object_class_install_property(oc, PROP_WS_MESSAGE_RATE,
      g_param_spec_double("message-rate", "Message rate", "Messages per second a peer may send (burst: 2 s worth)",
                          1, 100000, 200, f));
  g_object_class_install_property(oc, PROP_WS_BYTE_RATE,
      g_param_spec_double("byte-rate", "Byte rate", "Bytes per second a peer may send (burst: 2 s worth)",
                          1024, 1e9, 1 << 20, f));
}

bool set_property(Settings &s, std::mutex &mu, guint id, const GValue *v) {
  std::lock_guard<std::mutex> l(mu);
  auto str = [&] { return std::string(g_value_get_string(v) ? g_value_get_string(v) : ""); };
  switch (id) {
    case PROP_WS_ROOM: s.room = str(); return true;
    case PROP_WS_URL: s.url = str(); return true;
    case PROP_WS_SESSION: s.session = str(); return true;
    case PROP_WS_HEARTBEAT: s.limits.heartbeat_ms = g_value_get_uint(v); return true;
    case PROP_WS_QUEUE_BYTES: s.limits.max_queue_bytes = g_value_get_uint(v); return true;
    case PROP_WS_MESSAGE_RATE:
      s.limits.messages_per_s = g_value_get_double(v);
      s.limits.message_burst = 2 * s.limits.messages_per_s;
      return true;
    case PROP_WS_BYTE_RATE:
      s.limits.bytes_per_s = g_value_get_double(v);
      s.limits.byte_burst = 2 * s.limits.bytes_per_s;
      return true;
    default: return false;
  }
}

bool get_property(const Settings &s, std::mutex &mu, guint id, GValue *v) {
  std::lock_guard<std::mutex> l(mu);
  switch (id) {
    case PROP_WS_ROOM: g_value_set_string(v, s.room.c_str()); return true;
    case PROP_WS_URL: g_value_set_string(v, s.url.c_str()); return true;
    case PROP_WS_SESSION: g_value_set_string(v, s.session.c_str()); return true;
    case PROP_WS_HEARTBEAT: g_value_set_uint(v, s.limits.heartbeat_ms); return true;
    case PROP_WS_QUEUE_BYTES: g_value_set_uint(v, guint(s.limits.max_queue_bytes)); return true;
    case PROP_WS_MESSAGE_RATE: g_value_set_double(v, s.limits.messages_per_s); return true;
    case PROP_WS_BYTE_RATE: g_value_set_double(v, s.limits.bytes_per_s); return true;
    default: return false;
  }
}

namespace {
std::mutex g_mu;
std::map<std::pair<GstObject *, std::string>, std::weak_ptr<WsSession>> g_sessions;

GstObject *top_level(GstElement *e) {
  GstObject *o = GST_OBJECT(e);
  while (GstObject *p = GST_OBJECT_PARENT(o)) o = p;
  return o;
}
}  // namespace

std::shared_ptr<WsSession> WsSession::acquire(GstElement *element, const std::string &session) {
  std::lock_guard<std::mutex> l(g_mu);
  auto key = std::make_pair(top_level(element), session);
  if (auto s = g_sessions[key].lock()) return s;
  std::shared_ptr<WsSession> s(new WsSession(key.first, session));
  g_sessions[key] = s;
  return s;
}

WsSession::~WsSession() {
  {
    std::lock_guard<std::mutex> l(g_mu);
    auto it = g_sessions.find({pipeline_, session_});
    if (it != g_sessions.end() && it->second.expired()) g_sessions.erase(it);
  }
  if (hub_) hub_->stop();
}

void WsSession::set_listener(GstElement *owner, transport::WsHub::Listener l) {
  std::lock_guard<std::mutex> lock(mu_);
  listener_owner_ = owner;
  listener_ = std::move(l);
}

void WsSession::clear_listener(GstElement *owner) {
  std::lock_guard<std::mutex> lock(mu_);
  if (listener_owner_ != owner) return;
  listener_owner_ = nullptr;
  listener_ = {};
}

bool WsSession::activate(GstElement *e, const Settings &s, std::string *error) {
  std::shared_ptr<transport::WsHub> hub;
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_.push_back(e);
    if (hub_) return true;
    gchar *sid = g_strdup_printf("%s/%s", GST_OBJECT_NAME(pipeline_), session_.c_str());
    hub_ = std::make_shared<transport::WsHub>(s.room, sid, s.limits);
    g_free(sid);
    hub = hub_;
  }
  // The hub calls the listener registered NOW or later (the sink may activate first).
  transport::WsHub::Listener fwd;
  auto self = this;
  fwd.peer_joined = [self](const std::string &p) {
    std::lock_guard<std::mutex> l(self->mu_);
    if (self->listener_.peer_joined) self->listener_.peer_joined(p);
  };
  fwd.peer_left = [self](const std::string &p, const std::string &r) {
    std::lock_guard<std::mutex> l(self->mu_);
    if (self->listener_.peer_left) self->listener_.peer_left(p, r);
  };
  fwd.stream_started = [self](const std::string &p, uint16_t id, const transport::StreamFormat &f) {
    std::lock_guard<std::mutex> l(self->mu_);
    return self->listener_.stream_started ? self->listener_.stream_started(p, id, f) : true;
  };
  fwd.stream_stopped = [self](const std::string &p, uint16_t id) {
    std::lock_guard<std::mutex> l(self->mu_);
    if (self->listener_.stream_stopped) self->listener_.stream_stopped(p, id);
  };
  fwd.media = [self](const std::string &p, uint16_t id, const transport::MediaHeader &h, const uint8_t *d,
                     size_t n) {
    std::lock_guard<std::mutex> l(self->mu_);
    if (self->listener_.media) self->listener_.media(p, id, h, d, n);
  };
  hub->set_listener(std::move(fwd));
  if (!s.url.empty()) {
    hub->start_client(s.url);
    return true;
  }
  if (!hub->start_server(error)) {
    std::lock_guard<std::mutex> lock(mu_);
    hub_.reset();
    active_.clear();
    return false;
  }
  return true;
}

void WsSession::deactivate(GstElement *e) {
  std::shared_ptr<transport::WsHub> hub;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find(active_.begin(), active_.end(), e);
    if (it == active_.end()) return;
    active_.erase(it);
    if (!active_.empty()) return;
    hub = std::move(hub_);
  }
  if (hub) hub->stop();  // listener calls end here (synchronous)
}

std::vector<std::string> WsSession::peers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hub_ ? hub_->peers() : std::vector<std::string>{};
}

std::shared_ptr<transport::WsHub> WsSession::hub() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hub_;
}

}  // namespace mf::websocket
