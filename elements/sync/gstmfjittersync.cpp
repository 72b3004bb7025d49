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
//     (rises <= 50 ms/s, falls <= 10 ms/s);
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
#include <gst/audio/audio.h>
#include <gst/gst.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "audio_playout.h"
#include "media_meta.h"
#include "meshflow/sdk/node.h"
#include "meshflow/sdk/ptr.h"
#include "video_playout.h"

GST_DEBUG_CATEGORY_STATIC(mf_jitter_sync_debug);
#define GST_CAT_DEFAULT mf_jitter_sync_debug

G_BEGIN_DECLS
#define GST_TYPE_MF_JITTER_SYNC (gst_mf_jitter_sync_get_type())
G_DECLARE_FINAL_TYPE(GstMfJitterSync, gst_mf_jitter_sync, GST, MF_JITTER_SYNC, GstElement)
#define GST_TYPE_MF_JITTER_SYNC_PAD (gst_mf_jitter_sync_pad_get_type())
G_DECLARE_FINAL_TYPE(GstMfJitterSyncPad, gst_mf_jitter_sync_pad, GST, MF_JITTER_SYNC_PAD, GstPad)
G_END_DECLS

namespace {

using mf::sync::AudioPlayout;
using mf::sync::DelayConfig;
using mf::sync::PushResult;
using mf::sync::StreamStats;
using mf::sync::Timeline;
using VideoQueue = mf::sync::VideoPlayout<mf::Ptr<GstBuffer>>;

constexpr guint kDefaultMinDelayMs = 10;
constexpr guint kDefaultMaxDelayMs = 500;
constexpr guint kDefaultPeriodMs = 10;
constexpr double kDefaultQuantile = 0.98;
constexpr guint kDefaultStatsIntervalMs = 1000;
constexpr GstClockTime kMaxTickLag = 200 * GST_MSECOND;  // behind by more: skip ticks

enum class Kind { kUnknown, kAudio, kVideo };

const char *kind_name(Kind k) {
  switch (k) {
    case Kind::kAudio: return "audio";
    case Kind::kVideo: return "video";
    default: return "unknown";
  }
}

struct Settings {
  guint min_delay_ms = kDefaultMinDelayMs;
  guint max_delay_ms = kDefaultMaxDelayMs;
  guint period_ms = kDefaultPeriodMs;
  double quantile = kDefaultQuantile;
  gboolean lip_sync = TRUE;
  guint stats_interval_ms = kDefaultStatsIntervalMs;

  DelayConfig delay_config() const {
    DelayConfig c;
    c.min_delay_ns = gint64(min_delay_ms) * GST_MSECOND;
    c.max_delay_ns = gint64(std::max(min_delay_ms, max_delay_ms)) * GST_MSECOND;
    c.quantile = quantile;
    return c;
  }
};

struct Impl;

// One input stream: a sink pad, its src pad and the output task's state.
struct Stream {
  GstMfJitterSync *self = nullptr;  // borrowed: the element owns the stream
  GstPad *sinkpad = nullptr;        // borrowed: owned by the element (pad list)
  GstPad *srcpad = nullptr;         // borrowed: owned by the element (pad list)
  guint index = 0;

  // Protects every field below, and is held while the playout queues are used.
  std::mutex lock;
  // Signalled on new data, flushing, state and clock changes (the task waits on it).
  std::condition_variable cond;
  Kind kind = Kind::kUnknown;
  int rate = 0, channels = 0;
  GstClockTime period = kDefaultPeriodMs * GST_MSECOND;
  std::unique_ptr<AudioPlayout> audio;
  std::unique_ptr<VideoQueue> video;
  GstClockID clock_id = nullptr;  // the task's pending wait, unscheduled on flush/pause
  bool flushing = true;
  bool eos = false;
  bool need_segment = true;
  GstFlowReturn srcresult = GST_FLOW_FLUSHING;
  GstClockTime next_tick = GST_CLOCK_TIME_NONE;
  GstClockTime next_stats = 0;
  guint32 out_seq = 0;
  guint32 fallback_seq = 0;  // sequence numbers for buffers with neither meta nor offset
  guint64 out_offset = 0;
  GstClockTime last_video_pts = GST_CLOCK_TIME_NONE;
  guint group = 0;
  StreamStats idle_stats;  // before caps: only counts drops

  bool has_data() const {
    return (audio && audio->has_data()) || (video && video->has_data());
  }
  StreamStats stats() const {
    if (audio) return audio->stats();
    if (video) return video->stats();
    return idle_stats;
  }
};

struct Impl {
  // Protects `settings`.
  std::mutex settings_lock;
  Settings settings;
  // Protects `streams` and `next_index` (the set of streams, not their contents).
  // Order: streams_lock before any Stream::lock.
  std::mutex streams_lock;
  std::vector<std::unique_ptr<Stream>> streams;
  guint next_index = 0;
  // Protects `timelines`: each stream's published timeline, read by the other streams of its
  // group. Order: Stream::lock before timeline_lock (never the other way round).
  std::mutex timeline_lock;
  std::map<const Stream *, std::pair<guint, Timeline>> timelines;
  bool lip_sync = true;  // copy of the setting, under timeline_lock
  std::atomic<bool> playing{false};

  Settings get_settings() {
    std::lock_guard<std::mutex> g(settings_lock);
    return settings;
  }
};

}  // namespace

struct _GstMfJitterSync {
  GstElement parent;
  Impl *impl;
};

struct _GstMfJitterSyncPad {
  GstPad parent;
};

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

namespace {

Stream *stream_of(GstPad *pad) { return static_cast<Stream *>(gst_pad_get_element_private(pad)); }

GstStructure *stats_structure(const char *name, Kind kind, const StreamStats &s) {
  return gst_structure_new(
      name, "kind", G_TYPE_STRING, kind_name(kind), "jitter-ms", G_TYPE_DOUBLE, s.jitter_ms,
      "delay-ms", G_TYPE_DOUBLE, s.delay_ms, "target-ms", G_TYPE_DOUBLE, s.target_ms, "drift-ppm",
      G_TYPE_DOUBLE, s.drift_ppm, "underruns", G_TYPE_UINT64, guint64(s.underruns), "late-drops",
      G_TYPE_UINT64, guint64(s.late_drops), "duplicates", G_TYPE_UINT64, guint64(s.duplicates),
      "concealed-samples", G_TYPE_UINT64, guint64(s.concealed_samples), "expanded-samples",
      G_TYPE_UINT64, guint64(s.expanded_samples), "reordered", G_TYPE_UINT64,
      guint64(s.reordered), "received", G_TYPE_UINT64, guint64(s.received), "output-buffers",
      G_TYPE_UINT64, guint64(s.output_buffers), nullptr);
}

// Stream lock held. Publishes the stream's own timeline for its group.
void publish_timeline(Impl *impl, Stream *s) {
  Timeline t;
  if (s->audio) t = s->audio->timeline();
  else if (s->video) t = s->video->timeline();
  std::lock_guard<std::mutex> g(impl->timeline_lock);
  impl->timelines[s] = {s->group, t};
}

// Stream lock held. The group's timelines (just this stream's without lip-sync).
std::vector<Timeline> group_timelines(Impl *impl, Stream *s) {
  std::vector<Timeline> out;
  std::lock_guard<std::mutex> g(impl->timeline_lock);
  auto self_it = impl->timelines.find(s);
  if (!impl->lip_sync) {
    if (self_it != impl->timelines.end()) out.push_back(self_it->second.second);
    return out;
  }
  for (const auto &e : impl->timelines)
    if (e.second.first == s->group) out.push_back(e.second.second);
  return out;
}

// Stream lock held: (re)creates the playout queue for the negotiated caps.
bool configure_stream(GstMfJitterSync *self, Stream *s, GstCaps *caps) {
  GstStructure *st = gst_caps_get_structure(caps, 0);
  const Settings set = self->impl->get_settings();
  if (gst_structure_has_name(st, "audio/x-raw")) {
    GstAudioInfo info;
    if (!gst_audio_info_from_caps(&info, caps) ||
        GST_AUDIO_INFO_FORMAT(&info) != GST_AUDIO_FORMAT_S16LE)
      return false;
    if (s->kind == Kind::kAudio && s->audio && s->rate == GST_AUDIO_INFO_RATE(&info) &&
        s->channels == GST_AUDIO_INFO_CHANNELS(&info))
      return true;  // same format: keep the queue
    s->kind = Kind::kAudio;
    s->rate = GST_AUDIO_INFO_RATE(&info);
    s->channels = GST_AUDIO_INFO_CHANNELS(&info);
    s->period = set.period_ms * GST_MSECOND;
    s->audio = std::make_unique<AudioPlayout>(s->rate, s->channels, gint64(s->period),
                                              set.delay_config());
    s->video.reset();
  } else {
    if (s->kind == Kind::kVideo && s->video) return true;
    s->kind = Kind::kVideo;
    s->period = set.period_ms * GST_MSECOND;
    s->video = std::make_unique<VideoQueue>(set.delay_config());
    s->audio.reset();
  }
  s->next_tick = GST_CLOCK_TIME_NONE;
  return true;
}

void reset_stream(Stream *s) {
  const DelayConfig cfg = s->self->impl->get_settings().delay_config();
  if (s->audio) s->audio = std::make_unique<AudioPlayout>(s->rate, s->channels, gint64(s->period), cfg);
  if (s->video) s->video = std::make_unique<VideoQueue>(cfg);
  s->eos = false;
  s->need_segment = true;
  s->next_tick = GST_CLOCK_TIME_NONE;
  s->last_video_pts = GST_CLOCK_TIME_NONE;
}

// Stream lock held: wakes the task from a clock wait and from the condition.
void wake_locked(Stream *s) {
  if (s->clock_id) gst_clock_id_unschedule(s->clock_id);
  s->cond.notify_all();
}

void wake_all(Impl *impl, bool unschedule) {
  std::lock_guard<std::mutex> g(impl->streams_lock);
  for (auto &s : impl->streams) {
    std::lock_guard<std::mutex> sl(s->lock);
    if (unschedule && s->clock_id) gst_clock_id_unschedule(s->clock_id);
    s->cond.notify_all();
  }
}

// The output task: one iteration = wait for the next tick on the element clock, render, push.
void stream_loop(gpointer data) {
  auto *s = static_cast<Stream *>(data);
  GstMfJitterSync *self = s->self;
  Impl *impl = self->impl;
  std::unique_lock<std::mutex> lk(s->lock);
  mf::Ptr<GstClock> clock;
  for (;;) {
    if (s->flushing) {
      lk.unlock();
      gst_pad_pause_task(s->srcpad);
      return;
    }
    if (impl->playing.load() && s->has_data()) {
      clock = mf::adopt(gst_element_get_clock(GST_ELEMENT(self)));
      if (clock) break;
    }
    GST_LOG_OBJECT(s->srcpad, "waiting: playing %d data %d", impl->playing.load(), s->has_data());
    // The clock is set without a notification we could hook: poll it slowly.
    s->cond.wait_for(lk, std::chrono::milliseconds(100));
  }
  const GstClockTime base = gst_element_get_base_time(GST_ELEMENT(self));
  const GstClockTime now = gst_clock_get_time(clock.get());
  const GstClockTime running = now > base ? now - base : 0;
  if (!GST_CLOCK_TIME_IS_VALID(s->next_tick) || s->next_tick + kMaxTickLag < running) {
    // First tick (or far behind after a pause or a stall): the next multiple of the period.
    s->next_tick = gst_util_uint64_scale_ceil(running, 1, s->period) * s->period;
  }
  const GstClockTime t = s->next_tick;
  GST_LOG_OBJECT(s->srcpad, "tick at %" GST_TIME_FORMAT, GST_TIME_ARGS(t));
  GstClockID id = gst_clock_new_single_shot_id(clock.get(), base + t);
  s->clock_id = id;
  lk.unlock();
  const GstClockReturn cret = gst_clock_id_wait(id, nullptr);
  lk.lock();
  s->clock_id = nullptr;
  gst_clock_id_unref(id);
  if (s->flushing) {
    lk.unlock();
    gst_pad_pause_task(s->srcpad);
    return;
  }
  if (cret == GST_CLOCK_UNSCHEDULED) return;  // state change or new data: loop again
  s->next_tick = t + s->period;

  std::vector<mf::Ptr<GstBuffer>> out;
  bool send_eos = false;
  const std::vector<Timeline> group = group_timelines(impl, s);
  gint64 c_due = 0;
  const bool have_due = mf::sync::group_due(group, gint64(t), &c_due);
  try {
    if (s->audio && have_due) {
      const size_t frames = s->audio->period_frames();
      mf::Ptr<GstBuffer> buf = mf::adopt(
          gst_buffer_new_allocate(nullptr, frames * size_t(s->channels) * sizeof(gint16), nullptr));
      GstMapInfo map;
      gint64 capture = 0;
      bool ok = false;
      if (buf && gst_buffer_map(buf.get(), &map, GST_MAP_WRITE)) {
        ok = s->audio->render(gint64(t), c_due, reinterpret_cast<gint16 *>(map.data), &capture);
        gst_buffer_unmap(buf.get(), &map);
      }
      if (ok) {
        GST_LOG_OBJECT(s->srcpad, "t %" GST_TIME_FORMAT " due %" G_GINT64_FORMAT " read %" G_GINT64_FORMAT
                       " ahead %" G_GINT64_FORMAT " us", GST_TIME_ARGS(t), c_due, capture, (c_due - capture) / 1000);
        GST_BUFFER_PTS(buf.get()) = t;
        GST_BUFFER_DURATION(buf.get()) = s->period;
        GST_BUFFER_OFFSET(buf.get()) = s->out_offset;
        s->out_offset += frames;
        GST_BUFFER_OFFSET_END(buf.get()) = s->out_offset;
        gst_buffer_add_mf_media_meta(buf.get(), s->out_seq++, guint64(capture));
        out.push_back(std::move(buf));
      }
      if (s->eos && s->audio->drained()) send_eos = true;
    } else if (s->video && have_due) {
      auto frames = s->video->pop_due(gint64(t), c_due);
      for (auto &f : frames) {
        gint64 pts = 0;
        if (!mf::sync::group_playout(group, f.first, &pts)) pts = gint64(t);
        pts = std::clamp<gint64>(pts, 0, gint64(t));
        if (GST_CLOCK_TIME_IS_VALID(s->last_video_pts) && GstClockTime(pts) <= s->last_video_pts)
          pts = gint64(s->last_video_pts) + 1;
        s->last_video_pts = GstClockTime(pts);
        GstBuffer *b = gst_buffer_make_writable(f.second.release());
        GST_BUFFER_PTS(b) = GstClockTime(pts);
        GST_BUFFER_DTS(b) = GST_CLOCK_TIME_NONE;
        out.push_back(mf::adopt(b));
      }
      if (s->eos && s->video->empty()) send_eos = true;
    } else if (s->eos && !s->has_data()) {
      send_eos = true;
    }
  } catch (const std::exception &e) {
    lk.unlock();
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("jitter_sync: %s", e.what()), (nullptr));
    gst_pad_pause_task(s->srcpad);
    return;
  }

  mf::Ptr<GstMessage> msg;
  const Settings set = impl->get_settings();
  if (set.stats_interval_ms > 0 && t >= s->next_stats) {
    const GstClockTime iv = set.stats_interval_ms * GST_MSECOND;
    s->next_stats = (t / iv + 1) * iv;
    GstStructure *st = stats_structure("mf-jitter-sync-stats", s->kind, s->stats());
    gchar *pad_name = gst_pad_get_name(s->sinkpad);
    gst_structure_set(st, "pad", G_TYPE_STRING, pad_name, nullptr);
    g_free(pad_name);
    msg = mf::adopt(gst_message_new_element(GST_OBJECT(self), st));
  }
  const bool need_segment = s->need_segment && (!out.empty() || send_eos);
  if (need_segment) s->need_segment = false;
  lk.unlock();

  if (msg) gst_element_post_message(GST_ELEMENT(self), msg.release());
  if (need_segment) {
    mf::Ptr<GstEvent> ss = mf::adopt(gst_pad_get_sticky_event(s->srcpad, GST_EVENT_STREAM_START, 0));
    if (!ss) {
      gchar *sid = gst_pad_create_stream_id_printf(s->srcpad, GST_ELEMENT(self), "%u", s->index);
      gst_pad_push_event(s->srcpad, gst_event_new_stream_start(sid));
      g_free(sid);
    }
    GstSegment seg;
    gst_segment_init(&seg, GST_FORMAT_TIME);
    gst_pad_push_event(s->srcpad, gst_event_new_segment(&seg));
  }
  GstFlowReturn ret = GST_FLOW_OK;
  for (auto &b : out) {
    ret = gst_pad_push(s->srcpad, b.release());
    if (ret != GST_FLOW_OK) break;
  }
  if (send_eos) gst_pad_push_event(s->srcpad, gst_event_new_eos());

  lk.lock();
  if (ret != GST_FLOW_OK && ret != GST_FLOW_NOT_LINKED) s->srcresult = ret;
  const bool stop = send_eos || (ret != GST_FLOW_OK && ret != GST_FLOW_NOT_LINKED);
  lk.unlock();
  if (ret < GST_FLOW_EOS) GST_ELEMENT_FLOW_ERROR(self, ret);
  if (stop) {
    GST_DEBUG_OBJECT(s->srcpad, "pausing task: %s%s", gst_flow_get_name(ret),
                     send_eos ? " (eos)" : "");
    gst_pad_pause_task(s->srcpad);
  }
}

// Sequence number and capture time of an input buffer: the meta, else offset and PTS.
void buffer_seq_capture(GstBuffer *buf, guint32 *fallback_seq, guint32 *seq, gint64 *capture,
                        bool *ok) {
  *ok = true;
  if (GstMfMediaMeta *m = gst_buffer_get_mf_media_meta(buf)) {
    *seq = m->seq;
    *capture = gint64(m->capture_ts_ns);
    return;
  }
  if (GST_BUFFER_OFFSET_IS_VALID(buf)) *seq = guint32(GST_BUFFER_OFFSET(buf));
  else *seq = (*fallback_seq)++;
  if (GST_BUFFER_PTS_IS_VALID(buf)) *capture = gint64(GST_BUFFER_PTS(buf));
  else *ok = false;
}

GstFlowReturn sink_chain(GstPad *pad, GstObject *parent, GstBuffer *buffer) {
  auto *self = GST_MF_JITTER_SYNC(parent);
  Stream *s = stream_of(pad);
  mf::Ptr<GstBuffer> buf = mf::adopt(buffer);
  mf::Ptr<GstClock> clock = mf::adopt(gst_element_get_clock(GST_ELEMENT(self)));
  if (!clock) {
    GST_DEBUG_OBJECT(pad, "no clock yet: dropping buffer");
    return GST_FLOW_OK;
  }
  const GstClockTime base = gst_element_get_base_time(GST_ELEMENT(self));
  const GstClockTime now = gst_clock_get_time(clock.get());
  const gint64 arrival = now > base ? gint64(now - base) : 0;

  std::lock_guard<std::mutex> g(s->lock);
  guint32 seq = 0;
  gint64 capture = 0;
  bool ok = false;
  buffer_seq_capture(buf.get(), &s->fallback_seq, &seq, &capture, &ok);
  if (!ok) {
    GST_WARNING_OBJECT(pad, "buffer without capture time (no GstMfMediaMeta, no PTS): dropped");
    return GST_FLOW_OK;
  }
  if (s->flushing) return s->srcresult;
  if (s->srcresult == GST_FLOW_EOS || s->srcresult < GST_FLOW_EOS) return s->srcresult;
  PushResult r = PushResult::kInvalid;
  try {
    if (s->audio) {
      GstMapInfo map;
      if (!gst_buffer_map(buf.get(), &map, GST_MAP_READ)) return GST_FLOW_ERROR;
      const size_t bpf = size_t(s->channels) * sizeof(gint16);
      r = s->audio->push(seq, capture, arrival, reinterpret_cast<const gint16 *>(map.data),
                         map.size / bpf);
      gst_buffer_unmap(buf.get(), &map);
    } else if (s->video) {
      r = s->video->push(seq, capture, arrival, std::move(buf));
    } else {
      GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, (nullptr), ("buffer before caps on %s",
                                                            GST_PAD_NAME(pad)));
      return GST_FLOW_NOT_NEGOTIATED;
    }
  } catch (const std::bad_alloc &) {
    GST_ELEMENT_ERROR(self, RESOURCE, FAILED, ("jitter_sync: out of memory"), (nullptr));
    return GST_FLOW_ERROR;
  }
  GST_LOG_OBJECT(pad, "seq %u capture %" G_GINT64_FORMAT " arrival %" GST_TIME_FORMAT " -> %d",
                 seq, capture, GST_TIME_ARGS(arrival), int(r));
  publish_timeline(self->impl, s);
  s->cond.notify_all();
  return GST_FLOW_OK;
}

gboolean sink_event(GstPad *pad, GstObject *parent, GstEvent *event) {
  auto *self = GST_MF_JITTER_SYNC(parent);
  Stream *s = stream_of(pad);
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_CAPS: {
      GstCaps *caps;
      gst_event_parse_caps(event, &caps);
      bool ok;
      {
        std::lock_guard<std::mutex> g(s->lock);
        try {
          ok = configure_stream(self, s, caps);
        } catch (const std::bad_alloc &) {
          ok = false;
        }
        if (ok) publish_timeline(self->impl, s);
      }
      if (!ok) {
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, (nullptr),
                          ("unsupported caps on %s: %" GST_PTR_FORMAT, GST_PAD_NAME(pad), caps));
        gst_event_unref(event);
        return FALSE;
      }
      return gst_pad_push_event(s->srcpad, event);
    }
    case GST_EVENT_SEGMENT:
      // Output is on the element's running time: the task sends its own TIME segment.
      gst_event_unref(event);
      return TRUE;
    case GST_EVENT_EOS: {
      std::lock_guard<std::mutex> g(s->lock);
      s->eos = true;
      if (s->audio) s->audio->set_eos();
      s->cond.notify_all();
      gst_event_unref(event);
      return TRUE;
    }
    case GST_EVENT_FLUSH_START: {
      {
        std::lock_guard<std::mutex> g(s->lock);
        s->flushing = true;
        s->srcresult = GST_FLOW_FLUSHING;
        wake_locked(s);
      }
      gboolean ret = gst_pad_push_event(s->srcpad, event);
      gst_pad_pause_task(s->srcpad);
      return ret;
    }
    case GST_EVENT_FLUSH_STOP: {
      {
        std::lock_guard<std::mutex> g(s->lock);
        reset_stream(s);
        s->flushing = false;
        s->srcresult = GST_FLOW_OK;
        publish_timeline(self->impl, s);
      }
      gboolean ret = gst_pad_push_event(s->srcpad, event);
      gst_pad_start_task(s->srcpad, stream_loop, s, nullptr);
      return ret;
    }
    default:
      return gst_pad_event_default(pad, parent, event);
  }
}

gboolean src_query(GstPad *pad, GstObject *parent, GstQuery *query) {
  Stream *s = stream_of(pad);
  if (GST_QUERY_TYPE(query) == GST_QUERY_LATENCY) {
    GstClockTime period;
    {
      std::lock_guard<std::mutex> g(s->lock);
      period = s->period;
    }
    gboolean live = TRUE;
    GstClockTime min = 0, max = GST_CLOCK_TIME_NONE;
    if (gst_pad_peer_query(s->sinkpad, query)) gst_query_parse_latency(query, &live, &min, &max);
    // Buffers are pushed at the first tick at or after their PTS: one period of latency. The
    // added jitter delay is on top of the capture-to-arrival path, not of the running time.
    gst_query_set_latency(query, TRUE, min + period,
                          GST_CLOCK_TIME_IS_VALID(max) ? max + period : GST_CLOCK_TIME_NONE);
    return TRUE;
  }
  return gst_pad_query_default(pad, parent, query);
}

gboolean src_activate_mode(GstPad *pad, GstObject *, GstPadMode mode, gboolean active) {
  Stream *s = stream_of(pad);
  if (mode != GST_PAD_MODE_PUSH) return FALSE;
  if (active) {
    {
      std::lock_guard<std::mutex> g(s->lock);
      s->flushing = false;
      s->srcresult = GST_FLOW_OK;
    }
    return gst_pad_start_task(pad, stream_loop, s, nullptr);
  }
  {
    std::lock_guard<std::mutex> g(s->lock);
    s->flushing = true;
    s->srcresult = GST_FLOW_FLUSHING;
    wake_locked(s);
  }
  return gst_pad_stop_task(pad);
}

GstIterator *iterate_internal_links(GstPad *pad, GstObject *) {
  Stream *s = stream_of(pad);
  GstPad *other = GST_PAD_IS_SINK(pad) ? s->srcpad : s->sinkpad;
  GValue v = G_VALUE_INIT;
  g_value_init(&v, GST_TYPE_PAD);
  g_value_set_object(&v, other);
  GstIterator *it = gst_iterator_new_single(GST_TYPE_PAD, &v);
  g_value_unset(&v);
  return it;
}

}  // namespace

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
