// SDP and ICE candidate validation: pure, fuzzable (tests/fuzz/fuzz_sdp.cpp, fuzz_candidate.cpp).
//
// webrtcbin 1.22 accepts a bare "v=0", binary junk, a BUNDLE naming a missing mid, a 10,000-char
// mid, payload type 4294967296, and its cost explodes with the number of m-lines. The server
// validates every SDP and candidate with these functions before forwarding it to a peer.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace mf::signalling {

struct SdpLimits {
  size_t max_bytes = 16 * 1024;
  size_t max_mlines = 16;
  size_t max_mid_bytes = 32;
  size_t max_line_bytes = 1024;
  size_t max_formats_per_mline = 64;
  /// Codec names (rtpmap encoding names, case-insensitive) allowed in RTP m-lines. The default is
  /// the Meshflow set plus the audio codecs every browser offers (so a stock offer passes).
  std::set<std::string> codecs = default_codecs();
  static std::set<std::string> default_codecs();
};

struct SdpReport {
  bool ok = false;
  std::string reason;             // empty when ok; otherwise what is wrong, for the error data
  size_t mlines = 0;
  std::vector<std::string> mids;  // in m-line order
};

/// Validates an offer or answer (type "offer"/"answer"): size, line syntax, m-line count (counted
/// before GstSDPMessage parses anything), version, origin, per m-line mid (unique, token, length),
/// ice-ufrag/ice-pwd, fingerprint and setup (session or media level), payload types 0..127, rtpmap
/// codec allowlist, BUNDLE groups naming existing mids.
SdpReport validate_sdp(std::string_view sdp, const SdpLimits &limits = {});

struct Candidate {
  bool end_of_candidates = false;  // the empty candidate
  std::string foundation;
  uint32_t component = 0;
  std::string transport;           // "udp" / "tcp" (lower-cased)
  uint32_t priority = 0;
  std::string address;
  uint16_t port = 0;
  std::string type;                // host / srflx / prflx / relay
  std::string related_address;
  int related_port = -1;
  bool mdns = false;               // address is a ".local" mDNS name: never resolved here
  std::vector<std::pair<std::string, std::string>> extensions;
};

struct CandidateResult {
  bool ok = false;
  std::string reason;
  Candidate candidate;
};

constexpr size_t kMaxCandidateBytes = 512;

/// RFC 8445 section 15.1 candidate-attribute ("candidate:..." or "a=candidate:..."). Addresses
/// are IPv4/IPv6 literals or mDNS ".local" names (flagged, not resolved); any other host name is
/// refused (resolving it would block the signalling thread).
CandidateResult parse_candidate(std::string_view text, size_t max_bytes = kMaxCandidateBytes);

/// A mid as RFC 8843 uses it: 1..max_bytes token characters.
bool valid_mid(std::string_view mid, size_t max_bytes = 32);

}  // namespace mf::signalling
