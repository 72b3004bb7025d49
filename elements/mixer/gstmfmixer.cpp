// PLACEHOLDER until its helper lands: an element with no pads, registered as 'mixer'.
#include <gst/gst.h>
#include "meshflow/sdk/node.h"

G_BEGIN_DECLS
#define GST_TYPE_MF_MIXER (gst_mf_mixer_get_type())
G_DECLARE_FINAL_TYPE(GstMfMixer, gst_mf_mixer, GST, MF_MIXER, GstElement)
G_END_DECLS
struct _GstMfMixer { GstElement parent; };
G_DEFINE_TYPE(GstMfMixer, gst_mf_mixer, GST_TYPE_ELEMENT)
GST_ELEMENT_REGISTER_DEFINE(mfmixer, "mfmixer", GST_RANK_NONE, GST_TYPE_MF_MIXER)
static void gst_mf_mixer_class_init(GstMfMixerClass *klass) {
  GstElementClass *ec = GST_ELEMENT_CLASS(klass);
  gst_element_class_set_static_metadata(ec, "Meshflow mixer (placeholder)", "Generic", "placeholder", "Meshflow");
  mf_node_class_set_name(ec, "mixer");
}
static void gst_mf_mixer_init(GstMfMixer *) {}
