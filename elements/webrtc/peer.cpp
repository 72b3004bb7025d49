#include "peer.h"

#include <gst/rtp/rtp.h>
#include <gst/sdp/sdp.h>
#include <gst/video/video.h>
#include <json-glib/json-glib.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "negotiation.h"
#include "peer_manager.h"

#define GST_CAT_DEFAULT mf_webrtc_debug

namespace mf::webrtc {

namespace {

struct Ctx {  // signal user data: the manager and the peer's uid (the Peer may be gone)
  PeerManager *mgr;
  uint64_t uid;
};

void free_ctx(gpointer p, GClosure *) { delete static_cast<Ctx *>(p); }

using WireActivity = std::shared_ptr<std::atomic<int64_t>>;
void free_wire_activity(gpointer p, GClosure *) { delete static_cast<WireActivity *>(p); }

GstPadProbeReturn wire_probe(GstPad *, GstPadProbeInfo *, gpointer d) {
  (*static_cast<WireActivity *>(d))->store(g_get_monotonic_time());
  return GST_PAD_PROBE_OK;
}

void on_deep_element_added(GstBin *, GstBin *, GstElement *e, gpointer d) {
  GstElementFactory *f = gst_element_get_factory(e);
  if (f && !g_strcmp0(GST_OBJECT_NAME(f), "rtpsession")) {
    // RTCP about every second (default minimum 5 s): a receive-only peer's receiver reports are
    // then frequent enough to show it alive within the inactivity timeout, and loss/RTT feedback
    // for the bitrate adaptation is fresher. A few hundred bytes a second.
    g_object_set(e, "rtcp-min-interval", (guint64)GST_SECOND, nullptr);
    return;
  }
  if (!f || g_strcmp0(GST_OBJECT_NAME(f), "nicesrc")) return;
  GstPad *src = gst_element_get_static_pad(e, "src");
  if (!src) return;
  gst_pad_add_probe(src, GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST), wire_probe,
                    new WireActivity(*static_cast<WireActivity *>(d)),
                    [](gpointer p) { delete static_cast<WireActivity *>(p); });
  gst_object_unref(src);
}

struct JbLatency {  // new-jitterbuffer user data (owned by the signal handler)
  unsigned audio_ms, video_ms;
};

// The kind ("audio"/"video") of the remote m-line announcing `ssrc` (a=ssrc), or failing that
// (an offer made before its pad had caps carries no a=ssrc) carrying payload type `pt` (BUNDLEd
// m-lines use distinct payload types). nullptr if unknown. `wb`: the webrtcbin.
const char *remote_kind(GstObject *wb, guint ssrc, int pt) {
  GstWebRTCSessionDescription *desc = nullptr;
  g_object_get(wb, "remote-description", &desc, nullptr);
  if (!desc) return nullptr;
  const char *kind = nullptr;
  for (guint i = 0; desc->sdp && !kind && i < gst_sdp_message_medias_len(desc->sdp); i++) {
    const GstSDPMedia *m = gst_sdp_message_get_media(desc->sdp, i);
    const char *mk = gst_sdp_media_get_media(m);
    if (g_strcmp0(mk, "audio") && g_strcmp0(mk, "video")) continue;
    for (guint a = 0; !kind && a < gst_sdp_media_attributes_len(m); a++) {
      const GstSDPAttribute *attr = gst_sdp_media_get_attribute(m, a);
      if (g_strcmp0(attr->key, "ssrc") || !attr->value) continue;
      if (g_ascii_strtoull(attr->value, nullptr, 10) == ssrc) kind = g_intern_string(mk);
    }
    for (guint f = 0; pt >= 0 && !kind && f < gst_sdp_media_formats_len(m); f++)
      if (atoi(gst_sdp_media_get_format(m, f)) == pt) kind = g_intern_string(mk);
  }
  gst_webrtc_session_description_free(desc);
  return kind;
}

void set_jb_latency(GstElement *jb, const JbLatency &l, guint ssrc, const char *kind) {
  unsigned ms = !g_strcmp0(kind, "audio") ? l.audio_ms : !g_strcmp0(kind, "video") ? l.video_ms
                                                                                   : std::max(l.audio_ms, l.video_ms);
  g_object_set(jb, "latency", ms, nullptr);
  // Audio is never retransmitted (no NACK/RTX negotiated for Opus), but webrtcbin 1.22 turned
  // do-retransmission on for our audio jitter buffers too (it goes by the transceiver it maps the
  // SSRC to): with it, a packet not there at its expected time + a few ms is declared lost, and
  // when it arrives it is dropped as late. At audio-latency 0 that lost ~20 % of the packets
  // (rtpjitterbuffer stats num-lost 60 / num-late 46 of 303 in bench webrtc-audio).
  if (!g_strcmp0(kind, "audio")) g_object_set(jb, "do-retransmission", FALSE, nullptr);
  GST_DEBUG("jitterbuffer for SSRC %u (%s): latency %u ms", ssrc, kind ? kind : "unknown", ms);
}

// rtpbin "new-jitterbuffer" (a streaming thread, on the first packet of an SSRC): webrtcbin has one
// `latency` for every jitter buffer, so set audio's and video's apart by the kind of the remote
// m-line of the SSRC (its a=ssrc, else the first packet's payload type). webrtcbin's own handler
// looks the SSRC up the same way. Unknown: the larger of the two (webrtcbin's latency).
void on_new_jitterbuffer(GstElement *rtpbin, GstElement *jb, guint, guint ssrc, gpointer d) {
  auto *l = static_cast<JbLatency *>(d);
  GstObject *wb = gst_object_get_parent(GST_OBJECT(rtpbin));
  if (!wb) return;
  const char *kind = remote_kind(wb, ssrc, -1);
  gst_object_unref(wb);
  if (kind) {
    set_jb_latency(jb, *l, ssrc, kind);
    return;
  }
  // By payload type, on the first packet (before the jitter buffer's chain function takes its lock).
  GstPad *sink = gst_element_get_static_pad(jb, "sink");
  if (!sink) return;
  gst_pad_add_probe(
      sink, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad *pad, GstPadProbeInfo *info, gpointer d) -> GstPadProbeReturn {
        auto *l = static_cast<JbLatency *>(d);
        GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
        GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
        if (!gst_rtp_buffer_map(buf, GST_MAP_READ, &rtp)) return GST_PAD_PROBE_OK;  // try the next one
        int pt = gst_rtp_buffer_get_payload_type(&rtp);
        guint ssrc = gst_rtp_buffer_get_ssrc(&rtp);
        gst_rtp_buffer_unmap(&rtp);
        GstElement *jb = gst_pad_get_parent_element(pad);
        GstObject *rtpbin = jb ? gst_object_get_parent(GST_OBJECT(jb)) : nullptr;
        GstObject *wb = rtpbin ? gst_object_get_parent(rtpbin) : nullptr;
        if (wb) set_jb_latency(jb, *l, ssrc, remote_kind(wb, ssrc, pt));
        if (wb) gst_object_unref(wb);
        if (rtpbin) gst_object_unref(rtpbin);
        if (jb) gst_object_unref(jb);
        return GST_PAD_PROBE_REMOVE;
      },
      new JbLatency(*l), [](gpointer p) { delete static_cast<JbLatency *>(p); });
  gst_object_unref(sink);
}

std::string json_event(const char *type, const std::string &from) {
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, type);
  json_builder_set_member_name(b, "from");
  json_builder_add_string_value(b, from.c_str());
  json_builder_set_member_name(b, "ts_us");
  json_builder_add_int_value(b, g_get_real_time());
  json_builder_end_object(b);
  JsonNode *root = json_builder_get_root(b);
  gchar *text = json_to_string(root, FALSE);
  std::string s = text;
  g_free(text);
  json_node_unref(root);
  g_object_unref(b);
  return s;
}

}  // namespace

Peer::Peer(PeerManager &mgr, std::string id_, uint64_t uid_, bool offerer_)
    : id(std::move(id_)), uid(uid_), offerer(offerer_), created(Clock::now()), setup_origin(created),
      mgr_(mgr) {
  attempt_start = created;
  last_activity_us = g_get_monotonic_time();
}

std::string Peer::name(const char *what) const {
  return "mfp" + std::to_string(uid) + "-" + what;
}

bool Peer::build(std::string *error) {
  Settings st = mgr_.settings();
  host_ = mgr_.host_bin();
  sink_bin_ = mgr_.sink_bin();
  if (!host_) {
    *error = "no element to host the peer";
    return false;
  }
  webrtc_ = gst_element_factory_make("webrtcbin", name("webrtcbin").c_str());
  if (!webrtc_) {
    *error = "missing element 'webrtcbin' (gst-plugins-bad)";
    return false;
  }
  gst_object_ref_sink(webrtc_);
  gst_util_set_object_arg(G_OBJECT(webrtc_), "bundle-policy", "max-bundle");
  g_object_set(webrtc_, "latency", std::max(st.audio_latency_ms, st.video_latency_ms), nullptr);
  if (GstElement *rtpbin = gst_bin_get_by_name(GST_BIN(webrtc_), "rtpbin")) {
    g_signal_connect_data(rtpbin, "new-jitterbuffer", G_CALLBACK(on_new_jitterbuffer),
                          new JbLatency{st.audio_latency_ms, st.video_latency_ms},
                          [](gpointer p, GClosure *) { delete static_cast<JbLatency *>(p); }, GConnectFlags(0));
    gst_object_unref(rtpbin);
  } else {
    GST_WARNING("peer %s: no rtpbin in webrtcbin; audio and video share latency %u ms", id.c_str(),
                std::max(st.audio_latency_ms, st.video_latency_ms));
  }
  // ICE servers: properties first, then the announce result's.
  std::string stun = st.stun_server, turn = st.turn_server;
  std::vector<std::string> turns;
  if (!turn.empty()) turns.push_back(turn);
  for (const auto &u : st.ice_servers) {
    if (u.rfind("stun", 0) == 0 && stun.empty()) stun = u;
    else if (u.rfind("turn", 0) == 0) turns.push_back(u);
  }
  for (const auto &srv : mgr_.ice_servers()) {
    for (const auto &u : srv.urls) {
      // "stun:host:port" -> "stun://host:port"; "turn:host:port" -> "turn://user:pass@host:port"
      auto colon = u.find(':');
      if (colon == std::string::npos) continue;
      std::string scheme = u.substr(0, colon), rest = u.substr(colon + 1);
      if (rest.rfind("//", 0) == 0) rest = rest.substr(2);
      rest = rest.substr(0, rest.find('?'));
      if (scheme == "stun" && stun.empty()) stun = "stun://" + rest;
      else if (scheme == "turn" || scheme == "turns") {
        gchar *user = g_uri_escape_string(srv.username.c_str(), nullptr, FALSE);
        gchar *pass = g_uri_escape_string(srv.credential.c_str(), nullptr, FALSE);
        turns.push_back(scheme + "://" + user + ":" + pass + "@" + rest);
        g_free(user);
        g_free(pass);
      }
    }
  }
  if (!stun.empty()) g_object_set(webrtc_, "stun-server", stun.c_str(), nullptr);
  for (size_t i = 0; i < turns.size(); i++) {
    if (i == 0) g_object_set(webrtc_, "turn-server", turns[i].c_str(), nullptr);
    else {
      gboolean ok = FALSE;
      g_signal_emit_by_name(webrtc_, "add-turn-server", turns[i].c_str(), &ok);
    }
  }
  // Restrict host candidates (libnice skips loopback unless told).
  if (!st.ice_local_addresses.empty()) {
    GObject *ice = nullptr;
    g_object_get(webrtc_, "ice-agent", &ice, nullptr);
    if (ice && g_signal_lookup("add-local-ip-address", G_OBJECT_TYPE(ice))) {
      for (const auto &a : st.ice_local_addresses) {
        gboolean ok = FALSE;
        g_signal_emit_by_name(ice, "add-local-ip-address", a.c_str(), &ok);
        if (!ok) GST_WARNING("peer %s: ICE refused local address %s", id.c_str(), a.c_str());
      }
    } else {
      GST_WARNING("peer %s: this webrtcbin cannot restrict ICE local addresses", id.c_str());
    }
    if (ice) g_object_unref(ice);
  }
  g_signal_connect_data(webrtc_, "on-ice-candidate", G_CALLBACK(on_ice_candidate),
                        new Ctx{&mgr_, uid}, free_ctx, GConnectFlags(0));
  g_signal_connect(webrtc_, "pad-added", G_CALLBACK(on_pad_added), this);
  // Every packet the ICE transport receives is a sign of life (RTCP, SCTP, DTLS), not only media.
  g_signal_connect_data(webrtc_, "deep-element-added", G_CALLBACK(on_deep_element_added),
                        new WireActivity(wire_activity_), free_wire_activity, GConnectFlags(0));
  g_signal_connect_data(webrtc_, "on-data-channel", G_CALLBACK(on_data_channel), new Ctx{&mgr_, uid},
                        free_ctx, GConnectFlags(0));
  g_signal_connect_data(
      webrtc_, "notify::connection-state",
      G_CALLBACK(+[](GObject *o, GParamSpec *, gpointer d) {
        auto *c = static_cast<Ctx *>(d);
        GstWebRTCPeerConnectionState st;
        g_object_get(o, "connection-state", &st, nullptr);
        c->mgr->post_peer(c->uid, [st](Peer &p) { p.on_connection_state(st); });
      }),
      new Ctx{&mgr_, uid}, free_ctx, GConnectFlags(0));
  g_signal_connect_data(
      webrtc_, "notify::ice-connection-state",
      G_CALLBACK(+[](GObject *o, GParamSpec *, gpointer d) {
        auto *c = static_cast<Ctx *>(d);
        GstWebRTCICEConnectionState st;
        g_object_get(o, "ice-connection-state", &st, nullptr);
        c->mgr->post_peer(c->uid, [st](Peer &p) { p.on_ice_state(st); });
      }),
      new Ctx{&mgr_, uid}, free_ctx, GConnectFlags(0));

  gst_bin_add(host_, webrtc_);

  PeerManager::SourceInfo src = mgr_.source();
  bool have_sink = sink_bin_ != nullptr;
  bool recv_audio = src.element ? src.audio : false, recv_video = src.element ? src.video : false;
  if (!src.element && !have_sink) recv_audio = recv_video = true;
  // Always receive, even what no webrtc_source consumes (it goes to a fakesink, see
  // handle_new_pad): webrtcbin 1.22 sends on a transceiver the answer made recvonly, and a stream
  // arriving for a sendonly transceiver has no webrtcbin pad -> not-linked -> "nicesrc: Internal
  // data stream error" ends the peer (a peer with only a webrtc_sink).
  (void)recv_audio;
  (void)recv_video;
  recv_audio_ = recv_video_ = true;
  // One transceiver per kind up front (the webrtc_sink streams are linked by wire_sends(); more
  // send slots are added there, one per extra stream routed to this peer).
  add_transceiver(Kind::Audio, have_sink, recv_audio_);
  add_transceiver(Kind::Video, have_sink, recv_video_);

  if (!gst_element_sync_state_with_parent(webrtc_)) {
    *error = "webrtcbin failed to start";
    return false;
  }
  // Its pads are active now: tell it the SSRC of every send slot made so far.
  for (auto &slot : slots_)
    if (slot.queue) announce_slot_ssrc(slot.wb_pad, *slot.codec, slot.ssrc);
  if (offerer && st.data_channel) {  // webrtcbin refuses data channels before READY
    GObject *dc = nullptr;
    g_signal_emit_by_name(webrtc_, "create-data-channel", "meshflow", nullptr, &dc);
    if (dc) {
      adopt_data_channel(dc);
      g_object_unref(dc);
    }
  }
  return true;
}

bool Peer::add_transceiver(Kind kind, bool send, bool recv, const Codec *codec) {
  Settings st = mgr_.settings();
  if (!codec) codec = kind == Kind::Audio ? find_codec("opus") : find_codec(st.video_codec);
  if (!codec || codec->kind != kind) codec = find_codec(kind == Kind::Audio ? "opus" : "vp8");
  GstCaps *caps = codec_caps(*codec);
  GstWebRTCRTPTransceiverDirection dir =
      send && recv ? GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDRECV
      : send       ? GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY
                   : GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY;
  if (send) {
    GstPadTemplate *templ =
        gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(webrtc_), "sink_%u");
    GstPad *pad = gst_element_request_pad(webrtc_, templ, nullptr, caps);
    if (!pad) {
      GST_ERROR("peer %s: cannot request a webrtcbin sink pad", id.c_str());
      gst_caps_unref(caps);
      return false;
    }
    GstWebRTCRTPTransceiver *trans = nullptr;
    g_object_get(pad, "transceiver", &trans, nullptr);
    if (trans) {
      g_object_set(trans, "direction", dir, "codec-preferences", caps, nullptr);
      if (kind == Kind::Video) g_object_set(trans, "do-nack", TRUE, nullptr);
      gst_object_unref(trans);
    }
    SendSlot slot;
    slot.kind = kind;
    slot.codec = codec;
    slot.wb_pad = pad;
    if (sink_bin_) {
      std::string qname = std::string(kind == Kind::Audio ? "aq" : "vq") + std::to_string(slots_.size());
      slot.queue = gst_element_factory_make("queue", name(qname.c_str()).c_str());
      // A slow peer must not stall the others: leaky, bounded by time only.
      g_object_set(slot.queue, "max-size-buffers", 0u, "max-size-bytes", 0u, "max-size-time",
                   (guint64)500 * GST_MSECOND, "silent", TRUE, nullptr);
      gst_util_set_object_arg(G_OBJECT(slot.queue), "leaky", "downstream");
      gst_object_ref_sink(slot.queue);
      gst_bin_add(sink_bin_, slot.queue);
      GstPad *qsrc = gst_element_get_static_pad(slot.queue, "src");
      // The queue (in webrtc_sink) and webrtcbin (in the host bin) have different parents.
      gst_pad_link_full(qsrc, pad, GST_PAD_LINK_CHECK_NOTHING);
      slot.ssrc = new_slot_ssrc();
      slot.rw = std::make_shared<SlotRewrite>(slot.ssrc, id, kind == Kind::Video);
      attach_slot_rewrite(qsrc, slot.rw);  // what this peer is told is what it gets
      gst_object_unref(qsrc);
      // A webrtcbin already running has activated the new pad: announce at once (else build()).
      if (gst_pad_is_active(pad)) announce_slot_ssrc(pad, *codec, slot.ssrc);
      gst_element_sync_state_with_parent(slot.queue);
    }
    std::lock_guard<std::mutex> l(mu_);
    slots_.push_back(std::move(slot));
  } else {
    GstWebRTCRTPTransceiver *trans = nullptr;
    g_signal_emit_by_name(webrtc_, "add-transceiver", dir, caps, &trans);
    if (trans) {
      if (kind == Kind::Video) g_object_set(trans, "do-nack", TRUE, nullptr);
      gst_object_unref(trans);
    }
  }
  gst_caps_unref(caps);
  return true;
}

Peer::~Peer() {
  // 1. Stop feeding webrtcbin.
  for (auto &s : slots_) {
    if (s.tee_pad) {
      if (s.queue) {
        GstPad *qsink = gst_element_get_static_pad(s.queue, "sink");
        gst_pad_unlink(s.tee_pad, qsink);
        gst_object_unref(qsink);
      }
      if (s.stream && s.stream->tee) gst_element_release_request_pad(s.stream->tee, s.tee_pad);
      gst_object_unref(s.tee_pad);
      s.tee_pad = nullptr;
    }
  }
  // 2. Stop webrtcbin (joins its streaming threads: no more pad-added or recv data). Locked state
  //    first: the pipeline may be changing state at the same time (a peer leaving while the
  //    application stops it), and the bin's iteration would set webrtcbin back to PAUSED after our
  //    NULL ("Trying to dispose element mfpN-webrtcbin, but it is in PAUSED").
  //    The receive chains go to NULL BEFORE webrtcbin: one of their sinks (the fakesink of an
  //    unconsumed stream) may hold webrtcbin's streaming thread in preroll, and deactivating
  //    webrtcbin's pads then waits for that thread forever. Stopped first, they refuse the push
  //    (FLUSHING) and webrtcbin's threads return.
  if (webrtc_) g_signal_handlers_disconnect_by_data(webrtc_, this);
  std::vector<std::unique_ptr<Recv>> recv;
  GObject *dc = nullptr;
  {
    std::lock_guard<std::mutex> l(mu_);
    recv.swap(recv_);
    dc = dc_;
    dc_ = nullptr;
  }
  for (auto &r : recv) {
    for (auto *e : r->elements) {
      gst_element_set_locked_state(e, TRUE);
      gst_element_set_state(e, GST_STATE_NULL);
    }
  }
  if (webrtc_) {
    gst_element_set_locked_state(webrtc_, TRUE);
    gst_element_set_state(webrtc_, GST_STATE_NULL);
  }
  // 3. Receive chains: EOS downstream of each pad, remove the pad and the elements.
  PeerManager::SourceInfo src = mgr_.source();
  for (auto &r : recv) {
    if (r->ghost) {
      gst_pad_push_event(r->ghost, gst_event_new_eos());
      if (src.element && GST_OBJECT_PARENT(r->ghost) == GST_OBJECT(src.element))
        gst_element_remove_pad(src.element, r->ghost);
      gst_object_unref(r->ghost);
    }
    for (auto *e : r->elements) gst_bin_remove(host_, e);
    if (r->tags) gst_tag_list_unref(r->tags);
  }
  if (dc) {
    g_signal_handlers_disconnect_matched(dc, G_SIGNAL_MATCH_DATA, 0, 0, nullptr, nullptr, this);
    g_signal_handlers_disconnect_matched(dc, G_SIGNAL_MATCH_FUNC, 0, 0, nullptr,
                                         (gpointer)on_dc_message, nullptr);
    g_signal_handlers_disconnect_matched(dc, G_SIGNAL_MATCH_FUNC, 0, 0, nullptr,
                                         (gpointer)on_dc_open, nullptr);
    g_object_unref(dc);
  }
  // 4. Queues and webrtcbin.
  for (auto &s : slots_) {
    if (s.queue) {
      gst_element_set_locked_state(s.queue, TRUE);
      gst_element_set_state(s.queue, GST_STATE_NULL);
      if (sink_bin_) gst_bin_remove(sink_bin_, s.queue);
      gst_object_unref(s.queue);
    }
    if (s.wb_pad) {
      if (webrtc_) gst_element_release_request_pad(webrtc_, s.wb_pad);
      gst_object_unref(s.wb_pad);
    }
  }
  if (webrtc_) {
    g_signal_handlers_disconnect_matched(webrtc_, G_SIGNAL_MATCH_FUNC, 0, 0, nullptr,
                                         (gpointer)on_ice_candidate, nullptr);
    gst_bin_remove(host_, webrtc_);
    gst_object_unref(webrtc_);
  }
}

// ---------------------------------------------------------------------------------------------
// Negotiation

void Peer::make_offer(bool ice_restart) {
  awaiting_answer = true;
  offer_made = true;
  GstStructure *opts = ice_restart ? gst_structure_new("options", "ice-restart", G_TYPE_BOOLEAN, TRUE, nullptr)
                                   : nullptr;
  auto *ctx = new Ctx{&mgr_, uid};
  GstPromise *promise = gst_promise_new_with_change_func(
      [](GstPromise *promise, gpointer d) {
        auto *c = static_cast<Ctx *>(d);
        GstWebRTCSessionDescription *offer = nullptr;
        const GstStructure *reply = gst_promise_get_reply(promise);
        if (gst_promise_wait(promise) == GST_PROMISE_RESULT_REPLIED && reply)
          gst_structure_get(reply, "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &offer, nullptr);
        gst_promise_unref(promise);
        if (!offer) {
          c->mgr->fail_peer(c->uid, "create-offer failed");
          return;
        }
        c->mgr->post_peer(c->uid, [offer](Peer &p) {
          g_signal_emit_by_name(p.webrtc_, "set-local-description", offer, nullptr);
          p.local_description_set(offer->sdp);
          gchar *text = gst_sdp_message_as_text(offer->sdp);
          GST_DEBUG("offer to %s:\n%s", p.id.c_str(), text);
          if (p.mgr_.client()) p.mgr_.client()->send_offer(p.id, text);
          g_free(text);
          gst_webrtc_session_description_free(offer);
        });
      },
      ctx, [](gpointer d) { delete static_cast<Ctx *>(d); });
  g_signal_emit_by_name(webrtc_, "create-offer", opts, promise);
  if (opts) gst_structure_free(opts);
}

void Peer::local_description_set(const GstSDPMessage *sdp) {
  std::lock_guard<std::mutex> l(mu_);
  local_mids_.clear();
  for (guint i = 0; i < gst_sdp_message_medias_len(sdp); i++) {
    const char *mid = gst_sdp_media_get_attribute_val(gst_sdp_message_get_media(sdp, i), "mid");
    local_mids_.push_back(mid ? mid : "");
  }
}

void Peer::apply_remote_offer(GstSDPMessage *sdp) {
  remote_fingerprint = sdp_fingerprint(sdp);
  for (guint i = 0; i < gst_sdp_message_medias_len(sdp); i++)
    if (g_strcmp0(gst_sdp_media_get_media(gst_sdp_message_get_media(sdp, i)), "application") == 0)
      remote_offered_data = true;
  answering = true;
  GstWebRTCSessionDescription *desc = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, sdp);
  auto *ctx = new Ctx{&mgr_, uid};
  GstPromise *promise = gst_promise_new_with_change_func(
      [](GstPromise *promise, gpointer d) {
        auto *c = static_cast<Ctx *>(d);
        gst_promise_unref(promise);
        c->mgr->post_peer(c->uid, [](Peer &p) {
          p.remote_set = true;
          for (auto &[m, cand] : p.pending_candidates_)
            g_signal_emit_by_name(p.webrtc_, "add-ice-candidate", (guint)m, cand.c_str());
          p.pending_candidates_.clear();
          auto *ctx2 = new Ctx{&p.mgr_, p.uid};
          GstPromise *pr = gst_promise_new_with_change_func(
              [](GstPromise *promise, gpointer d) {
                auto *c = static_cast<Ctx *>(d);
                GstWebRTCSessionDescription *answer = nullptr;
                const GstStructure *reply = gst_promise_get_reply(promise);
                if (reply) gst_structure_get(reply, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &answer, nullptr);
                gst_promise_unref(promise);
                if (!answer) {
                  c->mgr->fail_peer(c->uid, "create-answer failed");
                  return;
                }
                c->mgr->post_peer(c->uid, [answer](Peer &p) {
                  g_signal_emit_by_name(p.webrtc_, "set-local-description", answer, nullptr);
                  p.local_description_set(answer->sdp);
                  gchar *text = gst_sdp_message_as_text(answer->sdp);
                  GST_DEBUG("answer to %s:\n%s", p.id.c_str(), text);
                  if (p.mgr_.client()) p.mgr_.client()->send_answer(p.id, text);
                  g_free(text);
                  gst_webrtc_session_description_free(answer);
                  p.answering = false;
                  p.maybe_renegotiate();
                });
              },
              ctx2, [](gpointer d) { delete static_cast<Ctx *>(d); });
          g_signal_emit_by_name(p.webrtc_, "create-answer", nullptr, pr);
        });
      },
      ctx, [](gpointer d) { delete static_cast<Ctx *>(d); });
  g_signal_emit_by_name(webrtc_, "set-remote-description", desc, promise);
  gst_webrtc_session_description_free(desc);
}

void Peer::apply_remote_answer(GstSDPMessage *sdp) {
  remote_fingerprint = sdp_fingerprint(sdp);
  GstWebRTCSessionDescription *desc = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_ANSWER, sdp);
  g_signal_emit_by_name(webrtc_, "set-remote-description", desc, nullptr);
  gst_webrtc_session_description_free(desc);
  remote_set = true;
  awaiting_answer = false;
  for (auto &[m, cand] : pending_candidates_)
    g_signal_emit_by_name(webrtc_, "add-ice-candidate", (guint)m, cand.c_str());
  pending_candidates_.clear();
  maybe_renegotiate();
}

void Peer::add_remote_candidate(int mline, const std::string &cand) {
  if (cand.empty()) return;  // end of candidates: nothing to do in 1.22
  if (!remote_set) {
    if (pending_candidates_.size() < 256) pending_candidates_.emplace_back(mline, cand);
    return;
  }
  g_signal_emit_by_name(webrtc_, "add-ice-candidate", (guint)mline, cand.c_str());
}

void Peer::on_ice_candidate(GstElement *, guint mline, gchar *cand, gpointer d) {
  auto *c = static_cast<Ctx *>(d);
  std::string candidate = cand ? cand : "";
  c->mgr->post_peer(c->uid, [mline, candidate](Peer &p) {
    std::string mid;
    {
      std::lock_guard<std::mutex> l(p.mu_);
      if (mline < p.local_mids_.size()) mid = p.local_mids_[mline];
    }
    if (p.mgr_.client()) p.mgr_.client()->send_ice_candidate(p.id, candidate, (int)mline, mid);
  });
}

void Peer::on_connection_state(GstWebRTCPeerConnectionState st) {
  static const char *names[] = {"new", "connecting", "connected", "disconnected", "failed", "closed"};
  {
    std::lock_guard<std::mutex> l(mu_);
    stats_.state = (unsigned)st < 6 ? names[st] : "?";
  }
  GST_INFO("peer %s: connection state %s", id.c_str(), (unsigned)st < 6 ? names[st] : "?");
  if (st == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED) {
    if (!connected) {
      connected = true;
      failed = false;
      last_activity_us = g_get_monotonic_time();
      if (!ever_connected) {
        std::lock_guard<std::mutex> l(mu_);
        stats_.connected_s = std::chrono::duration<double>(Clock::now() - setup_origin).count();
      }
      ever_connected = true;
      mgr_.peer_message("connected", id);
      maybe_renegotiate();
    }
  } else if (st == GST_WEBRTC_PEER_CONNECTION_STATE_FAILED) {
    connected = false;
    if (!failed) {
      failed = true;
      failure_since = Clock::now();
    }
  }
}

void Peer::on_ice_state(GstWebRTCICEConnectionState st) {
  if (st == GST_WEBRTC_ICE_CONNECTION_STATE_FAILED && !failed) {
    GST_INFO("peer %s: ICE failed", id.c_str());
    connected = false;
    failed = true;
    failure_since = Clock::now();
  }
}

// ---------------------------------------------------------------------------------------------
// Receive

void Peer::on_pad_added(GstElement *, GstPad *pad, gpointer self) {
  if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
  static_cast<Peer *>(self)->handle_new_pad(pad);
}

GstPadProbeReturn Peer::activity_probe(GstPad *, GstPadProbeInfo *, gpointer self) {
  static_cast<Peer *>(self)->last_activity_us = g_get_monotonic_time();
  return GST_PAD_PROBE_OK;
}

void Peer::handle_new_pad(GstPad *pad) {
  GstCaps *caps = gst_pad_get_current_caps(pad);
  if (!caps) caps = gst_pad_query_caps(pad, nullptr);
  const GstStructure *s = gst_caps_get_structure(caps, 0);
  const char *media = gst_structure_get_string(s, "media");
  const char *enc = gst_structure_get_string(s, "encoding-name");
  Kind kind = g_strcmp0(media, "audio") == 0 ? Kind::Audio : Kind::Video;
  const Codec *codec = enc ? find_codec(enc) : nullptr;
  GST_INFO("peer %s: new %s stream %s", id.c_str(), to_string(kind), enc ? enc : "?");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, activity_probe, this, nullptr);

  PeerManager::SourceInfo src = mgr_.source();
  bool wanted = src.element && (kind == Kind::Audio ? src.audio : src.video);
  static std::atomic<unsigned> serial{0};
  std::string tag = std::string(to_string(kind)) + std::to_string(serial++) + "-";
  auto r = std::make_unique<Recv>();
  r->peer = this;
  r->kind = kind;
  GstPad *target = nullptr;
  if (!wanted) {
    GstElement *fs = gst_element_factory_make("fakesink", name((tag + "fakesink").c_str()).c_str());
    g_object_set(fs, "async", FALSE, "sync", FALSE, "processing-deadline", (guint64)0, nullptr);
    gst_bin_add(host_, fs);
    r->elements.push_back(fs);
    GstPad *sinkpad = gst_element_get_static_pad(fs, "sink");
    gst_pad_link(pad, sinkpad);
    gst_object_unref(sinkpad);
    gst_element_sync_state_with_parent(fs);
  } else if (!src.decode || !codec) {
    target = GST_PAD(gst_object_ref(pad));
  } else {
    std::vector<GstElement *> chain;
    chain.push_back(gst_element_factory_make(codec->depayloader, name((tag + "depay").c_str()).c_str()));
    if (codec->parser) chain.push_back(gst_element_factory_make(codec->parser, name((tag + "parse").c_str()).c_str()));
    GstElement *dec = gst_element_factory_make(codec->decoder, name((tag + "dec").c_str()).c_str());
    chain.push_back(dec);
    bool ok = true;
    for (auto *e : chain) ok = ok && e;
    if (!ok) {
      GST_ERROR("peer %s: missing depayloader/decoder for %s", id.c_str(), enc);
      for (auto *e : chain)
        if (e) gst_object_unref(gst_object_ref_sink(e));
      gst_caps_unref(caps);
      return;
    }
    // No decoder FEC: opusdec 1.22 then reports a 120 ms minimum latency (it must be able to hold
    // back a whole maximum-size packet to decode the next one's FEC), which the sink adds to every
    // sample. PLC conceals losses instead; the encoder still sends inband FEC for browsers.
    if (kind == Kind::Audio) g_object_set(dec, "use-inband-fec", FALSE, "plc", TRUE, nullptr);
    // On packet loss the video depayloader asks for a keyframe (upstream force-key-unit, which
    // rtpsession turns into an RTCP PLI; "nack pli" is negotiated), so the picture recovers at once
    // instead of showing broken blocks until the sender's next keyframe (keyframe-max-dist 3000).
    if (kind == Kind::Video && g_object_class_find_property(G_OBJECT_GET_CLASS(chain.front()), "request-keyframe"))
      g_object_set(chain.front(), "request-keyframe", TRUE, nullptr);
    for (auto *e : chain) gst_bin_add(host_, e);
    for (size_t i = 0; i + 1 < chain.size(); i++) gst_element_link(chain[i], chain[i + 1]);
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) gst_element_sync_state_with_parent(*it);
    GstPad *dsink = gst_element_get_static_pad(chain.front(), "sink");
    if (gst_pad_link(pad, dsink) != GST_PAD_LINK_OK) GST_ERROR("peer %s: cannot link the depayloader", id.c_str());
    gst_object_unref(dsink);
    r->elements = chain;
    target = gst_element_get_static_pad(dec, "src");
  }
  gst_caps_unref(caps);
  Recv *raw = r.get();
  if (target) {
    GstElementClass *klass = GST_ELEMENT_GET_CLASS(src.element);
    GstPadTemplate *templ = gst_element_class_get_pad_template(klass, kind == Kind::Audio ? "audio_%s" : "video_%s");
    // Pads of one peer appear concurrently (one streaming thread per stream): reserve the name.
    std::string base = std::string(to_string(kind)) + "_" + id, pname = base;
    {
      std::lock_guard<std::mutex> l(mu_);
      int n = 1;
      auto taken = [&](const std::string &nm) {
        if (pad_names_.count(nm)) return true;
        GstPad *existing = gst_element_get_static_pad(src.element, nm.c_str());
        if (existing) gst_object_unref(existing);
        return existing != nullptr;
      };
      while (taken(pname)) pname = base + "_" + std::to_string(n++);
      pad_names_.insert(pname);
    }
    r->tags = gst_tag_list_new_empty();
    gst_tag_list_add(r->tags, GST_TAG_MERGE_REPLACE, kPeerIdTag, id.c_str(), nullptr);
    gst_tag_list_set_scope(r->tags, GST_TAG_SCOPE_STREAM);
    GstPad *ghost = gst_ghost_pad_new_from_template(pname.c_str(), target, templ);
    r->ghost = GST_PAD(gst_object_ref(ghost));
    gst_pad_add_probe(target, GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
                      recv_probe, raw, nullptr);
    gst_object_unref(target);
    {
      std::lock_guard<std::mutex> l(mu_);
      recv_.push_back(std::move(r));
    }
    gst_pad_set_active(ghost, TRUE);
    GstEvent *tag_event = gst_event_new_tag(gst_tag_list_ref(raw->tags));
    gst_pad_store_sticky_event(ghost, tag_event);  // transfer none
    gst_event_unref(tag_event);
    gst_element_add_pad(src.element, ghost);
    GST_INFO("peer %s: pad %s", id.c_str(), pname.c_str());
    mgr_.peer_message("pad-added", id, gst_structure_new("x", "pad", G_TYPE_STRING, pname.c_str(), "kind",
                                                         G_TYPE_STRING, to_string(kind), nullptr));
  } else {
    std::lock_guard<std::mutex> l(mu_);
    recv_.push_back(std::move(r));
  }
}

GstPadProbeReturn Peer::recv_probe(GstPad *pad, GstPadProbeInfo *info, gpointer data) {
  auto *r = static_cast<Recv *>(data);
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(ev) == GST_EVENT_TAG) {
      GstTagList *tl = nullptr;
      gst_event_parse_tag(ev, &tl);
      if (gst_tag_list_get_scope(tl) == GST_TAG_SCOPE_STREAM) {
        // Keep our peer-id tag in the stream tags the decoder sends.
        GstTagList *merged = gst_tag_list_merge(tl, r->tags, GST_TAG_MERGE_REPLACE);
        gst_tag_list_set_scope(merged, GST_TAG_SCOPE_STREAM);
        gst_event_unref(ev);
        GST_PAD_PROBE_INFO_DATA(info) = gst_event_new_tag(merged);
        r->tagged = true;
      }
    } else if (GST_EVENT_TYPE(ev) == GST_EVENT_STREAM_START) {
      r->tagged = false;  // a new stream drops sticky tags
    }
    return GST_PAD_PROBE_OK;
  }
  Peer *p = r->peer;
  if (!r->tagged.exchange(true)) gst_pad_push_event(pad, gst_event_new_tag(gst_tag_list_ref(r->tags)));
  bool linked = r->ghost && gst_pad_is_linked(r->ghost);
  {
    std::lock_guard<std::mutex> l(p->mu_);
    if (r->kind == Kind::Audio) p->stats_.audio_buffers++;
    else p->stats_.frames_decoded++;
    if (!linked) p->stats_.frames_dropped++;
  }
  if (r->first.exchange(false)) {
    double setup = std::chrono::duration<double>(Clock::now() - p->setup_origin).count();
    {
      std::lock_guard<std::mutex> l(p->mu_);
      if (p->stats_.setup_s < 0) p->stats_.setup_s = setup;
    }
    p->mgr_.first_media(*p, r->kind, setup);
  }
  // Nobody consumes this peer's stream (yet): drop instead of failing the peer with not-linked.
  return linked ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP;
}

// ---------------------------------------------------------------------------------------------
// Send

void Peer::link_slot(SendSlot &slot, const std::shared_ptr<SendStream> &s) {
  // Before the link: the stream's sticky events (its tag among them) follow it into the queue.
  slot.rw->relink(s->follows_tag());
  GstPad *qsink = gst_element_get_static_pad(slot.queue, "sink");
  GstPad *tee_pad = gst_element_request_pad_simple(s->tee, "src_%u");
  if (gst_pad_link_full(tee_pad, qsink, GST_PAD_LINK_CHECK_NOTHING) != GST_PAD_LINK_OK)
    GST_ERROR("peer %s: cannot link %s", id.c_str(), s->pad_name.c_str());
  gst_object_unref(qsink);
  {
    std::lock_guard<std::mutex> l(mu_);
    slot.tee_pad = tee_pad;
    slot.stream = s;
  }
  // A new receiver needs a keyframe to start decoding.
  if (slot.kind == Kind::Video)
    gst_pad_send_event(tee_pad, gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
  GST_INFO("peer %s: sending %s", id.c_str(), s->pad_name.c_str());
}

void Peer::unlink_slot(SendSlot &slot) {
  GstPad *tee_pad = nullptr;
  std::shared_ptr<SendStream> stream;
  {
    std::lock_guard<std::mutex> l(mu_);
    tee_pad = slot.tee_pad;
    stream = std::move(slot.stream);
    slot.tee_pad = nullptr;
    slot.stream.reset();
  }
  if (!tee_pad) return;
  GstPad *qsink = gst_element_get_static_pad(slot.queue, "sink");
  gst_pad_unlink(tee_pad, qsink);
  gst_object_unref(qsink);
  if (stream && stream->tee) gst_element_release_request_pad(stream->tee, tee_pad);
  gst_object_unref(tee_pad);
}

void Peer::wire_sends(const std::vector<std::shared_ptr<SendStream>> &streams) {
  if (!sink_bin_) return;
  auto wanted = [&](const std::shared_ptr<SendStream> &s) { return s && s->tee && s->selects(id); };
  // 1. Unlink the slots whose stream is gone or no longer routed here.
  for (auto &slot : slots_) {
    if (!slot.stream) continue;
    bool keep = false;
    for (const auto &s : streams)
      if (s == slot.stream && wanted(s)) keep = true;
    if (!keep) unlink_slot(slot);
    else if (slot.rw) slot.rw->set_follow(slot.stream->follows_tag());  // its route may have changed
  }
  // 2. Every routed stream gets a slot of its own: a free one of the same kind and codec (the
  //    transceiver's codec preferences are fixed once negotiated), else a new transceiver.
  bool added = false;
  for (const auto &s : streams) {
    if (!wanted(s)) continue;
    bool have = false;
    for (auto &slot : slots_)
      if (slot.stream == s) have = true;
    if (have) continue;
    SendSlot *free_slot = nullptr;
    for (auto &slot : slots_)
      if (!slot.stream && slot.queue && slot.kind == s->kind && slot.codec == s->codec) {
        free_slot = &slot;
        break;
      }
    if (!free_slot) {
      bool recv = s->kind == Kind::Audio ? recv_audio_ : recv_video_;
      if (!add_transceiver(s->kind, true, recv, s->codec) || !slots_.back().queue) continue;
      free_slot = &slots_.back();
      added = true;
    }
    link_slot(*free_slot, s);
  }
  // A transceiver added after our first offer (or to an answerer, whose answer can only cover the
  // remote's m-lines) needs an offer of ours.
  if (added && (offer_made || !offerer)) {
    renegotiate = true;
    maybe_renegotiate();
  }
}

bool Peer::has_unnegotiated_slot() const {
  for (const auto &slot : slots_) {
    GstWebRTCRTPTransceiver *trans = nullptr;
    g_object_get(slot.wb_pad, "transceiver", &trans, nullptr);
    gchar *mid = nullptr;
    if (trans) g_object_get(trans, "mid", &mid, nullptr);
    bool negotiated = mid != nullptr;
    g_free(mid);
    if (trans) gst_object_unref(trans);
    if (!negotiated) return true;
  }
  return false;
}

void Peer::maybe_renegotiate() {
  // Wait until connected: webrtcbin 1.22 leaves the data channel m-line out of an offer made by
  // the answerer before the remote's data channel has arrived ("m=lines removed" at the remote).
  if (!renegotiate || awaiting_answer || answering || !remote_set || !ever_connected) return;
  // ... and, when the remote's offer had a data channel, until it has arrived: before that,
  // webrtcbin 1.22 leaves the application m-line out of our offer, and a browser refuses an offer
  // whose m-lines are not the earlier ones in their order ("order of m-lines ... doesn't match";
  // seen when a launcher sends a browser two streams of one kind).
  {
    std::lock_guard<std::mutex> l(mu_);
    if (remote_offered_data && !dc_) return;
  }
  if (!has_unnegotiated_slot()) {  // the remote's offer already covered every slot
    renegotiate = false;
    return;
  }
  // ... and until every linked slot has caps: webrtcbin takes the a=ssrc lines from them, and the
  // remote maps a new SSRC in the BUNDLE to its transceiver by them (retried by the stats tick).
  for (const auto &slot : slots_) {
    if (!slot.stream) continue;
    GstCaps *caps = gst_pad_get_current_caps(slot.wb_pad);
    if (!caps) return;
    gst_caps_unref(caps);
  }
  GST_INFO("peer %s: renegotiating (send slots changed)", id.c_str());
  renegotiate = false;
  make_offer(false);
}

void Peer::unwire(const SendStream *s) {
  for (auto &slot : slots_)
    if (slot.stream.get() == s) unlink_slot(slot);
}

bool Peer::sends(const SendStream *s) const {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto &slot : slots_)
    if (slot.stream.get() == s) return true;
  return false;
}

size_t Peer::send_slots() const {
  std::lock_guard<std::mutex> l(mu_);
  return slots_.size();
}

size_t Peer::linked_slots() const {
  std::lock_guard<std::mutex> l(mu_);
  size_t n = 0;
  for (const auto &slot : slots_)
    if (slot.stream) n++;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Stats and data channel

void Peer::request_stats() {
  auto *ctx = new Ctx{&mgr_, uid};
  GstPromise *promise = gst_promise_new_with_change_func(
      [](GstPromise *promise, gpointer d) {
        auto *c = static_cast<Ctx *>(d);
        const GstStructure *reply = gst_promise_get_reply(promise);
        GstStructure *copy = reply ? gst_structure_copy(reply) : nullptr;
        gst_promise_unref(promise);
        if (!copy) return;
        c->mgr->post_peer(c->uid, [copy](Peer &p) {
          auto now = Clock::now();
          double interval = p.last_poll_ == Clock::time_point{} ? 0
                            : std::chrono::duration<double>(now - p.last_poll_).count();
          p.last_poll_ = now;
          PeerStats snapshot;
          {
            std::lock_guard<std::mutex> l(p.mu_);
            update_from_webrtc_stats(p.stats_, copy, interval);
            snapshot = p.stats_;
          }
          export_peer_metrics(p.mgr_.metrics_session(), p.id, snapshot);
          gst_structure_free(copy);
        });
      },
      ctx, [](gpointer d) { delete static_cast<Ctx *>(d); });
  g_signal_emit_by_name(webrtc_, "get-stats", nullptr, promise);
}

PeerStats Peer::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  PeerStats ps = stats_;
  ps.packets_gated = 0;
  for (const auto &slot : slots_)
    if (slot.rw) ps.packets_gated += slot.rw->gated();
  return ps;
}

void Peer::on_data_channel(GstElement *, GObject *channel, gpointer d) {
  auto *c = static_cast<Ctx *>(d);
  GObject *ch = G_OBJECT(g_object_ref(channel));
  c->mgr->post_peer(c->uid, [ch](Peer &p) {
    p.adopt_data_channel(ch);
    p.send_event(json_event("hello", p.mgr_.my_id()));
    g_object_unref(ch);
    p.maybe_renegotiate();  // it may have waited for this data channel
  });
  // If the peer is gone the closure (and its ref) is dropped with the posted function.
}

void Peer::adopt_data_channel(GObject *channel) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (dc_) g_object_unref(dc_);
    dc_ = G_OBJECT(g_object_ref(channel));
  }
  g_signal_connect_data(channel, "on-message-string", G_CALLBACK(on_dc_message), new Ctx{&mgr_, uid},
                        free_ctx, GConnectFlags(0));
  g_signal_connect_data(channel, "on-open", G_CALLBACK(on_dc_open), new Ctx{&mgr_, uid}, free_ctx,
                        GConnectFlags(0));
}

void Peer::on_dc_open(GObject *, gpointer d) {
  auto *c = static_cast<Ctx *>(d);
  c->mgr->post_peer(c->uid, [](Peer &p) { p.send_event(json_event("hello", p.mgr_.my_id())); });
}

void Peer::on_dc_message(GObject *, gchar *str, gpointer d) {
  auto *c = static_cast<Ctx *>(d);
  std::string text = str ? str : "";
  if (text.size() > 64 * 1024) return;
  c->mgr->post_peer(c->uid, [text](Peer &p) {
    p.last_activity_us = g_get_monotonic_time();
    // Validate: one JSON object with a string "type".
    JsonParser *parser = json_parser_new();
    std::string type;
    if (!text.empty() && json_parser_load_from_data(parser, text.c_str(), (gssize)text.size(), nullptr)) {
      JsonNode *root = json_parser_get_root(parser);
      if (root && JSON_NODE_HOLDS_OBJECT(root)) {
        JsonObject *o = json_node_get_object(root);
        if (json_object_has_member(o, "type")) {
          JsonNode *t = json_object_get_member(o, "type");
          if (JSON_NODE_HOLDS_VALUE(t) && json_node_get_value_type(t) == G_TYPE_STRING)
            type = json_node_get_string(t);
        }
      }
    }
    g_object_unref(parser);
    if (type.empty() || type == "ping") return;
    p.mgr_.peer_message("data", p.id, gst_structure_new("x", "type", G_TYPE_STRING, type.c_str(), "json",
                                                        G_TYPE_STRING, text.c_str(), nullptr));
  });
}

void Peer::send_ping() { send_event(json_event("ping", mgr_.my_id())); }

void Peer::send_event(const std::string &json) {
  std::lock_guard<std::mutex> l(mu_);
  if (!dc_) return;
  GstWebRTCDataChannelState st;
  g_object_get(dc_, "ready-state", &st, nullptr);
  if (st != GST_WEBRTC_DATA_CHANNEL_STATE_OPEN) return;
  g_signal_emit_by_name(dc_, "send-string", json.c_str());
}

}  // namespace mf::webrtc
