// mfmixer (Meshflow node type `mixer`): mixes many streams into one, or one per peer.
//
// What it does: a GstBin around an aggregator, so timestamps, latency, live sources (inputs
// without data count as silence after the latency), and inputs joining or leaving while PLAYING
// are handled by GStreamer's aggregator base classes, not by hand.
//   kind=audio  an internal GstAudioAggregator subclass (audio_mix.cpp, like audiomixer) sums
//               every input into a wide accumulator (int32 for S16, double for F32) and clips
//               once: S16 saturates to [-32768, 32767], F32 is hard-clamped to [-1.0, 1.0]
//               (exact and transparent below full scale; no soft knee).
//     mode=all        src carries clip(sum of all inputs).
//     mode=mix_minus  additionally, each input sink_N gets its own output src_N carrying
//                     clip(total - input N): everybody but that peer, computed in O(N) from one
//                     total, not N separate mixes. src still carries the full mix and may stay
//                     unlinked.
//   kind=video  `compositor` with its sink pads laid out on a grid (grid_layout.h) that re-flows
//               whenever an input is requested or released; each input is scaled into its cell
//               keeping its aspect ratio (compositor's sizing-policy); `mode` has no effect.
//
// Pads:
//   sink_%u  request. audio: audio/x-raw, any format/rate/channels (converted like audiomixer to
//            one output format, rate and channel count: the first input's, or what downstream
//            wants). video: video/x-raw (compositor's formats).
//   src      always. audio: audio/x-raw, format={S16LE,F32LE}, layout=interleaved.
//            video: video/x-raw, width x height.
//   src_%u   sometimes (kind=audio, mode=mix_minus only): appears together with sink_%u (same
//            number, right after it) and goes away when sink_%u is released. Same caps as src.
//   Every pad has a `peer-id` string property: set it on sink_N (or send a `meshflow-peer-id`
//   stream tag on it) and src_N reports the same value, so per-peer routing sends src_N back to
//   that peer. sink_N's stream tags are also forwarded on src_N.
//
// Properties (set before requesting pads; kind and mode are fixed once an input exists):
//   kind                   enum audio|video, default audio.
//   mode                   enum all|mix_minus, default all (audio only).
//   width, height          int, pixels, default 1280 x 720 (video only; may change in PLAYING).
//   background             enum black|white|transparent|checker, default black (video only).
//   latency                uint64, nanoseconds, default 0: extra time to wait for live inputs.
//   output-buffer-duration uint64, nanoseconds, default 10 ms: audio output block (audio only).
//   decouple-outputs       bool, default true (mix_minus): each src_N is fed through its own
//                          `queue` (thread, max 200 ms; when full the mixer waits, nothing is
//                          dropped), so one prerolling or slow consumer does not hold up the
//                          other peers' mixes. false: src_N is pushed from the mixing thread,
//                          like tee's pads (add your own queues). Either way an unlinked
//                          src_N drops its data (not an error), so a peer's output may be
//                          unlinked before, during or after its input is released.
//
//   active-speaker         string, read-only (kind=audio): who is talking now, see below.
//
// Active speaker (kind=audio, both modes): every 20 ms each input's RMS level (dBFS) feeds a
// detector (speaker_detect.h): an input at or above -45 dBFS is talking; from nobody, the
// loudest talking input becomes active after 40 ms; another input takes over only when it is
// 6 dB louder than the active one (or the active one is quiet) for 100 ms; after 300 ms below
// the threshold nobody is active; a released input stops being active at once. The speaker is
// named by its sink pad's `peer-id` (or the pad name, e.g. "sink_0", if it has none); "" means
// nobody. On every change, from the mixing thread, right after the block that decided it:
//   - property `active-speaker` holds the new value;
//   - element message `meshflow-active-speaker` {peer-id: string, level-db: double} on the bus;
//   - serialized custom downstream event `meshflow-speaker` {peer-id: string, level-db: double}
//     on src (in order with the mix's buffers), so an element downstream of src (an LLM
//     bridge, a transcriber) can tag what follows with the speaker. Read it with
//     gst_event_get_structure() on a GST_EVENT_CUSTOM_DOWNSTREAM event whose structure name is
//     "meshflow-speaker". (Not sent on src_N.)
//
// Events: stream-start/caps/segment/EOS/flushes on every src_N follow src; errors (missing
// compositor, out of memory, not-negotiated) are posted on the bus.
//
// Manifest:
//   - {id: mix, type: mixer, properties: {kind: audio, mode: mix_minus}}
//   - {id: grid, type: mixer, properties: {kind: video, width: 1280, height: 720}}
// Equivalent launch lines:
//   gst-launch-1.0 mfmixer name=m mode=mix_minus m.src_0 ! fakesink m.src_1 ! fakesink
//     audiotestsrc ! m.sink_0  audiotestsrc freq=880 ! m.sink_1    (one line)
//   gst-launch-1.0 mfmixer kind=video name=g ! videoconvert ! autovideosink
//     videotestsrc ! g.  videotestsrc pattern=ball ! g.            (one line)
#include <gst/gst.h>

#include <algorithm>
#include <string>
#include <vector>

#include "audio_mix.h"
#include "grid_layout.h"
#include "meshflow/sdk/node.h"
#include "meshflow/sdk/ptr.h"
#include "mixer_pad.h"

GST_DEBUG_CATEGORY_STATIC(mf_mixer_debug);
#define GST_CAT_DEFAULT mf_mixer_debug

G_BEGIN_DECLS
#define GST_TYPE_MF_MIXER (gst_mf_mixer_get_type())
G_DECLARE_FINAL_TYPE(GstMfMixer, gst_mf_mixer, GST, MF_MIXER, GstBin)
G_END_DECLS

typedef enum { MF_MIXER_KIND_AUDIO = 0, MF_MIXER_KIND_VIDEO = 1 } MfMixerKind;
typedef enum {
  MF_MIXER_BACKGROUND_BLACK = 0,
  MF_MIXER_BACKGROUND_WHITE = 1,
  MF_MIXER_BACKGROUND_TRANSPARENT = 2,
  MF_MIXER_BACKGROUND_CHECKER = 3,
} MfMixerBackground;

static GType mf_mixer_kind_get_type(void) {
  static gsize type = 0;
  static const GEnumValue values[] = {{MF_MIXER_KIND_AUDIO, "Audio: sum", "audio"},
                                      {MF_MIXER_KIND_VIDEO, "Video: grid", "video"},
                                      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type)) g_once_init_leave(&type, g_enum_register_static("MfMixerKind", values));
  return GType(type);
}

static GType mf_mixer_background_get_type(void) {
  static gsize type = 0;
  static const GEnumValue values[] = {
      {MF_MIXER_BACKGROUND_BLACK, "Black", "black"},
      {MF_MIXER_BACKGROUND_WHITE, "White", "white"},
      {MF_MIXER_BACKGROUND_TRANSPARENT, "Transparent", "transparent"},
      {MF_MIXER_BACKGROUND_CHECKER, "Checker pattern", "checker"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("MfMixerBackground", values));
  return GType(type);
}

namespace {

constexpr int kDefaultWidth = 1280;
constexpr int kDefaultHeight = 720;
constexpr guint64 kDefaultOutputBufferDuration = 10 * GST_MSECOND;
constexpr guint64 kOutputQueueTime = 200 * GST_MSECOND;
constexpr const char *kQueueKey = "mf-mixer-output-queue";

struct Settings {
  MfMixerKind kind = MF_MIXER_KIND_AUDIO;
  MfMixerMode mode = MF_MIXER_MODE_ALL;
  int width = kDefaultWidth, height = kDefaultHeight;
  MfMixerBackground background = MF_MIXER_BACKGROUND_BLACK;
  guint64 latency = 0;
  guint64 output_buffer_duration = kDefaultOutputBufferDuration;
  bool decouple_outputs = true;
};

}  // namespace

// The element's C++ state (STYLE.md #7): allocated in init, deleted in finalize.
struct MfMixerPrivate {
  // Guarded by GST_OBJECT_LOCK(self): properties, written by set_property from any thread.
  Settings settings;
  // Guarded by GST_OBJECT_LOCK(self): the children (owned by the bin; these are extra refs) and
  // the requested inputs in request order (the video grid order). Never call into GstBin or the
  // children while holding the lock: they take it themselves.
  mf::Ptr<GstElement> core;        // MfAudioMix or compositor; null if compositor is missing
  mf::Ptr<GstElement> capsfilter;  // video: fixes the output size
  std::vector<mf::Ptr<GstPad>> inputs;
  // Only touched from the thread changing state / requesting pads (GStreamer serialises those
  // under the state lock in practice); the always src ghost pad.
  GstPad *srcpad = nullptr;
  // Guarded by GST_OBJECT_LOCK(self): the active speaker's peer id ("" = nobody), written by the
  // audio core's src thread.
  std::string active_speaker;
};

struct _GstMfMixer {
  GstBin parent;
  MfMixerPrivate *priv;
};

G_DEFINE_TYPE(GstMfMixer, gst_mf_mixer, GST_TYPE_BIN)
GST_ELEMENT_REGISTER_DEFINE(mfmixer, "mfmixer", GST_RANK_NONE, GST_TYPE_MF_MIXER)

enum {
  PROP_0,
  PROP_KIND,
  PROP_MODE,
  PROP_WIDTH,
  PROP_HEIGHT,
  PROP_BACKGROUND,
  PROP_LATENCY,
  PROP_OUTPUT_BUFFER_DURATION,
  PROP_DECOUPLE_OUTPUTS,
  PROP_ACTIVE_SPEAKER
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink_%u", GST_PAD_SINK, GST_PAD_REQUEST, GST_STATIC_CAPS("audio/x-raw; video/x-raw"));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS("audio/x-raw, format = (string) { S16LE, F32LE }, layout = (string) "
                    "interleaved; video/x-raw"));
static GstStaticPadTemplate out_template = GST_STATIC_PAD_TEMPLATE(
    "src_%u", GST_PAD_SRC, GST_PAD_SOMETIMES,
    GST_STATIC_CAPS("audio/x-raw, format = (string) { S16LE, F32LE }, layout = (string) "
                    "interleaved"));

static Settings snapshot(GstMfMixer *self) {
  GST_OBJECT_LOCK(self);
  Settings s = self->priv->settings;
  GST_OBJECT_UNLOCK(self);
  return s;
}

static mf::Ptr<GstElement> core_of(GstMfMixer *self) {
  GST_OBJECT_LOCK(self);
  auto core = mf::ref(self->priv->core.get());
  GST_OBJECT_UNLOCK(self);
  return core;
}

static mf::Ptr<GstCaps> video_size_caps(const Settings &s) {
  return mf::adopt(gst_caps_new_simple("video/x-raw", "width", G_TYPE_INT, s.width, "height",
                                       G_TYPE_INT, s.height, "pixel-aspect-ratio",
                                       GST_TYPE_FRACTION, 1, 1, nullptr));
}

static const gchar *background_nick(MfMixerBackground b) {
  switch (b) {
    case MF_MIXER_BACKGROUND_WHITE: return "white";
    case MF_MIXER_BACKGROUND_TRANSPARENT: return "transparent";
    case MF_MIXER_BACKGROUND_CHECKER: return "checker";
    default: return "black";
  }
}

// Puts every video input in its grid cell. Called after an input comes or goes, or the size
// changes.
static void relayout(GstMfMixer *self) {
  std::vector<mf::Ptr<GstPad>> inputs;
  GST_OBJECT_LOCK(self);
  const Settings s = self->priv->settings;
  for (auto &p : self->priv->inputs) inputs.push_back(mf::ref(p.get()));
  GST_OBJECT_UNLOCK(self);
  if (s.kind != MF_MIXER_KIND_VIDEO) return;
  const auto cells = mf::mixer::grid_layout(int(inputs.size()), s.width, s.height);
  for (size_t i = 0; i < inputs.size() && i < cells.size(); ++i) {
    auto target = mf::adopt(gst_ghost_pad_get_target(GST_GHOST_PAD(inputs[i].get())));
    if (!target) continue;
    const auto &c = cells[i];
    g_object_set(target.get(), "xpos", c.x, "ypos", c.y, "width", c.width, "height", c.height,
                 nullptr);
    GST_DEBUG_OBJECT(self, "%s -> %dx%d at (%d,%d)", GST_PAD_NAME(inputs[i].get()), c.width,
                     c.height, c.x, c.y);
  }
}

// The audio core's active speaker changed (its src thread, right after the block that decided it
// was pushed): name it by the input's peer-id (the pad name if it has none), remember it, post
// the element message and send the serialized event down src.
static void speaker_changed(MfAudioMix *, const gchar *sink_pad, gdouble level_db, gpointer data) {
  GstMfMixer *self = GST_MF_MIXER(data);
  std::string peer;
  if (sink_pad && *sink_pad) {
    auto pad = mf::adopt(gst_element_get_static_pad(GST_ELEMENT(self), sink_pad));
    gchar *id = nullptr;
    if (pad) g_object_get(pad.get(), "peer-id", &id, nullptr);
    peer = id && *id ? id : sink_pad;
    g_free(id);
  }
  GST_OBJECT_LOCK(self);
  self->priv->active_speaker = peer;
  GstPad *src = self->priv->srcpad ? GST_PAD(gst_object_ref(self->priv->srcpad)) : nullptr;
  GST_OBJECT_UNLOCK(self);
  GST_INFO_OBJECT(self, "active speaker: '%s' (%.1f dBFS)", peer.c_str(), level_db);
  gst_element_post_message(
      GST_ELEMENT(self),
      gst_message_new_element(GST_OBJECT(self),
                              gst_structure_new("meshflow-active-speaker", "peer-id", G_TYPE_STRING,
                                                peer.c_str(), "level-db", G_TYPE_DOUBLE, level_db,
                                                nullptr)));
  if (src) {
    // Nobody may be listening to src (mix_minus): a refused event is not an error.
    gst_pad_push_event(src, gst_event_new_custom(GST_EVENT_CUSTOM_DOWNSTREAM,
                                                 gst_structure_new("meshflow-speaker", "peer-id",
                                                                   G_TYPE_STRING, peer.c_str(),
                                                                   "level-db", G_TYPE_DOUBLE,
                                                                   level_db, nullptr)));
    gst_object_unref(src);
  }
}

// Removes the current children and builds those of the configured kind. Only without inputs.
static void build(GstMfMixer *self) {
  MfMixerPrivate *p = self->priv;
  GST_OBJECT_LOCK(self);
  auto old_core = std::move(p->core);
  auto old_filter = std::move(p->capsfilter);
  const Settings s = p->settings;
  GST_OBJECT_UNLOCK(self);

  gst_ghost_pad_set_target(GST_GHOST_PAD(p->srcpad), nullptr);
  for (GstElement *e : {old_core.get(), old_filter.get()}) {
    if (!e) continue;
    gst_element_set_state(e, GST_STATE_NULL);
    gst_bin_remove(GST_BIN(self), e);
  }

  mf::Ptr<GstElement> core, filter;
  if (s.kind == MF_MIXER_KIND_AUDIO) {
    core = mf::sink(GST_ELEMENT(g_object_new(MF_TYPE_AUDIO_MIX, "name", "audio_mix", "mode", s.mode,
                                             "latency", s.latency, "output-buffer-duration",
                                             s.output_buffer_duration, nullptr)));
    mf_audio_mix_set_speaker_func(MF_AUDIO_MIX(core.get()), speaker_changed, self);
  } else {
    // A missing compositor is reported at NULL->READY (change_state), not here.
    core = mf::sink(gst_element_factory_make("compositor", "compositor"));
    if (core) {
      g_object_set(core.get(), "latency", s.latency, nullptr);
      gst_util_set_object_arg(G_OBJECT(core.get()), "background", background_nick(s.background));
      filter = mf::sink(gst_element_factory_make("capsfilter", "size"));
      if (filter) g_object_set(filter.get(), "caps", video_size_caps(s).get(), nullptr);
    }
  }
  GstPad *target = nullptr;
  if (core) {
    gst_bin_add(GST_BIN(self), core.get());
    target = gst_element_get_static_pad(core.get(), "src");
    if (filter) {
      gst_bin_add(GST_BIN(self), filter.get());
      gst_element_link(core.get(), filter.get());
      gst_object_unref(target);
      target = gst_element_get_static_pad(filter.get(), "src");
    }
    gst_ghost_pad_set_target(GST_GHOST_PAD(p->srcpad), target);
    gst_object_unref(target);
    if (GST_STATE(self) > GST_STATE_NULL) {
      gst_element_sync_state_with_parent(core.get());
      if (filter) gst_element_sync_state_with_parent(filter.get());
    }
  }
  GST_OBJECT_LOCK(self);
  p->core = std::move(core);
  p->capsfilter = std::move(filter);
  GST_OBJECT_UNLOCK(self);
}

// A decoupled output's queue pushes into src_N's internal proxy pad. Once src_N is unlinked (its
// consumer torn down first, as a session does when a peer leaves), that push returns not-linked;
// the queue would remember it and turn the next EOS into an ERROR that stops the whole pipeline
// (`queue_src_N: not-linked`). An unlinked src_N drops its data instead, exactly as the outputs
// without queues do (audio_mix ignores not-linked there), so teardown order does not matter.
static GstFlowReturn output_chain(GstPad *pad, GstObject *parent, GstBuffer *buf) {
  GstFlowReturn r = gst_proxy_pad_chain_default(pad, parent, buf);
  if (r != GST_FLOW_NOT_LINKED) return r;
  GST_LOG_OBJECT(pad, "output not linked: buffer dropped");
  return GST_FLOW_OK;
}

static GstFlowReturn output_chain_list(GstPad *pad, GstObject *parent, GstBufferList *list) {
  GstFlowReturn r = gst_proxy_pad_chain_list_default(pad, parent, list);
  if (r != GST_FLOW_NOT_LINKED) return r;
  GST_LOG_OBJECT(pad, "output not linked: buffer list dropped");
  return GST_FLOW_OK;
}

static void drop_when_unlinked(GstPad *ghost) {
  auto internal = mf::adopt(GST_PAD(gst_proxy_pad_get_internal(GST_PROXY_PAD(ghost))));
  if (!internal) return;
  gst_pad_set_chain_function(internal.get(), GST_DEBUG_FUNCPTR(output_chain));
  gst_pad_set_chain_list_function(internal.get(), GST_DEBUG_FUNCPTR(output_chain_list));
}

static GstPad *gst_mf_mixer_request_new_pad(GstElement *element, GstPadTemplate *templ,
                                            const gchar *req_name, const GstCaps *caps) {
  GstMfMixer *self = GST_MF_MIXER(element);
  auto core = core_of(self);
  if (!core) {
    GST_ELEMENT_ERROR(self, CORE, MISSING_PLUGIN, ("The 'compositor' element is missing"),
                      ("install gst-plugins-base (compositor) to use kind=video"));
    return nullptr;
  }
  GstPadTemplate *core_templ =
      gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(core.get()), "sink_%u");
  auto inner = mf::adopt(gst_element_request_pad(core.get(), core_templ, req_name, caps));
  if (!inner) return nullptr;

  GstPad *ghost = mf_mixer_pad_new(GST_PAD_NAME(inner.get()), templ, inner.get());
  if (!ghost) {
    gst_element_release_request_pad(core.get(), inner.get());
    return nullptr;
  }
  GstPad *out_ghost = nullptr;
  if (MF_IS_AUDIO_MIX(core.get())) {
    auto out = mf::adopt(mf_audio_mix_get_output_pad(MF_AUDIO_MIX(core.get()), inner.get()));
    if (out) {
      // Optionally decouple the output with its own queue thread (see decouple-outputs).
      mf::Ptr<GstPad> target = mf::ref(out.get());
      if (snapshot(self).decouple_outputs) {
        mf::CharPtr qname(g_strdup_printf("queue_%s", GST_PAD_NAME(out.get())));
        auto queue = mf::sink(gst_element_factory_make("queue", qname.get()));
        if (queue) {
          g_object_set(queue.get(), "max-size-buffers", 0u, "max-size-bytes", 0u, "max-size-time",
                       kOutputQueueTime, nullptr);
          gst_bin_add(GST_BIN(self), queue.get());
          auto qsink = mf::adopt(gst_element_get_static_pad(queue.get(), "sink"));
          gst_pad_link(out.get(), qsink.get());
          gst_element_sync_state_with_parent(queue.get());
          target = mf::adopt(gst_element_get_static_pad(queue.get(), "src"));
          g_object_set_data_full(G_OBJECT(ghost), kQueueKey, gst_object_ref(queue.get()),
                                 gst_object_unref);
        }
      }
      GstPadTemplate *otempl = gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(self), "src_%u");
      out_ghost = mf_mixer_pad_new(GST_PAD_NAME(out.get()), otempl, target.get());
      if (out_ghost) {
        if (target.get() != out.get()) drop_when_unlinked(out_ghost);
        mf_mixer_pad_set_output(MF_MIXER_PAD(ghost), out_ghost);
      }
    }
  }
  GST_OBJECT_LOCK(self);
  self->priv->inputs.push_back(mf::ref(ghost));
  GST_OBJECT_UNLOCK(self);
  // Pads added while running are activated by gst_element_add_pad.
  gst_element_add_pad(element, ghost);
  if (out_ghost) gst_element_add_pad(element, out_ghost);
  relayout(self);
  GST_DEBUG_OBJECT(self, "new input %s%s", GST_PAD_NAME(ghost), out_ghost ? " with its output" : "");
  return ghost;
}

static void gst_mf_mixer_release_pad(GstElement *element, GstPad *pad) {
  GstMfMixer *self = GST_MF_MIXER(element);
  GST_DEBUG_OBJECT(self, "releasing %s", GST_PAD_NAME(pad));
  auto keep = mf::ref(pad);
  GST_OBJECT_LOCK(self);
  auto &in = self->priv->inputs;
  in.erase(std::remove_if(in.begin(), in.end(), [&](const mf::Ptr<GstPad> &p) { return p.get() == pad; }),
           in.end());
  GST_OBJECT_UNLOCK(self);

  auto out = mf::adopt(mf_mixer_pad_get_output(MF_MIXER_PAD(pad)));
  mf_mixer_pad_set_output(MF_MIXER_PAD(pad), nullptr);
  auto inner = mf::adopt(gst_ghost_pad_get_target(GST_GHOST_PAD(pad)));
  if (out) {
    gst_pad_set_active(out.get(), FALSE);
    gst_element_remove_pad(element, out.get());
  }
  gst_pad_set_active(pad, FALSE);
  gst_element_remove_pad(element, pad);
  auto *queue = static_cast<GstElement *>(g_object_steal_data(G_OBJECT(pad), kQueueKey));
  if (queue) {
    gst_element_set_state(queue, GST_STATE_NULL);
    gst_bin_remove(GST_BIN(self), queue);
    gst_object_unref(queue);
  }
  auto core = core_of(self);
  if (core && inner) gst_element_release_request_pad(core.get(), inner.get());
  relayout(self);
}

// Second line of defence for the same teardown race (see output_chain): an output queue that
// still stopped on not-linked (its src_N unlinked by a peer's teardown in an order the chain
// wrapper does not see) posts a flow ERROR at the next EOS. For our own output queues that only
// means "this peer's output has no consumer any more": logged, not an error for the pipeline.
static void gst_mf_mixer_handle_message(GstBin *bin, GstMessage *message) {
  if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR && GST_IS_ELEMENT(GST_MESSAGE_SRC(message)) &&
      GST_OBJECT_PARENT(GST_MESSAGE_SRC(message)) == GST_OBJECT(bin) &&
      g_str_has_prefix(GST_OBJECT_NAME(GST_MESSAGE_SRC(message)), "queue_src_")) {
    const GstStructure *details = nullptr;
    gst_message_parse_error_details(message, &details);
    gint flow = GST_FLOW_OK;
    if (details && gst_structure_get_int(details, "flow-return", &flow) && flow == GST_FLOW_NOT_LINKED) {
      GST_WARNING_OBJECT(bin, "%s: output not linked any more (peer left): not an error",
                         GST_OBJECT_NAME(GST_MESSAGE_SRC(message)));
      gst_message_unref(message);
      return;
    }
  }
  GST_BIN_CLASS(gst_mf_mixer_parent_class)->handle_message(bin, message);
}

static GstStateChangeReturn gst_mf_mixer_change_state(GstElement *element, GstStateChange transition) {
  GstMfMixer *self = GST_MF_MIXER(element);
  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    const Settings s = snapshot(self);
    if (!core_of(self)) {
      GST_ELEMENT_ERROR(self, CORE, MISSING_PLUGIN, ("The 'compositor' element is missing"),
                        ("install gst-plugins-base (compositor) to use kind=video"));
      return GST_STATE_CHANGE_FAILURE;
    }
    if (s.kind == MF_MIXER_KIND_VIDEO && s.mode == MF_MIXER_MODE_MIX_MINUS)
      GST_ELEMENT_WARNING(self, CORE, NOT_IMPLEMENTED, ("mode=mix_minus has no effect with kind=video"),
                          ("every output shows every input"));
  }
  return GST_ELEMENT_CLASS(gst_mf_mixer_parent_class)->change_state(element, transition);
}

static bool has_inputs(GstMfMixer *self) {
  GST_OBJECT_LOCK(self);
  bool any = !self->priv->inputs.empty();
  GST_OBJECT_UNLOCK(self);
  return any;
}

static void gst_mf_mixer_set_property(GObject *object, guint id, const GValue *value,
                                      GParamSpec *pspec) {
  GstMfMixer *self = GST_MF_MIXER(object);
  MfMixerPrivate *p = self->priv;
  switch (id) {
    case PROP_KIND: {
      auto kind = MfMixerKind(g_value_get_enum(value));
      if (has_inputs(self)) {
        GST_WARNING_OBJECT(self, "kind is fixed once an input pad exists");
        break;
      }
      GST_OBJECT_LOCK(self);
      bool changed = p->settings.kind != kind;
      p->settings.kind = kind;
      GST_OBJECT_UNLOCK(self);
      if (changed) build(self);
      break;
    }
    case PROP_MODE: {
      if (has_inputs(self)) {
        GST_WARNING_OBJECT(self, "mode is fixed once an input pad exists");
        break;
      }
      GST_OBJECT_LOCK(self);
      p->settings.mode = MfMixerMode(g_value_get_enum(value));
      const Settings s = p->settings;
      GST_OBJECT_UNLOCK(self);
      auto core = core_of(self);
      if (core && MF_IS_AUDIO_MIX(core.get())) g_object_set(core.get(), "mode", s.mode, nullptr);
      break;
    }
    case PROP_WIDTH:
    case PROP_HEIGHT:
    case PROP_BACKGROUND: {
      GST_OBJECT_LOCK(self);
      if (id == PROP_WIDTH) p->settings.width = g_value_get_int(value);
      if (id == PROP_HEIGHT) p->settings.height = g_value_get_int(value);
      if (id == PROP_BACKGROUND) p->settings.background = MfMixerBackground(g_value_get_enum(value));
      const Settings s = p->settings;
      auto filter = mf::ref(p->capsfilter.get());
      auto core = mf::ref(p->core.get());
      GST_OBJECT_UNLOCK(self);
      if (s.kind != MF_MIXER_KIND_VIDEO) break;
      if (filter && id != PROP_BACKGROUND) g_object_set(filter.get(), "caps", video_size_caps(s).get(), nullptr);
      if (core && id == PROP_BACKGROUND)
        gst_util_set_object_arg(G_OBJECT(core.get()), "background", background_nick(s.background));
      if (id != PROP_BACKGROUND) relayout(self);
      break;
    }
    case PROP_LATENCY:
    case PROP_OUTPUT_BUFFER_DURATION: {
      GST_OBJECT_LOCK(self);
      if (id == PROP_LATENCY) p->settings.latency = g_value_get_uint64(value);
      else p->settings.output_buffer_duration = g_value_get_uint64(value);
      const Settings s = p->settings;
      GST_OBJECT_UNLOCK(self);
      auto core = core_of(self);
      if (!core) break;
      if (id == PROP_LATENCY) g_object_set(core.get(), "latency", s.latency, nullptr);
      else if (MF_IS_AUDIO_MIX(core.get()))
        g_object_set(core.get(), "output-buffer-duration", s.output_buffer_duration, nullptr);
      break;
    }
    case PROP_DECOUPLE_OUTPUTS:
      GST_OBJECT_LOCK(self);
      p->settings.decouple_outputs = g_value_get_boolean(value);
      GST_OBJECT_UNLOCK(self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void gst_mf_mixer_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec) {
  const Settings s = snapshot(GST_MF_MIXER(object));
  switch (id) {
    case PROP_KIND: g_value_set_enum(value, s.kind); break;
    case PROP_MODE: g_value_set_enum(value, s.mode); break;
    case PROP_WIDTH: g_value_set_int(value, s.width); break;
    case PROP_HEIGHT: g_value_set_int(value, s.height); break;
    case PROP_BACKGROUND: g_value_set_enum(value, s.background); break;
    case PROP_LATENCY: g_value_set_uint64(value, s.latency); break;
    case PROP_OUTPUT_BUFFER_DURATION: g_value_set_uint64(value, s.output_buffer_duration); break;
    case PROP_DECOUPLE_OUTPUTS: g_value_set_boolean(value, s.decouple_outputs); break;
    case PROP_ACTIVE_SPEAKER: {
      GstMfMixer *self = GST_MF_MIXER(object);
      GST_OBJECT_LOCK(self);
      g_value_set_string(value, self->priv->active_speaker.c_str());
      GST_OBJECT_UNLOCK(self);
      break;
    }
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void gst_mf_mixer_constructed(GObject *object) {
  G_OBJECT_CLASS(gst_mf_mixer_parent_class)->constructed(object);
  GstMfMixer *self = GST_MF_MIXER(object);
  GstPadTemplate *templ = gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(self), "src");
  self->priv->srcpad = mf_mixer_pad_new("src", templ, nullptr);
  gst_element_add_pad(GST_ELEMENT(self), self->priv->srcpad);
  build(self);
}

static void gst_mf_mixer_finalize(GObject *object) {
  delete GST_MF_MIXER(object)->priv;
  G_OBJECT_CLASS(gst_mf_mixer_parent_class)->finalize(object);
}

static void gst_mf_mixer_class_init(GstMfMixerClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(mf_mixer_debug, "mfmixer", 0, "Meshflow mixer");
  mf_mixer_pad_register_tags();

  gobject_class->constructed = gst_mf_mixer_constructed;
  gobject_class->set_property = gst_mf_mixer_set_property;
  gobject_class->get_property = gst_mf_mixer_get_property;
  gobject_class->finalize = gst_mf_mixer_finalize;

  const auto rw = GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const auto ready = GParamFlags(rw | GST_PARAM_MUTABLE_READY);
  const auto playing = GParamFlags(rw | GST_PARAM_MUTABLE_PLAYING);
  g_object_class_install_property(
      gobject_class, PROP_KIND,
      g_param_spec_enum("kind", "Kind", "What is mixed: audio (sum) or video (grid); set before "
                        "requesting pads", mf_mixer_kind_get_type(), MF_MIXER_KIND_AUDIO, ready));
  g_object_class_install_property(
      gobject_class, PROP_MODE,
      g_param_spec_enum("mode", "Mode", "Audio: all = one mix on src; mix_minus = also one output "
                        "src_N per input sink_N without that input; set before requesting pads",
                        MF_TYPE_MIXER_MODE, MF_MIXER_MODE_ALL, ready));
  g_object_class_install_property(
      gobject_class, PROP_WIDTH,
      g_param_spec_int("width", "Width", "Video output width in pixels", 16, 16384, kDefaultWidth, playing));
  g_object_class_install_property(
      gobject_class, PROP_HEIGHT,
      g_param_spec_int("height", "Height", "Video output height in pixels", 16, 16384, kDefaultHeight,
                       playing));
  g_object_class_install_property(
      gobject_class, PROP_BACKGROUND,
      g_param_spec_enum("background", "Background", "Video background behind and between cells",
                        mf_mixer_background_get_type(), MF_MIXER_BACKGROUND_BLACK, playing));
  g_object_class_install_property(
      gobject_class, PROP_LATENCY,
      g_param_spec_uint64("latency", "Latency",
                          "Extra time in nanoseconds to wait for late live inputs before mixing "
                          "without them", 0, G_MAXUINT64, 0, ready));
  g_object_class_install_property(
      gobject_class, PROP_OUTPUT_BUFFER_DURATION,
      g_param_spec_uint64("output-buffer-duration", "Output buffer duration",
                          "Audio output block in nanoseconds", 1, G_MAXUINT64,
                          kDefaultOutputBufferDuration, ready));
  g_object_class_install_property(
      gobject_class, PROP_DECOUPLE_OUTPUTS,
      g_param_spec_boolean("decouple-outputs", "Decouple outputs",
                           "mix_minus: give each src_N its own queue thread (up to 200 ms), so a "
                           "prerolling or slow consumer does not hold up the other peers' mixes; "
                           "FALSE pushes from the mixing thread (put queues after src_N yourself, "
                           "as after tee)", TRUE, ready));
  g_object_class_install_property(
      gobject_class, PROP_ACTIVE_SPEAKER,
      g_param_spec_string("active-speaker", "Active speaker",
                          "kind=audio: the peer-id of the input talking now (its pad name if it "
                          "has no peer-id), or empty if nobody is", "",
                          GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_add_static_pad_template_with_gtype(element_class, &sink_template, MF_TYPE_MIXER_PAD);
  gst_element_class_add_static_pad_template_with_gtype(element_class, &src_template, MF_TYPE_MIXER_PAD);
  gst_element_class_add_static_pad_template_with_gtype(element_class, &out_template, MF_TYPE_MIXER_PAD);
  gst_element_class_set_static_metadata(
      element_class, "Meshflow mixer", "Generic/Mixer/Audio/Video",
      "Mixes audio (sum, or mix-minus: one mix per peer without that peer) or video (grid)",
      "Meshflow");
  mf_node_class_set_name(element_class, "mixer");

  element_class->request_new_pad = GST_DEBUG_FUNCPTR(gst_mf_mixer_request_new_pad);
  element_class->release_pad = GST_DEBUG_FUNCPTR(gst_mf_mixer_release_pad);
  element_class->change_state = GST_DEBUG_FUNCPTR(gst_mf_mixer_change_state);
  GST_BIN_CLASS(klass)->handle_message = GST_DEBUG_FUNCPTR(gst_mf_mixer_handle_message);

  gst_type_mark_as_plugin_api(mf_mixer_kind_get_type(), GstPluginAPIFlags(0));
  gst_type_mark_as_plugin_api(mf_mixer_background_get_type(), GstPluginAPIFlags(0));
  gst_type_mark_as_plugin_api(MF_TYPE_MIXER_MODE, GstPluginAPIFlags(0));
  gst_type_mark_as_plugin_api(MF_TYPE_MIXER_PAD, GstPluginAPIFlags(0));
}

static void gst_mf_mixer_init(GstMfMixer *self) { self->priv = new MfMixerPrivate(); }
