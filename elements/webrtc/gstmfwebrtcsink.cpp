// PLACEHOLDER until its helper lands: an element with no pads, registered as 'webrtc_sink'.
#include <gst/gst.h>
#include "meshflow/sdk/node.h"

G_BEGIN_DECLS
#define GST_TYPE_MF_WEBRTC_SINK (gst_mf_webrtc_sink_get_type())
G_DECLARE_FINAL_TYPE(GstMfWebrtcSink, gst_mf_webrtc_sink, GST, MF_WEBRTC_SINK, GstBin)
G_END_DECLS
struct _GstMfWebrtcSink { GstBin parent; };
G_DEFINE_TYPE(GstMfWebrtcSink, gst_mf_webrtc_sink, GST_TYPE_BIN)
GST_ELEMENT_REGISTER_DEFINE(mfwebrtcsink, "mfwebrtcsink", GST_RANK_NONE, GST_TYPE_MF_WEBRTC_SINK)
static void gst_mf_webrtc_sink_class_init(GstMfWebrtcSinkClass *klass) {
  GstElementClass *ec = GST_ELEMENT_CLASS(klass);
  gst_element_class_set_static_metadata(ec, "Meshflow webrtc_sink (placeholder)", "Generic", "placeholder", "Meshflow");
  mf_node_class_set_name(ec, "webrtc_sink");
}
static void gst_mf_webrtc_sink_init(GstMfWebrtcSink *) {}
