// libFuzzer target: the WebSocket media framer/parser (src/meshflow/transport/ws_frame.h): binary
// media frames, text control messages and transcript text, as a connection hands them over.
// The first input byte picks the path: 0 binary frame (+ payload check against a stream format
// from byte 1), 1 control message, 2 transcript text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "meshflow/transport/ws_frame.h"

// Compiled into the target for coverage (see fuzz_sdp.cpp).
#include "../../src/meshflow/transport/ws_frame.cpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace mf::transport;
  if (size < 2) return 0;
  uint8_t path = data[0] % 3, fmt_byte = data[1];
  const uint8_t *p = data + 2;
  size_t n = size - 2;
  if (path == 0) {
    MediaFrame f = parse_media(p, n);
    if (f.ok) {
      if (n < kMediaHeaderBytes || f.payload_bytes != n - kMediaHeaderBytes || f.header.version != kMediaVersion)
        __builtin_trap();
      uint8_t out[kMediaHeaderBytes];
      write_media_header(f.header, out);
      for (size_t i = 0; i < kMediaHeaderBytes; i++)
        if (out[i] != p[i]) __builtin_trap();  // the header round-trips
      StreamFormat sf;
      sf.channels = 1 + (fmt_byte & 1);
      sf.rate = (fmt_byte & 2) ? 16000 : 48000;
      std::string code, msg;
      if (check_payload(sf, f.payload_bytes, &code, &msg) &&
          (f.payload_bytes == 0 || f.payload_bytes % (2 * sf.channels) || f.payload_bytes > sf.rate / 5 * 2 * sf.channels))
        __builtin_trap();
    } else if (f.code.empty() || f.message.empty()) {
      __builtin_trap();
    }
  } else if (path == 1) {
    Control c = parse_control(std::string_view(reinterpret_cast<const char *>(p), n));
    if (!c.ok && (c.code.empty() || c.message.empty())) __builtin_trap();
    if (c.ok && c.type == "stream.start" && (c.stream_id < 0 || c.stream_id > 65535 || c.format.channels < 1 ||
                                             c.format.channels > 2 || c.format.rate < 8000))
      __builtin_trap();
    if (c.ok && c.type == "ping") {
      Control back = parse_control(make_pong(c));  // what we answer is valid
      if (!back.ok || back.type != "pong") __builtin_trap();
    }
  } else {
    Transcript t;
    std::string err;
    if (transcript_from_text(std::string_view(reinterpret_cast<const char *>(p), n), &t, &err)) {
      Control back = parse_control(make_transcript(t));
      if (!back.ok) __builtin_trap();
    }
  }
  return 0;
}
