// See resampler.h.
#include "resampler.h"

#include <algorithm>
#include <cmath>

namespace mf::sync {

void resample_cubic(const int16_t *src, int64_t src_base, size_t src_frames, int channels,
                    double pos, double step, size_t n_out, int16_t *out) {
  if (src_frames == 0) {
    std::fill(out, out + n_out * size_t(channels), int16_t(0));
    return;
  }
  const int64_t last = int64_t(src_frames) - 1;
  auto at = [&](int64_t abs_frame, int ch) -> float {
    const int64_t i = std::clamp<int64_t>(abs_frame - src_base, 0, last);
    return float(src[i * channels + ch]);
  };
  for (size_t k = 0; k < n_out; ++k) {
    const double p = pos + double(k) * step;
    const double fl = std::floor(p);
    const int64_t i = int64_t(fl);
    const float t = float(p - fl);
    for (int ch = 0; ch < channels; ++ch) {
      float v;
      if (t == 0.0f) {
        v = at(i, ch);
      } else {
        const float x0 = at(i - 1, ch), x1 = at(i, ch), x2 = at(i + 1, ch), x3 = at(i + 2, ch);
        v = x1 + 0.5f * t *
                     (x2 - x0 +
                      t * (2.0f * x0 - 5.0f * x1 + 4.0f * x2 - x3 +
                           t * (3.0f * (x1 - x2) + x3 - x0)));
      }
      out[k * size_t(channels) + size_t(ch)] =
          int16_t(std::clamp(std::lrint(v), long(INT16_MIN), long(INT16_MAX)));
    }
  }
}

}  // namespace mf::sync
