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
//
// The same probe gates a stream that follows its `meshflow-peer-id` tag and renumbers the slot's
// packets so that each peer sees one contiguous sequence (slot_gate.h).
#pragma once

#include <gst/gst.h>

#include <memory>
#include <mutex>
#include <string>

#include "negotiation.h"
#include "slot_gate.h"

namespace mf::webrtc {

/// A fresh SSRC for a send slot (never 0).
guint32 new_slot_ssrc();

/// Tell webrtcbin, through its sink pad `webrtcbin_pad` (active), that the slot will send `codec`
/// (the transceiver's codec caps) as `ssrc`: a stream-start and a caps event with that ssrc.
/// False if the pad refused them (not active yet).
bool announce_slot_ssrc(GstPad *webrtcbin_pad, const Codec &codec, guint32 ssrc);

/// The rewrite state of one send slot: shared by the slot (worker thread: relink()) and the probe
/// on its queue's source pad (streaming thread).
class SlotRewrite {
 public:
  SlotRewrite(guint32 ssrc, std::string peer, bool video) : ssrc(ssrc), peer(std::move(peer)), video(video) {}
  const guint32 ssrc;
  const std::string peer;  // the remote peer of the slot
  const bool video;
  /// The slot is being linked to a stream; `follow`: the stream follows its peer-id tag.
  void relink(bool follow);
  /// The linked stream's route changed: whether it follows its tag now.
  void set_follow(bool follow);
  /// Packets gated away so far (not sent to this peer because the stream's target was another).
  guint64 gated() const;

 private:
  friend struct SlotProbe;
  mutable std::mutex mu;  // protects gate, seq, gated_
  SlotGate gate;
  SeqRewriter seq;
  guint64 gated_ = 0;
};

/// On `pad` (the slot's queue source pad): rewrite the SSRC of every RTP packet (buffers and
/// lists) and caps event to the slot's, its sequence numbers to the slot's own contiguous
/// sequence, and drop the packets of a tag-following stream whose current target is another peer
/// (a `meshflow-peer-id` tag event updates the target). Copy-on-write: other peers' branches are
/// untouched.
void attach_slot_rewrite(GstPad *pad, std::shared_ptr<SlotRewrite> rw);

}  // namespace mf::webrtc
