// The per-session WebRTC peer manager, shared by the webrtc_source and webrtc_sink elements of one
// pipeline.
//
// Sharing: a process-wide registry keyed by (top-level pipeline, `session` property). Elements
// acquire the manager at NULL->READY (so two pipelines in one process never share one, even with
// the default session name "default"), activate it at READY->PAUSED (the first activation starts the
// signalling client and joins the room), deactivate at PAUSED->READY (the last deactivation leaves
// the room and frees every peer) and release it at READY->NULL.
//
// Settings: each element keeps the properties set on it; at acquire time and whenever a property is
// set afterwards, the properties EXPLICITLY set on the element are applied to the manager. So a
// property set on either element configures the session; if both elements set the same one, the
// last write wins. Settings are read when a peer is created (webrtcbin latency, ICE, codecs) or when
// the client starts (URL, room, peer id, token).
//
// Threading: the manager runs a GMainContext on a thread of its own (the "worker"). Signalling
// callbacks (on the client's thread) and webrtcbin callbacks (on webrtcbin's threads) only post to
// it; every peer is created, negotiated and destroyed there, so no callback ever blocks the
// signalling thread or runs a state change on a streaming thread.
#pragma once

#include <gst/gst.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common.h"
#include "encoder_chain.h"
#include "meshflow/signalling/client.h"
#include "stats.h"

namespace mf::webrtc {

class Peer;

class PeerManager {
 public:
  /// The manager of `session` in the pipeline that contains `element` (created on first use).
  static std::shared_ptr<PeerManager> acquire(GstElement *element, const std::string &session);
  ~PeerManager();
  PeerManager(const PeerManager &) = delete;
  PeerManager &operator=(const PeerManager &) = delete;

  // --- elements ---
  void apply(const Settings &s, uint32_t mask);
  Settings settings() const;
  struct SourceInfo {
    GstElement *element = nullptr;
    bool decode = true;
    bool audio = true, video = true;
  };
  void set_source(const SourceInfo &info);          // nullptr element = none
  void set_sink(std::shared_ptr<StreamSet> streams);  // nullptr = none
  void activate(GstElement *e);    // READY->PAUSED
  void deactivate(GstElement *e);  // PAUSED->READY (the last one leaves the room)
  /// A sink pad was added or its route changed: rewire every peer (asynchronous).
  void streams_changed();
  /// Send a JSON event over the data channel to every connected peer `route` selects
  /// (asynchronous; peers whose channel is not open miss it). A tag-following route
  /// (SendStream::follows_tag) goes to `target` only, the peer its stream's last tag named (every
  /// peer while empty).
  void send_event(std::shared_ptr<const SendStream> route, std::string json, std::string target = {});
  /// A sink pad is going away: unlink it from every peer (synchronous).
  void remove_stream(const SendStream *s);
  /// An ERROR from inside a peer's elements: end that peer (asynchronously) and return true.
  bool handle_child_error(GstMessage *msg);
  /// `meshflow-webrtc-stats`: session, peer-id (ours), peers (count), then one field per remote
  /// peer (its id) holding a `peer` structure (see stats.h).
  GstStructure *stats() const;

  // --- for Peer ---
  std::string session() const { return session_; }
  /// The `session` label of our metrics: the room name (one room = one session of the launcher).
  std::string metrics_session() const;
  GstBin *host_bin() const;     // where webrtcbins live (the source if any, else the sink)
  SourceInfo source() const;
  GstBin *sink_bin() const;
  std::shared_ptr<StreamSet> sinks() const;
  std::string my_id() const;
  mf::signalling::Client *client() const { return client_.get(); }
  /// Run `fn` on the worker with the Peer of `uid`, if it still exists.
  void post_peer(uint64_t uid, std::function<void(Peer &)> fn);
  void post(std::function<void()> fn);
  void peer_message(const char *event, const std::string &peer_id, GstStructure *extra = nullptr);
  void first_media(Peer &p, Kind kind, double setup_s);
  void fail_peer(uint64_t uid, const std::string &reason);
  int ice_server_count() const;
  std::vector<mf::signalling::IceServer> ice_servers() const;

 private:
  PeerManager(GstObject *pipeline, std::string session);
  void run_sync(const std::function<void()> &fn);
  void start_client();
  void stop_all();  // worker: free every peer
  void tick();      // worker, every second: stats, bitrate, dead-peer detection
  Peer *create_peer(const std::string &id, bool offerer);
  void remove_peer(const std::string &id, const std::string &reason);
  Peer *find(uint64_t uid);
  // signalling (posted to the worker)
  void on_announced(const std::string &me, const std::vector<mf::signalling::PeerInfo> &peers,
                    const std::vector<mf::signalling::IceServer> &ice);
  bool wanted(const std::string &peer_id) const;  // matches the remote-peers filter
  void on_offer(const std::string &from, const std::string &sdp);
  void on_answer(const std::string &from, const std::string &sdp);
  void on_candidate(const std::string &from, const mf::signalling::IceCandidate &c);

  GstObject *pipeline_;  // registry key only, never dereferenced
  const std::string session_;

  mutable std::mutex mu_;  // protects settings_, source_, sinks_, active_, my_id_, ice_
  Settings settings_;
  SourceInfo source_;
  std::shared_ptr<StreamSet> sinks_;
  std::vector<GstElement *> active_;
  std::string my_id_;
  std::vector<mf::signalling::IceServer> ice_;

  // Worker.
  GMainContext *ctx_ = nullptr;
  GMainLoop *loop_ = nullptr;
  std::thread thread_;
  std::mutex post_mu_;  // protects stopping_
  bool stopping_ = false;

  // Worker-thread state (peers_ is also read under peers_mu_ by stats()).
  std::unique_ptr<mf::signalling::Client> client_;  // created/destroyed with mu_ NOT held
  mutable std::mutex peers_mu_;  // protects peers_ (writes happen on the worker)
  std::map<std::string, std::unique_ptr<Peer>> peers_;
  uint64_t next_uid_ = 1;
  Clock::time_point announced_at_{};
  bool announced_ = false;
  GSource *tick_source_ = nullptr;
};

}  // namespace mf::webrtc
