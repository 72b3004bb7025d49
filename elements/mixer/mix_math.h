// Pure sample math of the audio mixer (mfmixer kind=audio): no GStreamer, no allocation.
//
// The mixer sums every input once into a wide accumulator (int32 for S16, double for F32) and
// derives each output from that one total:
//   mode all:        out     = clip(total)
//   mode mix_minus:  out[i]  = clip(total - own[i])        (O(N) for N outputs, not O(N^2))
// Clipping: S16 saturates to [-32768, 32767]; F32 is hard-clamped to [-1.0, 1.0]. Both are exact
// (no soft knee), so the result equals the mathematically clipped sum bit for bit, and below full
// scale the mix is untouched. An int32 accumulator holds the sum of up to 65536 full-scale S16
// inputs without overflow; a double holds F32 sums exactly for the sample counts we mix.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mf::mixer {

/// acc[k] += in[k] for k < n.
void accumulate_s16(int32_t *acc, const int16_t *in, size_t n);
void accumulate_f32(double *acc, const float *in, size_t n);

/// out[k] = clip(total[k]).
void clip_total_s16(int16_t *out, const int32_t *total, size_t n);
void clip_total_f32(float *out, const double *total, size_t n);

/// out[k] = clip(total[k] - own[k]).
void mix_minus_s16(int16_t *out, const int32_t *total, const int16_t *own, size_t n);
void mix_minus_f32(float *out, const double *total, const float *own, size_t n);

inline int16_t clip_s16(int32_t v) {
  return static_cast<int16_t>(v > INT16_MAX ? INT16_MAX : (v < INT16_MIN ? INT16_MIN : v));
}
inline float clip_f32(double v) {
  return static_cast<float>(v > 1.0 ? 1.0 : (v < -1.0 ? -1.0 : v));
}

}  // namespace mf::mixer
