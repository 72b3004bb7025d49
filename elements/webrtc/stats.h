// Per-peer statistics of the WebRTC nodes: parsed from webrtcbin's `get-stats` (polled about once a
// second by the peer manager), completed with our own counters (decoded frames, setup time), and
// exported as a GstStructure (the elements' `stats` property) and to the global metrics registry.
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <string>

#include "common.h"

namespace mf::webrtc {

struct PeerStats {
  std::string state = "new";    // new | connecting | connected | failed | closed
  double rtt_s = -1;            // from remote-inbound-rtp round-trip-time (-1 = unknown)
  double fraction_lost = 0;     // worst remote-inbound-rtp fraction-lost (what the peer lost of ours)
  int64_t packets_lost = 0;     // inbound-rtp packets-lost (what we lost of theirs)
  double jitter_s = 0;          // inbound-rtp jitter, max over streams
  uint64_t bytes_in = 0, bytes_out = 0;
  double bitrate_in = 0, bitrate_out = 0;  // bit/s over the last poll interval
  uint64_t audio_buffers = 0;   // decoded audio buffers delivered
  uint64_t frames_decoded = 0;  // decoded video frames delivered
  uint64_t frames_dropped = 0;  // decoded buffers dropped because the pad was not linked
  double setup_s = -1;          // announce (or peer creation, if later) -> first decoded buffer
  double connected_s = -1;      // same origin -> ICE connected
  uint64_t packets_gated = 0;   // RTP packets of tag-following streams not sent to this peer
                                // because the stream's target was another peer (slot_gate.h)
};

/// Fold one get-stats reply into `ps` (bitrates from the byte deltas over `interval_s`).
void update_from_webrtc_stats(PeerStats &ps, const GstStructure *stats, double interval_s);

/// `peer` structure: state, rtt-ms, fraction-lost, packets-lost, jitter-ms, bitrate-in,
/// bitrate-out, audio-buffers, frames-decoded, frames-dropped, setup-ms, connected-ms,
/// packets-gated.
GstStructure *peer_stats_structure(const std::string &peer_id, const PeerStats &ps);

/// Update the per-peer gauges (meshflow_webrtc_rtt_seconds, _packet_loss_ratio, _jitter_seconds,
/// _bitrate_bps{direction}) labelled {session, peer}; `session` is the room name. The peer manager
/// removes a peer's series when the peer is freed (Registry::remove_series).
void export_peer_metrics(const std::string &session, const std::string &peer_id, const PeerStats &ps);

}  // namespace mf::webrtc
