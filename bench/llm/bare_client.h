// The benchmark's baseline: a bare libsoup WebSocket client speaking the Realtime protocol to the
// mock server, on a thread of its own. It sends 20 ms input_audio_buffer.append events in real
// time (silence unless told to say something) and timestamps what comes back, so the same server
// round trip can be measured without the bridge.
#pragma once

#include <glib-object.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace mf::bench {

class BareClient {
 public:
  explicit BareClient(const std::string &url, const std::string &key);
  ~BareClient();
  bool connected() const { return connected_.load(); }
  void say(int ms);                       // queue `ms` of a loud tone at 24 kHz
  gint64 speech_start_us() const { return speech_start_us_.load(); }
  gint64 speech_end_us() const { return speech_end_us_.load(); }
  void arm();                             // reset the "first after arm" timestamps
  gint64 first_delta_us() const { return first_delta_us_.load(); }
  gint64 speech_started_us() const { return speech_started_us_.load(); }
  int responses_done() const { return done_.load(); }
  int64_t delta_samples() const { return delta_samples_.load(); }

  struct Impl;

 private:
  void run(const std::string &url, const std::string &key);
  std::thread thread_;
  GMainContext *ctx_ = nullptr;
  GMainLoop *loop_ = nullptr;
  GObject *session_obj = nullptr;  // the SoupSession (its "ws" data is the connection)
  std::mutex mu_;
  std::deque<int16_t> pending_;
  bool was_speaking_ = false;
  std::atomic<bool> connected_{false};
  std::atomic<gint64> speech_start_us_{0}, speech_end_us_{0}, first_delta_us_{0}, speech_started_us_{0};
  std::atomic<int> done_{0};
  std::atomic<int64_t> delta_samples_{0};
  friend struct Impl;
};

}  // namespace mf::bench
