// Separable Gaussian blur on 8-bit planes: pure functions, no GStreamer, no threads.
//
// A plane is `height` rows of `width` pixels of `step` bytes; every byte is a channel that is
// blurred on its own with neighbours `step` bytes apart (I420 planes: step 1, NV12 UV: step 2,
// RGBA: step 4). Edges replicate (clamp) the border pixel.
//
// Fixed point: each 1-D kernel has radius ceil(3*sigma) and symmetric integer weights that sum to
// 1 << kWeightBits. For one output row, the vertical pass sums the 2r+1 input rows into a 12-bit
// intermediate row (8-bit x 14-bit weights, rounded >> 10) that carries r clamped pixels on each
// side; the horizontal pass turns that row into the 8-bit output row (12-bit x 14-bit, rounded
// >> 18). Accumulators are uint32 (max 255 << 14 and 4080 << 14), symmetric taps are added as
// pairs w[k] * (a[x-k] + a[x+k]) in uint16, loops are tap-outer / x-inner over contiguous arrays,
// and the two passes are compiled for AVX-512BW, AVX2 and baseline x86-64 (target_clones).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mf::blur {

constexpr int kWeightBits = 14;                    // every 1-D kernel sums to 1 << 14
constexpr int kMidShift = 10;                      // 8 + 14 - 10 = 12-bit intermediate
constexpr int kOutShift = 2 * kWeightBits - kMidShift;  // 12 + 14 - 18 = 8-bit output
constexpr double kMaxSigma = 64.0;

/// radius used for a sigma: ceil(3 * sigma), at least 1 for sigma > 0, 0 for sigma <= 0.
int kernel_radius(double sigma);

/// One symmetric 1-D Gaussian: w[0] is the centre, w[k] the weight at distance k (k <= radius).
struct Kernel {
  double sigma = 0.0;
  int radius = 0;
  std::vector<uint16_t> w;
};

/// Builds the fixed-point kernel for sigma (0 < sigma <= kMaxSigma). w[0] + 2 * sum(w[1..r])
/// equals 1 << kWeightBits exactly (largest-remainder rounding: each weight within 1 unit of
/// its ideal value).
Kernel make_kernel(double sigma);

/// Half-open rectangle in a plane's pixel coordinates.
struct Rect {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  bool empty() const { return x1 <= x0 || y1 <= y0; }
};

/// Source and destination of one plane (same geometry, independent strides; must not overlap).
struct PlaneView {
  const uint8_t *src = nullptr;
  int src_stride = 0;
  uint8_t *dst = nullptr;
  int dst_stride = 0;
  int width = 0;   // pixels
  int height = 0;  // rows
  int step = 1;    // bytes per pixel = interleaved channels
};

/// Per-thread working memory; grows on first use, then reused.
struct Scratch {
  std::vector<uint32_t> acc;
  std::vector<uint16_t> mid;
  std::vector<const uint8_t *> rows;
};

/// Writes destination rows [row_begin, row_end) of the plane. Inside `region` (clipped to the
/// plane) pixels are blurred with kx horizontally and ky vertically, sampling the whole plane;
/// everything else is copied from the source. Rows of one plane may be produced by several
/// threads at once, each with its own Scratch.
void blur_rows(const PlaneView &p, const Kernel &kx, const Kernel &ky, Rect region,
               int row_begin, int row_end, Scratch &scratch);

/// The two passes, exposed for tests.
///  vertical_pass:   out[i] = round((w[0]*c[i] + sum_k w[k]*(up_k[i] + down_k[i])) >> kMidShift)
///                   with rows[r + d] the row at vertical offset d (d in [-r, r]).
///  horizontal_pass: out[i] = round((sum_d w[|d|] * mid[i + (r + d) * step]) >> kOutShift)
///                   where mid holds n + 2 * r * step values.
void vertical_pass(const uint8_t *const *rows, int radius, const uint16_t *w, size_t n,
                   uint32_t *acc, uint16_t *out);
void horizontal_pass(const uint16_t *mid, int radius, int step, const uint16_t *w, size_t n,
                     uint32_t *acc, uint8_t *out);

}  // namespace mf::blur
