// Per-stream half of mfjittersync (see gstmfjittersync.cpp for the element): the sink pad chain
// and events (arrival measurement, reordering into the playout queues), the src pad output task
// (one tick per period, paced by the element clock), the latency query and the stats structure.
#include "jitter_sync_internal.h"

GST_DEBUG_CATEGORY_EXTERN(mf_jitter_sync_debug);
#define GST_CAT_DEFAULT mf_jitter_sync_debug

namespace mf::sync::element {


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


}  // namespace mf::sync::element
