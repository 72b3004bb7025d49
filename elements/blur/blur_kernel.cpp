// Separable fixed-point Gaussian blur on 8-bit planes. See blur_kernel.h for the arithmetic.
#include "blur_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace mf::blur {

namespace {

// Columns are processed in chunks so the uint32 accumulator stays in L1 whatever the frame width.
constexpr size_t kChunk = 2048;

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define MF_BLUR_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define MF_BLUR_CLONES
#endif
#define MF_BLUR_INLINE inline __attribute__((always_inline))

// The inner loops, written so GCC vectorises them: contiguous arrays, no aliasing (__restrict on
// parameters, which GCC honours, unlike on locals), uint16 pair sums widened to uint32.
MF_BLUR_INLINE void mul_u8(uint32_t *__restrict acc, const uint8_t *__restrict c, uint32_t w,
                           size_t n) {
  for (size_t i = 0; i < n; ++i) acc[i] = w * c[i];
}
MF_BLUR_INLINE void mac_u8_pair(uint32_t *__restrict acc, const uint8_t *__restrict a,
                                const uint8_t *__restrict b, uint32_t w, size_t n) {
  for (size_t i = 0; i < n; ++i) acc[i] += w * static_cast<uint16_t>(a[i] + b[i]);
}
MF_BLUR_INLINE void shift_to_u16(uint16_t *__restrict out, const uint32_t *__restrict acc,
                                 size_t n) {
  constexpr uint32_t round = 1u << (kMidShift - 1);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint16_t>((acc[i] + round) >> kMidShift);
}
MF_BLUR_INLINE void mul_u16(uint32_t *__restrict acc, const uint16_t *__restrict c, uint32_t w,
                            size_t n) {
  for (size_t i = 0; i < n; ++i) acc[i] = w * c[i];
}
MF_BLUR_INLINE void mac_u16_pair(uint32_t *__restrict acc, const uint16_t *__restrict a,
                                 const uint16_t *__restrict b, uint32_t w, size_t n) {
  // a + b <= 2 * 4080 fits uint16.
  for (size_t i = 0; i < n; ++i) acc[i] += w * static_cast<uint16_t>(a[i] + b[i]);
}
MF_BLUR_INLINE void shift_to_u8(uint8_t *__restrict out, const uint32_t *__restrict acc,
                                size_t n) {
  constexpr uint32_t round = 1u << (kOutShift - 1);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>((acc[i] + round) >> kOutShift);
}

}  // namespace

int kernel_radius(double sigma) {
  if (!(sigma > 0.0)) return 0;
  return std::max(1, static_cast<int>(std::ceil(3.0 * std::min(sigma, kMaxSigma))));
}

Kernel make_kernel(double sigma) {
  Kernel k;
  k.sigma = sigma;
  k.radius = kernel_radius(sigma);
  const int r = k.radius;
  k.w.assign(static_cast<size_t>(r) + 1, 0);
  if (r == 0) {
    k.w[0] = 1u << kWeightBits;
    return k;
  }
  std::vector<double> g(static_cast<size_t>(r) + 1);
  double sum = 0.0;
  for (int i = 0; i <= r; ++i) {
    g[i] = std::exp(-(double(i) * i) / (2.0 * sigma * sigma));
    sum += (i == 0 ? 1.0 : 2.0) * g[i];
  }
  // Largest-remainder rounding: floor every weight, then hand the missing units out by largest
  // fractional part (each side tap counts twice; an odd unit goes to the centre). The sum is
  // exact and every weight is within one unit of its ideal value.
  const double scale = double(1u << kWeightBits) / sum;
  std::vector<double> frac(static_cast<size_t>(r) + 1);
  long total = 0;
  for (int i = 0; i <= r; ++i) {
    const double v = g[i] * scale;
    k.w[i] = static_cast<uint16_t>(std::floor(v));
    frac[i] = v - std::floor(v);
    total += (i == 0 ? 1 : 2) * long(k.w[i]);
  }
  long missing = long(1u << kWeightBits) - total;  // 0 <= missing < 2r + 1
  if (missing % 2 != 0) {
    ++k.w[0];
    --missing;
  }
  std::vector<int> order;
  for (int i = 1; i <= r; ++i) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return frac[a] > frac[b]; });
  for (size_t j = 0; missing > 0 && j < order.size(); ++j, missing -= 2) ++k.w[order[j]];
  k.w[0] = static_cast<uint16_t>(k.w[0] + missing);  // never reached in practice; keeps the sum
  return k;
}

MF_BLUR_CLONES
void vertical_pass(const uint8_t *const *rows, int radius, const uint16_t *w, size_t n,
                   uint32_t *acc, uint16_t *out) {
  for (size_t base = 0; base < n; base += kChunk) {
    const size_t len = std::min(kChunk, n - base);
    mul_u8(acc, rows[radius] + base, w[0], len);
    for (int k = 1; k <= radius; ++k)
      mac_u8_pair(acc, rows[radius - k] + base, rows[radius + k] + base, w[k], len);
    shift_to_u16(out + base, acc, len);
  }
}

MF_BLUR_CLONES
void horizontal_pass(const uint16_t *mid, int radius, int step, const uint16_t *w, size_t n,
                     uint32_t *acc, uint8_t *out) {
  for (size_t base = 0; base < n; base += kChunk) {
    const size_t len = std::min(kChunk, n - base);
    const uint16_t *centre = mid + size_t(radius) * step + base;
    mul_u16(acc, centre, w[0], len);
    for (int k = 1; k <= radius; ++k)
      mac_u16_pair(acc, centre - size_t(k) * step, centre + size_t(k) * step, w[k], len);
    shift_to_u8(out + base, acc, len);
  }
}

void blur_rows(const PlaneView &p, const Kernel &kx, const Kernel &ky, Rect reg, int row_begin,
               int row_end, Scratch &s) {
  const int W = p.width, H = p.height, step = p.step;
  if (W <= 0 || H <= 0) return;
  const size_t row_bytes = size_t(W) * step;
  row_begin = std::max(row_begin, 0);
  row_end = std::min(row_end, H);

  reg.x0 = std::clamp(reg.x0, 0, W);
  reg.x1 = std::clamp(reg.x1, 0, W);
  reg.y0 = std::clamp(reg.y0, 0, H);
  reg.y1 = std::clamp(reg.y1, 0, H);

  const int rx = kx.radius, ry = ky.radius;
  // Pixel columns the horizontal pass reads (may extend past the plane: those are clamped)...
  const int span0 = reg.x0 - rx, span1 = reg.x1 + rx;
  // ...and the ones that exist, which the vertical pass computes.
  const int c0 = std::max(0, span0), c1 = std::min(W, span1);
  const size_t out_len = size_t(std::max(0, reg.x1 - reg.x0)) * step;
  if (!reg.empty()) {
    if (s.acc.size() < kChunk) s.acc.resize(kChunk);
    const size_t mid_len = size_t(span1 - span0) * step;
    if (s.mid.size() < mid_len) s.mid.resize(mid_len);
    if (s.rows.size() < size_t(2 * ry + 1)) s.rows.resize(size_t(2 * ry + 1));
  }

  for (int y = row_begin; y < row_end; ++y) {
    const uint8_t *src = p.src + size_t(y) * p.src_stride;
    uint8_t *dst = p.dst + size_t(y) * p.dst_stride;
    if (reg.empty() || y < reg.y0 || y >= reg.y1) {
      std::memcpy(dst, src, row_bytes);
      continue;
    }
    if (reg.x0 > 0) std::memcpy(dst, src, size_t(reg.x0) * step);
    if (reg.x1 < W)
      std::memcpy(dst + size_t(reg.x1) * step, src + size_t(reg.x1) * step,
                  size_t(W - reg.x1) * step);

    const uint8_t **rows = s.rows.data();
    for (int d = -ry; d <= ry; ++d)
      rows[ry + d] = p.src + size_t(std::clamp(y + d, 0, H - 1)) * p.src_stride + size_t(c0) * step;

    uint16_t *mid = s.mid.data();
    const int lead = c0 - span0;  // clamped pixels left of the plane
    vertical_pass(rows, ry, ky.w.data(), size_t(c1 - c0) * step, s.acc.data(),
                  mid + size_t(lead) * step);
    for (int i = 0; i < lead; ++i)
      std::memcpy(mid + size_t(i) * step, mid + size_t(lead) * step, step * sizeof(uint16_t));
    const uint16_t *last = mid + size_t(c1 - 1 - span0) * step;
    for (int i = c1 - span0; i < span1 - span0; ++i)
      std::memcpy(mid + size_t(i) * step, last, step * sizeof(uint16_t));

    horizontal_pass(mid, rx, step, kx.w.data(), out_len, s.acc.data(), dst + size_t(reg.x0) * step);
  }
}

}  // namespace mf::blur
