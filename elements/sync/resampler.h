// Fractional-rate resampler for interleaved S16 audio: Catmull-Rom cubic interpolation.
//
// Used to compensate sender clock drift (ratios within a few percent of 1), where a 4-tap cubic
// is transparent for speech (image rejection > 60 dB below ~5 kHz at 48 kHz) and costs a few
// multiply-adds per sample. At an integer position it returns the input sample exactly, so a
// ratio of exactly 1 is bit-transparent. Pure C++.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mf::sync {

/// Interpolates `n_out` frames at positions pos, pos + step, ... (absolute frame positions).
/// `src` holds `src_frames` interleaved frames starting at absolute frame `src_base`; positions
/// outside are clamped to the edge frames. Output is rounded and saturated to int16.
void resample_cubic(const int16_t *src, int64_t src_base, size_t src_frames, int channels,
                    double pos, double step, size_t n_out, int16_t *out);

}  // namespace mf::sync
