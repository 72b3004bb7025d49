// Every send slot of a peer (a webrtcbin sink pad) has an SSRC of its own: webrtcbin is told it
// before any offer or answer, so the SDP advertises it, and every packet sent on the slot carries it.
//
// Why: webrtc_sink encodes and payloads a stream ONCE and fans the RTP out to every peer, so the
// packets carry the payloader's SSRC. webrtcbin 1.22 takes the SSRC it advertises (a=ssrc, and the
// RTX group `a=ssrc-group:FID <media> <rtx>`) from the caps its sink pad received; a slot whose
// stream starts after the answer (a peer's blurred camera is only built once that peer's video has
// arrived) had none then, and the answer said `FID 0 <rtx>` with a=ssrc lines for the RTX SSRC
// only. A browser maps a signalled SSRC to its m-line's track and decodes packets with any other
// SSRC as an "unsignalled" stream that reaches no track: the page counted decoded frames but never
// showed the video. With the slot's own SSRC announced up front (caps pushed into the webrtcbin
// pad when the slot is made) and written into every packet and caps event after the fan-out, what
// each peer is told and what it gets agree whatever the timing, RTX included.
#pragma once

#include <gst/gst.h>

#include "negotiation.h"

namespace mf::webrtc {

/// A fresh SSRC for a send slot (never 0).
guint32 new_slot_ssrc();

/// Tell webrtcbin, through its sink pad `webrtcbin_pad` (active), that the slot will send `codec`
/// (the transceiver's codec caps) as `ssrc`: a stream-start and a caps event with that ssrc.
/// False if the pad refused them (not active yet).
bool announce_slot_ssrc(GstPad *webrtcbin_pad, const Codec &codec, guint32 ssrc);

/// Rewrite the SSRC of every RTP packet (buffers and lists) and caps event flowing through `pad`
/// (the slot's queue source pad) to `ssrc`. Copy-on-write: other peers' branches are untouched.
void attach_ssrc_rewrite(GstPad *pad, guint32 ssrc);

}  // namespace mf::webrtc
