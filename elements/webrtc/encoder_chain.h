// The send path of webrtc_sink: one encoder chain per request sink pad (encode ONCE, payload once),
// ending in a tee whose RTP is fanned out to every peer the pad's route selects, plus the simple
// bitrate controller shared by the peers of one encoder.
//
//   audio: audioconvert ! audioresample ! opusenc ! rtpopuspay ! tee
//   video: videoconvert ! vp8enc|vp9enc|openh264enc ! rtpvp8pay|rtpvp9pay|rtph264pay ! tee
//
// Bitrate controller (video; run once per stats tick, ~1 s): over the peers this encoder feeds, take
// the WORST fraction lost and the LARGEST RTT. loss > 10 %: bitrate *= (1 - loss / 2);
// loss < 2 % and RTT < 300 ms: bitrate *= 1.08; otherwise hold. Clamped to [min, max]. Opus keeps
// its bitrate but its packet-loss-percentage (FEC redundancy) follows the measured loss.
#pragma once

#include <gst/gst.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common.h"
#include "negotiation.h"

namespace mf::webrtc {

struct SendStream {
  Kind kind = Kind::Audio;
  const Codec *codec = nullptr;
  std::string pad_name;
  GstPad *ghost = nullptr;       // the element's request pad (borrowed; the element owns it)
  GstElement *tee = nullptr;     // borrowed, owned by the sink bin
  GstElement *encoder = nullptr; // borrowed
  std::vector<GstElement *> elements;  // everything we added to the bin, upstream first (refs)

  std::atomic<unsigned> bitrate{0};  // current video target, bit/s

  mutable std::mutex mu;  // protects route, origin_peer and linked
  std::string route = "broadcast";  // broadcast | origin | others | peer:<id>
  std::string origin_peer;
  // Whether the request pad is linked upstream. A stream is routed to nobody before: its route and
  // origin-peer are set between the pad request and the link (a session does exactly that), and a
  // new pad routed with the default (broadcast) for that moment gave every other peer a
  // transceiver of its own, renegotiated, whose track then stayed empty (browsers show the newest
  // track of a kind: a page saw its blurred video or its mix never).
  bool linked = false;

  /// Does this stream go to `peer`? (A tag-following stream is negotiated with every peer; its
  /// slots gate it, see slot_gate.h.)
  bool selects(const std::string &peer) const;
  /// `route: origin` without an origin-peer: the stream goes to the peer its `meshflow-peer-id`
  /// stream tag names (slot_gate.h), switching at run time without renegotiation.
  bool follows_tag() const;
};

/// The set of send streams of one webrtc_sink, shared with the session's PeerManager.
struct StreamSet {
  mutable std::mutex mu;  // protects streams
  std::vector<std::shared_ptr<SendStream>> streams;
  GstBin *bin = nullptr;  // the sink element (borrowed: the element outlives its StreamSet users)

  std::vector<std::shared_ptr<SendStream>> snapshot() const {
    std::lock_guard<std::mutex> l(mu);
    return streams;
  }
};

/// Build the chain for a new stream inside `bin` (elements added and synced to the bin's state).
/// Returns the pad to ghost (the first element's sink pad, a full ref) or nullptr with `error`.
GstPad *build_send_chain(GstBin *bin, SendStream &s, const Settings &settings, std::string *error);

/// Remove the chain's elements from `bin` (set to NULL first).
void destroy_send_chain(GstBin *bin, SendStream &s);

/// One controller step from the worst loss fraction (0..1) and the largest RTT (s) among the
/// peers fed by `s`. Returns the new bitrate (bit/s) applied to the encoder (video) or 0 (audio).
unsigned adapt_bitrate(SendStream &s, double worst_loss, double max_rtt_s, const Settings &settings);

}  // namespace mf::webrtc
