// A GIOStream wrapper that counts the raw bytes libsoup reads from and writes to a WebSocket
// connection, so the server can bound what libsoup 3.2 does not:
//  - a message split into many continuation frames (CVE-2025-32049: each frame is checked against
//    max-incoming-payload-size, the reassembled message is not). Raw bytes read since the last
//    completed message are an upper bound of the message being reassembled; when they exceed the
//    budget, `on_exceeded` runs (from an idle, never inside libsoup's read) and the stream stops
//    handing bytes to libsoup (they are drained and dropped), so memory stays bounded.
//  - the outbound queue of a slow consumer: bytes handed to send() minus bytes written.
// Nothing here parses WebSocket frames: libsoup does all the framing.
#pragma once

#include <gio/gio.h>

#include <cstdint>
#include <functional>

namespace mf::signalling {

struct StreamBudget {
  uint64_t read_since_message = 0;  // raw bytes read since the last complete message
  uint64_t read_total = 0;
  uint64_t written_total = 0;
  uint64_t limit = 0;               // read_since_message above this: exceeded
  bool exceeded = false;
  std::function<void()> on_exceeded;  // called once, from an idle on `context`
  GMainContext *context = nullptr;    // where on_exceeded runs (nullptr: thread-default)
  /// A message completed (or a pong arrived): `bytes` of raw input are accounted for.
  void consumed(uint64_t bytes) {
    read_since_message = read_since_message > bytes ? read_since_message - bytes : 0;
  }
};

/// Wraps `base` (a full ref is taken). `budget` must outlive the returned stream's use; call
/// counting_io_stream_detach() before freeing it.
GIOStream *counting_io_stream_new(GIOStream *base, StreamBudget *budget);
void counting_io_stream_detach(GIOStream *stream);
/// Close the wrapped base stream now (abort a connection whose close handshake does not finish).
void counting_io_stream_abort(GIOStream *stream);

}  // namespace mf::signalling
