// The pads of mfmixer: ghost pads (onto the audio core or compositor) with a `peer-id`.
//
// peer-id (string, default NULL): the peer this stream belongs to. Set by the application on a
// sink pad (or taken from a `meshflow-peer-id` stream tag arriving on it, if not set), and
// mirrored on its paired mix-minus output src_N, so per-peer routing can send src_N to that peer.
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/// Stream tag (string) naming the peer a stream comes from; registered by mfmixer's class_init.
#define MF_TAG_PEER_ID "meshflow-peer-id"

#define MF_TYPE_MIXER_PAD (mf_mixer_pad_get_type())
G_DECLARE_FINAL_TYPE(MfMixerPad, mf_mixer_pad, MF, MIXER_PAD, GstGhostPad)

/// A new (floating) ghost pad named `name` from `templ`, proxying `target` (may be NULL).
GstPad *mf_mixer_pad_new(const gchar *name, GstPadTemplate *templ, GstPad *target);

/// Pair a sink pad with its mix-minus output (takes a ref on `output`): peer-id follows.
void mf_mixer_pad_set_output(MfMixerPad *sink, GstPad *output);

/// The paired output (a new reference) or NULL.
GstPad *mf_mixer_pad_get_output(MfMixerPad *sink);

void mf_mixer_pad_register_tags(void);

G_END_DECLS
