// websocket_source (mfwssrc): the audio of every WebSocket peer of the session, one pad per peer.
//
// What: in server mode (default) every client of `/ws?room=ROOM` on the launcher's HTTP port is a
//   peer; in client mode (`url`) the remote server is the peer "remote" (reconnect with backoff).
//   The network runs on the transport endpoint's own thread (src/meshflow/transport/); each pad
//   pushes from its own task, fed by a bounded queue (oldest frame dropped when full, counted in
//   meshflow_ws_inbound_dropped_total). Protocol: docs/protocols.md, "WebSocket media transport".
// Pads: SOMETIMES src `audio_%s`: audio/x-raw, format=S16LE, layout=interleaved, rate and channels
//   of the peer's stream.start; one per peer (its first audio stream): `audio_<peer-id>`, with a
//   sticky tag `meshflow-peer-id`. Every buffer carries GstMfMediaMeta {seq, capture_ts_ns} from
//   the frame header (sender clock), PTS = running time of arrival, DISCONT on the header flag or
//   a sequence gap; feed it to jitter_sync. When the peer leaves (or stops the stream) the pad
//   gets EOS and is removed.
// Properties (shared with websocket_sink through the session hub): room (string, "default"),
//   url (string, "" = server mode), session (string, "default"), heartbeat-ms (uint, 5000),
//   max-queue-bytes (uint, 262144: per-peer outbound queue), message-rate (double, 200/s),
//   byte-rate (double, 1 MiB/s); own: inbound-queue (uint, 50 frames per pad).
// Example:
//   nodes: [{id: ws_in, type: websocket_source}, {id: sync, type: jitter_sync},
//           {id: ws_out, type: websocket_sink}]
//   links: [{from: ws_in.audio, to: sync}, {from: sync, to: ws_out, route: origin}]
//   gst-launch-1.0 mfwssrc url=ws://127.0.0.1:8080/ws room=demo ! queue ! audioconvert ! autoaudiosink
#include <gst/gst.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <future>
#include <mutex>

#include "meshflow/metrics/registry.h"
#include "meshflow/sdk/node.h"
#include "sync/media_meta.h"
#include "ws_session.h"

#define GST_CAT_DEFAULT mf_ws_debug

using namespace mf::websocket;
namespace tp = mf::transport;

G_BEGIN_DECLS
#define GST_TYPE_MF_WS_SOURCE (gst_mf_ws_source_get_type())
G_DECLARE_FINAL_TYPE(GstMfWsSource, gst_mf_ws_source, GST, MF_WS_SOURCE, GstElement)
G_END_DECLS

namespace {
// One peer's audio stream: the queue the network thread fills and the pad task drains.
struct PeerStream {
  std::string peer;
  uint16_t stream_id = 0;
  tp::StreamFormat fmt;
  GstPad *pad = nullptr;  // set by the pad worker
  std::mutex mu;          // protects the fields below
  std::condition_variable cv;
  std::deque<GstBuffer *> q;
  size_t max_frames = 50;
  bool eos = false, eos_pushed = false, started = false;
  bool have_seq = false;
  uint32_t next_seq = 0;
  ~PeerStream() {
    for (GstBuffer *b : q) gst_buffer_unref(b);
  }
};
}  // namespace

struct SrcPriv {
  std::mutex mu;  // protects settings, inbound_queue, session, streams
  Settings settings;
  guint inbound_queue = 50;
  std::shared_ptr<WsSession> session;
  std::map<std::string, std::shared_ptr<PeerStream>> streams;  // by peer
  GThreadPool *pads = nullptr;  // one thread: adds and removes pads in order
};

struct _GstMfWsSource {
  GstElement parent;
  SrcPriv *priv;
};

G_DEFINE_TYPE(GstMfWsSource, gst_mf_ws_source, GST_TYPE_ELEMENT)
GST_ELEMENT_REGISTER_DEFINE(mfwssrc, "mfwssrc", GST_RANK_NONE, GST_TYPE_MF_WS_SOURCE)

enum { PROP_INBOUND_QUEUE = PROP_WS_LAST };

static GstStaticPadTemplate audio_templ = GST_STATIC_PAD_TEMPLATE(
    "audio_%s", GST_PAD_SRC, GST_PAD_SOMETIMES,
    GST_STATIC_CAPS("audio/x-raw, format=(string)S16LE, layout=(string)interleaved, "
                    "rate=(int)[8000,48000], channels=(int)[1,2]"));

static GstCaps *stream_caps(const tp::StreamFormat &f) {
  return gst_caps_new_simple("audio/x-raw", "format", G_TYPE_STRING, "S16LE", "layout", G_TYPE_STRING,
                             "interleaved", "rate", G_TYPE_INT, int(f.rate), "channels", G_TYPE_INT,
                             int(f.channels), nullptr);
}

static gboolean src_query(GstPad *pad, GstObject *parent, GstQuery *q) {
  if (GST_QUERY_TYPE(q) == GST_QUERY_LATENCY) {
    gst_query_set_latency(q, TRUE, 0, GST_CLOCK_TIME_NONE);  // live; arrival is the timestamp
    return TRUE;
  }
  return gst_pad_query_default(pad, parent, q);
}

// The pad's task (a streaming thread): events first, then the queued frames; EOS ends it.
static void pad_loop(gpointer data) {
  auto *ps = static_cast<PeerStream *>(data);
  GstBuffer *buf = nullptr;
  bool eos = false;
  {
    std::unique_lock<std::mutex> l(ps->mu);
    ps->cv.wait_for(l, std::chrono::milliseconds(100), [&] { return !ps->q.empty() || ps->eos; });
    if (!ps->q.empty()) {
      buf = ps->q.front();
      ps->q.pop_front();
    } else if (ps->eos && !ps->eos_pushed) {
      eos = true;
    } else {
      if (ps->eos_pushed) gst_pad_pause_task(ps->pad);
      return;
    }
  }
  if (!ps->started) {
    ps->started = true;
    gchar *sid = gst_pad_create_stream_id_printf(ps->pad, GST_ELEMENT(GST_PAD_PARENT(ps->pad)), "%s",
                                                 ps->peer.c_str());
    gst_pad_push_event(ps->pad, gst_event_new_stream_start(sid));
    g_free(sid);
    GstCaps *caps = stream_caps(ps->fmt);
    gst_pad_push_event(ps->pad, gst_event_new_caps(caps));
    gst_caps_unref(caps);
    GstSegment seg;
    gst_segment_init(&seg, GST_FORMAT_TIME);
    gst_pad_push_event(ps->pad, gst_event_new_segment(&seg));
    GstTagList *tags = gst_tag_list_new(kPeerIdTag, ps->peer.c_str(), nullptr);
    gst_tag_list_set_scope(tags, GST_TAG_SCOPE_STREAM);
    gst_pad_push_event(ps->pad, gst_event_new_tag(tags));
  }
  if (eos) {
    gst_pad_push_event(ps->pad, gst_event_new_eos());
    std::lock_guard<std::mutex> l(ps->mu);
    ps->eos_pushed = true;
    ps->cv.notify_all();
    return;
  }
  GstFlowReturn r = gst_pad_push(ps->pad, buf);
  if (r == GST_FLOW_NOT_LINKED) {
    mf::metrics::Registry::global()
        .counter("meshflow_ws_inbound_dropped_total", "Received WebSocket frames dropped before the pipeline",
                 {{"reason", "not_linked"}})
        .inc();
  } else if (r == GST_FLOW_FLUSHING || r == GST_FLOW_EOS) {
    gst_pad_pause_task(ps->pad);
  }
}

struct PadJob {
  GstMfWsSource *self;
  std::shared_ptr<PeerStream> ps;  // nullptr: a barrier
  bool add;
  std::promise<void> *barrier = nullptr;
};

static void pad_worker(gpointer data, gpointer) {
  std::unique_ptr<PadJob> job(static_cast<PadJob *>(data));
  if (job->barrier) return job->barrier->set_value();
  GstElement *e = GST_ELEMENT(job->self);
  auto &ps = job->ps;
  if (job->add) {
    std::string name = "audio_" + ps->peer;
    if (GstPad *old = gst_element_get_static_pad(e, name.c_str())) {  // a restart before removal ran
      gst_object_unref(old);
      GST_WARNING_OBJECT(e, "pad %s still exists", name.c_str());
      return;
    }
    GstPad *pad = gst_pad_new_from_static_template(&audio_templ, name.c_str());
    gst_pad_use_fixed_caps(pad);
    gst_pad_set_query_function(pad, src_query);
    {
      std::lock_guard<std::mutex> l(ps->mu);
      ps->pad = pad;
    }
    gst_pad_set_active(pad, TRUE);
    gst_element_add_pad(e, pad);  // the session builds the peer's chain here
    gst_pad_start_task(pad, pad_loop, ps.get(), nullptr);
    GstStructure *s = gst_structure_new("meshflow-peer", "event", G_TYPE_STRING, "pad-added", "peer-id",
                                        G_TYPE_STRING, ps->peer.c_str(), "kind", G_TYPE_STRING, "audio", nullptr);
    gst_element_post_message(e, gst_message_new_element(GST_OBJECT(e), s));
  } else {
    GstPad *pad;
    {
      std::unique_lock<std::mutex> l(ps->mu);
      ps->eos = true;
      ps->cv.notify_all();
      pad = ps->pad;
      if (pad) ps->cv.wait_for(l, std::chrono::seconds(1), [&] { return ps->eos_pushed; });
    }
    if (!pad) return;
    gst_pad_stop_task(pad);
    gst_pad_set_active(pad, FALSE);
    gst_element_remove_pad(e, pad);
    GstStructure *s = gst_structure_new("meshflow-peer", "event", G_TYPE_STRING, "peer-left", "peer-id",
                                        G_TYPE_STRING, ps->peer.c_str(), nullptr);
    gst_element_post_message(e, gst_message_new_element(GST_OBJECT(e), s));
  }
}

static void post_job(GstMfWsSource *self, std::shared_ptr<PeerStream> ps, bool add) {
  g_thread_pool_push(self->priv->pads, new PadJob{self, std::move(ps), add}, nullptr);
}

// --- listener (endpoint network thread) ---------------------------------------------------------

static bool on_stream_started(GstMfWsSource *self, const std::string &peer, uint16_t id,
                              const tp::StreamFormat &f) {
  SrcPriv *p = self->priv;
  std::lock_guard<std::mutex> l(p->mu);
  auto it = p->streams.find(peer);
  if (it != p->streams.end() && it->second->stream_id != id) return false;  // one per peer
  if (it != p->streams.end()) {  // same stream restarted: finish the old pad first
    post_job(self, it->second, false);
    p->streams.erase(it);
  }
  auto ps = std::make_shared<PeerStream>();
  ps->peer = peer;
  ps->stream_id = id;
  ps->fmt = f;
  ps->max_frames = p->inbound_queue;
  p->streams[peer] = ps;
  post_job(self, ps, true);
  return true;
}

static void on_stream_stopped(GstMfWsSource *self, const std::string &peer, uint16_t id) {
  SrcPriv *p = self->priv;
  std::lock_guard<std::mutex> l(p->mu);
  auto it = p->streams.find(peer);
  if (it == p->streams.end() || it->second->stream_id != id) return;
  post_job(self, it->second, false);
  p->streams.erase(it);
}

static void on_media(GstMfWsSource *self, const std::string &peer, uint16_t id, const tp::MediaHeader &h,
                     const uint8_t *data, size_t n) {
  std::shared_ptr<PeerStream> ps;
  {
    std::lock_guard<std::mutex> l(self->priv->mu);
    auto it = self->priv->streams.find(peer);
    if (it == self->priv->streams.end() || it->second->stream_id != id) return;
    ps = it->second;
  }
  GstBuffer *buf = gst_buffer_new_memdup(data, n);
  GstClockTime now = GST_CLOCK_TIME_NONE;
  if (GstClock *clock = gst_element_get_clock(GST_ELEMENT(self))) {
    now = gst_clock_get_time(clock) - gst_element_get_base_time(GST_ELEMENT(self));
    gst_object_unref(clock);
  }
  GST_BUFFER_PTS(buf) = now;
  GST_BUFFER_DURATION(buf) = gst_util_uint64_scale(n / (2 * ps->fmt.channels), GST_SECOND, ps->fmt.rate);
  GST_BUFFER_OFFSET(buf) = h.seq;
  gst_buffer_add_mf_media_meta(buf, h.seq, h.capture_ts_us * 1000);
  std::lock_guard<std::mutex> l(ps->mu);
  if ((h.flags & tp::kFlagDiscontinuity) || (ps->have_seq && h.seq != ps->next_seq))
    GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DISCONT);
  ps->have_seq = true;
  ps->next_seq = h.seq + 1;
  while (ps->q.size() >= ps->max_frames) {
    gst_buffer_unref(ps->q.front());
    ps->q.pop_front();
    mf::metrics::Registry::global()
        .counter("meshflow_ws_inbound_dropped_total", "Received WebSocket frames dropped before the pipeline",
                 {{"reason", "queue_full"}})
        .inc();
  }
  ps->q.push_back(buf);
  ps->cv.notify_one();
}

static void on_peer(GstMfWsSource *self, const char *event, const std::string &peer) {
  GstStructure *s = gst_structure_new("meshflow-peer", "event", G_TYPE_STRING, event, "peer-id",
                                      G_TYPE_STRING, peer.c_str(), "transport", G_TYPE_STRING, "websocket",
                                      nullptr);
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

// --- element ------------------------------------------------------------------------------------

static void remove_all_pads(GstMfWsSource *self) {
  std::map<std::string, std::shared_ptr<PeerStream>> all;
  {
    std::lock_guard<std::mutex> l(self->priv->mu);
    all.swap(self->priv->streams);
  }
  for (auto &[peer, ps] : all) post_job(self, ps, false);
  // Wait for the pad worker (one thread: jobs run in order).
  std::promise<void> done;
  g_thread_pool_push(self->priv->pads, new PadJob{self, nullptr, false, &done}, nullptr);
  done.get_future().wait();
}

static GstStateChangeReturn src_change_state(GstElement *e, GstStateChange t) {
  auto *self = GST_MF_WS_SOURCE(e);
  SrcPriv *p = self->priv;
  switch (t) {
    case GST_STATE_CHANGE_NULL_TO_READY: {
      std::string session;
      {
        std::lock_guard<std::mutex> l(p->mu);
        session = p->settings.session;
      }
      auto s = WsSession::acquire(e, session);
      tp::WsHub::Listener li;
      li.peer_joined = [self](const std::string &peer) { on_peer(self, "peer-joined", peer); };
      li.peer_left = [self](const std::string &peer, const std::string &) { on_peer(self, "peer-gone", peer); };
      li.stream_started = [self](const std::string &peer, uint16_t id, const tp::StreamFormat &f) {
        return on_stream_started(self, peer, id, f);
      };
      li.stream_stopped = [self](const std::string &peer, uint16_t id) { on_stream_stopped(self, peer, id); };
      li.media = [self](const std::string &peer, uint16_t id, const tp::MediaHeader &h, const uint8_t *d,
                        size_t n) { on_media(self, peer, id, h, d, n); };
      s->set_listener(e, std::move(li));
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
        GST_ELEMENT_ERROR(e, RESOURCE, OPEN_READ, ("websocket_source: %s", error.c_str()), (nullptr));
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
      if (s) s->clear_listener(e);  // no more callbacks into this element
      remove_all_pads(self);
      if (s) s->deactivate(e);
      break;
    }
    default:
      break;
  }
  GstStateChangeReturn ret = GST_ELEMENT_CLASS(gst_mf_ws_source_parent_class)->change_state(e, t);
  if (ret == GST_STATE_CHANGE_FAILURE) return ret;
  if (t == GST_STATE_CHANGE_READY_TO_PAUSED || t == GST_STATE_CHANGE_PLAYING_TO_PAUSED)
    ret = GST_STATE_CHANGE_NO_PREROLL;  // live: pads appear when peers connect
  if (t == GST_STATE_CHANGE_READY_TO_NULL) {
    std::shared_ptr<WsSession> s;
    {
      std::lock_guard<std::mutex> l(p->mu);
      s = std::move(p->session);
    }
    if (s) s->clear_listener(e);
  }
  return ret;
}

static void src_set_property(GObject *o, guint id, const GValue *v, GParamSpec *ps) {
  auto *p = GST_MF_WS_SOURCE(o)->priv;
  if (set_property(p->settings, p->mu, id, v)) return;
  if (id == PROP_INBOUND_QUEUE) {
    std::lock_guard<std::mutex> l(p->mu);
    p->inbound_queue = g_value_get_uint(v);
    return;
  }
  G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
}

static void src_get_property(GObject *o, guint id, GValue *v, GParamSpec *ps) {
  auto *p = GST_MF_WS_SOURCE(o)->priv;
  if (get_property(p->settings, p->mu, id, v)) return;
  if (id == PROP_INBOUND_QUEUE) {
    std::lock_guard<std::mutex> l(p->mu);
    g_value_set_uint(v, p->inbound_queue);
    return;
  }
  G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
}

static void src_finalize(GObject *o) {
  auto *p = GST_MF_WS_SOURCE(o)->priv;
  g_thread_pool_free(p->pads, FALSE, TRUE);
  delete p;
  G_OBJECT_CLASS(gst_mf_ws_source_parent_class)->finalize(o);
}

static void gst_mf_ws_source_class_init(GstMfWsSourceClass *klass) {
  ensure_initialized();
  GObjectClass *oc = G_OBJECT_CLASS(klass);
  GstElementClass *ec = GST_ELEMENT_CLASS(klass);
  oc->set_property = src_set_property;
  oc->get_property = src_get_property;
  oc->finalize = src_finalize;
  install_properties(oc);
  g_object_class_install_property(oc, PROP_INBOUND_QUEUE,
      g_param_spec_uint("inbound-queue", "Inbound queue", "Frames queued per pad before the oldest is dropped",
                        1, 10000, 50, GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  gst_element_class_add_static_pad_template(ec, &audio_templ);
  gst_element_class_set_static_metadata(ec, "Meshflow WebSocket source", "Source/Network/Audio",
                                        "Audio of every WebSocket peer of a session, one pad per peer",
                                        "Meshflow");
  mf_node_class_set_name(ec, "websocket_source");
  mf_node_class_set_per_peer(ec);
  ec->change_state = src_change_state;
}

static void gst_mf_ws_source_init(GstMfWsSource *self) {
  ensure_initialized();
  self->priv = new SrcPriv();
  self->priv->pads = g_thread_pool_new(pad_worker, nullptr, 1, TRUE, nullptr);
  GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SOURCE);
}
