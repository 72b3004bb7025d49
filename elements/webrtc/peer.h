// One remote peer of a session: its webrtcbin (in the manager's host bin), its negotiation
// (offer/answer, trickle ICE, ICE restart), its send slots (one per media kind, fed from a
// webrtc_sink encoder tee through a per-peer queue) and its receive chains (depayload + decode into
// a `audio_<peer>` / `video_<peer>` pad of webrtc_source), and its data channel.
//
// Threading: created, driven and destroyed on the manager's worker thread. webrtcbin callbacks come
// on webrtcbin's own threads; those that change state are posted to the worker by `uid` (a peer id
// may be reused by a later Peer object). pad-added is handled on the streaming thread (linking must
// happen before data flows). Every element a Peer creates is named "mfp<uid>-..." so that a bus
// error can be mapped back to its peer.
#pragma once

#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#ifndef GST_USE_UNSTABLE_API
#define GST_USE_UNSTABLE_API
#endif
#include <gst/webrtc/webrtc.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common.h"
#include "encoder_chain.h"
#include "stats.h"

namespace mf::webrtc {

class PeerManager;

class Peer {
 public:
  Peer(PeerManager &mgr, std::string id, uint64_t uid, bool offerer);
  ~Peer();  // worker thread: unlinks and frees everything (webrtcbin, queues, decoders, pads)
  Peer(const Peer &) = delete;
  Peer &operator=(const Peer &) = delete;

  /// Create the webrtcbin and its transceivers, set it PLAYING. False with `error`.
  bool build(std::string *error);
  /// Offerer: create an offer (with ICE restart if asked), set it locally, send it.
  void make_offer(bool ice_restart);
  /// Answerer (or renegotiation): apply a validated remote offer and answer it. Takes `sdp`.
  void apply_remote_offer(GstSDPMessage *sdp);
  void apply_remote_answer(GstSDPMessage *sdp);
  void add_remote_candidate(int mline, const std::string &candidate);
  /// Choose, per media kind, the first stream whose route selects this peer, and (re)link.
  void wire_sends(const std::vector<std::shared_ptr<SendStream>> &streams);
  /// Unlink from `s` if it feeds us (the stream is going away).
  void unwire(const SendStream *s);
  /// Ask webrtcbin for stats (asynchronous; the reply updates stats()).
  void request_stats();
  /// Send a JSON text event over the data channel (if open).
  void send_event(const std::string &json);
  /// Keep-alive over the data channel (the remote's inactivity timer sees it).
  void send_ping();
  PeerStats stats() const;
  /// The stream currently sent to this peer for `kind` (nullptr if none).
  std::shared_ptr<SendStream> sending(Kind kind) const;

  const std::string id;
  const uint64_t uid;
  const bool offerer;
  const Clock::time_point created;
  Clock::time_point setup_origin;  // max(our announce, creation): setup-time origin

  // Worker-thread state.
  bool remote_set = false;
  bool connected = false;
  bool ever_connected = false;
  bool failed = false;
  int attempts = 0;  // ICE restarts / fresh offers so far
  Clock::time_point failure_since{};
  Clock::time_point attempt_start;  // creation or last ICE restart
  std::string remote_fingerprint;
  std::atomic<int64_t> last_activity_us{0};  // g_get_monotonic_time() of the last RTP/data in

  // Called (posted) by the manager.
  void on_connection_state(GstWebRTCPeerConnectionState st);
  void on_ice_state(GstWebRTCICEConnectionState st);

 private:
  struct SendSlot {
    Kind kind;
    GstPad *wb_pad = nullptr;       // webrtcbin sink_%u (ref)
    GstElement *queue = nullptr;    // in the sink bin (ref)
    GstPad *tee_pad = nullptr;      // requested from stream->tee (ref)
    std::shared_ptr<SendStream> stream;
  };
  struct Recv {
    Peer *peer;
    Kind kind;
    std::vector<GstElement *> elements;  // in the host bin
    GstPad *ghost = nullptr;             // on webrtc_source (ref)
    std::atomic<bool> first{true};
    std::atomic<bool> tagged{false};  // a stream tag with our peer id went downstream
    GstTagList *tags = nullptr;
  };

  static void on_pad_added(GstElement *, GstPad *, gpointer self);
  static void on_ice_candidate(GstElement *, guint mline, gchar *cand, gpointer self);
  static void on_data_channel(GstElement *, GObject *channel, gpointer self);
  static void on_dc_message(GObject *, gchar *str, gpointer self);
  static void on_dc_open(GObject *, gpointer self);
  static GstPadProbeReturn recv_probe(GstPad *, GstPadProbeInfo *, gpointer recv);
  static GstPadProbeReturn activity_probe(GstPad *, GstPadProbeInfo *, gpointer self);
  void handle_new_pad(GstPad *pad);
  void adopt_data_channel(GObject *channel);
  void add_transceiver(Kind kind, bool send, bool recv);
  std::string name(const char *what) const;

  PeerManager &mgr_;
  GstElement *webrtc_ = nullptr;  // ref; child of the host bin
  GstBin *host_ = nullptr;        // borrowed (manager guarantees lifetime)
  GstBin *sink_bin_ = nullptr;    // borrowed, may be null
  std::vector<SendSlot> slots_;
  mutable std::mutex mu_;  // protects recv_, dc_, stats_, slots_[].stream (read by sending())
  std::vector<std::unique_ptr<Recv>> recv_;
  GObject *dc_ = nullptr;  // GstWebRTCDataChannel (ref)
  PeerStats stats_;
  Clock::time_point last_poll_{};
  std::vector<std::string> local_mids_;  // protected by mu_
  std::vector<std::pair<int, std::string>> pending_candidates_;
};

}  // namespace mf::webrtc
