// mfjittersync (Meshflow node type `jitter_sync`): adaptive jitter buffer, drift compensation and
// lip-sync for media that arrives in bursts (the WebSocket media transport, TCP).
//
// What it does, per stream (one sink pad + its src pad):
//   - measures each buffer's arrival time (running time of the element clock when it reaches the
//     sink pad) against its sender capture time (GstMfMediaMeta, see media_meta.h; fallback:
//     buffer offset = sequence number, PTS = capture time);
//   - fits the lower envelope of (capture, arrival) over a 30 s window (LP skew estimator:
//     robust to queueing bursts) -> sender clock drift and the minimum-delay arrival line;
//   - target delay above that line = clamp(98th percentile of the arrival excess over the last
//     10 s + headroom (2 ms, + one output period for audio), min-delay, max-delay), slew-limited
//     (rises <= 50 ms/s, falls <= 10 ms/s); peak hold: once two or more episodes of arrivals the
//     target did not cover lie within 30 s, the target covers the largest of them (so a
//     recurring tail above the quantile stops underrunning; one isolated stall does not hold it);
//   - reorders by capture time/sequence number, drops duplicates and late buffers (counted);
//   - audio (S16LE): output from a per-stream task paced by the element clock, one `period` per
//     tick; missing audio is concealed (repeat of the last 10 ms fading to silence over 20 ms,
//     then silence; 2.5 ms fade-in after); on an underrun, concealment is inserted without
//     consuming sender samples (the delay grows only while concealing); the stream is read with a
//     cubic resampler at the drift ratio times a servo correction of at most 1% (10% in
//     silence), so the buffer fill stays constant under drift and the delay follows the target
//     without audible jumps;
//   - video (any video/x-raw): frames are released at their playout time, no concealment;
//   - lip-sync: streams of one group (sink pad property `group`, default 0 = every stream of the
//     element, i.e. one peer) share a timeline: capture time c plays at
//     max over the group's streams of (envelope_s(c) + target_s).
//
// Pads:
//   sink_%u (request): audio/x-raw, format=S16LE, layout=interleaved (any rate, channels);
//                      video/x-raw (any format). Properties: `group` (uint, default 0),
//                      `stats` (GstStructure, read-only, see below).
//   src_%u (sometimes, created with its sink pad): same caps as the sink pad. Buffers are pushed
//          from the pad's own task: audio chunks of `period` ms with PTS = the running time of the
//          tick, carrying a GstMfMediaMeta (seq = output counter, capture_ts_ns = sender capture
//          time of the first sample); video frames with PTS = their playout running time (pushed
//          at the first tick at or after it). Segment: TIME, starting at 0 (running time).
//          The element is live: it answers the latency query with upstream + `period`, returns
//          NO_PREROLL for PAUSED, and outputs only in PLAYING.
//
// Properties (may change while PLAYING; delays apply to existing streams at once):
//   min-delay     uint ms, 0..10000, default 10: lower bound of the target delay (the effective
//                 lower bound for audio is at least period + 2 ms).
//   max-delay     uint ms, 0..10000, default 500: upper bound of the target and of expansion.
//                 min-delay = max-delay gives a fixed jitter buffer.
//   period        uint ms, 1..100, default 10: audio output chunk (and tick) duration. Only read
//                 when a stream starts.
//   quantile      double 0.5..1.0, default 0.98: share of arrivals the target must cover.
//   lip-sync      boolean, default true: false = every stream on its own timeline.
//   stats-interval uint ms, default 1000, 0 = off: period of the stats element messages.
//   stats         GstStructure, read-only: "mf-jitter-sync-stats" with one GstStructure field
//                 per sink pad (named after the pad) holding the fields below.
//
// Stats fields (per stream): kind (string audio|video), jitter-ms (RFC 3550 interarrival
//   jitter), delay-ms (current added delay above the arrival envelope), target-ms (own target),
//   drift-ppm ((sender clock / local clock - 1) * 1e6), underruns, late-drops, duplicates,
//   concealed-samples (audio frames synthesised: loss + expansion), expanded-samples (of which
//   inserted on underruns), reordered, received, output-buffers (all guint64 counters).
//
// Messages: every `stats-interval` of running time each stream posts an element message
//   "mf-jitter-sync-stats" with field `pad` (sink pad name) and the stats fields above.
//
// Manifest:
//   - {id: sync, type: jitter_sync, properties: {min-delay: 10, max-delay: 300}}
//   links: [{from: ws_in.audio, to: sync}, {from: ws_in.video, to: sync}, {from: sync, to: mix}]
// Equivalent launch line (audio only):
//   gst-launch-1.0 mfwssrc url=ws://host:8080/ws ! audio/x-raw,format=S16LE !
//       mfjittersync name=s min-delay=10 max-delay=300   s.src_0 ! audioconvert ! autoaudiosink
//   (one line; without the transport: audiotestsrc is-live=true ! mfjittersync ! ...)
#include "jitter_sync_internal.h"

GST_DEBUG_CATEGORY(mf_jitter_sync_debug);
#define GST_CAT_DEFAULT mf_jitter_sync_debug

// The element glue: properties, request/release of pads, state changes, class setup. The
// per-stream pad functions and the output task are in jitter_sync_stream.cpp.
using namespace mf::sync::element;

G_DEFINE_TYPE(GstMfJitterSyncPad, gst_mf_jitter_sync_pad, GST_TYPE_PAD)
G_DEFINE_TYPE(GstMfJitterSync, gst_mf_jitter_sync, GST_TYPE_ELEMENT)
GST_ELEMENT_REGISTER_DEFINE(mfjittersync, "mfjittersync", GST_RANK_NONE, GST_TYPE_MF_JITTER_SYNC)

enum {
  PROP_0,
  PROP_MIN_DELAY,
  PROP_MAX_DELAY,
  PROP_PERIOD,
  PROP_QUANTILE,
  PROP_LIP_SYNC,
  PROP_STATS_INTERVAL,
  PROP_STATS,
};

enum { PAD_PROP_0, PAD_PROP_GROUP, PAD_PROP_STATS };

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink_%u", GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS("audio/x-raw, format=(string)S16LE, layout=(string)interleaved, "
                    "rate=(int)[1, MAX], channels=(int)[1, MAX]; video/x-raw"));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src_%u", GST_PAD_SRC, GST_PAD_SOMETIMES,
    GST_STATIC_CAPS("audio/x-raw, format=(string)S16LE, layout=(string)interleaved, "
                    "rate=(int)[1, MAX], channels=(int)[1, MAX]; video/x-raw"));


// ---- pad class ---------------------------------------------------------------------------

static void gst_mf_jitter_sync_pad_get_property(GObject *object, guint prop_id, GValue *value,
                                                GParamSpec *pspec) {
  Stream *s = stream_of(GST_PAD(object));
  switch (prop_id) {
    case PAD_PROP_GROUP:
      if (s) {
        std::lock_guard<std::mutex> g(s->lock);
        g_value_set_uint(value, s->group);
      } else {
        g_value_set_uint(value, 0);
      }
      break;
    case PAD_PROP_STATS:
      if (s) {
        std::lock_guard<std::mutex> g(s->lock);
        g_value_take_boxed(value, stats_structure("mf-jitter-sync-stream-stats", s->kind, s->stats()));
      }
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void gst_mf_jitter_sync_pad_set_property(GObject *object, guint prop_id,
                                                const GValue *value, GParamSpec *pspec) {
  Stream *s = stream_of(GST_PAD(object));
  switch (prop_id) {
    case PAD_PROP_GROUP:
      if (s) {
        std::lock_guard<std::mutex> g(s->lock);
        s->group = g_value_get_uint(value);
        publish_timeline(s->self->impl, s);
      }
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void gst_mf_jitter_sync_pad_class_init(GstMfJitterSyncPadClass *klass) {
  GObjectClass *oc = G_OBJECT_CLASS(klass);
  oc->get_property = gst_mf_jitter_sync_pad_get_property;
  oc->set_property = gst_mf_jitter_sync_pad_set_property;
  g_object_class_install_property(
      oc, PAD_PROP_GROUP,
      g_param_spec_uint("group", "Group",
                        "Lip-sync group: streams of one group share a playout timeline", 0,
                        G_MAXUINT, 0,
                        GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                    GST_PARAM_MUTABLE_PLAYING)));
  g_object_class_install_property(
      oc, PAD_PROP_STATS,
      g_param_spec_boxed("stats", "Stats", "This stream's statistics (see the element docs)",
                         GST_TYPE_STRUCTURE,
                         GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
}

static void gst_mf_jitter_sync_pad_init(GstMfJitterSyncPad *) {}

// ---- element -----------------------------------------------------------------------------

static GstPad *gst_mf_jitter_sync_request_new_pad(GstElement *element, GstPadTemplate *templ,
                                                  const gchar *name, const GstCaps *) {
  auto *self = GST_MF_JITTER_SYNC(element);
  Impl *impl = self->impl;
  guint index;
  Stream *s;
  {
    std::lock_guard<std::mutex> g(impl->streams_lock);
    index = impl->next_index;
    if (name && sscanf(name, "sink_%u", &index) == 1) {
      for (auto &st : impl->streams) {
        if (st->index == index) {
          GST_WARNING_OBJECT(self, "pad %s already exists", name);
          return nullptr;
        }
      }
    }
    impl->next_index = std::max(impl->next_index, index + 1);
    auto owned = std::make_unique<Stream>();
    s = owned.get();
    s->self = self;
    s->index = index;
    s->period = impl->get_settings().period_ms * GST_MSECOND;
    impl->streams.push_back(std::move(owned));
  }
  gchar *sink_name = g_strdup_printf("sink_%u", index);
  gchar *src_name = g_strdup_printf("src_%u", index);
  s->sinkpad = GST_PAD(g_object_new(GST_TYPE_MF_JITTER_SYNC_PAD, "name", sink_name, "direction",
                                    GST_PAD_SINK, "template", templ, nullptr));
  s->srcpad = gst_pad_new_from_static_template(&src_template, src_name);
  g_free(sink_name);
  g_free(src_name);
  gst_pad_set_element_private(s->sinkpad, s);
  gst_pad_set_element_private(s->srcpad, s);
  gst_pad_set_chain_function(s->sinkpad, sink_chain);
  gst_pad_set_event_function(s->sinkpad, sink_event);
  gst_pad_set_iterate_internal_links_function(s->sinkpad, iterate_internal_links);
  gst_pad_set_iterate_internal_links_function(s->srcpad, iterate_internal_links);
  gst_pad_set_query_function(s->srcpad, src_query);
  gst_pad_set_activatemode_function(s->srcpad, src_activate_mode);
  GST_PAD_SET_PROXY_CAPS(s->sinkpad);
  GST_PAD_SET_PROXY_CAPS(s->srcpad);
  GST_PAD_SET_PROXY_ALLOCATION(s->sinkpad);
  gst_pad_use_fixed_caps(s->srcpad);
  {
    std::lock_guard<std::mutex> g(s->lock);
    publish_timeline(impl, s);
  }
  gst_element_add_pad(element, s->srcpad);
  gst_element_add_pad(element, s->sinkpad);
  return s->sinkpad;
}

static void gst_mf_jitter_sync_release_pad(GstElement *element, GstPad *pad) {
  auto *self = GST_MF_JITTER_SYNC(element);
  Impl *impl = self->impl;
  Stream *s = stream_of(pad);
  if (!s) return;
  gst_pad_set_active(s->srcpad, FALSE);  // stops the task
  gst_pad_set_active(s->sinkpad, FALSE);
  {
    std::lock_guard<std::mutex> g(impl->timeline_lock);
    impl->timelines.erase(s);
  }
  // The caller may keep the sink pad: it must not reach the stream any more.
  gst_pad_set_element_private(s->sinkpad, nullptr);
  gst_pad_set_element_private(s->srcpad, nullptr);
  gst_element_remove_pad(element, s->srcpad);
  gst_element_remove_pad(element, s->sinkpad);
  std::lock_guard<std::mutex> g(impl->streams_lock);
  impl->streams.erase(std::remove_if(impl->streams.begin(), impl->streams.end(),
                                     [s](const std::unique_ptr<Stream> &p) { return p.get() == s; }),
                      impl->streams.end());
}

static GstStateChangeReturn gst_mf_jitter_sync_change_state(GstElement *element,
                                                            GstStateChange transition) {
  auto *self = GST_MF_JITTER_SYNC(element);
  Impl *impl = self->impl;
  if (transition == GST_STATE_CHANGE_PAUSED_TO_PLAYING) {
    impl->playing.store(true);
    wake_all(impl, false);
  } else if (transition == GST_STATE_CHANGE_PLAYING_TO_PAUSED) {
    impl->playing.store(false);
    wake_all(impl, true);
  }
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_mf_jitter_sync_parent_class)->change_state(element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) return ret;
  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
      // Live: output is paced by the clock and only flows in PLAYING.
      return GST_STATE_CHANGE_NO_PREROLL;
    case GST_STATE_CHANGE_PAUSED_TO_READY: {
      std::lock_guard<std::mutex> g(impl->streams_lock);
      for (auto &s : impl->streams) {
        std::lock_guard<std::mutex> sl(s->lock);
        reset_stream(s.get());
        publish_timeline(impl, s.get());
      }
      break;
    }
    default:
      break;
  }
  return ret;
}

static void gst_mf_jitter_sync_set_property(GObject *object, guint prop_id, const GValue *value,
                                            GParamSpec *pspec) {
  auto *self = GST_MF_JITTER_SYNC(object);
  Impl *impl = self->impl;
  {
    std::lock_guard<std::mutex> g(impl->settings_lock);
    Settings &s = impl->settings;
    switch (prop_id) {
      case PROP_MIN_DELAY: s.min_delay_ms = g_value_get_uint(value); break;
      case PROP_MAX_DELAY: s.max_delay_ms = g_value_get_uint(value); break;
      case PROP_PERIOD: s.period_ms = g_value_get_uint(value); break;
      case PROP_QUANTILE: s.quantile = g_value_get_double(value); break;
      case PROP_LIP_SYNC: s.lip_sync = g_value_get_boolean(value); break;
      case PROP_STATS_INTERVAL: s.stats_interval_ms = g_value_get_uint(value); break;
      default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); return;
    }
  }
  const Settings set = impl->get_settings();
  {
    std::lock_guard<std::mutex> g(impl->timeline_lock);
    impl->lip_sync = set.lip_sync;
  }
  // Delay limits apply to running streams at once.
  std::lock_guard<std::mutex> g(impl->streams_lock);
  for (auto &s : impl->streams) {
    std::lock_guard<std::mutex> sl(s->lock);
    if (s->audio) s->audio->set_config(set.delay_config());
    if (s->video) s->video->set_config(set.delay_config());
  }
}

static void gst_mf_jitter_sync_get_property(GObject *object, guint prop_id, GValue *value,
                                            GParamSpec *pspec) {
  auto *self = GST_MF_JITTER_SYNC(object);
  Impl *impl = self->impl;
  if (prop_id == PROP_STATS) {
    GstStructure *all = gst_structure_new_empty("mf-jitter-sync-stats");
    std::lock_guard<std::mutex> g(impl->streams_lock);
    for (auto &s : impl->streams) {
      gchar *name = gst_pad_get_name(s->sinkpad);
      std::lock_guard<std::mutex> sl(s->lock);
      GstStructure *st = stats_structure(name, s->kind, s->stats());
      gst_structure_set(all, name, GST_TYPE_STRUCTURE, st, nullptr);
      gst_structure_free(st);
      g_free(name);
    }
    g_value_take_boxed(value, all);
    return;
  }
  const Settings s = impl->get_settings();
  switch (prop_id) {
    case PROP_MIN_DELAY: g_value_set_uint(value, s.min_delay_ms); break;
    case PROP_MAX_DELAY: g_value_set_uint(value, s.max_delay_ms); break;
    case PROP_PERIOD: g_value_set_uint(value, s.period_ms); break;
    case PROP_QUANTILE: g_value_set_double(value, s.quantile); break;
    case PROP_LIP_SYNC: g_value_set_boolean(value, s.lip_sync); break;
    case PROP_STATS_INTERVAL: g_value_set_uint(value, s.stats_interval_ms); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
}

static void gst_mf_jitter_sync_finalize(GObject *object) {
  auto *self = GST_MF_JITTER_SYNC(object);
  delete self->impl;
  self->impl = nullptr;
  G_OBJECT_CLASS(gst_mf_jitter_sync_parent_class)->finalize(object);
}

static void gst_mf_jitter_sync_class_init(GstMfJitterSyncClass *klass) {
  GObjectClass *oc = G_OBJECT_CLASS(klass);
  GstElementClass *ec = GST_ELEMENT_CLASS(klass);
  GST_DEBUG_CATEGORY_INIT(mf_jitter_sync_debug, "mfjittersync", 0, "Meshflow jitter_sync");
  gst_mf_media_meta_get_info();

  oc->set_property = gst_mf_jitter_sync_set_property;
  oc->get_property = gst_mf_jitter_sync_get_property;
  oc->finalize = gst_mf_jitter_sync_finalize;
  const auto rw = GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);
  g_object_class_install_property(
      oc, PROP_MIN_DELAY,
      g_param_spec_uint("min-delay", "Minimum delay",
                        "Lower bound of the adaptive target delay, in milliseconds", 0, 10000,
                        kDefaultMinDelayMs, rw));
  g_object_class_install_property(
      oc, PROP_MAX_DELAY,
      g_param_spec_uint("max-delay", "Maximum delay",
                        "Upper bound of the adaptive target delay, in milliseconds", 0, 10000,
                        kDefaultMaxDelayMs, rw));
  g_object_class_install_property(
      oc, PROP_PERIOD,
      g_param_spec_uint("period", "Period",
                        "Audio output chunk and tick duration, in milliseconds (read when a "
                        "stream starts)",
                        1, 100, kDefaultPeriodMs, rw));
  g_object_class_install_property(
      oc, PROP_QUANTILE,
      g_param_spec_double("quantile", "Quantile",
                          "Share of arrivals the target delay must cover (0.5..1)", 0.5, 1.0,
                          kDefaultQuantile, rw));
  g_object_class_install_property(
      oc, PROP_LIP_SYNC,
      g_param_spec_boolean("lip-sync", "Lip-sync",
                           "Play streams of one group (sink pad property 'group') on a common "
                           "timeline",
                           TRUE, rw));
  g_object_class_install_property(
      oc, PROP_STATS_INTERVAL,
      g_param_spec_uint("stats-interval", "Stats interval",
                        "Period of the stats element messages, in milliseconds (0 = off)", 0,
                        G_MAXUINT, kDefaultStatsIntervalMs, rw));
  g_object_class_install_property(
      oc, PROP_STATS,
      g_param_spec_boxed("stats", "Stats",
                         "Per-stream statistics: one structure per sink pad (see docs)",
                         GST_TYPE_STRUCTURE,
                         GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_add_static_pad_template_with_gtype(ec, &sink_template,
                                                       GST_TYPE_MF_JITTER_SYNC_PAD);
  gst_element_class_add_static_pad_template(ec, &src_template);
  gst_element_class_set_static_metadata(
      ec, "Meshflow jitter_sync", "Filter/Network/Audio/Video",
      "Adaptive jitter buffer with drift compensation and lip-sync for bursty media", "Meshflow");
  mf_node_class_set_name(ec, "jitter_sync");
  ec->request_new_pad = gst_mf_jitter_sync_request_new_pad;
  ec->release_pad = gst_mf_jitter_sync_release_pad;
  ec->change_state = gst_mf_jitter_sync_change_state;
  gst_type_mark_as_plugin_api(GST_TYPE_MF_JITTER_SYNC_PAD, GstPluginAPIFlags(0));
}

static void gst_mf_jitter_sync_init(GstMfJitterSync *self) { self->impl = new Impl(); }
