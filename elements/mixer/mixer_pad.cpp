// The pads of mfmixer; see mixer_pad.h.
#include "mixer_pad.h"

struct _MfMixerPad {
  GstGhostPad parent;
  // Guarded by GST_OBJECT_LOCK(pad):
  gchar *peer_id;   // owned, or NULL
  GstPad *output;   // owned ref: the paired mix-minus output (sink pads only), or NULL
};

G_DEFINE_TYPE(MfMixerPad, mf_mixer_pad, GST_TYPE_GHOST_PAD)

enum { PROP_0, PROP_PEER_ID };

static void set_peer_id(MfMixerPad *self, const gchar *id) {
  GST_OBJECT_LOCK(self);
  bool changed = g_strcmp0(self->peer_id, id) != 0;
  if (changed) {
    g_free(self->peer_id);
    self->peer_id = g_strdup(id);
  }
  GstPad *out = self->output ? GST_PAD(gst_object_ref(self->output)) : nullptr;
  GST_OBJECT_UNLOCK(self);
  if (changed) g_object_notify(G_OBJECT(self), "peer-id");
  if (out) {
    if (MF_IS_MIXER_PAD(out)) set_peer_id(MF_MIXER_PAD(out), id);
    gst_object_unref(out);
  }
}

static void mf_mixer_pad_set_property(GObject *object, guint id, const GValue *value,
                                      GParamSpec *pspec) {
  switch (id) {
    case PROP_PEER_ID:
      set_peer_id(MF_MIXER_PAD(object), g_value_get_string(value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void mf_mixer_pad_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec) {
  MfMixerPad *self = MF_MIXER_PAD(object);
  switch (id) {
    case PROP_PEER_ID:
      GST_OBJECT_LOCK(self);
      g_value_set_string(value, self->peer_id);
      GST_OBJECT_UNLOCK(self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void mf_mixer_pad_finalize(GObject *object) {
  MfMixerPad *self = MF_MIXER_PAD(object);
  g_free(self->peer_id);
  if (self->output) gst_object_unref(self->output);
  G_OBJECT_CLASS(mf_mixer_pad_parent_class)->finalize(object);
}

static void mf_mixer_pad_class_init(MfMixerPadClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  gobject_class->set_property = mf_mixer_pad_set_property;
  gobject_class->get_property = mf_mixer_pad_get_property;
  gobject_class->finalize = mf_mixer_pad_finalize;
  g_object_class_install_property(
      gobject_class, PROP_PEER_ID,
      g_param_spec_string("peer-id", "Peer id",
                          "Peer this stream belongs to (a sink pad's value is mirrored on its "
                          "mix-minus output src_N)",
                          nullptr,
                          GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                      GST_PARAM_MUTABLE_PLAYING)));
}

static void mf_mixer_pad_init(MfMixerPad *self) {
  self->peer_id = nullptr;
  self->output = nullptr;
}

// A `meshflow-peer-id` stream tag on a sink pad sets its peer-id unless the application did.
static GstPadProbeReturn tag_probe(GstPad *pad, GstPadProbeInfo *info, gpointer) {
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT(info);
  if (GST_EVENT_TYPE(event) != GST_EVENT_TAG) return GST_PAD_PROBE_OK;
  GstTagList *tags = nullptr;
  gst_event_parse_tag(event, &tags);
  gchar *id = nullptr;
  if (tags && gst_tag_list_get_string(tags, MF_TAG_PEER_ID, &id)) {
    MfMixerPad *self = MF_MIXER_PAD(pad);
    GST_OBJECT_LOCK(self);
    bool unset = self->peer_id == nullptr;
    GST_OBJECT_UNLOCK(self);
    if (unset) set_peer_id(self, id);
    g_free(id);
  }
  return GST_PAD_PROBE_OK;
}

GstPad *mf_mixer_pad_new(const gchar *name, GstPadTemplate *templ, GstPad *target) {
  GstPad *pad = GST_PAD(g_object_new(MF_TYPE_MIXER_PAD, "name", name, "direction",
                                     GST_PAD_TEMPLATE_DIRECTION(templ), "template", templ, nullptr));
  if (target && !gst_ghost_pad_set_target(GST_GHOST_PAD(pad), target)) {
    gst_object_unref(gst_object_ref_sink(pad));
    return nullptr;
  }
  if (GST_PAD_IS_SINK(pad))
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, tag_probe, nullptr, nullptr);
  return pad;
}

void mf_mixer_pad_set_output(MfMixerPad *sink, GstPad *output) {
  GST_OBJECT_LOCK(sink);
  gst_object_replace(reinterpret_cast<GstObject **>(&sink->output), GST_OBJECT(output));
  gchar *id = g_strdup(sink->peer_id);
  GST_OBJECT_UNLOCK(sink);
  if (output && MF_IS_MIXER_PAD(output)) set_peer_id(MF_MIXER_PAD(output), id);
  g_free(id);
}

GstPad *mf_mixer_pad_get_output(MfMixerPad *sink) {
  GST_OBJECT_LOCK(sink);
  GstPad *out = sink->output ? GST_PAD(gst_object_ref(sink->output)) : nullptr;
  GST_OBJECT_UNLOCK(sink);
  return out;
}

void mf_mixer_pad_register_tags(void) {
  if (!gst_tag_exists(MF_TAG_PEER_ID))
    gst_tag_register(MF_TAG_PEER_ID, GST_TAG_FLAG_META, G_TYPE_STRING, "peer id",
                     "Meshflow peer a stream comes from", gst_tag_merge_use_first);
}
