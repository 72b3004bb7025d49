// The audio core of mfmixer: a GstAudioAggregator subclass (like audiomixer) that sums its inputs
// with clipping protection and, in mix-minus mode, pushes one output per input on extra src pads.
//
// It is an internal element: mfmixer (gstmfmixer.cpp) creates it with g_object_new, puts it in
// its bin and ghosts its pads; it has no element factory of its own. See gstmfmixer.cpp for the
// user-facing contract and mix_math.h for the sample math.
//
// Pads:
//   sink_%u  request, any raw interleaved audio (converted to the output format by
//            GstAudioAggregatorConvertPad, as in audiomixer).
//   src      always: the full mix, clip(total). In mix_minus mode it may stay unlinked.
//   src_%u   sometimes, mix_minus mode only: created with sink_%u (same number) and removed when
//            sink_%u is released; carries clip(total - sink_%u's own samples).
// Output format: S16LE or F32LE interleaved, one rate and channel count for all pads.
#pragma once

#include <gst/audio/gstaudioaggregator.h>
#include <gst/gst.h>

G_BEGIN_DECLS

typedef enum {
  MF_MIXER_MODE_ALL = 0,
  MF_MIXER_MODE_MIX_MINUS = 1,
} MfMixerMode;

#define MF_TYPE_MIXER_MODE (mf_mixer_mode_get_type())
GType mf_mixer_mode_get_type(void);

#define MF_TYPE_AUDIO_MIX (mf_audio_mix_get_type())
G_DECLARE_FINAL_TYPE(MfAudioMix, mf_audio_mix, MF, AUDIO_MIX, GstAudioAggregator)

#define MF_TYPE_AUDIO_MIX_PAD (mf_audio_mix_pad_get_type())
G_DECLARE_FINAL_TYPE(MfAudioMixPad, mf_audio_mix_pad, MF, AUDIO_MIX_PAD,
                     GstAudioAggregatorConvertPad)

/// Called on the aggregator's src thread, right after pushing the block that decided it, when the
/// active speaker changes (speaker_detect.h): `sink_pad` is the name of the talking input
/// (sink_N), or "" when nobody talks; `level_db` its RMS level over the last 20 ms window.
typedef void (*MfAudioMixSpeakerFunc)(MfAudioMix *mix, const gchar *sink_pad, gdouble level_db,
                                      gpointer user_data);

/// Sets the active-speaker callback (before PLAYING; user_data must outlive the element).
void mf_audio_mix_set_speaker_func(MfAudioMix *mix, MfAudioMixSpeakerFunc func, gpointer user_data);

/// The mix-minus output paired with a sink pad of `mix` (a new reference), or NULL (mode all).
GstPad *mf_audio_mix_get_output_pad(MfAudioMix *mix, GstPad *sinkpad);

G_END_DECLS
