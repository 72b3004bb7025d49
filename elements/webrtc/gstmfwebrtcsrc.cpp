// webrtc_source (mfwebrtcsrc): the media of every remote peer of the session, one pad per peer and
// media kind.
//
// What: joins the session's WebRTC full mesh (through the per-session PeerManager it shares with
//   webrtc_sink, see peer_manager.h) and exposes what each remote peer sends, decoded by default.
// Pads: SOMETIMES src `audio_%s` (audio/x-raw, S16LE 48 kHz from opusdec) and `video_%s` (video/x-raw,
//   I420 from vp8dec/vp9dec/openh264dec), one per remote peer: `audio_<peer-id>`, `video_<peer-id>`.
//   With `decode=false` the pads carry the RTP (application/x-rtp) as webrtcbin delivers it. Each
//   stream carries its origin peer: the pad name AND a sticky stream tag `meshflow-peer-id`. A pad
//   nobody has linked drops its buffers (counted as frames-dropped) instead of failing the peer.
//   When the peer leaves, EOS is sent on its pads and they are removed.
// Properties (shared with webrtc_sink; set on either, they configure the session; last write wins):
//   signalling-url (string, ws://127.0.0.1:8080/rpc), room (string, "default"), peer-id (string,
//   empty = server-assigned), token (string), ice-local-addresses (strv; REQUIRED on loopback:
//   [127.0.0.1]), stun-server / turn-server (string URLs), ice-servers (strv), audio-latency /
//   video-latency (uint, ms, default 0 / 20: jitter-buffer latency of received audio / video;
//   latency sets both, docs/defaults.md), session (string, "default": key of the shared
//   manager within the pipeline), inactivity-timeout (ms, 5000), setup-timeout (ms, 10000),
//   data-channel (bool, true), stats (GstStructure, read-only: per-peer RTT, loss, jitter, bitrates,
//   frames, setup time).
//   Own: decode (bool, true), media (strv, [audio, video]: which kinds to receive).
// Events: element messages `meshflow-peer` with fields event (announced | peer-joined | connected |
//   pad-added | media | data | failed | peer-left) and peer-id (+ kind, setup-ms, reason, json...).
//   A bus ERROR inside a peer's elements ends that peer only (re-posted as a WARNING).
// Example:
//   nodes:
//     - { id: peers_in, type: webrtc_source, properties: { room: demo, ice_local_addresses: [127.0.0.1] } }
//   gst-launch-1.0 mfwebrtcsrc room=demo ice-local-addresses='<127.0.0.1>' ! fakesink
#include <gst/gst.h>

#include <memory>

#include "common.h"
#include "element_props.h"
#include "meshflow/sdk/node.h"
#include "peer_manager.h"

using namespace mf::webrtc;

G_BEGIN_DECLS
#define GST_TYPE_MF_WEBRTC_SOURCE (gst_mf_webrtc_source_get_type())
G_DECLARE_FINAL_TYPE(GstMfWebrtcSource, gst_mf_webrtc_source, GST, MF_WEBRTC_SOURCE, GstBin)
G_END_DECLS

struct SrcPriv {
  ElementState st;
  bool decode = true;                      // protected by st.mu
  std::vector<std::string> media{"audio", "video"};  // protected by st.mu
};

struct _GstMfWebrtcSource {
  GstBin parent;
  SrcPriv *priv;
};

G_DEFINE_TYPE(GstMfWebrtcSource, gst_mf_webrtc_source, GST_TYPE_BIN)
GST_ELEMENT_REGISTER_DEFINE(mfwebrtcsrc, "mfwebrtcsrc", GST_RANK_NONE, GST_TYPE_MF_WEBRTC_SOURCE)

enum { PROP_DECODE = PROP_COMMON_LAST, PROP_MEDIA };

static GstStaticPadTemplate audio_templ = GST_STATIC_PAD_TEMPLATE(
    "audio_%s", GST_PAD_SRC, GST_PAD_SOMETIMES, GST_STATIC_CAPS("audio/x-raw; application/x-rtp, media=(string)audio"));
static GstStaticPadTemplate video_templ = GST_STATIC_PAD_TEMPLATE(
    "video_%s", GST_PAD_SRC, GST_PAD_SOMETIMES, GST_STATIC_CAPS("video/x-raw; application/x-rtp, media=(string)video"));

static void src_set_property(GObject *o, guint id, const GValue *v, GParamSpec *ps) {
  auto *self = GST_MF_WEBRTC_SOURCE(o);
  if (set_common_property(self->priv->st, id, v)) return;
  std::lock_guard<std::mutex> l(self->priv->st.mu);
  switch (id) {
    case PROP_DECODE: self->priv->decode = g_value_get_boolean(v); break;
    case PROP_MEDIA: {
      self->priv->media.clear();
      auto **s = static_cast<gchar **>(g_value_get_boxed(v));
      for (gchar **p = s; p && *p; p++) self->priv->media.push_back(*p);
      break;
    }
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
  }
}

static void src_get_property(GObject *o, guint id, GValue *v, GParamSpec *ps) {
  auto *self = GST_MF_WEBRTC_SOURCE(o);
  if (get_common_property(self->priv->st, id, v)) return;
  std::lock_guard<std::mutex> l(self->priv->st.mu);
  switch (id) {
    case PROP_DECODE: g_value_set_boolean(v, self->priv->decode); break;
    case PROP_MEDIA: {
      auto **s = g_new0(gchar *, self->priv->media.size() + 1);
      for (size_t i = 0; i < self->priv->media.size(); i++) s[i] = g_strdup(self->priv->media[i].c_str());
      g_value_take_boxed(v, s);
      break;
    }
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
  }
}

static GstStateChangeReturn src_change_state(GstElement *e, GstStateChange t) {
  auto *self = GST_MF_WEBRTC_SOURCE(e);
  SrcPriv *p = self->priv;
  switch (t) {
    case GST_STATE_CHANGE_NULL_TO_READY: {
      auto m = p->st.acquire(e);
      PeerManager::SourceInfo info;
      info.element = e;
      {
        std::lock_guard<std::mutex> l(p->st.mu);
        info.decode = p->decode;
        info.audio = info.video = false;
        for (auto &k : p->media) {
          if (k == "audio") info.audio = true;
          if (k == "video") info.video = true;
        }
      }
      m->set_source(info);
      break;
    }
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      if (auto m = p->st.get()) m->deactivate(e);
      break;
    default:
      break;
  }
  GstStateChangeReturn ret = GST_ELEMENT_CLASS(gst_mf_webrtc_source_parent_class)->change_state(e, t);
  if (ret == GST_STATE_CHANGE_FAILURE) return ret;
  switch (t) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      if (auto m = p->st.get()) m->activate(e);
      // A live source: no preroll (pads appear when peers connect).
      ret = GST_STATE_CHANGE_NO_PREROLL;
      break;
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
      ret = GST_STATE_CHANGE_NO_PREROLL;
      break;
    case GST_STATE_CHANGE_READY_TO_NULL: {
      std::shared_ptr<PeerManager> m;
      {
        std::lock_guard<std::mutex> l(p->st.mu);
        m = std::move(p->st.manager);
      }
      if (m) m->set_source(PeerManager::SourceInfo{});
      break;
    }
    default:
      break;
  }
  return ret;
}

static void src_handle_message(GstBin *bin, GstMessage *msg) {
  auto *self = GST_MF_WEBRTC_SOURCE(bin);
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    if (auto m = self->priv->st.get()) {
      if (m->handle_child_error(msg)) {
        GError *err = nullptr;
        gchar *dbg = nullptr;
        gst_message_parse_error(msg, &err, &dbg);
        GST_ELEMENT_WARNING(bin, STREAM, FAILED, ("peer failed: %s", err ? err->message : "error"), ("%s", dbg ? dbg : ""));
        g_clear_error(&err);
        g_free(dbg);
        gst_message_unref(msg);
        return;
      }
    }
  }
  GST_BIN_CLASS(gst_mf_webrtc_source_parent_class)->handle_message(bin, msg);
}

static void src_finalize(GObject *o) {
  delete GST_MF_WEBRTC_SOURCE(o)->priv;
  G_OBJECT_CLASS(gst_mf_webrtc_source_parent_class)->finalize(o);
}

static void gst_mf_webrtc_source_class_init(GstMfWebrtcSourceClass *klass) {
  ensure_initialized();
  GObjectClass *oc = G_OBJECT_CLASS(klass);
  GstElementClass *ec = GST_ELEMENT_CLASS(klass);
  oc->set_property = src_set_property;
  oc->get_property = src_get_property;
  oc->finalize = src_finalize;
  install_common_properties(oc);
  g_object_class_install_property(oc, PROP_DECODE,
      g_param_spec_boolean("decode", "Decode", "Decode (raw audio/video pads); false passes RTP through", TRUE,
                           GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property(oc, PROP_MEDIA,
      g_param_spec_boxed("media", "Media", "Media kinds to receive (audio, video)", G_TYPE_STRV,
                         GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  gst_element_class_add_static_pad_template(ec, &audio_templ);
  gst_element_class_add_static_pad_template(ec, &video_templ);
  gst_element_class_set_static_metadata(ec, "Meshflow WebRTC source", "Source/Network/WebRTC",
                                        "Media of every remote peer of a WebRTC mesh session, one pad per peer and kind",
                                        "Meshflow");
  mf_node_class_set_name(ec, "webrtc_source");
  mf_node_class_set_per_peer(ec);  // the session builds the nodes below each peer pad per peer
  ec->change_state = src_change_state;
  GST_BIN_CLASS(klass)->handle_message = src_handle_message;
}

static void gst_mf_webrtc_source_init(GstMfWebrtcSource *self) {
  ensure_initialized();
  self->priv = new SrcPriv();
  GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SOURCE);
}
