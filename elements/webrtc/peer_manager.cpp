#include "peer_manager.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <future>

#include "meshflow/metrics/registry.h"
#include "negotiation.h"
#include "peer.h"

#define GST_CAT_DEFAULT mf_webrtc_debug

GST_DEBUG_CATEGORY(mf_webrtc_debug);

namespace mf::webrtc {

namespace sig = mf::signalling;

void ensure_initialized() {
  static gsize once = 0;
  if (g_once_init_enter(&once)) {
    GST_DEBUG_CATEGORY_INIT(mf_webrtc_debug, "mfwebrtc", 0, "Meshflow WebRTC nodes");
    gst_tag_register(kPeerIdTag, GST_TAG_FLAG_META, G_TYPE_STRING, "meshflow peer id",
                     "the remote peer a stream came from", gst_tag_merge_use_first);
    g_once_init_leave(&once, 1);
  }
}

// The DTLS certificate: GStreamer 1.22's dtls plugin generates ONE RSA-2048 key + certificate per
// process, the first time a dtlsdec is created (webrtcbin creates one per transport). Make that
// happen when the first PeerManager is created, off the critical path, instead of at the first
// peer's setup. Not in ensure_initialized(): that runs in class_init, i.e. at plugin registration
// of every process (meshflow-inspect, --validate), and a key generation still running at exit
// crashes in libcrypto's atexit cleanup. The thread is joined at exit for the same reason.
void warm_dtls_certificate() {
  static gsize once = 0;
  if (g_once_init_enter(&once)) {
    static std::thread warm([] {
      if (GstElement *d = gst_element_factory_make("dtlsdec", nullptr)) gst_object_unref(gst_object_ref_sink(d));
    });
    std::atexit([] {
      if (warm.joinable()) warm.join();
    });
    g_once_init_leave(&once, 1);
  }
}

void post_peer_message(GstElement *src, const char *event, const std::string &peer_id, GstStructure *extra) {
  GstStructure *s = gst_structure_new(kPeerMessage, "event", G_TYPE_STRING, event, "peer-id", G_TYPE_STRING,
                                      peer_id.c_str(), nullptr);
  if (extra) {
    gst_structure_foreach(extra, [](GQuark f, const GValue *v, gpointer d) -> gboolean {
      gst_structure_id_set_value(static_cast<GstStructure *>(d), f, v);
      return TRUE;
    }, s);
    gst_structure_free(extra);
  }
  gst_element_post_message(src, gst_message_new_element(GST_OBJECT(src), s));
}

namespace {

std::mutex g_registry_mu;  // protects g_registry
std::map<std::pair<GstObject *, std::string>, std::weak_ptr<PeerManager>> g_registry;

GstObject *top_level(GstElement *e) {
  GstObject *o = GST_OBJECT(gst_object_ref(e));
  while (GstObject *p = gst_object_get_parent(o)) {
    gst_object_unref(o);
    o = p;
  }
  gst_object_unref(o);  // used as a key only
  return o;
}

metrics::Gauge &peers_gauge(const std::string &session) {
  return metrics::Registry::global().gauge("meshflow_webrtc_peers", "Remote peers with a webrtcbin",
                                           {{"session", session}});
}

}  // namespace

std::shared_ptr<PeerManager> PeerManager::acquire(GstElement *element, const std::string &session) {
  ensure_initialized();
  warm_dtls_certificate();
  GstObject *top = top_level(element);
  std::lock_guard<std::mutex> l(g_registry_mu);
  auto key = std::make_pair(top, session);
  if (auto it = g_registry.find(key); it != g_registry.end())
    if (auto m = it->second.lock()) return m;
  std::shared_ptr<PeerManager> m(new PeerManager(top, session));
  g_registry[key] = m;
  return m;
}

PeerManager::PeerManager(GstObject *pipeline, std::string session)
    : pipeline_(pipeline), session_(std::move(session)) {
  ctx_ = g_main_context_new();
  loop_ = g_main_loop_new(ctx_, FALSE);
  thread_ = std::thread([this] {
    g_main_context_push_thread_default(ctx_);
    g_main_loop_run(loop_);
    g_main_context_pop_thread_default(ctx_);
  });
}

PeerManager::~PeerManager() {
  GST_INFO("session %s: peer manager destroyed", session_.c_str());
  {
    std::lock_guard<std::mutex> l(mu_);
    active_.clear();
  }
  deactivate(nullptr);
  {
    std::lock_guard<std::mutex> l(post_mu_);
    stopping_ = true;
  }
  GMainLoop *loop = loop_;
  GSource *s = g_idle_source_new();
  g_source_set_callback(s, [](gpointer d) -> gboolean { g_main_loop_quit(static_cast<GMainLoop *>(d)); return G_SOURCE_REMOVE; }, loop, nullptr);
  g_source_attach(s, ctx_);
  g_source_unref(s);
  thread_.join();
  // Drop what was posted but never ran.
  while (g_main_context_iteration(ctx_, FALSE)) {
  }
  g_main_loop_unref(loop_);
  g_main_context_unref(ctx_);
  // The session's series go with it (--serve makes and ends one session per room: without this
  // /metrics would grow with every room ever served). Its peers' series went with each peer.
  metrics::Registry::global().remove_series("meshflow_webrtc_", {{"session", settings_.room}});
  std::lock_guard<std::mutex> l(g_registry_mu);
  auto it = g_registry.find(std::make_pair(pipeline_, session_));
  if (it != g_registry.end() && it->second.expired()) g_registry.erase(it);
}

// ---------------------------------------------------------------------------------------------
// Worker plumbing

void PeerManager::post(std::function<void()> fn) {
  std::lock_guard<std::mutex> l(post_mu_);
  if (stopping_) return;
  GSource *s = g_idle_source_new();
  g_source_set_priority(s, G_PRIORITY_DEFAULT);
  auto *f = new std::function<void()>(std::move(fn));
  g_source_set_callback(s, [](gpointer d) -> gboolean {
    (*static_cast<std::function<void()> *>(d))();
    return G_SOURCE_REMOVE;
  }, f, [](gpointer d) { delete static_cast<std::function<void()> *>(d); });
  g_source_attach(s, ctx_);
  g_source_unref(s);
}

void PeerManager::run_sync(const std::function<void()> &fn) {
  if (g_main_context_is_owner(ctx_)) {
    fn();
    return;
  }
  std::promise<void> done;
  auto fut = done.get_future();
  {
    std::lock_guard<std::mutex> l(post_mu_);
    if (stopping_) return;
  }
  post([&] {
    fn();
    done.set_value();
  });
  fut.wait();
}

void PeerManager::post_peer(uint64_t uid, std::function<void(Peer &)> fn) {
  post([this, uid, fn = std::move(fn)] {
    if (Peer *p = find(uid)) fn(*p);
  });
}

Peer *PeerManager::find(uint64_t uid) {
  for (auto &[id, p] : peers_)
    if (p->uid == uid) return p.get();
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Elements

void PeerManager::apply(const Settings &s, uint32_t mask) {
  std::lock_guard<std::mutex> l(mu_);
  Settings &d = settings_;
  if (mask & Settings::kUrl) d.signalling_url = s.signalling_url;
  if (mask & Settings::kRoom) d.room = s.room;
  if (mask & Settings::kPeerId) d.peer_id = s.peer_id;
  if (mask & Settings::kToken) d.token = s.token;
  if (mask & Settings::kLocalAddrs) d.ice_local_addresses = s.ice_local_addresses;
  if (mask & Settings::kStun) d.stun_server = s.stun_server;
  if (mask & Settings::kTurn) d.turn_server = s.turn_server;
  if (mask & Settings::kIceServers) d.ice_servers = s.ice_servers;
  if (mask & Settings::kRemotePeers) d.remote_peers = s.remote_peers;
  if (mask & Settings::kAudioLatency) d.audio_latency_ms = s.audio_latency_ms;
  if (mask & Settings::kVideoLatency) d.video_latency_ms = s.video_latency_ms;
  if (mask & Settings::kOpusFrame) d.opus_frame_ms = s.opus_frame_ms;
  if (mask & Settings::kOpusLowDelay) d.opus_low_delay = s.opus_low_delay;
  if (mask & Settings::kVideoCodec) d.video_codec = s.video_codec;
  if (mask & Settings::kMinBitrate) d.min_bitrate = s.min_bitrate;
  if (mask & Settings::kMaxBitrate) d.max_bitrate = s.max_bitrate;
  if (mask & Settings::kStartBitrate) d.start_bitrate = s.start_bitrate;
  if (mask & Settings::kInactivity) d.inactivity_timeout_ms = s.inactivity_timeout_ms;
  if (mask & Settings::kSetupTimeout) d.setup_timeout_ms = s.setup_timeout_ms;
  if (mask & Settings::kDataChannel) d.data_channel = s.data_channel;
}

Settings PeerManager::settings() const {
  std::lock_guard<std::mutex> l(mu_);
  return settings_;
}

void PeerManager::set_source(const SourceInfo &info) {
  std::lock_guard<std::mutex> l(mu_);
  source_ = info;
}

void PeerManager::set_sink(std::shared_ptr<StreamSet> streams) {
  std::lock_guard<std::mutex> l(mu_);
  sinks_ = std::move(streams);
}

PeerManager::SourceInfo PeerManager::source() const {
  std::lock_guard<std::mutex> l(mu_);
  return source_;
}

std::shared_ptr<StreamSet> PeerManager::sinks() const {
  std::lock_guard<std::mutex> l(mu_);
  return sinks_;
}

GstBin *PeerManager::sink_bin() const {
  std::lock_guard<std::mutex> l(mu_);
  return sinks_ ? sinks_->bin : nullptr;
}

GstBin *PeerManager::host_bin() const {
  std::lock_guard<std::mutex> l(mu_);
  if (source_.element) return GST_BIN(source_.element);
  return sinks_ ? sinks_->bin : nullptr;
}

std::string PeerManager::metrics_session() const {
  std::lock_guard<std::mutex> l(mu_);
  return settings_.room;
}

std::string PeerManager::my_id() const {
  std::lock_guard<std::mutex> l(mu_);
  return my_id_;
}

std::vector<sig::IceServer> PeerManager::ice_servers() const {
  std::lock_guard<std::mutex> l(mu_);
  return ice_;
}

int PeerManager::ice_server_count() const { return (int)ice_servers().size(); }

void PeerManager::activate(GstElement *e) {
  bool first;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (std::find(active_.begin(), active_.end(), e) != active_.end()) return;
    first = active_.empty();
    active_.push_back(e);
  }
  if (first) run_sync([this] { start_client(); });
}

void PeerManager::deactivate(GstElement *e) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (e) {
      auto it = std::find(active_.begin(), active_.end(), e);
      if (it == active_.end()) return;
      active_.erase(it);
    }
    if (!active_.empty()) return;
  }
  std::unique_ptr<sig::Client> client;
  run_sync([this, &client] {
    announced_ = false;
    if (tick_source_) {
      g_source_destroy(tick_source_);
      g_source_unref(tick_source_);
      tick_source_ = nullptr;
    }
    stop_all();
    client = std::move(client_);
  });
  if (client) client->stop();  // sends peer.disconnect; callbacks after this are ignored
}

void PeerManager::start_client() {
  if (client_) return;
  Settings st = settings();
  sig::ClientConfig cfg;
  cfg.url = st.signalling_url;
  cfg.room = st.room;
  cfg.peer_id = st.peer_id;
  cfg.token = st.token;
  cfg.media.audio = true;
  cfg.media.video = true;
  cfg.media.data = st.data_channel;
  cfg.envelope.session_id = session_;
  sig::ClientCallbacks cb;
  cb.on_announced = [this](const std::string &me, const std::vector<sig::PeerInfo> &peers,
                           const std::vector<sig::IceServer> &ice) {
    post([this, me, peers, ice] { on_announced(me, peers, ice); });
  };
  cb.on_peer_left = [this](const std::string &id, const std::string &reason) {
    post([this, id, reason] {
      if (announced_) remove_peer(id, "left: " + reason);
    });
  };
  cb.on_offer = [this](const std::string &from, const std::string &sdp) {
    post([this, from, sdp] { on_offer(from, sdp); });
  };
  cb.on_answer = [this](const std::string &from, const std::string &sdp) {
    post([this, from, sdp] { on_answer(from, sdp); });
  };
  cb.on_ice_candidate = [this](const std::string &from, const sig::IceCandidate &c) {
    post([this, from, c] { on_candidate(from, c); });
  };
  cb.on_error = [this](int code, const std::string &message) {
    GST_WARNING("session %s: signalling error %d: %s", session_.c_str(), code, message.c_str());
    metrics::Registry::global()
        .counter("meshflow_webrtc_signalling_errors_total", "Signalling errors seen by the peer manager",
                 {{"code", std::to_string(code)}})
        .inc();
  };
  client_ = std::make_unique<sig::Client>(cfg, cb);
  if (!client_->start()) {
    GST_ERROR("session %s: cannot start the signalling client for '%s'", session_.c_str(), cfg.url.c_str());
    client_.reset();
    return;
  }
  GST_INFO("session %s: joining room '%s' via %s", session_.c_str(), cfg.room.c_str(), cfg.url.c_str());
  tick_source_ = g_timeout_source_new(500);
  g_source_set_callback(tick_source_, [](gpointer d) -> gboolean {
    static_cast<PeerManager *>(d)->tick();
    return G_SOURCE_CONTINUE;
  }, this, nullptr);
  g_source_attach(tick_source_, ctx_);
}

void PeerManager::stop_all() {
  while (true) {
    std::string id;
    {
      std::lock_guard<std::mutex> l(peers_mu_);
      if (peers_.empty()) break;
      id = peers_.begin()->first;
    }
    remove_peer(id, "session stopped");
  }
}

// ---------------------------------------------------------------------------------------------
// Peers

Peer *PeerManager::create_peer(const std::string &id, bool offerer) {
  auto p = std::make_unique<Peer>(*this, id, next_uid_++, offerer);
  if (announced_at_ > p->created) p->setup_origin = announced_at_;
  std::string error;
  Peer *raw = p.get();
  {
    std::lock_guard<std::mutex> l(peers_mu_);
    peers_[id] = std::move(p);
  }
  if (!raw->build(&error)) {
    GST_ERROR("session %s: peer %s: %s", session_.c_str(), id.c_str(), error.c_str());
    remove_peer(id, error);
    return nullptr;
  }
  std::shared_ptr<StreamSet> sinks;
  {
    std::lock_guard<std::mutex> l(mu_);
    sinks = sinks_;
  }
  if (sinks) raw->wire_sends(sinks->snapshot());  // not under mu_: it adds transceivers
  peers_gauge(metrics_session()).set((double)peers_.size());
  peer_message("peer-joined", id, gst_structure_new("x", "offerer", G_TYPE_BOOLEAN, offerer, nullptr));
  return raw;
}

void PeerManager::remove_peer(const std::string &id, const std::string &reason) {
  std::unique_ptr<Peer> p;
  {
    std::lock_guard<std::mutex> l(peers_mu_);
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    p = std::move(it->second);
    peers_.erase(it);
  }
  GST_INFO("session %s: peer %s removed (%s)", session_.c_str(), id.c_str(), reason.c_str());
  p.reset();
  // Its per-peer series go with it (stats replies for it can no longer arrive: they are posted to
  // this thread by uid and dropped once the Peer is gone).
  metrics::Registry::global().remove_series("meshflow_webrtc_", {{"session", metrics_session()}, {"peer", id}});
  peers_gauge(metrics_session()).set((double)peers_.size());
  peer_message("peer-left", id, gst_structure_new("x", "reason", G_TYPE_STRING, reason.c_str(), nullptr));
}

void PeerManager::fail_peer(uint64_t uid, const std::string &reason) {
  post([this, uid, reason] {
    Peer *p = find(uid);
    if (!p) return;
    std::string id = p->id;
    GST_WARNING("session %s: peer %s failed: %s", session_.c_str(), id.c_str(), reason.c_str());
    metrics::Registry::global()
        .counter("meshflow_webrtc_peer_failures_total", "Peers ended by a failure", {{"session", metrics_session()}})
        .inc();
    peer_message("failed", id, gst_structure_new("x", "reason", G_TYPE_STRING, reason.c_str(), nullptr));
    remove_peer(id, "failed: " + reason);
  });
}

void PeerManager::peer_message(const char *event, const std::string &peer_id, GstStructure *extra) {
  GstElement *src = nullptr;
  {
    std::lock_guard<std::mutex> l(mu_);
    src = source_.element ? source_.element : sinks_ ? GST_ELEMENT(sinks_->bin) : nullptr;
  }
  if (!src) {
    if (extra) gst_structure_free(extra);
    return;
  }
  post_peer_message(src, event, peer_id, extra);
}

void PeerManager::first_media(Peer &p, Kind kind, double setup_s) {
  GST_INFO("session %s: first decoded %s from peer %s after %.1f ms", session_.c_str(), to_string(kind),
           p.id.c_str(), setup_s * 1e3);
  metrics::Registry::global()
      .histogram("meshflow_webrtc_setup_seconds", "Announce (or peer creation) to first decoded media",
                 {{"session", metrics_session()}, {"kind", to_string(kind)}})
      .observe(setup_s);
  peer_message("media", p.id, gst_structure_new("x", "kind", G_TYPE_STRING, to_string(kind), "setup-ms",
                                                G_TYPE_DOUBLE, setup_s * 1e3, nullptr));
}

bool PeerManager::handle_child_error(GstMessage *msg) {
  for (GstObject *o = GST_MESSAGE_SRC(msg); o; o = GST_OBJECT_PARENT(o)) {
    const char *n = GST_OBJECT_NAME(o);
    if (!n || std::strncmp(n, "mfp", 3) != 0) continue;
    char *end = nullptr;
    unsigned long long uid = std::strtoull(n + 3, &end, 10);
    if (end == n + 3 || *end != '-') continue;
    GError *err = nullptr;
    gst_message_parse_error(msg, &err, nullptr);
    std::string text = err ? err->message : "error";
    g_clear_error(&err);
    fail_peer(uid, std::string(GST_MESSAGE_SRC_NAME(msg)) + ": " + text);
    return true;
  }
  return false;
}

void PeerManager::streams_changed() {
  post([this] {
    std::shared_ptr<StreamSet> sinks;
    {
      std::lock_guard<std::mutex> l(mu_);
      sinks = sinks_;
    }
    if (!sinks) return;
    auto streams = sinks->snapshot();
    for (auto &[id, p] : peers_) p->wire_sends(streams);
  });
}

void PeerManager::send_event(std::shared_ptr<const SendStream> route, std::string json, std::string target) {
  post([this, route = std::move(route), json = std::move(json), target = std::move(target)] {
    const bool follow = route->follows_tag() && !target.empty();
    for (auto &[id, p] : peers_)
      if (route->selects(id) && (!follow || id == target)) p->send_event(json);
  });
}

void PeerManager::remove_stream(const SendStream *s) {
  run_sync([this, s] {
    for (auto &[id, p] : peers_) p->unwire(s);
  });
}

// ---------------------------------------------------------------------------------------------
// Signalling (worker thread)

void PeerManager::on_announced(const std::string &me, const std::vector<sig::PeerInfo> &peers,
                               const std::vector<sig::IceServer> &ice) {
  if (!client_) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    my_id_ = me;
    ice_ = ice;
  }
  announced_ = true;
  announced_at_ = Clock::now();
  GST_INFO("session %s: announced as %s, %zu peer(s) in the room", session_.c_str(), me.c_str(), peers.size());
  peer_message("announced", me, gst_structure_new("x", "peers", G_TYPE_INT, (int)peers.size(), nullptr));
  // The newcomer offers to every peer already in the room (after a reconnect, only to new ones).
  for (const auto &pi : peers) {
    if (peers_.count(pi.peer_id) || !wanted(pi.peer_id)) continue;
    if (Peer *p = create_peer(pi.peer_id, true)) p->make_offer(false);
  }
}

bool PeerManager::wanted(const std::string &peer_id) const {
  std::lock_guard<std::mutex> l(mu_);
  if (settings_.remote_peers.empty()) return true;
  for (const auto &p : settings_.remote_peers)
    if (g_pattern_match_simple(p.c_str(), peer_id.c_str())) return true;
  return false;
}

void PeerManager::on_offer(const std::string &from, const std::string &sdp) {
  if (!announced_) return;
  if (!wanted(from)) {
    GST_INFO("session %s: offer from %s ignored: not in remote-peers", session_.c_str(), from.c_str());
    metrics::Registry::global()
        .counter("meshflow_webrtc_offers_ignored_total", "Offers from peers outside the remote-peers filter")
        .inc();
    return;
  }
  std::string error;
  GstSDPMessage *msg = parse_remote_sdp(sdp, &error);
  if (!msg) {
    GST_WARNING("session %s: offer from %s refused: %s", session_.c_str(), from.c_str(), error.c_str());
    metrics::Registry::global().counter("meshflow_webrtc_sdp_rejected_total", "Remote SDP refused").inc();
    return;
  }
  auto it = peers_.find(from);
  if (it != peers_.end()) {
    Peer &p = *it->second;
    bool glare = p.awaiting_answer;  // our (first, restart or renegotiation) offer is in flight
    bool restarted = !p.remote_fingerprint.empty() && p.remote_fingerprint != sdp_fingerprint(msg);
    if (glare) {
      // Polite peer (larger id) gives way; the impolite one ignores the incoming offer.
      if (my_id() < from) {
        gst_sdp_message_free(msg);
        return;
      }
    }
    if (glare || restarted || p.failed) {
      remove_peer(from, glare ? "glare" : "remote restarted");
    } else {
      p.apply_remote_offer(msg);  // renegotiation / ICE restart on the same connection
      return;
    }
  }
  if (Peer *p = create_peer(from, false)) p->apply_remote_offer(msg);
  else gst_sdp_message_free(msg);
}

void PeerManager::on_answer(const std::string &from, const std::string &sdp) {
  auto it = peers_.find(from);
  if (it == peers_.end() || !it->second->awaiting_answer) return;
  std::string error;
  GstSDPMessage *msg = parse_remote_sdp(sdp, &error);
  if (!msg) {
    GST_WARNING("session %s: answer from %s refused: %s", session_.c_str(), from.c_str(), error.c_str());
    metrics::Registry::global().counter("meshflow_webrtc_sdp_rejected_total", "Remote SDP refused").inc();
    fail_peer(it->second->uid, "invalid answer: " + error);
    return;
  }
  it->second->apply_remote_answer(msg);
}

void PeerManager::on_candidate(const std::string &from, const sig::IceCandidate &c) {
  auto it = peers_.find(from);
  if (it == peers_.end()) return;
  std::string error;
  if (!valid_candidate(c.candidate, &error)) {
    GST_DEBUG("session %s: candidate from %s ignored: %s", session_.c_str(), from.c_str(), error.c_str());
    return;
  }
  it->second->add_remote_candidate(c.sdp_mline_index, c.candidate);
}

// ---------------------------------------------------------------------------------------------
// Periodic work: stats, bitrate, dead peers

void PeerManager::tick() {
  Settings st = settings();
  auto now = Clock::now();
  int64_t now_us = g_get_monotonic_time();
  std::vector<std::pair<std::string, std::string>> dead;  // id, reason
  std::vector<std::string> recreate;
  for (auto &[id, p] : peers_) {
    p->request_stats();
    p->send_ping();
    p->maybe_renegotiate();
    if (p->connected) {
      if (now_us - p->last_activity() > (int64_t)st.inactivity_timeout_ms * 1000)
        dead.emplace_back(id, "inactive");
      continue;
    }
    double since = std::chrono::duration<double>(now - p->attempt_start).count();
    bool timed_out = since * 1000 > st.setup_timeout_ms;
    if (!p->failed && !timed_out) continue;
    // Failed (ICE failed) or never connected in time: ICE restart, then a fresh offer, then give up.
    if (p->offerer && p->attempts < 2) {
      if (p->ever_connected && p->attempts == 0) {
        GST_INFO("session %s: peer %s: ICE restart", session_.c_str(), id.c_str());
        p->attempts++;
        p->failed = false;
        p->attempt_start = now;
        p->make_offer(true);
      } else {
        recreate.push_back(id);
      }
    } else if (!p->offerer && since * 1000 < 2.0 * st.setup_timeout_ms) {
      continue;  // the offerer restarts; wait for its offer
    } else {
      dead.emplace_back(id, p->failed ? "ice-failed" : "setup-timeout");
    }
  }
  for (auto &[id, reason] : dead) {
    auto it = peers_.find(id);
    if (it == peers_.end()) continue;
    GST_WARNING("session %s: peer %s is dead (%s)", session_.c_str(), id.c_str(), reason.c_str());
    metrics::Registry::global()
        .counter("meshflow_webrtc_peer_failures_total", "Peers ended by a failure", {{"session", metrics_session()}})
        .inc();
    peer_message("failed", id, gst_structure_new("x", "reason", G_TYPE_STRING, reason.c_str(), nullptr));
    remove_peer(id, reason);
  }
  for (auto &id : recreate) {
    int attempts = peers_[id]->attempts + 1;
    GST_INFO("session %s: peer %s: fresh offer (attempt %d)", session_.c_str(), id.c_str(), attempts);
    remove_peer(id, "fresh offer");
    if (Peer *p = create_peer(id, true)) {
      p->attempts = attempts;
      p->make_offer(false);
    }
  }
  // Bitrate: one controller step per encoder over the peers it feeds.
  std::shared_ptr<StreamSet> sinks;
  {
    std::lock_guard<std::mutex> l(mu_);
    sinks = sinks_;
  }
  if (sinks) {
    for (auto &s : sinks->snapshot()) {
      double loss = 0, rtt = 0;
      bool any = false;
      for (auto &[id, p] : peers_) {
        if (!p->sends(s.get())) continue;
        PeerStats ps = p->stats();
        loss = std::max(loss, ps.fraction_lost);
        rtt = std::max(rtt, ps.rtt_s);
        any = true;
      }
      if (any) adapt_bitrate(*s, loss, rtt, st);
    }
  }
}

GstStructure *PeerManager::stats() const {
  GstStructure *s = gst_structure_new("meshflow-webrtc-stats", "session", G_TYPE_STRING, session_.c_str(),
                                      "peer-id", G_TYPE_STRING, my_id().c_str(), nullptr);
  std::lock_guard<std::mutex> l(peers_mu_);
  gst_structure_set(s, "peers", G_TYPE_INT, (int)peers_.size(), nullptr);
  for (const auto &[id, p] : peers_) {
    GstStructure *ps = peer_stats_structure(id, p->stats());
    gst_structure_set(s, id.c_str(), GST_TYPE_STRUCTURE, ps, nullptr);
    gst_structure_free(ps);
  }
  return s;
}

}  // namespace mf::webrtc
