// One remote peer of a session: its webrtcbin (in the manager's host bin), its negotiation
// (offer/answer, trickle ICE, ICE restart, renegotiation when a send slot is added), its send slots
// (one transceiver per webrtc_sink stream routed to this peer, each fed from that stream's encoder
// tee through a per-peer queue) and its receive chains (depayload + decode into
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

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common.h"
#include "encoder_chain.h"
#include "ssrc_rewrite.h"
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
  /// Link every stream whose route selects this peer to a send slot of its own (reusing a free
  /// slot of the same kind and codec, else adding a transceiver and renegotiating), and unlink the
  /// slots whose stream no longer selects this peer.
  void wire_sends(const std::vector<std::shared_ptr<SendStream>> &streams);
  /// Unlink from `s` if it feeds us (the stream is going away).
  void unwire(const SendStream *s);
  /// Ask webrtcbin for stats (asynchronous; the reply updates stats()).
  void request_stats();
  /// Send a JSON text event over the data channel (if open).
  void send_event(const std::string &json);
  /// Offer again if a renegotiation is pending, no offer/answer is in flight, we are connected and
  /// every send slot has caps (called on each state change and by the manager's tick).
  void maybe_renegotiate();
  /// Keep-alive over the data channel (the remote's inactivity timer sees it).
  void send_ping();
  PeerStats stats() const;
  /// Is `s` currently sent to this peer?
  bool sends(const SendStream *s) const;
  /// How many send slots (transceivers fed by webrtc_sink) this peer has, and how many are linked.
  size_t send_slots() const;
  size_t linked_slots() const;

  const std::string id;
  const uint64_t uid;
  const bool offerer;
  const Clock::time_point created;
  Clock::time_point setup_origin;  // max(our announce, creation): setup-time origin

  // Worker-thread state.
  bool remote_set = false;
  // Negotiation: a local offer waits for its answer / a remote offer is being answered / a slot was
  // added after our first offer (or we are the answerer): offer again when stable.
  bool awaiting_answer = false;
  bool answering = false;
  bool offer_made = false;
  bool renegotiate = false;
  bool connected = false;
  bool ever_connected = false;
  bool remote_offered_data = false;  // the remote's offer had a data channel m-line
  bool failed = false;
  int attempts = 0;  // ICE restarts / fresh offers so far
  Clock::time_point failure_since{};
  Clock::time_point attempt_start;  // creation or last ICE restart
  std::string remote_fingerprint;
  std::atomic<int64_t> last_activity_us{0};  // g_get_monotonic_time() of the last RTP/data in
  /// Last sign of life: decoded-side RTP, a data-channel message, or any packet the ICE transport
  /// received (RTCP receiver reports, SCTP acks of our pings, DTLS) -- a receive-only peer is alive.
  int64_t last_activity() const { return std::max(last_activity_us.load(), wire_activity_->load()); }

  // Called (posted) by the manager.
  void on_connection_state(GstWebRTCPeerConnectionState st);
  void on_ice_state(GstWebRTCICEConnectionState st);

 private:
  struct SendSlot {
    Kind kind;
    const Codec *codec = nullptr;   // what the transceiver was created for
    GstPad *wb_pad = nullptr;       // webrtcbin sink_%u (ref)
    GstElement *queue = nullptr;    // in the sink bin (ref)
    GstPad *tee_pad = nullptr;      // requested from stream->tee (ref)
    std::shared_ptr<SendStream> stream;
    guint32 ssrc = 0;               // the slot's own (ssrc_rewrite.h)
    std::shared_ptr<SlotRewrite> rw;  // SSRC/seqnum rewrite and tag gate of the slot's packets
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
  /// A transceiver: with `send`, a send slot (webrtcbin sink pad + queue in the sink bin) fed later
  /// by wire_sends(); sendrecv if `recv`. Returns false if webrtcbin refused the pad.
  bool add_transceiver(Kind kind, bool send, bool recv, const Codec *codec = nullptr);

  /// A local description was set: its mids (for trickle ICE).
  void local_description_set(const GstSDPMessage *sdp);
  bool has_unnegotiated_slot() const;  // a send slot's transceiver has no mid yet
  void link_slot(SendSlot &slot, const std::shared_ptr<SendStream> &s);
  void unlink_slot(SendSlot &slot);
  std::string name(const char *what) const;

  PeerManager &mgr_;
  GstElement *webrtc_ = nullptr;  // ref; child of the host bin
  // Written by probes on webrtcbin's nicesrc pads, which may outlive the Peer: shared.
  std::shared_ptr<std::atomic<int64_t>> wire_activity_ = std::make_shared<std::atomic<int64_t>>(0);
  GstBin *host_ = nullptr;        // borrowed (manager guarantees lifetime)
  GstBin *sink_bin_ = nullptr;    // borrowed, may be null
  std::vector<SendSlot> slots_;
  bool recv_audio_ = false, recv_video_ = false;  // set by build()
  mutable std::mutex mu_;  // protects recv_, dc_, stats_, slots_ (read by sends())
  std::vector<std::unique_ptr<Recv>> recv_;
  GObject *dc_ = nullptr;  // GstWebRTCDataChannel (ref)
  PeerStats stats_;
  Clock::time_point last_poll_{};
  std::vector<std::string> local_mids_;  // protected by mu_
  std::set<std::string> pad_names_;      // webrtc_source pad names taken by this peer (mu_)
  std::vector<std::pair<int, std::string>> pending_candidates_;
};

}  // namespace mf::webrtc
