#include "element_props.h"

#include "peer_manager.h"

#include <algorithm>

namespace mf::webrtc {

namespace {

std::vector<std::string> strv(const GValue *v) {
  std::vector<std::string> out;
  auto **s = static_cast<gchar **>(g_value_get_boxed(v));
  for (gchar **p = s; p && *p; p++) out.push_back(*p);
  return out;
}

void set_strv(GValue *v, const std::vector<std::string> &in) {
  auto **s = g_new0(gchar *, in.size() + 1);
  for (size_t i = 0; i < in.size(); i++) s[i] = g_strdup(in[i].c_str());
  g_value_take_boxed(v, s);
}

constexpr GParamFlags RW = GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

}  // namespace

void ElementState::set(uint32_t field, const std::function<void(Settings &)> &fn) {
  std::shared_ptr<PeerManager> m;
  Settings copy;
  {
    std::lock_guard<std::mutex> l(mu);
    fn(settings);
    mask |= field;
    m = manager;
    copy = settings;
  }
  if (m) m->apply(copy, field);
}

std::shared_ptr<PeerManager> ElementState::acquire(GstElement *e) {
  std::string key;
  {
    std::lock_guard<std::mutex> l(mu);
    if (manager) return manager;
    key = session;
  }
  auto m = PeerManager::acquire(e, key);
  std::lock_guard<std::mutex> l(mu);
  manager = m;
  m->apply(settings, mask);
  return m;
}

std::shared_ptr<PeerManager> ElementState::get() {
  std::lock_guard<std::mutex> l(mu);
  return manager;
}

void install_common_properties(GObjectClass *k) {
  Settings d;
  g_object_class_install_property(k, PROP_SIGNALLING_URL,
      g_param_spec_string("signalling-url", "Signalling URL", "Meshflow signalling server (ws://host:port/rpc)",
                          d.signalling_url.c_str(), RW));
  g_object_class_install_property(k, PROP_ROOM,
      g_param_spec_string("room", "Room", "Room to join", d.room.c_str(), RW));
  g_object_class_install_property(k, PROP_PEER_ID,
      g_param_spec_string("peer-id", "Peer id", "Our peer id (empty: assigned by the server)", "", RW));
  g_object_class_install_property(k, PROP_TOKEN,
      g_param_spec_string("token", "Token", "Room token (needed when the server has a secret)", "", RW));
  g_object_class_install_property(k, PROP_ICE_LOCAL_ADDRESSES,
      g_param_spec_boxed("ice-local-addresses", "ICE local addresses",
                         "Restrict host candidates to these addresses (libnice skips loopback otherwise)",
                         G_TYPE_STRV, RW));
  g_object_class_install_property(k, PROP_STUN_SERVER,
      g_param_spec_string("stun-server", "STUN server", "stun://host:port", "", RW));
  g_object_class_install_property(k, PROP_TURN_SERVER,
      g_param_spec_string("turn-server", "TURN server", "turn(s)://user:password@host:port", "", RW));
  g_object_class_install_property(k, PROP_ICE_SERVERS,
      g_param_spec_boxed("ice-servers", "ICE servers",
                         "More STUN/TURN URLs (stun://host:port, turn://user:pass@host:port); the "
                         "signalling announce result adds its own",
                         G_TYPE_STRV, RW));
  g_object_class_install_property(k, PROP_REMOTE_PEERS,
      g_param_spec_boxed("remote-peers", "Remote peers",
                         "Connect only to the peers whose id matches one of these glob patterns (* and ?), "
                         "e.g. <\"presenter\", \"agent-*\">; empty: every peer in the room. Offers from "
                         "other peers are ignored (counted), so give their side the matching filter",
                         G_TYPE_STRV, RW));
  g_object_class_install_property(k, PROP_LATENCY,
      g_param_spec_uint("latency", "Latency",
                        "Sets both audio-latency and video-latency (ms); reads the larger of the two", 0,
                        10000, std::max(d.audio_latency_ms, d.video_latency_ms), RW));
  g_object_class_install_property(k, PROP_AUDIO_LATENCY,
      g_param_spec_uint("audio-latency", "Audio latency", "Jitter-buffer latency of received audio (ms)", 0,
                        10000, d.audio_latency_ms, RW));
  g_object_class_install_property(k, PROP_VIDEO_LATENCY,
      g_param_spec_uint("video-latency", "Video latency",
                        "Jitter-buffer latency of received video (ms); a multi-packet frame not complete "
                        "within it is dropped",
                        0, 10000, d.video_latency_ms, RW));
  g_object_class_install_property(k, PROP_SESSION,
      g_param_spec_string("session", "Session", "Key of the shared peer manager within the pipeline",
                          "default", RW));
  g_object_class_install_property(k, PROP_INACTIVITY_TIMEOUT,
      g_param_spec_uint("inactivity-timeout", "Inactivity timeout",
                        "A connected peer sending no media or data for this long is removed (ms)", 1000,
                        600000, d.inactivity_timeout_ms, RW));
  g_object_class_install_property(k, PROP_SETUP_TIMEOUT,
      g_param_spec_uint("setup-timeout", "Setup timeout",
                        "A peer not connected within this long gets an ICE restart / fresh offer, "
                        "then is removed (ms)", 1000, 600000, d.setup_timeout_ms, RW));
  g_object_class_install_property(k, PROP_DATA_CHANNEL,
      g_param_spec_boolean("data-channel", "Data channel", "Open a reliable JSON event channel per peer",
                           d.data_channel, RW));
  g_object_class_install_property(k, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics", "Per-peer statistics (meshflow-webrtc-stats)",
                         GST_TYPE_STRUCTURE, GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
}

bool set_common_property(ElementState &st, guint id, const GValue *v) {
  switch (id) {
    case PROP_SIGNALLING_URL: {
      std::string s = g_value_get_string(v) ? g_value_get_string(v) : "";
      st.set(Settings::kUrl, [&](Settings &x) { x.signalling_url = s; });
      return true;
    }
    case PROP_ROOM: {
      std::string s = g_value_get_string(v) ? g_value_get_string(v) : "default";
      st.set(Settings::kRoom, [&](Settings &x) { x.room = s; });
      return true;
    }
    case PROP_PEER_ID: {
      std::string s = g_value_get_string(v) ? g_value_get_string(v) : "";
      st.set(Settings::kPeerId, [&](Settings &x) { x.peer_id = s; });
      return true;
    }
    case PROP_TOKEN: {
      std::string s = g_value_get_string(v) ? g_value_get_string(v) : "";
      st.set(Settings::kToken, [&](Settings &x) { x.token = s; });
      return true;
    }
    case PROP_ICE_LOCAL_ADDRESSES: {
      auto a = strv(v);
      st.set(Settings::kLocalAddrs, [&](Settings &x) { x.ice_local_addresses = a; });
      return true;
    }
    case PROP_REMOTE_PEERS: {
      auto a = strv(v);
      st.set(Settings::kRemotePeers, [&](Settings &x) { x.remote_peers = a; });
      return true;
    }
    case PROP_STUN_SERVER: {
      std::string s = g_value_get_string(v) ? g_value_get_string(v) : "";
      st.set(Settings::kStun, [&](Settings &x) { x.stun_server = s; });
      return true;
    }
    case PROP_TURN_SERVER: {
      std::string s = g_value_get_string(v) ? g_value_get_string(v) : "";
      st.set(Settings::kTurn, [&](Settings &x) { x.turn_server = s; });
      return true;
    }
    case PROP_ICE_SERVERS: {
      auto a = strv(v);
      st.set(Settings::kIceServers, [&](Settings &x) { x.ice_servers = a; });
      return true;
    }
    case PROP_LATENCY: {
      unsigned u = g_value_get_uint(v);
      st.set(Settings::kAudioLatency | Settings::kVideoLatency, [&](Settings &x) {
        x.audio_latency_ms = x.video_latency_ms = u;
      });
      return true;
    }
    case PROP_AUDIO_LATENCY: {
      unsigned u = g_value_get_uint(v);
      st.set(Settings::kAudioLatency, [&](Settings &x) { x.audio_latency_ms = u; });
      return true;
    }
    case PROP_VIDEO_LATENCY: {
      unsigned u = g_value_get_uint(v);
      st.set(Settings::kVideoLatency, [&](Settings &x) { x.video_latency_ms = u; });
      return true;
    }
    case PROP_INACTIVITY_TIMEOUT: {
      unsigned u = g_value_get_uint(v);
      st.set(Settings::kInactivity, [&](Settings &x) { x.inactivity_timeout_ms = u; });
      return true;
    }
    case PROP_SETUP_TIMEOUT: {
      unsigned u = g_value_get_uint(v);
      st.set(Settings::kSetupTimeout, [&](Settings &x) { x.setup_timeout_ms = u; });
      return true;
    }
    case PROP_DATA_CHANNEL: {
      bool b = g_value_get_boolean(v);
      st.set(Settings::kDataChannel, [&](Settings &x) { x.data_channel = b; });
      return true;
    }
    case PROP_SESSION: {
      std::lock_guard<std::mutex> l(st.mu);
      st.session = g_value_get_string(v) ? g_value_get_string(v) : "default";
      return true;
    }
    default:
      return false;
  }
}

bool get_common_property(ElementState &st, guint id, GValue *v) {
  if (id == PROP_STATS) {
    auto m = st.get();
    if (m) g_value_take_boxed(v, m->stats());
    else g_value_take_boxed(v, gst_structure_new("meshflow-webrtc-stats", "peers", G_TYPE_INT, 0, nullptr));
    return true;
  }
  std::lock_guard<std::mutex> l(st.mu);
  const Settings &s = st.settings;
  switch (id) {
    case PROP_SIGNALLING_URL: g_value_set_string(v, s.signalling_url.c_str()); return true;
    case PROP_ROOM: g_value_set_string(v, s.room.c_str()); return true;
    case PROP_PEER_ID: g_value_set_string(v, s.peer_id.c_str()); return true;
    case PROP_TOKEN: g_value_set_string(v, s.token.c_str()); return true;
    case PROP_ICE_LOCAL_ADDRESSES: set_strv(v, s.ice_local_addresses); return true;
    case PROP_STUN_SERVER: g_value_set_string(v, s.stun_server.c_str()); return true;
    case PROP_TURN_SERVER: g_value_set_string(v, s.turn_server.c_str()); return true;
    case PROP_ICE_SERVERS: set_strv(v, s.ice_servers); return true;
    case PROP_REMOTE_PEERS: set_strv(v, s.remote_peers); return true;
    case PROP_LATENCY: g_value_set_uint(v, std::max(s.audio_latency_ms, s.video_latency_ms)); return true;
    case PROP_AUDIO_LATENCY: g_value_set_uint(v, s.audio_latency_ms); return true;
    case PROP_VIDEO_LATENCY: g_value_set_uint(v, s.video_latency_ms); return true;
    case PROP_INACTIVITY_TIMEOUT: g_value_set_uint(v, s.inactivity_timeout_ms); return true;
    case PROP_SETUP_TIMEOUT: g_value_set_uint(v, s.setup_timeout_ms); return true;
    case PROP_DATA_CHANNEL: g_value_set_boolean(v, s.data_channel); return true;
    case PROP_SESSION: g_value_set_string(v, st.session.c_str()); return true;
    default: return false;
  }
}

}  // namespace mf::webrtc
