// websocket_sink (mfwssink): sends audio (PCM16 frames) and transcripts to the WebSocket peers of
// the session, each stream to the peers its pad's `route` selects.
//
// What: shares the session hub with websocket_source (ws_session.h). Each audio pad is one
//   outgoing stream: every peer it reaches gets a `stream.start` (its own stream id, 1, 2, ... in
//   first-use order) before the first binary frame, then one frame per buffer (split at 200 ms)
//   with seq +1 per frame and capture_ts_us = the buffer's GstMfMediaMeta capture time (so a
//   peer's own audio routed back carries its own clock), else its PTS. Text pads send `transcript`
//   events. Nothing here blocks: frames are handed to the endpoint's network thread, whose
//   per-peer outbound queue is bounded (oldest media dropped, counted).
// Pads: REQUEST sink `audio_%u`: audio/x-raw, format=S16LE, layout=interleaved, rate 8000..48000,
//   channels 1..2. REQUEST sink `text_%u`: application/x-meshflow-event (llm_bridge's text), application/json or
//   text/x-raw (format=utf8); each
//   buffer is a transcript: a JSON object {text, speaker?, is_final?, confidence?, timestamp?} or
//   plain UTF-8 text (is_final true). Bad ones are dropped with a warning and counted
//   (meshflow_ws_errors_total{code="bad_transcript"}).
//   Pad properties (like webrtc_sink's): route (string): "broadcast" (default, every peer) |
//   "origin" (only origin-peer) | "others" (every peer but origin-peer) | "peer:<id>";
//   origin-peer (string): the peer the stream came from (the session sets both).
//   `route: origin` without origin-peer (a shared stream, e.g. llm_bridge with reply-to=speaker)
//   follows the stream's `meshflow-peer-id` stream tag: each buffer goes to the peer the last tag
//   named (every peer before the first tag); the first frame after a switch is marked discont.
// Properties: the shared ones (see websocket_source): room, url, session, heartbeat-ms,
//   max-queue-bytes, message-rate, byte-rate.
// Example:
//   links: [{from: ws_in.audio, to: sync}, {from: sync, to: ws_out, route: origin}]
//   answer whoever spoke: [{from: agent, to: ws_out, route: origin}]  (agent: reply-to: speaker)
//   gst-launch-1.0 audiotestsrc is-live=true ! audio/x-raw,format=S16LE,rate=48000,channels=1 !
//       mfwssink url=ws://127.0.0.1:8080/ws room=demo
#include <gst/gst.h>

#include <algorithm>
#include <memory>

#include "meshflow/metrics/registry.h"
#include "meshflow/sdk/node.h"
#include "meshflow/sdk/peer_tag.h"
#include "sync/media_meta.h"
#include "ws_session.h"

#define GST_CAT_DEFAULT mf_ws_debug

using namespace mf::websocket;
namespace tp = mf::transport;

G_BEGIN_DECLS
#define MF_TYPE_WS_SINK_PAD (mf_ws_sink_pad_get_type())
G_DECLARE_FINAL_TYPE(MfWsSinkPad, mf_ws_sink_pad, MF, WS_SINK_PAD, GstPad)
#define GST_TYPE_MF_WS_SINK (gst_mf_ws_sink_get_type())
G_DECLARE_FINAL_TYPE(GstMfWsSink, gst_mf_ws_sink, GST, MF_WS_SINK, GstElement)
G_END_DECLS

struct PadState {
  std::mutex mu;  // protects all
  std::string route = "broadcast", origin;
  std::string tagged;  // the peer the last `meshflow-peer-id` stream tag named (route origin, no origin)
  uint32_t key = 0;
  bool text = false;
  tp::StreamFormat fmt;
  bool have_caps = false;
  bool discont = true;
};

struct _MfWsSinkPad {
  GstPad parent;
  PadState *st;
};

G_DEFINE_TYPE(MfWsSinkPad, mf_ws_sink_pad, GST_TYPE_PAD)

enum { PAD_PROP_ROUTE = 1, PAD_PROP_ORIGIN };

static bool valid_route(const std::string &v) {
  return v.empty() || v == "broadcast" || v == "origin" || v == "others" ||
         (v.rfind("peer:", 0) == 0 && v.size() > 5);
}

static void pad_set_property(GObject *o, guint id, const GValue *v, GParamSpec *ps) {
  auto *st = MF_WS_SINK_PAD(o)->st;
  std::string val = g_value_get_string(v) ? g_value_get_string(v) : "";
  std::lock_guard<std::mutex> l(st->mu);
  switch (id) {
    case PAD_PROP_ROUTE:
      if (!valid_route(val)) {
        g_warning("websocket_sink: invalid route '%s' (broadcast, origin, others, peer:<id>)", val.c_str());
        return;
      }
      st->route = val.empty() ? "broadcast" : val;
      break;
    case PAD_PROP_ORIGIN: st->origin = val; break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
  }
}

static void pad_get_property(GObject *o, guint id, GValue *v, GParamSpec *ps) {
  auto *st = MF_WS_SINK_PAD(o)->st;
  std::lock_guard<std::mutex> l(st->mu);
  switch (id) {
    case PAD_PROP_ROUTE: g_value_set_string(v, st->route.c_str()); break;
    case PAD_PROP_ORIGIN: g_value_set_string(v, st->origin.c_str()); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
  }
}

static void pad_finalize(GObject *o) {
  delete MF_WS_SINK_PAD(o)->st;
  G_OBJECT_CLASS(mf_ws_sink_pad_parent_class)->finalize(o);
}

static void mf_ws_sink_pad_class_init(MfWsSinkPadClass *klass) {
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
                          "the peer named by the stream's meshflow-peer-id tag",
                          "", GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
}

static void mf_ws_sink_pad_init(MfWsSinkPad *pad) { pad->st = new PadState(); }

// ---------------------------------------------------------------------------------------------

struct SinkPriv {
  std::mutex mu;  // protects settings, session, next_*
  Settings settings;
  std::shared_ptr<WsSession> session;
  unsigned next_audio = 0, next_text = 0;
  uint32_t next_key = 1;
};

struct _GstMfWsSink {
  GstElement parent;
  SinkPriv *priv;
};

G_DEFINE_TYPE(GstMfWsSink, gst_mf_ws_sink, GST_TYPE_ELEMENT)
GST_ELEMENT_REGISTER_DEFINE(mfwssink, "mfwssink", GST_RANK_NONE, GST_TYPE_MF_WS_SINK)

static GstStaticPadTemplate audio_templ = GST_STATIC_PAD_TEMPLATE(
    "audio_%u", GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS("audio/x-raw, format=(string)S16LE, layout=(string)interleaved, "
                    "rate=(int)[8000,48000], channels=(int)[1,2]"));
static GstStaticPadTemplate text_templ = GST_STATIC_PAD_TEMPLATE(
    "text_%u", GST_PAD_SINK, GST_PAD_REQUEST, GST_STATIC_CAPS("application/x-meshflow-event; application/json; text/x-raw"));

static std::vector<std::string> targets(GstMfWsSink *self, PadState *st,
                                        std::shared_ptr<tp::WsHub> *hub) {
  std::shared_ptr<WsSession> s;
  {
    std::lock_guard<std::mutex> l(self->priv->mu);
    s = self->priv->session;
  }
  if (!s || !(*hub = s->hub())) return {};
  std::vector<std::string> peers = s->peers(), out;
  std::string route, origin;
  {
    std::lock_guard<std::mutex> l(st->mu);
    route = st->route;
    origin = st->origin;
    // route origin without an origin peer (a shared stream): the peer its tag names, everyone
    // before the first tag.
    if (route == "origin" && origin.empty()) route = st->tagged.empty() ? "broadcast" : "peer:" + st->tagged;
  }
  for (auto &p : peers) {
    if (route == "broadcast" || (route == "origin" && p == origin) || (route == "others" && p != origin) ||
        (route.rfind("peer:", 0) == 0 && route.substr(5) == p))
      out.push_back(p);
  }
  return out;
}

static GstFlowReturn sink_chain(GstPad *pad, GstObject *parent, GstBuffer *buf) {
  auto *self = GST_MF_WS_SINK(parent);
  PadState *st = MF_WS_SINK_PAD(pad)->st;
  std::shared_ptr<tp::WsHub> hub;
  std::vector<std::string> to = targets(self, st, &hub);
  if (to.empty()) {
    gst_buffer_unref(buf);
    return GST_FLOW_OK;
  }
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READ)) {
    gst_buffer_unref(buf);
    return GST_FLOW_ERROR;
  }
  bool text, discont;
  tp::StreamFormat fmt;
  uint32_t key;
  {
    std::lock_guard<std::mutex> l(st->mu);
    text = st->text;
    fmt = st->fmt;
    key = st->key;
    discont = st->discont || GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DISCONT);
    st->discont = false;
  }
  if (text) {
    tp::Transcript t;
    std::string error;
    if (!tp::transcript_from_text(std::string_view(reinterpret_cast<const char *>(map.data), map.size), &t, &error)) {
      mf::metrics::Registry::global()
          .counter("meshflow_ws_errors_total", "WebSocket media transport: bad input refused, by error code",
                   {{"code", "bad_transcript"}})
          .inc();
      GST_ELEMENT_WARNING(self, STREAM, FORMAT, ("websocket_sink %s: transcript dropped: %s", GST_PAD_NAME(pad), error.c_str()),
                          (nullptr));
    } else {
      std::string json = tp::make_transcript(t);
      for (auto &p : to) hub->send_text(p, json);
    }
  } else {
    uint64_t capture_us = 0;
    if (GstMfMediaMeta *m = gst_buffer_get_mf_media_meta(buf))
      capture_us = m->capture_ts_ns / 1000;
    else if (GST_BUFFER_PTS_IS_VALID(buf))
      capture_us = GST_BUFFER_PTS(buf) / 1000;
    size_t unit = 2 * fmt.channels;
    size_t max = size_t(fmt.rate) * tp::kMaxFrameMs / 1000 * unit;
    for (size_t off = 0; off + unit <= map.size; off += max) {
      size_t n = std::min(max, map.size - off) / unit * unit;
      GBytes *b = g_bytes_new(map.data + off, n);
      uint64_t ts = capture_us + uint64_t(off / unit) * 1000000 / fmt.rate;
      for (auto &p : to) hub->send_media(p, key, fmt, ts, discont, b);
      g_bytes_unref(b);
      discont = false;
    }
  }
  gst_buffer_unmap(buf, &map);
  gst_buffer_unref(buf);
  return GST_FLOW_OK;
}

static gboolean sink_event(GstPad *pad, GstObject *parent, GstEvent *ev) {
  auto *self = GST_MF_WS_SINK(parent);
  PadState *st = MF_WS_SINK_PAD(pad)->st;
  switch (GST_EVENT_TYPE(ev)) {
    case GST_EVENT_CAPS: {
      GstCaps *caps;
      gst_event_parse_caps(ev, &caps);
      GstStructure *s = gst_caps_get_structure(caps, 0);
      std::lock_guard<std::mutex> l(st->mu);
      if (gst_structure_has_name(s, "audio/x-raw")) {
        int rate = 0, ch = 0;
        gst_structure_get_int(s, "rate", &rate);
        gst_structure_get_int(s, "channels", &ch);
        if (rate != int(st->fmt.rate) || ch != int(st->fmt.channels)) st->discont = true;
        st->fmt.rate = unsigned(rate);
        st->fmt.channels = unsigned(ch);
        st->have_caps = true;
      }
      break;
    }
    case GST_EVENT_EOS: {
      std::shared_ptr<WsSession> s;
      {
        std::lock_guard<std::mutex> l(self->priv->mu);
        s = self->priv->session;
      }
      uint32_t key;
      bool text;
      {
        std::lock_guard<std::mutex> l(st->mu);
        key = st->key;
        text = st->text;
      }
      if (s && !text)
        if (auto hub = s->hub()) hub->stop_stream(key);
      break;
    }
    case GST_EVENT_FLUSH_STOP: {
      std::lock_guard<std::mutex> l(st->mu);
      st->discont = true;
      break;
    }
    case GST_EVENT_TAG: {
      // Serialized with the buffers: the next buffer already goes to the new target.
      std::string peer;
      if (mf::peer_id_from_tag_event(ev, &peer)) {
        std::lock_guard<std::mutex> l(st->mu);
        if (st->tagged != peer) st->discont = true;  // the new target's stream resumes here
        st->tagged = peer;
      }
      break;
    }
    default:
      break;
  }
  gst_event_unref(ev);
  return TRUE;
}

static gboolean sink_query(GstPad *pad, GstObject *parent, GstQuery *q) {
  return gst_pad_query_default(pad, parent, q);
}

static GstPad *sink_request_new_pad(GstElement *e, GstPadTemplate *templ, const gchar *name, const GstCaps *) {
  auto *self = GST_MF_WS_SINK(e);
  bool text = g_str_has_prefix(templ->name_template, "text");
  std::string pad_name;
  uint32_t key;
  {
    std::lock_guard<std::mutex> l(self->priv->mu);
    unsigned &next = text ? self->priv->next_text : self->priv->next_audio;
    unsigned idx = next;
    if (name && sscanf(name, text ? "text_%u" : "audio_%u", &idx) == 1 && idx >= next) next = idx;
    pad_name = std::string(text ? "text_" : "audio_") + std::to_string(idx);
    next = std::max(next, idx + 1);
    key = self->priv->next_key++;
  }
  auto *pad = GST_PAD(g_object_new(MF_TYPE_WS_SINK_PAD, "name", pad_name.c_str(), "direction", GST_PAD_SINK,
                                   "template", templ, nullptr));
  PadState *st = MF_WS_SINK_PAD(pad)->st;
  st->key = key;
  st->text = text;
  gst_pad_set_chain_function(pad, sink_chain);
  gst_pad_set_event_function(pad, sink_event);
  gst_pad_set_query_function(pad, sink_query);
  GST_PAD_SET_PROXY_CAPS(pad);
  gst_pad_set_active(pad, TRUE);
  if (!gst_element_add_pad(e, pad)) return nullptr;
  return pad;
}

static void sink_release_pad(GstElement *e, GstPad *pad) {
  auto *self = GST_MF_WS_SINK(e);
  PadState *st = MF_WS_SINK_PAD(pad)->st;
  std::shared_ptr<WsSession> s;
  {
    std::lock_guard<std::mutex> l(self->priv->mu);
    s = self->priv->session;
  }
  if (s && !st->text)
    if (auto hub = s->hub()) hub->stop_stream(st->key);
  gst_pad_set_active(pad, FALSE);
  gst_element_remove_pad(e, pad);
}

static GstStateChangeReturn sink_change_state(GstElement *e, GstStateChange t) {
  auto *self = GST_MF_WS_SINK(e);
  SinkPriv *p = self->priv;
  switch (t) {
    case GST_STATE_CHANGE_NULL_TO_READY: {
      std::string session;
      {
        std::lock_guard<std::mutex> l(p->mu);
        session = p->settings.session;
      }
      auto s = WsSession::acquire(e, session);
      std::lock_guard<std::mutex> l(p->mu);
      p->session = s;
      break;
    }
    case GST_STATE_CHANGE_READY_TO_PAUSED: {
      std::shared_ptr<WsSession> s;
      Settings st;
      {
        std::lock_guard<std::mutex> l(p->mu);
        s = p->session;
        st = p->settings;
      }
      std::string error;
      if (s && !s->activate(e, st, &error)) {
        GST_ELEMENT_ERROR(e, RESOURCE, OPEN_WRITE, ("websocket_sink: %s", error.c_str()), (nullptr));
        return GST_STATE_CHANGE_FAILURE;
      }
      break;
    }
    case GST_STATE_CHANGE_PAUSED_TO_READY: {
      std::shared_ptr<WsSession> s;
      {
        std::lock_guard<std::mutex> l(p->mu);
        s = p->session;
      }
      if (s) s->deactivate(e);
      break;
    }
    default:
      break;
  }
  GstStateChangeReturn ret = GST_ELEMENT_CLASS(gst_mf_ws_sink_parent_class)->change_state(e, t);
  if (t == GST_STATE_CHANGE_READY_TO_NULL) {
    std::lock_guard<std::mutex> l(p->mu);
    p->session.reset();
  }
  return ret;
}

static void sink_set_property(GObject *o, guint id, const GValue *v, GParamSpec *ps) {
  auto *p = GST_MF_WS_SINK(o)->priv;
  if (!set_property(p->settings, p->mu, id, v)) G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
}

static void sink_get_property(GObject *o, guint id, GValue *v, GParamSpec *ps) {
  auto *p = GST_MF_WS_SINK(o)->priv;
  if (!get_property(p->settings, p->mu, id, v)) G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
}

static void sink_finalize(GObject *o) {
  delete GST_MF_WS_SINK(o)->priv;
  G_OBJECT_CLASS(gst_mf_ws_sink_parent_class)->finalize(o);
}

static void gst_mf_ws_sink_class_init(GstMfWsSinkClass *klass) {
  ensure_initialized();
  GObjectClass *oc = G_OBJECT_CLASS(klass);
  GstElementClass *ec = GST_ELEMENT_CLASS(klass);
  oc->set_property = sink_set_property;
  oc->get_property = sink_get_property;
  oc->finalize = sink_finalize;
  install_properties(oc);
  gst_element_class_add_static_pad_template_with_gtype(ec, &audio_templ, MF_TYPE_WS_SINK_PAD);
  gst_element_class_add_static_pad_template_with_gtype(ec, &text_templ, MF_TYPE_WS_SINK_PAD);
  gst_element_class_set_static_metadata(ec, "Meshflow WebSocket sink", "Sink/Network/Audio",
                                        "Sends audio and transcripts to the WebSocket peers of a session, routed per pad",
                                        "Meshflow");
  mf_node_class_set_name(ec, "websocket_sink");
  ec->request_new_pad = sink_request_new_pad;
  ec->release_pad = sink_release_pad;
  ec->change_state = sink_change_state;
}

static void gst_mf_ws_sink_init(GstMfWsSink *self) {
  ensure_initialized();
  self->priv = new SinkPriv();
}
