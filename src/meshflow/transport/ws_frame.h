// The WebSocket media protocol v1 (`/ws`, docs/protocols.md) as pure functions: the 16-byte binary
// media header, the payload checks, and the JSON control messages (parsed with prescan() +
// json-glib, built with JsonBuilder). No I/O here: ws_endpoint.cpp and the fuzz target use it.
//
//   auto m = mf::transport::parse_media(data, len);
//   if (!m.ok) send(make_error(m.code, m.message));
//   auto c = mf::transport::parse_control(text);   // c.ok, c.code ("bad_json", ...), c.msg
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mf::transport {

constexpr size_t kMediaHeaderBytes = 16;
constexpr uint8_t kMediaVersion = 1;
constexpr uint8_t kFlagDiscontinuity = 0x01;
constexpr size_t kMaxControlBytes = 16 * 1024;   // one text frame
constexpr unsigned kMaxFrameMs = 200;            // longest payload of one binary frame

struct MediaHeader {
  uint8_t version = kMediaVersion;
  uint8_t flags = 0;
  uint16_t stream_id = 0;
  uint32_t seq = 0;
  uint64_t capture_ts_us = 0;
};

/// Result of parsing a binary frame: on failure `code` is a protocol error code ("bad_frame") and
/// `message` says what and where.
struct MediaFrame {
  bool ok = false;
  std::string code, message;
  MediaHeader header;
  const uint8_t *payload = nullptr;  // points into the parsed buffer
  size_t payload_bytes = 0;
};

MediaFrame parse_media(const uint8_t *data, size_t len);
void write_media_header(const MediaHeader &h, uint8_t out[kMediaHeaderBytes]);

/// What `stream.start` announces.
struct StreamFormat {
  std::string kind = "audio";
  std::string format = "pcm16";
  unsigned rate = 48000;
  unsigned channels = 1;
  unsigned frame_ms = 20;
};

/// Checks a payload against its stream's format: pcm16, a multiple of 2*channels bytes, at most
/// kMaxFrameMs of audio. Returns "" when fine, else fills code/message.
bool check_payload(const StreamFormat &f, size_t payload_bytes, std::string *code,
                   std::string *message);

/// A parsed control (text) message.
struct Control {
  bool ok = false;
  std::string code, message;  // on failure: bad_json | unknown_type | bad_message | too_large
  std::string type;           // status | stream.start | stream.stop | ping | pong | transcript | error
  int64_t stream_id = -1;     // stream.start / stream.stop
  StreamFormat format;        // stream.start
  bool t_is_int = true;       // ping/pong "t"
  int64_t t_int = 0;
  double t_double = 0;
  std::string state, peer_id, reason;  // status
  int64_t heartbeat_ms = 0;            // status
};

Control parse_control(std::string_view text, size_t max_bytes = kMaxControlBytes);

// Builders (one JSON object each, compact).
std::string make_error(const std::string &code, const std::string &message);
std::string make_status_connected(const std::string &peer_id, const std::string &room,
                                  unsigned heartbeat_ms, const std::string &session_id);
std::string make_status_disconnecting(const std::string &reason);
std::string make_stream_start(uint16_t stream_id, const StreamFormat &f);
std::string make_stream_stop(uint16_t stream_id);
std::string make_ping(int64_t t);
std::string make_pong(const Control &ping);
struct Transcript {
  std::string text, speaker;
  bool is_final = true;
  double confidence = 1.0;
  int64_t timestamp_ms = 0;
};
std::string make_transcript(const Transcript &t);
/// A text-pad buffer: a JSON object with at least "text" (other transcript members optional), or
/// plain UTF-8 text. Returns false (with `error`) for neither.
bool transcript_from_text(std::string_view in, Transcript *out, std::string *error);

}  // namespace mf::transport
