// Shared definitions of the WebRTC nodes (webrtc_source / webrtc_sink): the per-session settings,
// debug category, bus message helpers and small utilities. Internal to elements/webrtc/.
#pragma once

#include <gst/gst.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_EXTERN(mf_webrtc_debug);

namespace mf::webrtc {

/// Name of the custom stream tag carrying the origin peer of a webrtc_source stream.
constexpr const char *kPeerIdTag = "meshflow-peer-id";
/// Structure name of the element messages posted on the bus ("event" + "peer-id" fields).
constexpr const char *kPeerMessage = "meshflow-peer";

void ensure_initialized();  // debug category, custom tag, DTLS warm-up (once per process)

enum class Kind { Audio, Video };
inline const char *to_string(Kind k) { return k == Kind::Audio ? "audio" : "video"; }

/// Everything a session's peer manager is configured with. Each field has a bit in `Settings::Field`
/// so that only properties explicitly set on an element are applied to the shared manager.
struct Settings {
  enum Field : uint32_t {
    kUrl = 1u << 0, kRoom = 1u << 1, kPeerId = 1u << 2, kToken = 1u << 3, kLocalAddrs = 1u << 4,
    kStun = 1u << 5, kTurn = 1u << 6, kIceServers = 1u << 7, kLatency = 1u << 8,
    kOpusFrame = 1u << 9, kVideoCodec = 1u << 10, kMinBitrate = 1u << 11, kMaxBitrate = 1u << 12,
    kInactivity = 1u << 13, kSetupTimeout = 1u << 14, kDataChannel = 1u << 15, kOpusLowDelay = 1u << 16,
    kStartBitrate = 1u << 17, kAudioLatency = 1u << 18, kVideoLatency = 1u << 19, kRemotePeers = 1u << 20,
  };
  std::string signalling_url = "ws://127.0.0.1:8080/rpc";
  std::string room = "default";
  std::string peer_id;  // empty = server-assigned
  std::string token;
  std::vector<std::string> ice_local_addresses;
  std::string stun_server;  // stun://host:port
  std::string turn_server;  // turn(s)://user:pass@host:port
  std::vector<std::string> ice_servers;  // extra stun:/turn: URLs ("turn://user:pass@host:port")
  // Glob patterns (* and ?) of the peer ids to connect to; empty = every peer in the room.
  std::vector<std::string> remote_peers;
  // Jitter-buffer latency per kind (each rtpjitterbuffer is set by the SSRC's m-line kind; the
  // `latency` property sets both). Video waits a little so multi-packet frames are not dropped.
  unsigned audio_latency_ms = 0;
  unsigned video_latency_ms = 20;
  unsigned opus_frame_ms = 20;          // 10 or 20
  bool opus_low_delay = false;          // opusenc audio-type=restricted-lowdelay (no FEC)
  std::string video_codec = "vp8";      // vp8 | vp9 | h264
  unsigned min_bitrate = 150000;        // bit/s, video encoder floor
  unsigned max_bitrate = 2500000;       // bit/s, video encoder ceiling
  unsigned start_bitrate = 1000000;     // bit/s
  unsigned inactivity_timeout_ms = 5000;  // connected peer with no RTP/data for this long: dead
  unsigned setup_timeout_ms = 10000;    // peer not connected within this: ICE restart / fresh offer
  bool data_channel = true;             // a reliable "meshflow" data channel per peer
};

using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

/// Post `meshflow-peer` element message from `src`: event, peer-id, plus optional extra fields
/// already in `extra` (taken).
void post_peer_message(GstElement *src, const char *event, const std::string &peer_id,
                       GstStructure *extra = nullptr);

}  // namespace mf::webrtc
