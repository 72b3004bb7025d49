// Helpers for the mfblur tests: images in GstBuffers, a harness wrapper, and the plain
// double-precision reference blur every result is compared against.
#pragma once

#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "meshflow/sdk/ptr.h"

namespace blurtest {

struct HarnessTeardown {
  void operator()(GstHarness *h) const { gst_harness_teardown(h); }
};
using HarnessPtr = std::unique_ptr<GstHarness, HarnessTeardown>;
using BufferPtr = mf::Ptr<GstBuffer>;

inline std::string caps_string(const std::string &format, int w, int h) {
  return "video/x-raw,format=" + format + ",width=" + std::to_string(w) +
         ",height=" + std::to_string(h) + ",framerate=30/1";
}

/// mfblur in a harness with the given caps on both sides; props like "sigma=4 n-threads=1".
inline HarnessPtr make_blur(const std::string &format, int w, int h, const std::string &props) {
  HarnessPtr harness(gst_harness_new("mfblur"));
  if (!harness) return harness;
  gchar **kv = g_strsplit(props.c_str(), " ", -1);
  for (gchar **p = kv; *p; ++p) {
    if (!**p) continue;
    gchar **pair = g_strsplit(*p, "=", 2);
    if (pair[0] && pair[1]) gst_util_set_object_arg(G_OBJECT(harness->element), pair[0], pair[1]);
    g_strfreev(pair);
  }
  g_strfreev(kv);
  const std::string caps = caps_string(format, w, h);
  gst_harness_set_caps_str(harness.get(), caps.c_str(), caps.c_str());
  gst_harness_play(harness.get());
  return harness;
}

/// One plane copied out of a frame as tightly packed bytes.
struct Plane {
  int width = 0, height = 0, step = 1;  // pixels, rows, bytes per pixel
  int w_sub = 0, h_sub = 0;             // subsampling shifts
  std::vector<uint8_t> bytes;           // height * width * step
  uint8_t at(int x, int y, int c) const { return bytes[(size_t(y) * width + x) * step + c]; }
};

inline std::vector<Plane> planes_of(const GstVideoInfo &info, GstBuffer *buf) {
  std::vector<Plane> out;
  GstVideoFrame frame;
  if (!gst_video_frame_map(&frame, const_cast<GstVideoInfo *>(&info), buf, GST_MAP_READ)) {
    ADD_FAILURE() << "cannot map buffer";
    return out;
  }
  for (guint pl = 0; pl < GST_VIDEO_FRAME_N_PLANES(&frame); ++pl) {
    int comp = -1;
    for (guint c = 0; c < GST_VIDEO_FRAME_N_COMPONENTS(&frame) && comp < 0; ++c)
      if (GST_VIDEO_FORMAT_INFO_PLANE(info.finfo, c) == pl) comp = int(c);
    Plane p;
    p.width = GST_VIDEO_FRAME_COMP_WIDTH(&frame, comp);
    p.height = GST_VIDEO_FRAME_COMP_HEIGHT(&frame, comp);
    p.step = GST_VIDEO_FRAME_COMP_PSTRIDE(&frame, comp);
    p.w_sub = GST_VIDEO_FORMAT_INFO_W_SUB(info.finfo, comp);
    p.h_sub = GST_VIDEO_FORMAT_INFO_H_SUB(info.finfo, comp);
    const auto *data = static_cast<const uint8_t *>(GST_VIDEO_FRAME_PLANE_DATA(&frame, pl));
    const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, pl);
    for (int y = 0; y < p.height; ++y)
      p.bytes.insert(p.bytes.end(), data + size_t(y) * stride,
                     data + size_t(y) * stride + size_t(p.width) * p.step);
    out.push_back(std::move(p));
  }
  gst_video_frame_unmap(&frame);
  return out;
}

enum class Pattern { kRandom, kStructured, kConstant, kBorderStep };

/// A frame of the given format filled with a pattern (fixed seed: no luck involved).
inline BufferPtr make_frame(const GstVideoInfo &info, Pattern pattern, unsigned seed = 1,
                            uint8_t constant = 0) {
  BufferPtr buf = mf::adopt(gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr));
  GstVideoFrame frame;
  if (!gst_video_frame_map(&frame, const_cast<GstVideoInfo *>(&info), buf.get(), GST_MAP_WRITE)) {
    ADD_FAILURE() << "cannot map buffer";
    return buf;
  }
  std::mt19937 rng(seed);
  for (guint pl = 0; pl < GST_VIDEO_FRAME_N_PLANES(&frame); ++pl) {
    auto *data = static_cast<uint8_t *>(GST_VIDEO_FRAME_PLANE_DATA(&frame, pl));
    const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, pl);
    int comp = -1;
    for (guint c = 0; c < GST_VIDEO_FRAME_N_COMPONENTS(&frame) && comp < 0; ++c)
      if (GST_VIDEO_FORMAT_INFO_PLANE(info.finfo, c) == pl) comp = int(c);
    const int w = GST_VIDEO_FRAME_COMP_WIDTH(&frame, comp);
    const int h = GST_VIDEO_FRAME_COMP_HEIGHT(&frame, comp);
    const int step = GST_VIDEO_FRAME_COMP_PSTRIDE(&frame, comp);
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        for (int c = 0; c < step; ++c) {
          uint8_t v = 0;
          switch (pattern) {
            case Pattern::kRandom: v = uint8_t(rng() & 0xff); break;
            case Pattern::kStructured: {
              // Checkerboard of 5-pixel squares over a diagonal ramp, plus a hard vertical step.
              const int ramp = (x * 255) / std::max(1, w - 1) / 2 + (y * 127) / std::max(1, h - 1);
              const int check = ((x / 5 + y / 5 + c) & 1) ? 60 : 0;
              v = uint8_t(std::min(255, x < w / 3 ? ramp + check : 255 - ramp / 2));
              break;
            }
            case Pattern::kConstant: v = constant; break;
            case Pattern::kBorderStep: v = x < std::max(1, w / 2) ? 255 : 0; break;
          }
          data[size_t(y) * stride + size_t(x) * step + c] = v;
        }
      }
    }
  }
  gst_video_frame_unmap(&frame);
  return buf;
}

inline GstVideoInfo video_info(const std::string &format, int w, int h) {
  GstVideoInfo info;
  gst_video_info_set_format(&info, gst_video_format_from_string(format.c_str()), guint(w),
                            guint(h));
  return info;
}

/// The reference: a plain double-precision 2-D Gaussian. Radius ceil(3*sigma) (at least 1),
/// weights exp(-(dx^2/2sx^2 + dy^2/2sy^2)) normalised over the (2rx+1)x(2ry+1) window, edges
/// clamped. Returns the unrounded value of channel c at (x, y).
class Reference {
 public:
  Reference(const Plane &src, double sigma_x, double sigma_y) : src_(src) {
    rx_ = radius(sigma_x);
    ry_ = radius(sigma_y);
    double sum = 0.0;
    for (int dy = -ry_; dy <= ry_; ++dy)
      for (int dx = -rx_; dx <= rx_; ++dx) {
        const double w = std::exp(-(dx * dx) / (2 * sigma_x * sigma_x) -
                                  (dy * dy) / (2 * sigma_y * sigma_y));
        w_.push_back(w);
        sum += w;
      }
    for (double &w : w_) w /= sum;
  }
  static int radius(double sigma) { return std::max(1, int(std::ceil(3.0 * sigma))); }

  double at(int x, int y, int c) const {
    double acc = 0.0;
    size_t i = 0;
    for (int dy = -ry_; dy <= ry_; ++dy) {
      const int sy = std::clamp(y + dy, 0, src_.height - 1);
      for (int dx = -rx_; dx <= rx_; ++dx, ++i) {
        const int sx = std::clamp(x + dx, 0, src_.width - 1);
        acc += w_[i] * src_.at(sx, sy, c);
      }
    }
    return acc;
  }

 private:
  const Plane &src_;
  int rx_ = 0, ry_ = 0;
  std::vector<double> w_;
};

/// Luma-pixel region, half-open; the same rule as the element for subsampled planes.
struct Region {
  int x0, y0, x1, y1;
  Region scaled(int w_sub, int h_sub) const {
    return {x0 >> w_sub, y0 >> h_sub, (x1 + (1 << w_sub) - 1) >> w_sub,
            (y1 + (1 << h_sub) - 1) >> h_sub};
  }
  bool contains(int x, int y) const { return x >= x0 && x < x1 && y >= y0 && y < y1; }
};

/// Max |out - reference| inside `region` over every channel of the plane; checks that pixels
/// outside the region equal the input byte for byte.
inline double check_plane(const Plane &in, const Plane &out, double sigma, const Region &luma,
                          const std::string &what) {
  const Region r = luma.scaled(in.w_sub, in.h_sub);
  const Reference ref(in, sigma / (1 << in.w_sub), sigma / (1 << in.h_sub));
  double worst = 0.0;
  size_t outside_mismatch = 0;
  for (int y = 0; y < in.height; ++y)
    for (int x = 0; x < in.width; ++x)
      for (int c = 0; c < in.step; ++c) {
        if (r.contains(x, y)) {
          worst = std::max(worst, std::fabs(double(out.at(x, y, c)) - ref.at(x, y, c)));
        } else if (out.at(x, y, c) != in.at(x, y, c)) {
          ++outside_mismatch;
        }
      }
  EXPECT_EQ(outside_mismatch, 0u) << what << ": bytes outside the region changed";
  return worst;
}

}  // namespace blurtest
