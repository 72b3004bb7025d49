// mfblur (Meshflow node type `blur`): a fast separable Gaussian blur for raw 8-bit video.
//
// What it does: blurs every plane of the frame with a true Gaussian of standard deviation `sigma`
// (kernel radius ceil(3*sigma), fixed-point weights, borders replicate the edge pixel); chroma
// planes of subsampled formats use sigma divided by the subsampling factor. Optionally only a
// rectangle is blurred (pixels outside it are copied unchanged; pixels inside still sample their
// neighbours from the whole frame). Rows are split over a small persistent worker pool. With
// sigma = 0 the element is in passthrough: the input buffer goes out untouched, no copy.
//
// Pads (always, same caps on both sides):
//   sink, src: video/x-raw, format = { I420, YV12, NV12, NV21, NV16, NV24, Y444, Y42B, Y41B, A420,
//              GRAY8, RGBA, BGRA, ARGB, ABGR, RGBx, BGRx, xRGB, xBGR, AYUV, RGB, BGR }, any size
//              and framerate. Packed formats blur every byte of the pixel, alpha/padding included.
//
// Properties (all may change while PLAYING; each frame uses one consistent snapshot):
//   sigma     double 0..64, default 4.0, pixels (luma / full-resolution plane). 0 = passthrough.
//   x, y      int >= 0, default 0, pixels: top-left corner of the blurred region.
//   width     int >= 0, default 0, pixels: region width; 0 = up to the right edge of the frame.
//   height    int >= 0, default 0, pixels: region height; 0 = down to the bottom of the frame.
//             The region is clipped to the frame; chroma uses the covering subsampled rectangle.
//   n-threads int 0..64, default 0: threads working on a frame (the streaming thread included);
//             0 = number of online CPUs, capped at 8. 1 = no worker threads at all.
//
// Events: none of its own; an allocation or thread-creation failure is posted as an ERROR message.
//
// Manifest:
//   - {id: blur, type: blur, properties: {sigma: 6}}
// Equivalent launch line:
//   gst-launch-1.0 videotestsrc ! mfblur sigma=6 ! videoconvert ! autovideosink
#include <gst/video/gstvideofilter.h>
#include <gst/video/video.h>

#include <algorithm>
#include <array>
#include <exception>
#include <memory>
#include <new>
#include <vector>

#include "blur_kernel.h"
#include "meshflow/sdk/node.h"
#include "worker_pool.h"

GST_DEBUG_CATEGORY_STATIC(mf_blur_debug);
#define GST_CAT_DEFAULT mf_blur_debug

G_BEGIN_DECLS
#define GST_TYPE_MF_BLUR (gst_mf_blur_get_type())
G_DECLARE_FINAL_TYPE(GstMfBlur, gst_mf_blur, GST, MF_BLUR, GstVideoFilter)
G_END_DECLS

namespace {

using mf::blur::Kernel;
using mf::blur::PlaneView;
using mf::blur::Rect;
using mf::blur::Scratch;
using mf::blur::WorkerPool;

constexpr double kDefaultSigma = 4.0;
constexpr int kMaxThreads = 64;
constexpr unsigned kAutoThreadCap = 8;
// Bands per participant: a few more bands than threads keeps the threads busy when one of them is
// descheduled (the machines are shared).
constexpr int kBandsPerThread = 4;
// Up to this subsampling shift (Y41B: chroma is 1/4 wide) kernels are cached.
constexpr int kMaxSubShift = 2;

struct Settings {
  double sigma = kDefaultSigma;
  int x = 0, y = 0, width = 0, height = 0;
  int n_threads = 0;
};

struct Band {
  int plane;
  int row_begin, row_end;
};

unsigned resolve_threads(int n) {
  if (n > 0) return unsigned(n);
  return std::clamp(unsigned(g_get_num_processors()), 1u, kAutoThreadCap);
}

}  // namespace

// The element's C++ state (STYLE.md #7): allocated in init, deleted in finalize.
struct MfBlurPrivate {
  // Guarded by GST_OBJECT_LOCK(self): written by set_property from any thread, snapshotted once
  // per frame by the streaming thread.
  Settings settings;

  // Streaming state. Only touched by start(), stop() and transform_frame(), which GstBaseTransform
  // never runs concurrently (start/stop happen with the streaming thread stopped), so no lock.
  std::unique_ptr<WorkerPool> pool;
  std::vector<Scratch> scratch;  // one per pool participant
  // kernels[s]: sigma / 2^s, for planes subsampled by 2^s in that direction.
  std::array<Kernel, kMaxSubShift + 1> kernels;
  std::vector<Band> bands;
};

struct _GstMfBlur {
  GstVideoFilter parent;
  MfBlurPrivate *priv;
};

G_DEFINE_TYPE(GstMfBlur, gst_mf_blur, GST_TYPE_VIDEO_FILTER)
GST_ELEMENT_REGISTER_DEFINE(mfblur, "mfblur", GST_RANK_NONE, GST_TYPE_MF_BLUR)

enum { PROP_0, PROP_SIGMA, PROP_X, PROP_Y, PROP_WIDTH, PROP_HEIGHT, PROP_N_THREADS };

#define MF_BLUR_FORMATS                                                                        \
  "{ I420, YV12, NV12, NV21, NV16, NV24, Y444, Y42B, Y41B, A420, GRAY8, RGBA, BGRA, ARGB, ABGR, " \
  "RGBx, BGRx, xRGB, xBGR, AYUV, RGB, BGR }"

static void gst_mf_blur_set_property(GObject *object, guint id, const GValue *value,
                                     GParamSpec *pspec) {
  GstMfBlur *self = GST_MF_BLUR(object);
  Settings &s = self->priv->settings;
  bool sigma_changed = false;
  double sigma = 0.0;
  GST_OBJECT_LOCK(self);
  switch (id) {
    case PROP_SIGMA:
      s.sigma = sigma = g_value_get_double(value);
      sigma_changed = true;
      break;
    case PROP_X: s.x = g_value_get_int(value); break;
    case PROP_Y: s.y = g_value_get_int(value); break;
    case PROP_WIDTH: s.width = g_value_get_int(value); break;
    case PROP_HEIGHT: s.height = g_value_get_int(value); break;
    case PROP_N_THREADS: s.n_threads = g_value_get_int(value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
  }
  GST_OBJECT_UNLOCK(self);
  // Takes the object lock itself. A frame already in transform_frame() when sigma becomes 0 is
  // copied there instead.
  if (sigma_changed) gst_base_transform_set_passthrough(GST_BASE_TRANSFORM(self), sigma <= 0.0);
}

static void gst_mf_blur_get_property(GObject *object, guint id, GValue *value,
                                     GParamSpec *pspec) {
  GstMfBlur *self = GST_MF_BLUR(object);
  const Settings &s = self->priv->settings;
  GST_OBJECT_LOCK(self);
  switch (id) {
    case PROP_SIGMA: g_value_set_double(value, s.sigma); break;
    case PROP_X: g_value_set_int(value, s.x); break;
    case PROP_Y: g_value_set_int(value, s.y); break;
    case PROP_WIDTH: g_value_set_int(value, s.width); break;
    case PROP_HEIGHT: g_value_set_int(value, s.height); break;
    case PROP_N_THREADS: g_value_set_int(value, s.n_threads); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
  }
  GST_OBJECT_UNLOCK(self);
}

static Settings snapshot(GstMfBlur *self) {
  GST_OBJECT_LOCK(self);
  Settings s = self->priv->settings;
  GST_OBJECT_UNLOCK(self);
  return s;
}

// (Re)creates the pool when the requested size differs. Streaming-thread state: see MfBlurPrivate.
static void ensure_pool(MfBlurPrivate &p, unsigned n) {
  if (!p.pool || p.pool->size() != n) {
    p.pool.reset();
    p.pool = std::make_unique<WorkerPool>(n);
    GST_DEBUG("worker pool of %u participants", n);
  }
  if (p.scratch.size() < n) p.scratch.resize(n);
}

static const Kernel &kernel_for(MfBlurPrivate &p, double sigma, int shift) {
  shift = std::clamp(shift, 0, kMaxSubShift);
  const double s = sigma / double(1 << shift);
  Kernel &k = p.kernels[shift];
  if (k.w.empty() || k.sigma != s) k = mf::blur::make_kernel(s);
  return k;
}

static gboolean gst_mf_blur_start(GstBaseTransform *trans) {
  GstMfBlur *self = GST_MF_BLUR(trans);
  const Settings s = snapshot(self);
  try {
    ensure_pool(*self->priv, resolve_threads(s.n_threads));
  } catch (const std::exception &e) {
    GST_ELEMENT_ERROR(self, RESOURCE, FAILED, ("Could not start the blur worker threads"),
                      ("%s", e.what()));
    return FALSE;
  }
  return TRUE;
}

static gboolean gst_mf_blur_stop(GstBaseTransform *trans) {
  MfBlurPrivate &p = *GST_MF_BLUR(trans)->priv;
  p.pool.reset();  // joins the workers
  p.scratch.clear();
  p.bands.clear();
  return TRUE;
}

static GstFlowReturn blur_frame(GstMfBlur *self, const Settings &s, GstVideoFrame *in,
                                GstVideoFrame *out) {
  MfBlurPrivate &p = *self->priv;
  ensure_pool(p, resolve_threads(s.n_threads));
  const unsigned n_part = p.pool->size();

  const GstVideoFormatInfo *finfo = in->info.finfo;
  const int W = GST_VIDEO_FRAME_WIDTH(in), H = GST_VIDEO_FRAME_HEIGHT(in);
  // Luma region, clipped to the frame (64-bit: x + width may overflow an int).
  const gint64 rx1 = s.width > 0 ? gint64(s.x) + s.width : W;
  const gint64 ry1 = s.height > 0 ? gint64(s.y) + s.height : H;
  const int x0 = std::min(s.x, W), y0 = std::min(s.y, H);
  const int x1 = int(std::clamp<gint64>(rx1, x0, W)), y1 = int(std::clamp<gint64>(ry1, y0, H));

  const int n_planes = GST_VIDEO_FRAME_N_PLANES(in);
  std::array<PlaneView, GST_VIDEO_MAX_PLANES> views{};
  std::array<Rect, GST_VIDEO_MAX_PLANES> rects{};
  std::array<const Kernel *, GST_VIDEO_MAX_PLANES> kx{}, ky{};
  p.bands.clear();
  for (int pl = 0; pl < n_planes; ++pl) {
    int comp = -1;
    for (int c = 0; c < int(GST_VIDEO_FRAME_N_COMPONENTS(in)) && comp < 0; ++c)
      if (GST_VIDEO_FORMAT_INFO_PLANE(finfo, c) == guint(pl)) comp = c;
    if (comp < 0) continue;
    PlaneView &v = views[pl];
    v.src = static_cast<const uint8_t *>(GST_VIDEO_FRAME_PLANE_DATA(in, pl));
    v.src_stride = GST_VIDEO_FRAME_PLANE_STRIDE(in, pl);
    v.dst = static_cast<uint8_t *>(GST_VIDEO_FRAME_PLANE_DATA(out, pl));
    v.dst_stride = GST_VIDEO_FRAME_PLANE_STRIDE(out, pl);
    v.width = GST_VIDEO_FRAME_COMP_WIDTH(in, comp);
    v.height = GST_VIDEO_FRAME_COMP_HEIGHT(in, comp);
    v.step = GST_VIDEO_FRAME_COMP_PSTRIDE(in, comp);
    const int ws = GST_VIDEO_FORMAT_INFO_W_SUB(finfo, comp);
    const int hs = GST_VIDEO_FORMAT_INFO_H_SUB(finfo, comp);
    kx[pl] = &kernel_for(p, s.sigma, ws);
    ky[pl] = &kernel_for(p, s.sigma, hs);
    // The subsampled rectangle that covers the luma region.
    rects[pl] = Rect{x0 >> ws, y0 >> hs, (x1 + (1 << ws) - 1) >> ws, (y1 + (1 << hs) - 1) >> hs};

    const int n_bands = n_part == 1 ? 1 : std::min(v.height, int(n_part) * kBandsPerThread);
    for (int b = 0; b < n_bands; ++b)
      p.bands.push_back(Band{pl, int(gint64(v.height) * b / n_bands),
                             int(gint64(v.height) * (b + 1) / n_bands)});
  }

  const bool ok = p.pool->run(p.bands.size(), [&](size_t i, unsigned participant) {
    const Band &b = p.bands[i];
    mf::blur::blur_rows(views[b.plane], *kx[b.plane], *ky[b.plane], rects[b.plane], b.row_begin,
                        b.row_end, p.scratch[participant]);
  });
  if (!ok) {
    GST_ELEMENT_ERROR(self, RESOURCE, NO_SPACE_LEFT, ("Out of memory while blurring a frame"),
                      (nullptr));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

static GstFlowReturn gst_mf_blur_transform_frame(GstVideoFilter *filter, GstVideoFrame *in,
                                                 GstVideoFrame *out) {
  GstMfBlur *self = GST_MF_BLUR(filter);
  const Settings s = snapshot(self);
  if (s.sigma <= 0.0) {
    // sigma became 0 after passthrough was decided for this buffer.
    return gst_video_frame_copy(out, in) ? GST_FLOW_OK : GST_FLOW_ERROR;
  }
  try {
    return blur_frame(self, s, in, out);
  } catch (const std::exception &e) {  // no exception crosses into GLib
    GST_ELEMENT_ERROR(self, RESOURCE, FAILED, ("Blur failed"), ("%s", e.what()));
    return GST_FLOW_ERROR;
  }
}

static void gst_mf_blur_finalize(GObject *object) {
  GstMfBlur *self = GST_MF_BLUR(object);
  delete self->priv;
  self->priv = nullptr;
  G_OBJECT_CLASS(gst_mf_blur_parent_class)->finalize(object);
}

static void gst_mf_blur_class_init(GstMfBlurClass *klass) {
  GObjectClass *oc = G_OBJECT_CLASS(klass);
  GstElementClass *ec = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass *tc = GST_BASE_TRANSFORM_CLASS(klass);
  GstVideoFilterClass *vc = GST_VIDEO_FILTER_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(mf_blur_debug, "mfblur", 0, "Meshflow Gaussian blur");

  oc->set_property = gst_mf_blur_set_property;
  oc->get_property = gst_mf_blur_get_property;
  oc->finalize = gst_mf_blur_finalize;

  const auto flags =
      GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);
  g_object_class_install_property(
      oc, PROP_SIGMA,
      g_param_spec_double("sigma", "Sigma",
                          "Gaussian standard deviation in pixels of the full-resolution plane "
                          "(kernel radius ceil(3*sigma)); 0 = passthrough",
                          0.0, mf::blur::kMaxSigma, kDefaultSigma, flags));
  g_object_class_install_property(
      oc, PROP_X,
      g_param_spec_int("x", "X", "Left edge of the blurred region in pixels", 0, G_MAXINT, 0,
                       flags));
  g_object_class_install_property(
      oc, PROP_Y,
      g_param_spec_int("y", "Y", "Top edge of the blurred region in pixels", 0, G_MAXINT, 0,
                       flags));
  g_object_class_install_property(
      oc, PROP_WIDTH,
      g_param_spec_int("width", "Width",
                       "Width of the blurred region in pixels (0 = to the right edge; clipped "
                       "to the frame)",
                       0, G_MAXINT, 0, flags));
  g_object_class_install_property(
      oc, PROP_HEIGHT,
      g_param_spec_int("height", "Height",
                       "Height of the blurred region in pixels (0 = to the bottom edge; clipped "
                       "to the frame)",
                       0, G_MAXINT, 0, flags));
  g_object_class_install_property(
      oc, PROP_N_THREADS,
      g_param_spec_int("n-threads", "Threads",
                       "Threads blurring a frame, the streaming thread included (0 = online "
                       "CPUs, at most 8)",
                       0, kMaxThreads, 0, flags));

  gst_element_class_set_static_metadata(ec, "Meshflow blur", "Filter/Effect/Video",
                                        "Fast separable Gaussian blur, optionally of a region",
                                        "Meshflow");
  mf_node_class_set_name(ec, "blur");
  GstCaps *caps = gst_caps_from_string(GST_VIDEO_CAPS_MAKE(MF_BLUR_FORMATS));
  gst_element_class_add_pad_template(ec,
                                     gst_pad_template_new("sink", GST_PAD_SINK, GST_PAD_ALWAYS, caps));
  gst_element_class_add_pad_template(ec,
                                     gst_pad_template_new("src", GST_PAD_SRC, GST_PAD_ALWAYS, caps));
  gst_caps_unref(caps);

  tc->start = gst_mf_blur_start;
  tc->stop = gst_mf_blur_stop;
  // In passthrough (sigma 0) nothing looks at the buffer.
  tc->transform_ip_on_passthrough = FALSE;
  vc->transform_frame = gst_mf_blur_transform_frame;
}

static void gst_mf_blur_init(GstMfBlur *self) {
  // GLib's policy on out-of-memory is to abort; do the same rather than throw through GLib.
  self->priv = new (std::nothrow) MfBlurPrivate();
  if (!self->priv) g_error("mfblur: out of memory");
  gst_base_transform_set_passthrough(GST_BASE_TRANSFORM(self), kDefaultSigma <= 0.0);
}
