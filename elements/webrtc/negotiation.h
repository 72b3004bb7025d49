// Negotiation helpers of the WebRTC nodes: the codec table (RTP caps used as transceiver codec
// preferences, payloader/depayloader/decoder per codec), and validation of remote SDP before
// webrtcbin sees it (RELIABILITY.md: webrtcbin 1.22 accepts junk and explodes with m-lines).
#pragma once

#include <gst/gst.h>
#include <gst/sdp/sdp.h>

#include <string>

#include "common.h"

namespace mf::webrtc {

struct Codec {
  const char *name;          // "opus", "vp8", "vp9", "h264"
  Kind kind;
  const char *encoding_name; // RTP encoding-name
  int payload;               // our payload type
  const char *payloader;
  const char *depayloader;
  const char *parser;        // optional, between depayloader and decoder
  const char *decoder;
};

/// The codec table entry for a name ("vp8") or an RTP encoding-name ("VP8"); nullptr if unknown.
const Codec *find_codec(const std::string &name_or_encoding);

/// Transceiver codec preferences for `codec` (application/x-rtp with rtcp-fb for video).
GstCaps *codec_caps(const Codec &codec);

/// Limits for remote SDP.
constexpr size_t kMaxSdpBytes = 16 * 1024;
constexpr unsigned kMaxMlines = 8;

/// Parse and validate a remote SDP: size, m-line count, and per media section a mid, ICE
/// credentials, a DTLS fingerprint and setup (session- or media-level), and at least one codec we
/// know for audio/video sections. Returns the parsed message or nullptr with `error` set.
GstSDPMessage *parse_remote_sdp(const std::string &sdp, std::string *error);

/// Identity of the remote end: first a=fingerprint and a=ice-ufrag (session or media level).
std::string sdp_fingerprint(const GstSDPMessage *msg);

/// Validate one remote ICE candidate line: size, "candidate:" grammar (foundation, component,
/// transport udp/tcp, priority, address, port, typ). mDNS ".local" addresses are refused (never
/// resolve on the signalling path).
bool valid_candidate(const std::string &candidate, std::string *error);

}  // namespace mf::webrtc
