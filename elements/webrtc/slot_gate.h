// Per-slot gating and RTP sequence numbering of webrtc_sink's fan-out (pure C++, no GStreamer).
//
// A webrtc_sink pad with `route: origin` and no `origin-peer` (a stream that does not come from a
// per-peer chain, e.g. llm_bridge's answer with `reply-to: speaker`) FOLLOWS ITS TAG: it is
// negotiated with every peer like `broadcast` (a transceiver each, once, when the peer joins), and
// each peer's slot passes the stream's packets only while the stream's last `meshflow-peer-id`
// stream tag names that peer; the other slots drop them. Switching the target is therefore a
// per-packet decision at the slot, serialized with the data (the tag travels down the encoder,
// payloader, tee and each slot's queue like any sticky event): no transceiver is added, nothing is
// renegotiated, the first packet after the tag already goes to the new target. Before the first
// tag (no target yet) every peer gets the stream.
//
// Each slot numbers its packets itself (SeqRewriter): a receiver sees one contiguous RTP sequence
// per slot whatever was gated away (or whichever stream the slot was re-linked to), so a gated
// stretch is not a loss burst (no NACKs, no PLC, no loss in the stats); its RTP timestamps jump,
// as after DTX. A gap in the input itself (a packet dropped upstream of the slot) is kept, so
// real loss is still reported.
#pragma once

#include <cstdint>
#include <string>

namespace mf::webrtc {

/// Which packets of the stream linked to a slot are sent to the slot's peer.
class SlotGate {
 public:
  /// The slot was (re)linked to a stream: `follow` = the stream follows its peer-id tag.
  void reset(bool follow) {
    follow_ = follow;
    target_.clear();
  }
  /// A `meshflow-peer-id` tag arrived on the slot (in stream order). Returns true if the target
  /// changed.
  bool set_target(const std::string &peer) {
    if (peer == target_) return false;
    target_ = peer;
    return true;
  }
  /// Does a packet that arrives now go to `peer`?
  bool passes(const std::string &peer) const { return !follow_ || target_.empty() || target_ == peer; }
  /// The linked stream's route changed (pad properties set while linked): keep the target.
  void set_follow(bool follow) { follow_ = follow; }
  bool follows() const { return follow_; }
  const std::string &target() const { return target_; }

 private:
  bool follow_ = false;
  std::string target_;
};

/// Output sequence numbers of one slot: input seqnum + offset, the offset re-chosen after a gated
/// stretch or a re-link so that the output continues at last + 1.
class SeqRewriter {
 public:
  /// The output seqnum of a packet that passes (input seqnum `in`).
  uint16_t map(uint16_t in) {
    if (rebase_ && have_out_) offset_ = uint16_t(uint16_t(last_out_ + 1) - in);
    resumed_ = rebase_ && have_out_;
    rebase_ = false;
    last_out_ = uint16_t(in + offset_);
    have_out_ = true;
    return last_out_;
  }
  /// A packet was gated (not sent): the next one that passes continues our sequence.
  void dropped() { rebase_ = true; }
  /// The slot was linked to another stream (another input sequence): same.
  void relinked() { rebase_ = true; }
  /// Did the last map() start again after a gated stretch or a re-link? (Audio: set the marker
  /// bit, the start of a talkspurt.)
  bool resumed() const { return resumed_; }

 private:
  bool have_out_ = false;
  bool rebase_ = false;
  bool resumed_ = false;
  uint16_t last_out_ = 0;
  uint16_t offset_ = 0;
};

}  // namespace mf::webrtc
