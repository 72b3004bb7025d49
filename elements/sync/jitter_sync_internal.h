// jitter_sync (mfjittersync) internals shared by the element glue (gstmfjittersync.cpp:
// properties, pads, states) and the per-stream pad functions (jitter_sync_stream.cpp: sink
// chain/events, the output task, stats). The element itself is documented in gstmfjittersync.cpp.
#pragma once

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

G_BEGIN_DECLS
#define GST_TYPE_MF_JITTER_SYNC (gst_mf_jitter_sync_get_type())
G_DECLARE_FINAL_TYPE(GstMfJitterSync, gst_mf_jitter_sync, GST, MF_JITTER_SYNC, GstElement)
#define GST_TYPE_MF_JITTER_SYNC_PAD (gst_mf_jitter_sync_pad_get_type())
G_DECLARE_FINAL_TYPE(GstMfJitterSyncPad, gst_mf_jitter_sync_pad, GST, MF_JITTER_SYNC_PAD, GstPad)
G_END_DECLS

namespace mf::sync::element {

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

inline const char *kind_name(Kind k) {
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


// Per-stream pad functions and helpers (jitter_sync_stream.cpp).
Stream *stream_of(GstPad *pad);
GstStructure *stats_structure(const char *name, Kind kind, const StreamStats &s);
void publish_timeline(Impl *impl, Stream *s);
void reset_stream(Stream *s);
void wake_all(Impl *impl, bool unschedule);
GstFlowReturn sink_chain(GstPad *pad, GstObject *parent, GstBuffer *buffer);
gboolean sink_event(GstPad *pad, GstObject *parent, GstEvent *event);
gboolean src_query(GstPad *pad, GstObject *parent, GstQuery *query);
gboolean src_activate_mode(GstPad *pad, GstObject *, GstPadMode mode, gboolean active);
GstIterator *iterate_internal_links(GstPad *pad, GstObject *);

}  // namespace mf::sync::element

struct _GstMfJitterSync {
  GstElement parent;
  mf::sync::element::Impl *impl;
};

struct _GstMfJitterSyncPad {
  GstPad parent;
};
