// PLACEHOLDER until its helper lands: an element with no pads, registered as 'jitter_sync'.
#include <gst/gst.h>
#include "meshflow/sdk/node.h"

G_BEGIN_DECLS
#define GST_TYPE_MF_JITTER_SYNC (gst_mf_jitter_sync_get_type())
G_DECLARE_FINAL_TYPE(GstMfJitterSync, gst_mf_jitter_sync, GST, MF_JITTER_SYNC, GstElement)
G_END_DECLS
struct _GstMfJitterSync { GstElement parent; };
G_DEFINE_TYPE(GstMfJitterSync, gst_mf_jitter_sync, GST_TYPE_ELEMENT)
GST_ELEMENT_REGISTER_DEFINE(mfjittersync, "mfjittersync", GST_RANK_NONE, GST_TYPE_MF_JITTER_SYNC)
static void gst_mf_jitter_sync_class_init(GstMfJitterSyncClass *klass) {
  GstElementClass *ec = GST_ELEMENT_CLASS(klass);
  gst_element_class_set_static_metadata(ec, "Meshflow jitter_sync (placeholder)", "Generic", "placeholder", "Meshflow");
  mf_node_class_set_name(ec, "jitter_sync");
}
static void gst_mf_jitter_sync_init(GstMfJitterSync *) {}
