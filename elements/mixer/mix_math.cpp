// Pure sample math of the audio mixer; see mix_math.h. Plain loops the compiler vectorises
// (-O2 with -ftree-vectorize at debugoptimized/release): no branches in the bodies.
#include "mix_math.h"

namespace mf::mixer {

void accumulate_s16(int32_t *acc, const int16_t *in, size_t n) {
  for (size_t k = 0; k < n; ++k) acc[k] += in[k];
}

void accumulate_f32(double *acc, const float *in, size_t n) {
  for (size_t k = 0; k < n; ++k) acc[k] += in[k];
}

void clip_total_s16(int16_t *out, const int32_t *total, size_t n) {
  for (size_t k = 0; k < n; ++k) out[k] = clip_s16(total[k]);
}

void clip_total_f32(float *out, const double *total, size_t n) {
  for (size_t k = 0; k < n; ++k) out[k] = clip_f32(total[k]);
}

void mix_minus_s16(int16_t *out, const int32_t *total, const int16_t *own, size_t n) {
  for (size_t k = 0; k < n; ++k) out[k] = clip_s16(total[k] - own[k]);
}

void mix_minus_f32(float *out, const double *total, const float *own, size_t n) {
  for (size_t k = 0; k < n; ++k) out[k] = clip_f32(total[k] - static_cast<double>(own[k]));
}

}  // namespace mf::mixer
