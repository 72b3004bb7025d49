/* invert: a custom Meshflow node in its own GStreamer plugin — the template for element authors.
 *
 * Inverts the luma of I420/NV12/GRAY8 video (Y' = 255 - Y), chroma untouched.
 * Pads: sink, src — video/x-raw, format={I420, NV12, GRAY8}.
 * Properties: `strength` (double 0..1, default 1): 0 = passthrough, 1 = full inversion.
 *
 * Manifest:
 *   - {id: negative, type: invert, properties: {strength: 1}}
 * Launch line:
 *   GST_PLUGIN_PATH=<dir of libgstmfexample.so> gst-launch-1.0 videotestsrc ! invert ! autovideosink
 *
 * The one Meshflow-specific line is mf_node_class_set_name(): it gives the element its manifest
 * name. meshflow-launch and meshflow-inspect find it through GST_PLUGIN_PATH like any plugin.
 */
#include <gst/video/gstvideofilter.h>
#include <meshflow/sdk/node.h>

#define GST_TYPE_MF_INVERT (gst_mf_invert_get_type())
G_DECLARE_FINAL_TYPE(GstMfInvert, gst_mf_invert, GST, MF_INVERT, GstVideoFilter)

struct _GstMfInvert {
  GstVideoFilter parent;
  gdouble strength; /* protected by the object lock */
};

G_DEFINE_TYPE(GstMfInvert, gst_mf_invert, GST_TYPE_VIDEO_FILTER)
GST_ELEMENT_REGISTER_DEFINE(mfinvert, "mfinvert", GST_RANK_NONE, GST_TYPE_MF_INVERT)

enum { PROP_0, PROP_STRENGTH };

static void set_property(GObject *o, guint id, const GValue *v, GParamSpec *p) {
  GstMfInvert *self = GST_MF_INVERT(o);
  if (id != PROP_STRENGTH) {
    G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, p);
    return;
  }
  GST_OBJECT_LOCK(self);
  self->strength = g_value_get_double(v);
  GST_OBJECT_UNLOCK(self);
}

static void get_property(GObject *o, guint id, GValue *v, GParamSpec *p) {
  GstMfInvert *self = GST_MF_INVERT(o);
  if (id != PROP_STRENGTH) {
    G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, p);
    return;
  }
  GST_OBJECT_LOCK(self);
  g_value_set_double(v, self->strength);
  GST_OBJECT_UNLOCK(self);
}

static GstFlowReturn transform_frame_ip(GstVideoFilter *filter, GstVideoFrame *frame) {
  GstMfInvert *self = GST_MF_INVERT(filter);
  GST_OBJECT_LOCK(self);
  gdouble s = self->strength;
  GST_OBJECT_UNLOCK(self);
  guint8 *y = GST_VIDEO_FRAME_PLANE_DATA(frame, 0);
  gint stride = GST_VIDEO_FRAME_PLANE_STRIDE(frame, 0);
  gint w = GST_VIDEO_FRAME_COMP_WIDTH(frame, 0), h = GST_VIDEO_FRAME_COMP_HEIGHT(frame, 0);
  gint k = (gint)(s * 256.0 + 0.5);
  for (gint row = 0; row < h; row++) {
    guint8 *p = y + row * stride;
    for (gint x = 0; x < w; x++) p[x] = (guint8)((p[x] * (256 - k) + (255 - p[x]) * k) >> 8);
  }
  return GST_FLOW_OK;
}

static void gst_mf_invert_class_init(GstMfInvertClass *klass) {
  GObjectClass *oc = G_OBJECT_CLASS(klass);
  GstElementClass *ec = GST_ELEMENT_CLASS(klass);
  oc->set_property = set_property;
  oc->get_property = get_property;
  g_object_class_install_property(oc, PROP_STRENGTH,
      g_param_spec_double("strength", "Strength", "0 = passthrough, 1 = full luma inversion", 0.0, 1.0,
                          1.0, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  gst_element_class_set_static_metadata(ec, "Invert (example)", "Filter/Effect/Video",
                                        "Inverts luma: the custom-plugin template", "Meshflow");
  mf_node_class_set_name(ec, "invert");
  GstCaps *caps = gst_caps_from_string(GST_VIDEO_CAPS_MAKE("{ I420, NV12, GRAY8 }"));
  gst_element_class_add_pad_template(ec, gst_pad_template_new("sink", GST_PAD_SINK, GST_PAD_ALWAYS, caps));
  gst_element_class_add_pad_template(ec, gst_pad_template_new("src", GST_PAD_SRC, GST_PAD_ALWAYS, caps));
  gst_caps_unref(caps);
  GST_VIDEO_FILTER_CLASS(klass)->transform_frame_ip = transform_frame_ip;
}

static void gst_mf_invert_init(GstMfInvert *self) { self->strength = 1.0; }

static gboolean plugin_init(GstPlugin *plugin) { return GST_ELEMENT_REGISTER(mfinvert, plugin); }

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, mfexample, "Meshflow custom-plugin example",
                  plugin_init, "0.1.0", "LGPL", "meshflow-example", "https://github.com/meshflow/meshflow")
