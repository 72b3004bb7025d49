// PLACEHOLDER until the blur helper lands: passthrough video filter with a `sigma` property.
#include <gst/video/gstvideofilter.h>
#include "meshflow/sdk/node.h"

G_BEGIN_DECLS
#define GST_TYPE_MF_BLUR (gst_mf_blur_get_type())
G_DECLARE_FINAL_TYPE(GstMfBlur, gst_mf_blur, GST, MF_BLUR, GstVideoFilter)
G_END_DECLS

struct _GstMfBlur {
  GstVideoFilter parent;
  double sigma;
};

G_DEFINE_TYPE(GstMfBlur, gst_mf_blur, GST_TYPE_VIDEO_FILTER)
GST_ELEMENT_REGISTER_DEFINE(mfblur, "mfblur", GST_RANK_NONE, GST_TYPE_MF_BLUR)

enum { PROP_0, PROP_SIGMA };
#define CAPS GST_VIDEO_CAPS_MAKE("{ I420, NV12, RGBA, BGRA }")

static void set_property(GObject *o, guint id, const GValue *v, GParamSpec *p) {
  GstMfBlur *self = GST_MF_BLUR(o);
  if (id == PROP_SIGMA) self->sigma = g_value_get_double(v);
  else G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, p);
}
static void get_property(GObject *o, guint id, GValue *v, GParamSpec *p) {
  GstMfBlur *self = GST_MF_BLUR(o);
  if (id == PROP_SIGMA) g_value_set_double(v, self->sigma);
  else G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, p);
}
static GstFlowReturn transform_frame_ip(GstVideoFilter *, GstVideoFrame *) { return GST_FLOW_OK; }

static void gst_mf_blur_class_init(GstMfBlurClass *klass) {
  GObjectClass *oc = G_OBJECT_CLASS(klass);
  GstElementClass *ec = GST_ELEMENT_CLASS(klass);
  oc->set_property = set_property;
  oc->get_property = get_property;
  g_object_class_install_property(oc, PROP_SIGMA,
      g_param_spec_double("sigma", "Sigma", "Gaussian standard deviation in pixels (0 = passthrough)",
                          0.0, 64.0, 4.0, (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  gst_element_class_set_static_metadata(ec, "Meshflow blur", "Filter/Effect/Video",
                                        "Fast separable Gaussian blur", "Meshflow");
  mf_node_class_set_name(ec, "blur");
  GstCaps *caps = gst_caps_from_string(CAPS);
  gst_element_class_add_pad_template(ec, gst_pad_template_new("sink", GST_PAD_SINK, GST_PAD_ALWAYS, caps));
  gst_element_class_add_pad_template(ec, gst_pad_template_new("src", GST_PAD_SRC, GST_PAD_ALWAYS, caps));
  gst_caps_unref(caps);
  GST_VIDEO_FILTER_CLASS(klass)->transform_frame_ip = transform_frame_ip;
}
static void gst_mf_blur_init(GstMfBlur *self) { self->sigma = 4.0; }
