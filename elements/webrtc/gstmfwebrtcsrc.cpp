// PLACEHOLDER until its helper lands: an element with no pads, registered as 'webrtc_source'.
#include <gst/gst.h>
#include "meshflow/sdk/node.h"

G_BEGIN_DECLS
#define GST_TYPE_MF_WEBRTC_SOURCE (gst_mf_webrtc_source_get_type())
G_DECLARE_FINAL_TYPE(GstMfWebrtcSource, gst_mf_webrtc_source, GST, MF_WEBRTC_SOURCE, GstBin)
G_END_DECLS
struct _GstMfWebrtcSource { GstBin parent; };
G_DEFINE_TYPE(GstMfWebrtcSource, gst_mf_webrtc_source, GST_TYPE_BIN)
GST_ELEMENT_REGISTER_DEFINE(mfwebrtcsrc, "mfwebrtcsrc", GST_RANK_NONE, GST_TYPE_MF_WEBRTC_SOURCE)
static void gst_mf_webrtc_source_class_init(GstMfWebrtcSourceClass *klass) {
  GstElementClass *ec = GST_ELEMENT_CLASS(klass);
  gst_element_class_set_static_metadata(ec, "Meshflow webrtc_source (placeholder)", "Generic", "placeholder", "Meshflow");
  mf_node_class_set_name(ec, "webrtc_source");
}
static void gst_mf_webrtc_source_init(GstMfWebrtcSource *) {}
