// webrtc_sink (mfwebrtcsink): sends streams to the remote peers of the session, encoded once each.
//
// What: joins the session's WebRTC full mesh (through the per-session PeerManager it shares with
//   webrtc_source, see peer_manager.h). Every request pad gets ONE encoder chain (opusenc or
//   vp8enc/vp9enc/openh264enc with real-time settings) and ONE payloader; the RTP is fanned out
//   (tee -> per-peer leaky queue) to every peer the pad's `route` selects. Peers joining and leaving
//   are wired and unwired while playing. Video bitrate adapts to RTCP feedback (worst loss and RTT of
//   the peers sharing the encoder) within min-bitrate..max-bitrate (see encoder_chain.h).
//   Each peer receives EVERY pad whose route selects it, each on a transceiver of its own (added and
//   renegotiated while connected if needed); the remote's webrtc_source shows them as
//   audio_<peer>, audio_<peer>_1, ... Still one encoder per pad, whatever the number of peers.
// Pads: REQUEST sink `audio_%u` (audio/x-raw, any rate/channels: converted and resampled) and
//   `video_%u` (video/x-raw: converted). Pad properties (MfWebrtcSinkPad):
//     route (string): "broadcast" (default, every peer) | "origin" (only origin-peer) |
//                     "others" (every peer but origin-peer) | "peer:<id>" (one peer)
//     origin-peer (string): the peer the stream came from (used by origin / others)
//   A pad's stream goes to no peer until the pad is linked: set route and origin-peer first.
//   `route: origin` WITHOUT origin-peer (a shared stream, not a per-peer chain) follows the
//   stream: it goes to the peer named by the last `meshflow-peer-id` stream tag that came down
//   the pad (llm_bridge reply-to=speaker tags each answer with the peer it answers), to every
//   peer before the first such tag. The switch takes effect at the first buffer after the tag and
//   needs no renegotiation: the pad is negotiated with every peer like broadcast and each peer's
//   slot drops the packets meant for another one, numbering what it sends contiguously so no
//   loss is seen (slot_gate.h; stats: packets-gated per peer). Video slots that open request a
//   key frame. Text pads with such a route send each event to the tagged peer only.
//   REQUEST sink `text_%u` (application/x-meshflow-event, application/json, text/x-raw): one
//   transcript per buffer (llm_bridge's `text`, a JSON object with "text", or plain text), sent as
//   a `transcript` event (docs/protocols.md) over the data channel of every peer the pad's route
//   selects; a bad one is dropped with a warning and counted (meshflow_webrtc_sink_errors_total).
// Properties: the shared ones (see webrtc_source: signalling-url, room, peer-id, token,
//   ice-local-addresses, stun-server, turn-server, ice-servers, latency / audio-latency / video-latency (ms), session,
//   inactivity-timeout (ms), setup-timeout (ms), data-channel, stats); own:
//   video-codec (string: vp8 | vp9 | h264, default vp8), audio-codec (string: opus),
//   opus-frame-ms (uint: 10 | 20, default 20), opus-low-delay (bool, false: restricted-lowdelay, no
//   FEC), min-bitrate / max-bitrate / start-bitrate (uint, bit/s: 150000 / 2500000 / 1000000).
// Events: element messages `meshflow-peer` (see webrtc_source) when this is the only WebRTC element.
// Example:
//   nodes:
//     - { id: cam, type: videotestsrc, properties: { is_live: true } }
//     - { id: peers_out, type: webrtc_sink, properties: { room: demo, video_codec: vp8 } }
//   links:
//     - { from: cam, to: peers_out, route: broadcast }
//   gst-launch-1.0 videotestsrc is-live=true ! mfwebrtcsink room=demo ice-local-addresses='<127.0.0.1>'
//   The agent answers whoever spoke (manifests/voice-agent-party-reply.yaml):
//     - { from: agent, to: peers_out, route: origin }   # agent: llm_bridge with reply-to: speaker
#include <gst/gst.h>

#include <algorithm>
#include <atomic>
#include <memory>

#include "common.h"
#include "element_props.h"
#include "encoder_chain.h"
#include "meshflow/metrics/registry.h"
#include "meshflow/sdk/node.h"
#include "meshflow/sdk/peer_tag.h"
#include "meshflow/transport/ws_frame.h"
#include "peer_manager.h"

#define GST_CAT_DEFAULT mf_webrtc_debug

using namespace mf::webrtc;

// ---------------------------------------------------------------------------------------------
// The request pad: a ghost pad with route / origin-peer.

G_BEGIN_DECLS
#define MF_TYPE_WEBRTC_SINK_PAD (mf_webrtc_sink_pad_get_type())
G_DECLARE_FINAL_TYPE(MfWebrtcSinkPad, mf_webrtc_sink_pad, MF, WEBRTC_SINK_PAD, GstGhostPad)
#define GST_TYPE_MF_WEBRTC_SINK (gst_mf_webrtc_sink_get_type())
G_DECLARE_FINAL_TYPE(GstMfWebrtcSink, gst_mf_webrtc_sink, GST, MF_WEBRTC_SINK, GstBin)
G_END_DECLS

struct _MfWebrtcSinkPad {
  GstGhostPad parent;
  std::shared_ptr<SendStream> *stream;  // set when the element creates the chain
};

G_DEFINE_TYPE(MfWebrtcSinkPad, mf_webrtc_sink_pad, GST_TYPE_GHOST_PAD)

enum { PAD_PROP_ROUTE = 1, PAD_PROP_ORIGIN };

static void pad_notify_manager(MfWebrtcSinkPad *pad);

static void pad_set_property(GObject *o, guint id, const GValue *v, GParamSpec *ps) {
  auto *pad = MF_WEBRTC_SINK_PAD(o);
  auto &s = **pad->stream;
  std::string val = g_value_get_string(v) ? g_value_get_string(v) : "";
  {
    std::lock_guard<std::mutex> l(s.mu);
    switch (id) {
      case PAD_PROP_ROUTE:
        if (!(val.empty() || val == "broadcast" || val == "origin" || val == "others" ||
              (val.rfind("peer:", 0) == 0 && val.size() > 5))) {
          g_warning("webrtc_sink: invalid route '%s' (broadcast, origin, others, peer:<id>)", val.c_str());
          return;
        }
        s.route = val.empty() ? "broadcast" : val;
        break;
      case PAD_PROP_ORIGIN: s.origin_peer = val; break;
      default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps); return;
    }
  }
  pad_notify_manager(pad);
}

static void pad_get_property(GObject *o, guint id, GValue *v, GParamSpec *ps) {
  auto &s = **MF_WEBRTC_SINK_PAD(o)->stream;
  std::lock_guard<std::mutex> l(s.mu);
  switch (id) {
    case PAD_PROP_ROUTE: g_value_set_string(v, s.route.c_str()); break;
    case PAD_PROP_ORIGIN: g_value_set_string(v, s.origin_peer.c_str()); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
  }
}

static void pad_finalize(GObject *o) {
  delete MF_WEBRTC_SINK_PAD(o)->stream;
  G_OBJECT_CLASS(mf_webrtc_sink_pad_parent_class)->finalize(o);
}

static void mf_webrtc_sink_pad_class_init(MfWebrtcSinkPadClass *klass) {
  GObjectClass *oc = G_OBJECT_CLASS(klass);
  oc->set_property = pad_set_property;
  oc->get_property = pad_get_property;
  oc->finalize = pad_finalize;
  g_object_class_install_property(oc, PAD_PROP_ROUTE,
      g_param_spec_string("route", "Route", "Which peers get this stream: broadcast | origin | others | peer:<id>",
                          "broadcast", GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(oc, PAD_PROP_ORIGIN,
      g_param_spec_string("origin-peer", "Origin peer",
                          "The peer this stream came from (for origin / others); empty with route origin: "
                          "the peer named by the stream's meshflow-peer-id tag, switched without renegotiation",
                          "", GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
}

static void mf_webrtc_sink_pad_init(MfWebrtcSinkPad *pad) {
  pad->stream = new std::shared_ptr<SendStream>(std::make_shared<SendStream>());
}

// ---------------------------------------------------------------------------------------------
// The element

struct SinkPriv {
  ElementState st;
  std::shared_ptr<StreamSet> streams = std::make_shared<StreamSet>();
  unsigned next_audio = 0, next_video = 0, next_text = 0;  // protected by st.mu
};

struct _GstMfWebrtcSink {
  GstBin parent;
  SinkPriv *priv;
};

G_DEFINE_TYPE(GstMfWebrtcSink, gst_mf_webrtc_sink, GST_TYPE_BIN)
GST_ELEMENT_REGISTER_DEFINE(mfwebrtcsink, "mfwebrtcsink", GST_RANK_NONE, GST_TYPE_MF_WEBRTC_SINK)

enum {
  PROP_VIDEO_CODEC = PROP_COMMON_LAST,
  PROP_AUDIO_CODEC,
  PROP_OPUS_FRAME_MS,
  PROP_OPUS_LOW_DELAY,
  PROP_MIN_BITRATE,
  PROP_MAX_BITRATE,
  PROP_START_BITRATE,
};

static GstStaticPadTemplate audio_templ =
    GST_STATIC_PAD_TEMPLATE("audio_%u", GST_PAD_SINK, GST_PAD_REQUEST, GST_STATIC_CAPS("audio/x-raw"));
static GstStaticPadTemplate video_templ =
    GST_STATIC_PAD_TEMPLATE("video_%u", GST_PAD_SINK, GST_PAD_REQUEST, GST_STATIC_CAPS("video/x-raw"));
static GstStaticPadTemplate text_templ = GST_STATIC_PAD_TEMPLATE(
    "text_%u", GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS("application/x-meshflow-event; application/json; text/x-raw"));

static void pad_notify_manager(MfWebrtcSinkPad *pad) {
  GstObject *parent = gst_object_get_parent(GST_OBJECT(pad));
  if (!parent) return;
  if (GST_IS_MF_WEBRTC_SINK(parent))
    if (auto m = GST_MF_WEBRTC_SINK(parent)->priv->st.get()) m->streams_changed();
  gst_object_unref(parent);
}

// A flush coming down an input (e.g. llm_bridge's barge-in: FLUSH_START, FLUSH_STOP, new SEGMENT)
// must not reach the encoder, the tee and every peer's webrtcbin: a FLUSH_STOP there resets their
// segments, and the next buffer hits a pad without one ("before segment event" CRITICALs). The
// stream is live and shared; drop the flush, let the new segment through, and mark the next buffer
// DISCONT so the encoder and payloader resynchronise.
static GstPadProbeReturn sink_flush_probe(GstPad *, GstPadProbeInfo *info, gpointer) {
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) return GST_PAD_PROBE_OK;
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
  if (GST_EVENT_TYPE(ev) == GST_EVENT_FLUSH_START || GST_EVENT_TYPE(ev) == GST_EVENT_FLUSH_STOP) {
    GST_DEBUG("dropping %s on a webrtc_sink input", GST_EVENT_TYPE_NAME(ev));
    return GST_PAD_PROBE_DROP;
  }
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn sink_discont_probe(GstPad *, GstPadProbeInfo *info, gpointer d) {
  auto *pending = static_cast<std::atomic<bool> *>(d);
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_FLUSH) {
    if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_FLUSH_STOP) pending->store(true);
    return GST_PAD_PROBE_OK;
  }
  if ((info->type & GST_PAD_PROBE_TYPE_BUFFER) && pending->exchange(false)) {
    GstBuffer *b = gst_buffer_make_writable(GST_PAD_PROBE_INFO_BUFFER(info));
    GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_DISCONT);
    GST_PAD_PROBE_INFO_DATA(info) = b;
  }
  return GST_PAD_PROBE_OK;
}

// The stream is routed once its pad is linked (see SendStream::linked), and no more once unlinked.
static void pad_linked_changed(GstPad *pad, GstPad *, gpointer linked) {
  auto &s = **MF_WEBRTC_SINK_PAD(pad)->stream;
  {
    std::lock_guard<std::mutex> l(s.mu);
    s.linked = GPOINTER_TO_INT(linked) != 0;
  }
  pad_notify_manager(MF_WEBRTC_SINK_PAD(pad));
}

// ---- text_%u: events to the routed peers' data channels -------------------------------------
// Each buffer is one transcript (llm_bridge's `text` events, or a JSON object with "text", or
// plain UTF-8 text), normalised to the `transcript` event of docs/protocols.md and sent on the data
// channel of every connected peer the pad's route selects. The pad's target is an internal
// fakesink whose handoff does the sending (no encoder, no transceiver).

struct TextTarget {
  GstElement *sink;  // the element (borrowed: the fakesink lives in it)
  std::shared_ptr<SendStream> stream;
  std::string pad_name;
  // The peer the last `meshflow-peer-id` stream tag named (a tag-following route sends only to
  // it). Written by text_tag_probe and read by text_handoff, both on the fakesink's streaming
  // thread; shared because the probe and the handoff closure are freed separately.
  std::shared_ptr<std::string> target = std::make_shared<std::string>();
};

static GstPadProbeReturn text_tag_probe(GstPad *, GstPadProbeInfo *info, gpointer d) {
  mf::peer_id_from_tag_event(GST_PAD_PROBE_INFO_EVENT(info), static_cast<std::shared_ptr<std::string> *>(d)->get());
  return GST_PAD_PROBE_OK;
}

static void text_handoff(GstElement *, GstBuffer *buf, GstPad *, gpointer d) {
  auto *t = static_cast<TextTarget *>(d);
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READ)) return;
  mf::transport::Transcript tr;
  std::string error;
  const bool ok = mf::transport::transcript_from_text(
      std::string_view(reinterpret_cast<const char *>(map.data), map.size), &tr, &error);
  gst_buffer_unmap(buf, &map);
  if (!ok) {
    mf::metrics::Registry::global()
        .counter("meshflow_webrtc_sink_errors_total", "webrtc_sink: bad input refused, by error code",
                 {{"code", "bad_event"}})
        .inc();
    GST_ELEMENT_WARNING(t->sink, STREAM, FORMAT,
                        ("webrtc_sink %s: event dropped: %s", t->pad_name.c_str(), error.c_str()), (nullptr));
    return;
  }
  if (auto m = GST_MF_WEBRTC_SINK(t->sink)->priv->st.get())
    m->send_event(t->stream, mf::transport::make_transcript(tr), *t->target);
}

static GstPad *make_text_target(GstElement *e, const std::shared_ptr<SendStream> &stream) {
  GstElement *fs = gst_element_factory_make("fakesink", nullptr);
  if (!fs) return nullptr;
  g_object_set(fs, "sync", FALSE, "async", FALSE, "signal-handoffs", TRUE, "enable-last-sample", FALSE, nullptr);
  auto *t = new TextTarget{e, stream, stream->pad_name};
  GstPad *pad = gst_element_get_static_pad(fs, "sink");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, text_tag_probe,
                    new std::shared_ptr<std::string>(t->target),
                    [](gpointer d) { delete static_cast<std::shared_ptr<std::string> *>(d); });
  g_signal_connect_data(fs, "handoff", G_CALLBACK(text_handoff), t,
                        [](gpointer d, GClosure *) { delete static_cast<TextTarget *>(d); }, GConnectFlags(0));
  gst_bin_add(GST_BIN(e), fs);
  gst_element_sync_state_with_parent(fs);
  stream->elements.push_back(GST_ELEMENT(gst_object_ref(fs)));  // freed by destroy_send_chain
  return pad;
}

static GstPad *sink_request_new_pad(GstElement *e, GstPadTemplate *templ, const gchar *name, const GstCaps *) {
  auto *self = GST_MF_WEBRTC_SINK(e);
  SinkPriv *p = self->priv;
  const bool audio = g_str_has_prefix(templ->name_template, "audio");
  const bool text = g_str_has_prefix(templ->name_template, "text");
  const char *family = audio ? "audio" : text ? "text" : "video";
  Settings settings;
  std::string pad_name;
  {
    std::lock_guard<std::mutex> l(p->st.mu);
    settings = p->st.settings;
    unsigned &next = audio ? p->next_audio : text ? p->next_text : p->next_video;
    unsigned n = 0;
    if (name && sscanf(name, (std::string(family) + "_%u").c_str(), &n) == 1) {
      next = std::max(next, n + 1);
    } else {
      n = next++;
    }
    pad_name = std::string(family) + "_" + std::to_string(n);
  }
  if (auto m = p->st.get()) settings = m->settings();
  auto *pad = MF_WEBRTC_SINK_PAD(g_object_new(MF_TYPE_WEBRTC_SINK_PAD, "name", pad_name.c_str(), "direction",
                                              GST_PAD_SINK, "template", templ, nullptr));
  auto stream = *pad->stream;
  stream->kind = audio ? Kind::Audio : Kind::Video;
  stream->pad_name = pad_name;
  stream->ghost = GST_PAD(pad);
  std::string error;
  GstPad *target = text ? make_text_target(e, stream) : build_send_chain(GST_BIN(e), *stream, settings, &error);
  if (!target) {
    GST_ELEMENT_ERROR(e, CORE, MISSING_PLUGIN, ("cannot build the encoder for %s", pad_name.c_str()),
                      ("%s", error.c_str()));
    gst_object_unref(gst_object_ref_sink(pad));
    return nullptr;
  }
  gst_ghost_pad_set_target(GST_GHOST_PAD(pad), target);
  // Flushes stop at the input (see sink_flush_probe); the first probe marks the next buffer.
  gst_pad_add_probe(GST_PAD(pad), GstPadProbeType(GST_PAD_PROBE_TYPE_EVENT_FLUSH | GST_PAD_PROBE_TYPE_BUFFER),
                    sink_discont_probe, new std::atomic<bool>(false),
                    [](gpointer d) { delete static_cast<std::atomic<bool> *>(d); });
  gst_pad_add_probe(GST_PAD(pad), GstPadProbeType(GST_PAD_PROBE_TYPE_EVENT_FLUSH), sink_flush_probe, nullptr, nullptr);
  gst_object_unref(target);
  g_signal_connect(pad, "linked", G_CALLBACK(pad_linked_changed), GINT_TO_POINTER(1));
  g_signal_connect(pad, "unlinked", G_CALLBACK(pad_linked_changed), GINT_TO_POINTER(0));
  if (GST_STATE(e) > GST_STATE_NULL) gst_pad_set_active(GST_PAD(pad), TRUE);
  gst_element_add_pad(e, GST_PAD(pad));
  if (text) {  // not a media stream: no transceiver
    GST_INFO_OBJECT(e, "new event stream %s", pad_name.c_str());
    return GST_PAD(pad);
  }
  {
    std::lock_guard<std::mutex> l(p->streams->mu);
    p->streams->streams.push_back(stream);
  }
  if (auto m = p->st.get()) m->streams_changed();
  GST_INFO_OBJECT(e, "new %s stream %s (%s)", audio ? "audio" : "video", pad_name.c_str(), stream->codec->name);
  return GST_PAD(pad);
}

static void sink_release_pad(GstElement *e, GstPad *pad) {
  auto *self = GST_MF_WEBRTC_SINK(e);
  SinkPriv *p = self->priv;
  if (!MF_IS_WEBRTC_SINK_PAD(pad)) return;
  auto stream = *MF_WEBRTC_SINK_PAD(pad)->stream;
  if (auto m = p->st.get()) m->remove_stream(stream.get());
  {
    std::lock_guard<std::mutex> l(p->streams->mu);
    auto &v = p->streams->streams;
    v.erase(std::remove(v.begin(), v.end(), stream), v.end());
  }
  gst_object_ref(pad);
  gst_element_remove_pad(e, pad);
  destroy_send_chain(GST_BIN(e), *stream);
  gst_object_unref(pad);
}

static void sink_set_property(GObject *o, guint id, const GValue *v, GParamSpec *ps) {
  auto &st = GST_MF_WEBRTC_SINK(o)->priv->st;
  if (set_common_property(st, id, v)) return;
  switch (id) {
    case PROP_VIDEO_CODEC: {
      std::string c = g_value_get_string(v) ? g_value_get_string(v) : "vp8";
      const Codec *codec = find_codec(c);
      if (!codec || codec->kind != Kind::Video) {
        g_warning("webrtc_sink: unknown video-codec '%s' (vp8, vp9, h264)", c.c_str());
        return;
      }
      st.set(Settings::kVideoCodec, [&](Settings &x) { x.video_codec = codec->name; });
      break;
    }
    case PROP_AUDIO_CODEC: {
      std::string c = g_value_get_string(v) ? g_value_get_string(v) : "opus";
      if (g_ascii_strcasecmp(c.c_str(), "opus") != 0) g_warning("webrtc_sink: only audio-codec 'opus' is supported");
      break;
    }
    case PROP_OPUS_FRAME_MS: {
      unsigned u = g_value_get_uint(v);
      if (u != 10 && u != 20) {
        g_warning("webrtc_sink: opus-frame-ms must be 10 or 20");
        return;
      }
      st.set(Settings::kOpusFrame, [&](Settings &x) { x.opus_frame_ms = u; });
      break;
    }
    case PROP_OPUS_LOW_DELAY: {
      bool b = g_value_get_boolean(v);
      st.set(Settings::kOpusLowDelay, [&](Settings &x) { x.opus_low_delay = b; });
      break;
    }
    case PROP_MIN_BITRATE: {
      unsigned u = g_value_get_uint(v);
      st.set(Settings::kMinBitrate, [&](Settings &x) { x.min_bitrate = u; });
      break;
    }
    case PROP_MAX_BITRATE: {
      unsigned u = g_value_get_uint(v);
      st.set(Settings::kMaxBitrate, [&](Settings &x) { x.max_bitrate = u; });
      break;
    }
    case PROP_START_BITRATE: {
      unsigned u = g_value_get_uint(v);
      st.set(Settings::kStartBitrate, [&](Settings &x) { x.start_bitrate = u; });
      break;
    }
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
  }
}

static void sink_get_property(GObject *o, guint id, GValue *v, GParamSpec *ps) {
  auto &st = GST_MF_WEBRTC_SINK(o)->priv->st;
  if (get_common_property(st, id, v)) return;
  std::lock_guard<std::mutex> l(st.mu);
  switch (id) {
    case PROP_VIDEO_CODEC: g_value_set_string(v, st.settings.video_codec.c_str()); break;
    case PROP_AUDIO_CODEC: g_value_set_string(v, "opus"); break;
    case PROP_OPUS_FRAME_MS: g_value_set_uint(v, st.settings.opus_frame_ms); break;
    case PROP_OPUS_LOW_DELAY: g_value_set_boolean(v, st.settings.opus_low_delay); break;
    case PROP_MIN_BITRATE: g_value_set_uint(v, st.settings.min_bitrate); break;
    case PROP_MAX_BITRATE: g_value_set_uint(v, st.settings.max_bitrate); break;
    case PROP_START_BITRATE: g_value_set_uint(v, st.settings.start_bitrate); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
  }
}

static GstStateChangeReturn sink_change_state(GstElement *e, GstStateChange t) {
  auto *self = GST_MF_WEBRTC_SINK(e);
  SinkPriv *p = self->priv;
  switch (t) {
    case GST_STATE_CHANGE_NULL_TO_READY: {
      auto m = p->st.acquire(e);
      p->streams->bin = GST_BIN(e);
      m->set_sink(p->streams);
      break;
    }
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      if (auto m = p->st.get()) m->deactivate(e);
      break;
    default:
      break;
  }
  GstStateChangeReturn ret = GST_ELEMENT_CLASS(gst_mf_webrtc_sink_parent_class)->change_state(e, t);
  if (ret == GST_STATE_CHANGE_FAILURE) return ret;
  switch (t) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      if (auto m = p->st.get()) m->activate(e);
      break;
    case GST_STATE_CHANGE_READY_TO_NULL: {
      std::shared_ptr<PeerManager> m;
      {
        std::lock_guard<std::mutex> l(p->st.mu);
        m = std::move(p->st.manager);
      }
      if (m) m->set_sink(nullptr);
      break;
    }
    default:
      break;
  }
  return ret;
}

static void sink_handle_message(GstBin *bin, GstMessage *msg) {
  auto *self = GST_MF_WEBRTC_SINK(bin);
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    if (auto m = self->priv->st.get()) {
      if (m->handle_child_error(msg)) {
        GError *err = nullptr;
        gst_message_parse_error(msg, &err, nullptr);
        GST_ELEMENT_WARNING(bin, STREAM, FAILED, ("peer failed: %s", err ? err->message : "error"), (nullptr));
        g_clear_error(&err);
        gst_message_unref(msg);
        return;
      }
    }
  }
  GST_BIN_CLASS(gst_mf_webrtc_sink_parent_class)->handle_message(bin, msg);
}

static void sink_finalize(GObject *o) {
  delete GST_MF_WEBRTC_SINK(o)->priv;
  G_OBJECT_CLASS(gst_mf_webrtc_sink_parent_class)->finalize(o);
}

static void gst_mf_webrtc_sink_class_init(GstMfWebrtcSinkClass *klass) {
  ensure_initialized();
  GObjectClass *oc = G_OBJECT_CLASS(klass);
  GstElementClass *ec = GST_ELEMENT_CLASS(klass);
  oc->set_property = sink_set_property;
  oc->get_property = sink_get_property;
  oc->finalize = sink_finalize;
  install_common_properties(oc);
  Settings d;
  auto RW = GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(oc, PROP_VIDEO_CODEC,
      g_param_spec_string("video-codec", "Video codec", "vp8 | vp9 | h264 (openh264)", "vp8", RW));
  g_object_class_install_property(oc, PROP_AUDIO_CODEC,
      g_param_spec_string("audio-codec", "Audio codec", "opus", "opus", RW));
  g_object_class_install_property(oc, PROP_OPUS_FRAME_MS,
      g_param_spec_uint("opus-frame-ms", "Opus frame", "Opus frame duration (ms): 10 or 20", 10, 20, 20, RW));
  g_object_class_install_property(oc, PROP_OPUS_LOW_DELAY,
      g_param_spec_boolean("opus-low-delay", "Opus low delay",
                           "restricted-lowdelay mode (2.5 ms look-ahead instead of 6.5 ms; no inband FEC)", FALSE, RW));
  g_object_class_install_property(oc, PROP_MIN_BITRATE,
      g_param_spec_uint("min-bitrate", "Min bitrate", "Video bitrate floor (bit/s)", 10000, 100000000, d.min_bitrate, RW));
  g_object_class_install_property(oc, PROP_MAX_BITRATE,
      g_param_spec_uint("max-bitrate", "Max bitrate", "Video bitrate ceiling (bit/s)", 10000, 100000000, d.max_bitrate, RW));
  g_object_class_install_property(oc, PROP_START_BITRATE,
      g_param_spec_uint("start-bitrate", "Start bitrate", "Initial video bitrate (bit/s)", 10000, 100000000,
                        d.start_bitrate, RW));
  gst_element_class_add_static_pad_template_with_gtype(ec, &audio_templ, MF_TYPE_WEBRTC_SINK_PAD);
  gst_element_class_add_static_pad_template_with_gtype(ec, &video_templ, MF_TYPE_WEBRTC_SINK_PAD);
  gst_element_class_add_static_pad_template_with_gtype(ec, &text_templ, MF_TYPE_WEBRTC_SINK_PAD);
  gst_element_class_set_static_metadata(ec, "Meshflow WebRTC sink", "Sink/Network/WebRTC",
                                        "Encodes each stream once and sends it to the routed peers of a WebRTC mesh session",
                                        "Meshflow");
  mf_node_class_set_name(ec, "webrtc_sink");
  ec->change_state = sink_change_state;
  ec->request_new_pad = sink_request_new_pad;
  ec->release_pad = sink_release_pad;
  GST_BIN_CLASS(klass)->handle_message = sink_handle_message;
}

static void gst_mf_webrtc_sink_init(GstMfWebrtcSink *self) {
  ensure_initialized();
  self->priv = new SinkPriv();
  GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SINK);
}
