// The audio core of mfmixer; see audio_mix.h for pads, gstmfmixer.cpp for the user contract.
//
// How one output block is made (all on the aggregator's src thread, driven by GstAudioAggregator,
// which owns timestamps, latency, live timeouts, late/early data and pads coming and going):
//   create_output_buffer  -> the accumulator `total` (int32 for S16, double for F32) is zeroed and
//                            a new block id starts.
//   aggregate_one_buffer  -> per input slice: total += slice; in mix_minus mode the slice is also
//                            copied into the pad's `own` block (zeroed on the first slice of the
//                            block). An input with no data for the block contributes nothing:
//                            silence (live mode: the base class times out and mixes without it).
//   finish_buffer         -> src gets clip(total); each src_N gets clip(total - own_N), a new
//                            buffer with the same timestamps/offsets/flags; inputs that had no
//                            data in this block share src's buffer (a ref, no copy). src is pushed
//                            first (GstAggregator pushes its stream-start/caps/segment then), then
//                            every src_N after copying those sticky events (with its own
//                            stream-id) and the stream tags of its sink_N.
// Active speaker: aggregate_one_buffer also adds each input's sum of squares; every 20 ms of
// output, finish_buffer turns them into RMS levels for the detector (speaker_detect.h) and calls
// the bin's callback on a change, after the block's pushes.
// Extra pads have no task: EOS and flushes that GstAggregator pushes on src are mirrored onto
// every src_N by a pad probe; their queries (latency, position...) are answered by src.
// Cost per block of F frames x C channels and N inputs: N*F*C adds, N*F*C copies, (N+1)*F*C
// subtract-and-clip: O(N), against O(N^2) for N separate mixes.
#include "audio_mix.h"

#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <vector>

#include "meshflow/sdk/ptr.h"
#include "mix_math.h"
#include "speaker_detect.h"

GST_DEBUG_CATEGORY_STATIC(mf_audio_mix_debug);
#define GST_CAT_DEFAULT mf_audio_mix_debug

// ---------------------------------------------------------------------------------------------
// Mode enum (shared with the bin's `mode` property).

GType mf_mixer_mode_get_type(void) {
  static gsize type = 0;
  static const GEnumValue values[] = {
      {MF_MIXER_MODE_ALL, "One output: the sum of every input", "all"},
      {MF_MIXER_MODE_MIX_MINUS, "One output per input: the sum of every other input",
       "mix_minus"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("MfMixerMode", values);
    g_once_init_leave(&type, t);
  }
  return GType(type);
}

// ---------------------------------------------------------------------------------------------
// Output pad (src_%u): a plain GstPad plus the stream-start it derived its own from.

G_BEGIN_DECLS
#define MF_TYPE_AUDIO_MIX_OUT_PAD (mf_audio_mix_out_pad_get_type())
G_DECLARE_FINAL_TYPE(MfAudioMixOutPad, mf_audio_mix_out_pad, MF, AUDIO_MIX_OUT_PAD, GstPad)
G_END_DECLS

struct _MfAudioMixOutPad {
  GstPad parent;
  // Only touched by the aggregator's src thread (sync_sticky_events): the stream-start of `src`
  // this pad's own stream-start was derived from (a ref), to derive it once per stream.
  GstEvent *derived_from;
};

G_DEFINE_TYPE(MfAudioMixOutPad, mf_audio_mix_out_pad, GST_TYPE_PAD)

static void mf_audio_mix_out_pad_finalize(GObject *object) {
  MfAudioMixOutPad *self = MF_AUDIO_MIX_OUT_PAD(object);
  gst_event_replace(&self->derived_from, nullptr);
  G_OBJECT_CLASS(mf_audio_mix_out_pad_parent_class)->finalize(object);
}

static void mf_audio_mix_out_pad_class_init(MfAudioMixOutPadClass *klass) {
  G_OBJECT_CLASS(klass)->finalize = mf_audio_mix_out_pad_finalize;
}

static void mf_audio_mix_out_pad_init(MfAudioMixOutPad *self) { self->derived_from = nullptr; }

// ---------------------------------------------------------------------------------------------
// Sink pad: a convert pad (any raw audio in) plus this input's samples of the current block.

struct MfAudioMixPadPrivate {
  // Only touched by the aggregator's src thread (create_output_buffer, aggregate_one_buffer,
  // finish_buffer run there, one at a time): this input's samples of block `own_block`, in the
  // output format. If own_block is not the current block, the input was silent in it.
  std::vector<uint8_t> own;
  guint64 own_block = 0;
  // Sum of squares (full scale 1.0) of this input's samples in the current speaker window.
  double energy = 0;

  // Guarded by GST_OBJECT_LOCK(pad):
  GstPad *output = nullptr;        // owned ref: the paired src_N (mix_minus mode), or NULL
  GstEvent *pending_tags = nullptr;  // owned: stream tags to forward on `output`, or NULL
};

struct _MfAudioMixPad {
  GstAudioAggregatorConvertPad parent;
  MfAudioMixPadPrivate *priv;
};

G_DEFINE_TYPE(MfAudioMixPad, mf_audio_mix_pad, GST_TYPE_AUDIO_AGGREGATOR_CONVERT_PAD)

static void mf_audio_mix_pad_finalize(GObject *object) {
  MfAudioMixPad *self = MF_AUDIO_MIX_PAD(object);
  if (self->priv->output) gst_object_unref(self->priv->output);
  gst_event_replace(&self->priv->pending_tags, nullptr);
  delete self->priv;
  G_OBJECT_CLASS(mf_audio_mix_pad_parent_class)->finalize(object);
}

static void mf_audio_mix_pad_class_init(MfAudioMixPadClass *klass) {
  G_OBJECT_CLASS(klass)->finalize = mf_audio_mix_pad_finalize;
}

static void mf_audio_mix_pad_init(MfAudioMixPad *self) { self->priv = new MfAudioMixPadPrivate(); }

// ---------------------------------------------------------------------------------------------
// The element.

namespace {

struct OutputJob {
  mf::Ptr<GstPad> pad;      // src_N
  mf::Ptr<GstEvent> tags;   // stream tags of sink_N to push first, or null
  mf::Ptr<GstBuffer> buf;   // what to push
};

}  // namespace

struct MfAudioMixPrivate {
  // Guarded by GST_OBJECT_LOCK(self). Changed only while no sink pad exists (the bin enforces it).
  MfMixerMode mode = MF_MIXER_MODE_ALL;

  // Only touched by the aggregator's src thread (see MfAudioMixPadPrivate::own).
  GstAudioFormat format = GST_AUDIO_FORMAT_UNKNOWN;
  guint channels = 0;
  guint64 block = 0;              // id of the block being mixed; 0 = none yet
  size_t block_samples = 0;       // frames * channels of the block
  std::vector<int32_t> total_s16;  // S16 accumulator
  std::vector<double> total_f32;   // F32 accumulator
  bool failed = false;            // an allocation failed for this block: error out in finish
  guint64 window_frames = 0;      // frames mixed in the current speaker window
  mf::mixer::SpeakerDetector speaker;

  // Guarded by GST_OBJECT_LOCK(self): the active-speaker callback.
  MfAudioMixSpeakerFunc speaker_func = nullptr;
  gpointer speaker_data = nullptr;

  // Guarded by GST_OBJECT_LOCK(self): the pipeline's clock, handed to the base class only once
  // this element is PLAYING (see mf_audio_mix_set_clock).
  GstClock *clock = nullptr;
};

struct _MfAudioMix {
  GstAudioAggregator parent;
  MfAudioMixPrivate *priv;
};

G_DEFINE_TYPE(MfAudioMix, mf_audio_mix, GST_TYPE_AUDIO_AGGREGATOR)

enum { PROP_0, PROP_MODE };

#define MF_AUDIO_MIX_SRC_CAPS \
  "audio/x-raw, format = (string) { S16LE, F32LE }, rate = (int) [ 1, MAX ], " \
  "channels = (int) [ 1, MAX ], layout = (string) interleaved"

static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(MF_AUDIO_MIX_SRC_CAPS));
static GstStaticPadTemplate out_template = GST_STATIC_PAD_TEMPLATE(
    "src_%u", GST_PAD_SRC, GST_PAD_SOMETIMES, GST_STATIC_CAPS(MF_AUDIO_MIX_SRC_CAPS));
static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink_%u", GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS("audio/x-raw, format = (string) " GST_AUDIO_FORMATS_ALL
                    ", rate = (int) [ 1, MAX ], channels = (int) [ 1, MAX ], "
                    "layout = (string) interleaved"));

static MfMixerMode get_mode(MfAudioMix *self) {
  GST_OBJECT_LOCK(self);
  MfMixerMode m = self->priv->mode;
  GST_OBJECT_UNLOCK(self);
  return m;
}

static GstPad *src_pad_of(MfAudioMix *self) { return GST_AGGREGATOR_SRC_PAD(self); }

// Snapshot of (sink pad, output pad) pairs; the refs keep both alive outside the lock.
static std::vector<std::pair<mf::Ptr<GstPad>, mf::Ptr<GstPad>>> snapshot_pairs(MfAudioMix *self) {
  std::vector<std::pair<mf::Ptr<GstPad>, mf::Ptr<GstPad>>> pairs;
  GST_OBJECT_LOCK(self);
  pairs.reserve(GST_ELEMENT(self)->numsinkpads);
  for (GList *l = GST_ELEMENT(self)->sinkpads; l; l = l->next) {
    MfAudioMixPad *pad = MF_AUDIO_MIX_PAD(l->data);
    GST_OBJECT_LOCK(pad);
    GstPad *out = pad->priv->output ? GST_PAD(gst_object_ref(pad->priv->output)) : nullptr;
    GST_OBJECT_UNLOCK(pad);
    if (out) pairs.emplace_back(mf::ref(GST_PAD(pad)), mf::adopt(out));
  }
  GST_OBJECT_UNLOCK(self);
  return pairs;
}

// Copy src's sticky events (stream-start with a per-output stream-id, caps, segment...) onto an
// output pad, so the next push sends them first. Runs on the src thread only.
static void sync_sticky_events(MfAudioMix *self, GstPad *out) {
  std::vector<mf::Ptr<GstEvent>> events;
  gst_pad_sticky_events_foreach(
      src_pad_of(self),
      [](GstPad *, GstEvent **event, gpointer user_data) -> gboolean {
        auto *v = static_cast<std::vector<mf::Ptr<GstEvent>> *>(user_data);
        switch (GST_EVENT_TYPE(*event)) {
          case GST_EVENT_TAG:  // src's tags are the mix's; each output gets its input's tags
          case GST_EVENT_EOS:  // mirrored by the probe, in order
            break;
          default:
            v->push_back(mf::ref(*event));
        }
        return TRUE;
      },
      &events);
  MfAudioMixOutPad *opad = MF_AUDIO_MIX_OUT_PAD(out);
  for (auto &ev : events) {
    if (GST_EVENT_TYPE(ev.get()) == GST_EVENT_STREAM_START) {
      auto have = mf::adopt(gst_pad_get_sticky_event(out, GST_EVENT_STREAM_START, 0));
      if (have && opad->derived_from == ev.get()) continue;
      const gchar *main_id = nullptr;
      gst_event_parse_stream_start(ev.get(), &main_id);
      mf::CharPtr id(g_strdup_printf("%s/%s", main_id ? main_id : "mfmixer", GST_PAD_NAME(out)));
      GstEvent *ss = gst_event_new_stream_start(id.get());
      guint group = 0;
      if (gst_event_parse_group_id(ev.get(), &group)) gst_event_set_group_id(ss, group);
      GstStreamFlags flags = GST_STREAM_FLAG_NONE;
      gst_event_parse_stream_flags(ev.get(), &flags);
      gst_event_set_stream_flags(ss, flags);
      gst_event_set_seqnum(ss, gst_event_get_seqnum(ev.get()));
      gst_pad_store_sticky_event(out, ss);
      gst_event_unref(ss);
      gst_event_replace(&opad->derived_from, ev.get());
    } else {
      gst_pad_store_sticky_event(out, ev.get());
    }
  }
}

// EOS and flushes that GstAggregator pushes on src go to every output too.
static GstPadProbeReturn src_event_probe(GstPad *, GstPadProbeInfo *info, gpointer user_data) {
  MfAudioMix *self = MF_AUDIO_MIX(user_data);
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT(info);
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_EOS:
    case GST_EVENT_FLUSH_START:
    case GST_EVENT_FLUSH_STOP:
      break;
    default:
      return GST_PAD_PROBE_OK;
  }
  for (auto &pair : snapshot_pairs(self)) {
    GstPad *out = pair.second.get();
    if (GST_EVENT_TYPE(event) == GST_EVENT_EOS) sync_sticky_events(self, out);
    gst_pad_push_event(out, gst_event_ref(event));
  }
  return GST_PAD_PROBE_OK;
}

static gboolean out_pad_query(GstPad *pad, GstObject *parent, GstQuery *query) {
  MfAudioMix *self = MF_AUDIO_MIX(parent);
  switch (GST_QUERY_TYPE(query)) {
    case GST_QUERY_CAPS: {
      GstCaps *filter = nullptr;
      gst_query_parse_caps(query, &filter);
      GstCaps *caps = gst_pad_get_current_caps(src_pad_of(self));
      if (!caps) caps = gst_pad_get_pad_template_caps(pad);
      if (filter) {
        GstCaps *tmp = gst_caps_intersect_full(filter, caps, GST_CAPS_INTERSECT_FIRST);
        gst_caps_unref(caps);
        caps = tmp;
      }
      gst_query_set_caps_result(query, caps);
      gst_caps_unref(caps);
      return TRUE;
    }
    case GST_QUERY_LATENCY:
    case GST_QUERY_POSITION:
    case GST_QUERY_DURATION:
    case GST_QUERY_SEEKING:
    case GST_QUERY_SEGMENT:
      return gst_pad_query(src_pad_of(self), query);
    default:
      return gst_pad_query_default(pad, parent, query);
  }
}

static gboolean out_pad_event(GstPad *, GstObject *parent, GstEvent *event) {
  MfAudioMix *self = MF_AUDIO_MIX(parent);
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_RECONFIGURE:  // renegotiate: update_src_caps looks at every output's peer
      gst_pad_mark_reconfigure(src_pad_of(self));
      gst_event_unref(event);
      return TRUE;
    case GST_EVENT_QOS:  // QoS is src's business; one peer's sink must not throttle all
      gst_event_unref(event);
      return TRUE;
    default:  // seeks, latency, navigation...: as if sent to src
      return gst_pad_send_event(src_pad_of(self), event);
  }
}

static GstPad *mf_audio_mix_request_new_pad(GstElement *element, GstPadTemplate *templ,
                                            const gchar *req_name, const GstCaps *caps) {
  MfAudioMix *self = MF_AUDIO_MIX(element);
  GstPad *pad = GST_ELEMENT_CLASS(mf_audio_mix_parent_class)
                    ->request_new_pad(element, templ, req_name, caps);
  if (!pad || get_mode(self) != MF_MIXER_MODE_MIX_MINUS) return pad;

  guint index = 0;
  if (sscanf(GST_PAD_NAME(pad), "sink_%u", &index) != 1) return pad;
  mf::CharPtr name(g_strdup_printf("src_%u", index));
  GstPadTemplate *otempl = gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(self), "src_%u");
  GstPad *out = GST_PAD(g_object_new(MF_TYPE_AUDIO_MIX_OUT_PAD, "name", name.get(), "direction",
                                     GST_PAD_SRC, "template", otempl, nullptr));
  gst_pad_set_query_function(out, out_pad_query);
  gst_pad_set_event_function(out, out_pad_event);
  GST_OBJECT_FLAG_SET(out, GST_PAD_FLAG_PROXY_ALLOCATION);
  MfAudioMixPad *mpad = MF_AUDIO_MIX_PAD(pad);
  GST_OBJECT_LOCK(mpad);
  mpad->priv->output = GST_PAD(gst_object_ref(out));
  GST_OBJECT_UNLOCK(mpad);
  // Activated here if we are running; the next block syncs its sticky events from src.
  if (!gst_element_add_pad(element, out)) {
    GST_OBJECT_LOCK(mpad);
    gst_clear_object(&mpad->priv->output);
    GST_OBJECT_UNLOCK(mpad);
  }
  GST_DEBUG_OBJECT(self, "%s paired with %s", GST_PAD_NAME(pad), name.get());
  return pad;
}

static void mf_audio_mix_release_pad(GstElement *element, GstPad *pad) {
  MfAudioMixPad *mpad = MF_AUDIO_MIX_PAD(pad);
  GST_OBJECT_LOCK(mpad);
  GstPad *out = mpad->priv->output;
  mpad->priv->output = nullptr;
  GST_OBJECT_UNLOCK(mpad);
  if (out) {
    // A push in flight on it returns FLUSHING, which finish_buffer ignores.
    gst_pad_set_active(out, FALSE);
    gst_element_remove_pad(element, out);
    gst_object_unref(out);
  }
  GST_ELEMENT_CLASS(mf_audio_mix_parent_class)->release_pad(element, pad);
}

static GstBuffer *mf_audio_mix_create_output_buffer(GstAudioAggregator *aagg, guint num_frames) {
  MfAudioMix *self = MF_AUDIO_MIX(aagg);
  MfAudioMixPrivate *p = self->priv;
  GstBuffer *outbuf =
      GST_AUDIO_AGGREGATOR_CLASS(mf_audio_mix_parent_class)->create_output_buffer(aagg, num_frames);
  const GstAudioInfo *info = &GST_AUDIO_AGGREGATOR_PAD(src_pad_of(self))->info;
  p->format = GST_AUDIO_INFO_FORMAT(info);
  p->channels = guint(GST_AUDIO_INFO_CHANNELS(info));
  p->block++;
  p->block_samples = size_t(num_frames) * p->channels;
  p->failed = false;
  try {
    if (p->format == GST_AUDIO_FORMAT_S16LE)
      p->total_s16.assign(p->block_samples, 0);
    else
      p->total_f32.assign(p->block_samples, 0.0);
  } catch (const std::exception &) {  // no exception crosses into GLib
    p->failed = true;
    p->block_samples = 0;
  }
  return outbuf;
}

static gboolean mf_audio_mix_aggregate_one_buffer(GstAudioAggregator *aagg,
                                                  GstAudioAggregatorPad *aaggpad,
                                                  GstBuffer *inbuf, guint in_offset,
                                                  GstBuffer *, guint out_offset,
                                                  guint num_frames) {
  MfAudioMix *self = MF_AUDIO_MIX(aagg);
  MfAudioMixPrivate *p = self->priv;
  const size_t start = size_t(out_offset) * p->channels;
  const size_t n = size_t(num_frames) * p->channels;
  if (p->failed || start + n > p->block_samples) return FALSE;
  const bool s16 = p->format == GST_AUDIO_FORMAT_S16LE;
  const size_t bps = s16 ? sizeof(int16_t) : sizeof(float);

  GstMapInfo map;
  if (!gst_buffer_map(inbuf, &map, GST_MAP_READ)) return FALSE;
  const size_t in_start = size_t(in_offset) * p->channels * bps;
  if (in_start + n * bps > map.size) {
    gst_buffer_unmap(inbuf, &map);
    return FALSE;
  }
  const uint8_t *src = map.data + in_start;
  if (s16)
    mf::mixer::accumulate_s16(p->total_s16.data() + start, reinterpret_cast<const int16_t *>(src), n);
  else
    mf::mixer::accumulate_f32(p->total_f32.data() + start, reinterpret_cast<const float *>(src), n);
  {  // this input's level, for the active speaker
    double sq = 0;
    if (s16) {
      const auto *v = reinterpret_cast<const int16_t *>(src);
      for (size_t i = 0; i < n; ++i) sq += double(v[i]) * double(v[i]);
      sq /= 32768.0 * 32768.0;
    } else {
      const auto *v = reinterpret_cast<const float *>(src);
      for (size_t i = 0; i < n; ++i) sq += double(v[i]) * double(v[i]);
    }
    MF_AUDIO_MIX_PAD(aaggpad)->priv->energy += sq;
  }

  if (get_mode(self) == MF_MIXER_MODE_MIX_MINUS) {
    MfAudioMixPadPrivate *pp = MF_AUDIO_MIX_PAD(aaggpad)->priv;
    try {
      if (pp->own_block != p->block) {
        pp->own.assign(p->block_samples * bps, 0);  // zero: silence where this input had no data
        pp->own_block = p->block;
      }
      memcpy(pp->own.data() + start * bps, src, n * bps);
    } catch (const std::exception &) {
      p->failed = true;
    }
  }
  gst_buffer_unmap(inbuf, &map);
  return TRUE;
}

// One mix-minus buffer for an input: clip(total - own), or src's buffer if it was silent.
static GstBuffer *make_output_buffer(MfAudioMix *self, MfAudioMixPad *pad, GstBuffer *mix,
                                     size_t samples) {
  MfAudioMixPrivate *p = self->priv;
  MfAudioMixPadPrivate *pp = pad->priv;
  if (pp->own_block != p->block) return gst_buffer_ref(mix);  // silent input: same as the mix
  const bool s16 = p->format == GST_AUDIO_FORMAT_S16LE;
  const size_t bps = s16 ? sizeof(int16_t) : sizeof(float);
  GstBuffer *buf = gst_buffer_new_allocate(nullptr, samples * bps, nullptr);
  if (!buf) return nullptr;
  gst_buffer_copy_into(buf, mix, GstBufferCopyFlags(GST_BUFFER_COPY_FLAGS | GST_BUFFER_COPY_TIMESTAMPS),
                       0, -1);
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_WRITE)) {
    gst_buffer_unref(buf);
    return nullptr;
  }
  if (s16)
    mf::mixer::mix_minus_s16(reinterpret_cast<int16_t *>(map.data), p->total_s16.data(),
                             reinterpret_cast<const int16_t *>(pp->own.data()), samples);
  else
    mf::mixer::mix_minus_f32(reinterpret_cast<float *>(map.data), p->total_f32.data(),
                             reinterpret_cast<const float *>(pp->own.data()), samples);
  gst_buffer_unmap(buf, &map);
  GST_BUFFER_FLAG_UNSET(buf, GST_BUFFER_FLAG_GAP);
  return buf;
}

// After each block: every 20 ms of output, each input's RMS level goes to the speaker detector
// (inputs without data in the window count as silence); a change is reported to the callback.
// Src thread only.
static void update_speaker(MfAudioMix *self, size_t frames) {
  MfAudioMixPrivate *p = self->priv;
  const GstAudioInfo *info = &GST_AUDIO_AGGREGATOR_PAD(src_pad_of(self))->info;
  const int rate = GST_AUDIO_INFO_RATE(info);
  if (rate <= 0 || p->channels == 0) return;
  p->window_frames += frames;
  if (p->window_frames < guint64(rate) / 50) return;  // 20 ms
  std::vector<mf::Ptr<GstPad>> pads;
  GST_OBJECT_LOCK(self);
  for (GList *l = GST_ELEMENT(self)->sinkpads; l; l = l->next) pads.push_back(mf::ref(GST_PAD(l->data)));
  MfAudioMixSpeakerFunc func = p->speaker_func;
  gpointer data = p->speaker_data;
  GST_OBJECT_UNLOCK(self);
  std::vector<mf::mixer::SpeakerLevel> levels;
  levels.reserve(pads.size());
  const double samples = double(p->window_frames) * p->channels;
  for (auto &pad : pads) {
    MfAudioMixPadPrivate *pp = MF_AUDIO_MIX_PAD(pad.get())->priv;
    levels.push_back({GST_PAD_NAME(pad.get()), mf::mixer::rms_db(pp->energy, samples)});
    pp->energy = 0;
  }
  p->window_frames = 0;
  if (!p->speaker.update(levels)) return;
  GST_DEBUG_OBJECT(self, "active speaker: '%s' (%.1f dBFS)", p->speaker.active().c_str(),
                   p->speaker.active_db());
  if (func) func(self, p->speaker.active().c_str(), p->speaker.active_db(), data);
}

void mf_audio_mix_set_speaker_func(MfAudioMix *mix, MfAudioMixSpeakerFunc func, gpointer user_data) {
  GST_OBJECT_LOCK(mix);
  mix->priv->speaker_func = func;
  mix->priv->speaker_data = user_data;
  GST_OBJECT_UNLOCK(mix);
}

static GstFlowReturn mf_audio_mix_finish_buffer(GstAggregator *agg, GstBuffer *outbuf) {
  MfAudioMix *self = MF_AUDIO_MIX(agg);
  MfAudioMixPrivate *p = self->priv;
  auto parent_finish = GST_AGGREGATOR_CLASS(mf_audio_mix_parent_class)->finish_buffer;
  if (p->failed) {
    gst_buffer_unref(outbuf);
    GST_ELEMENT_ERROR(self, RESOURCE, NO_SPACE_LEFT, ("Out of memory while mixing audio"), (nullptr));
    return GST_FLOW_ERROR;
  }
  const bool s16 = p->format == GST_AUDIO_FORMAT_S16LE;
  const size_t bps = s16 ? sizeof(int16_t) : sizeof(float);
  // The base class shrinks the last buffer before EOS: mix only what is left.
  const size_t samples = std::min(gst_buffer_get_size(outbuf) / bps, p->block_samples);

  GstMapInfo map;
  if (samples > 0 && gst_buffer_map(outbuf, &map, GST_MAP_WRITE)) {
    if (s16)
      mf::mixer::clip_total_s16(reinterpret_cast<int16_t *>(map.data), p->total_s16.data(), samples);
    else
      mf::mixer::clip_total_f32(reinterpret_cast<float *>(map.data), p->total_f32.data(), samples);
    gst_buffer_unmap(outbuf, &map);
  }

  const size_t frames = p->channels ? samples / p->channels : 0;
  if (get_mode(self) != MF_MIXER_MODE_MIX_MINUS) {
    GstFlowReturn ret = parent_finish(agg, outbuf);
    update_speaker(self, frames);
    return ret;
  }

  std::vector<OutputJob> jobs;
  try {
    auto pairs = snapshot_pairs(self);
    jobs.reserve(pairs.size());
    for (auto &pair : pairs) {
      MfAudioMixPad *pad = MF_AUDIO_MIX_PAD(pair.first.get());
      OutputJob job;
      job.buf = mf::adopt(make_output_buffer(self, pad, outbuf, samples));
      if (!job.buf) throw std::bad_alloc();
      GST_OBJECT_LOCK(pad);
      job.tags = mf::adopt(pad->priv->pending_tags);
      pad->priv->pending_tags = nullptr;
      GST_OBJECT_UNLOCK(pad);
      job.pad = std::move(pair.second);
      jobs.push_back(std::move(job));
    }
  } catch (const std::exception &) {
    gst_buffer_unref(outbuf);
    GST_ELEMENT_ERROR(self, RESOURCE, NO_SPACE_LEFT, ("Out of memory while mixing audio"), (nullptr));
    return GST_FLOW_ERROR;
  }

  // src first: it pushes GstAggregator's mandatory events, which the outputs copy. Nobody may
  // listen to the full mix in mix_minus mode: not-linked there is not an error.
  GstFlowReturn ret = parent_finish(agg, outbuf);
  if (ret == GST_FLOW_NOT_LINKED) ret = GST_FLOW_OK;

  for (auto &job : jobs) {
    GstPad *out = job.pad.get();
    sync_sticky_events(self, out);
    if (job.tags) gst_pad_push_event(out, job.tags.release());
    GstFlowReturn r = gst_pad_push(out, job.buf.release());
    // One peer's output being unlinked, flushing (released) or at EOS must not stop the others;
    // a negotiation failure or an error downstream is fatal, as for src.
    if (r == GST_FLOW_NOT_NEGOTIATED || r <= GST_FLOW_ERROR) {
      GST_WARNING_OBJECT(self, "push on %s: %s", GST_PAD_NAME(out), gst_flow_get_name(r));
      if (ret == GST_FLOW_OK) ret = r;
    }
  }
  update_speaker(self, frames);
  return ret;
}

// Negotiation: besides src's peer (done by the base class), every linked output's peer must
// accept the format, since outputs carry the same caps.
static GstFlowReturn mf_audio_mix_update_src_caps(GstAggregator *agg, GstCaps *caps, GstCaps **ret) {
  MfAudioMix *self = MF_AUDIO_MIX(agg);
  mf::Ptr<GstCaps> filtered = mf::ref(caps);
  for (auto &pair : snapshot_pairs(self)) {
    GstPad *out = pair.second.get();
    if (!gst_pad_is_linked(out)) continue;
    mf::Ptr<GstCaps> peer = mf::adopt(gst_pad_peer_query_caps(out, filtered.get()));
    if (peer) filtered = std::move(peer);
    if (gst_caps_is_empty(filtered.get())) {
      GST_WARNING_OBJECT(self, "the peer of %s accepts none of %" GST_PTR_FORMAT, GST_PAD_NAME(out), caps);
      return GST_FLOW_NOT_NEGOTIATED;
    }
  }
  return GST_AGGREGATOR_CLASS(mf_audio_mix_parent_class)->update_src_caps(agg, filtered.get(), ret);
}

// Stream tags of sink_N travel to src_N (pushed before its next buffer): they say whose stream
// it is. Serialized events reach sink_event on the src thread, in order with the buffers.
static gboolean mf_audio_mix_sink_event(GstAggregator *agg, GstAggregatorPad *aggpad,
                                        GstEvent *event) {
  if (GST_EVENT_TYPE(event) == GST_EVENT_TAG) {
    GstTagList *tags = nullptr;
    gst_event_parse_tag(event, &tags);
    if (tags && gst_tag_list_get_scope(tags) == GST_TAG_SCOPE_STREAM) {
      MfAudioMixPad *pad = MF_AUDIO_MIX_PAD(aggpad);
      GST_OBJECT_LOCK(pad);
      if (pad->priv->output) gst_event_replace(&pad->priv->pending_tags, event);
      GST_OBJECT_UNLOCK(pad);
    }
  }
  return GST_AGGREGATOR_CLASS(mf_audio_mix_parent_class)->sink_event(agg, aggpad, event);
}

static void mf_audio_mix_set_property(GObject *object, guint id, const GValue *value,
                                      GParamSpec *pspec) {
  MfAudioMix *self = MF_AUDIO_MIX(object);
  switch (id) {
    case PROP_MODE:
      GST_OBJECT_LOCK(self);
      if (GST_ELEMENT(self)->numsinkpads == 0)
        self->priv->mode = MfMixerMode(g_value_get_enum(value));
      else
        GST_WARNING_OBJECT(self, "mode can only change before the first input pad");
      GST_OBJECT_UNLOCK(self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void mf_audio_mix_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec) {
  MfAudioMix *self = MF_AUDIO_MIX(object);
  switch (id) {
    case PROP_MODE:
      g_value_set_enum(value, get_mode(self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

// A pipeline going to PLAYING hands its clock to every element first and each element its base
// time only just before that element's own state change. GstAggregator waits on the clock as soon
// as it has one: woken by an input's events in that window (a live source's thread running late
// on a loaded machine), it took base time 0 for the start, found itself minutes late and mixed
// minutes of "timed out" silence as fast as it could, blocking every input for seconds. The base
// class only gets the clock once this element's base time is set (PAUSED -> PLAYING).
static gboolean mf_audio_mix_set_clock(GstElement *element, GstClock *clock) {
  MfAudioMix *self = MF_AUDIO_MIX(element);
  GST_OBJECT_LOCK(self);
  gst_object_replace(reinterpret_cast<GstObject **>(&self->priv->clock), GST_OBJECT_CAST(clock));
  const bool playing = GST_STATE(self) == GST_STATE_PLAYING;
  GST_OBJECT_UNLOCK(self);
  if (!clock || playing) return GST_ELEMENT_CLASS(mf_audio_mix_parent_class)->set_clock(element, clock);
  return TRUE;
}

static GstStateChangeReturn mf_audio_mix_change_state(GstElement *element, GstStateChange transition) {
  MfAudioMix *self = MF_AUDIO_MIX(element);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_PLAYING) {
    GST_OBJECT_LOCK(self);
    mf::Ptr<GstClock> clock = self->priv->clock ? mf::ref(self->priv->clock) : nullptr;
    GST_OBJECT_UNLOCK(self);
    if (clock) GST_ELEMENT_CLASS(mf_audio_mix_parent_class)->set_clock(element, clock.get());
  }
  return GST_ELEMENT_CLASS(mf_audio_mix_parent_class)->change_state(element, transition);
}

static void mf_audio_mix_finalize(GObject *object) {
  gst_clear_object(&MF_AUDIO_MIX(object)->priv->clock);
  delete MF_AUDIO_MIX(object)->priv;
  G_OBJECT_CLASS(mf_audio_mix_parent_class)->finalize(object);
}

static void mf_audio_mix_class_init(MfAudioMixClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstAggregatorClass *agg_class = GST_AGGREGATOR_CLASS(klass);
  GstAudioAggregatorClass *aagg_class = GST_AUDIO_AGGREGATOR_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(mf_audio_mix_debug, "mfaudiomix", 0, "Meshflow mixer, audio core");

  gobject_class->set_property = mf_audio_mix_set_property;
  gobject_class->get_property = mf_audio_mix_get_property;
  gobject_class->finalize = mf_audio_mix_finalize;

  g_object_class_install_property(
      gobject_class, PROP_MODE,
      g_param_spec_enum("mode", "Mode", "all: one mix; mix_minus: one mix per input without it",
                        MF_TYPE_MIXER_MODE, MF_MIXER_MODE_ALL,
                        GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_add_static_pad_template_with_gtype(element_class, &src_template,
                                                       GST_TYPE_AUDIO_AGGREGATOR_CONVERT_PAD);
  gst_element_class_add_static_pad_template_with_gtype(element_class, &sink_template,
                                                       MF_TYPE_AUDIO_MIX_PAD);
  gst_element_class_add_static_pad_template_with_gtype(element_class, &out_template,
                                                       MF_TYPE_AUDIO_MIX_OUT_PAD);
  gst_element_class_set_static_metadata(element_class, "Meshflow audio mix core", "Generic/Audio",
                                        "Sums inputs with clipping; mix-minus outputs in O(N)",
                                        "Meshflow");

  element_class->request_new_pad = GST_DEBUG_FUNCPTR(mf_audio_mix_request_new_pad);
  element_class->release_pad = GST_DEBUG_FUNCPTR(mf_audio_mix_release_pad);
  element_class->set_clock = GST_DEBUG_FUNCPTR(mf_audio_mix_set_clock);
  element_class->change_state = GST_DEBUG_FUNCPTR(mf_audio_mix_change_state);
  agg_class->finish_buffer = GST_DEBUG_FUNCPTR(mf_audio_mix_finish_buffer);
  agg_class->update_src_caps = GST_DEBUG_FUNCPTR(mf_audio_mix_update_src_caps);
  agg_class->sink_event = GST_DEBUG_FUNCPTR(mf_audio_mix_sink_event);
  aagg_class->create_output_buffer = GST_DEBUG_FUNCPTR(mf_audio_mix_create_output_buffer);
  aagg_class->aggregate_one_buffer = GST_DEBUG_FUNCPTR(mf_audio_mix_aggregate_one_buffer);
}

static void mf_audio_mix_init(MfAudioMix *self) {
  self->priv = new MfAudioMixPrivate();
  gst_pad_add_probe(GST_AGGREGATOR_SRC_PAD(self),
                    GstPadProbeType(GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM | GST_PAD_PROBE_TYPE_EVENT_FLUSH),
                    src_event_probe, self, nullptr);
}

GstPad *mf_audio_mix_get_output_pad(MfAudioMix *mix, GstPad *sinkpad) {
  g_return_val_if_fail(MF_IS_AUDIO_MIX(mix) && MF_IS_AUDIO_MIX_PAD(sinkpad), nullptr);
  MfAudioMixPad *pad = MF_AUDIO_MIX_PAD(sinkpad);
  GST_OBJECT_LOCK(pad);
  GstPad *out = pad->priv->output ? GST_PAD(gst_object_ref(pad->priv->output)) : nullptr;
  GST_OBJECT_UNLOCK(pad);
  return out;
}
