// The LLM bridge's network side: one thread with its own GMainContext running a libsoup 3
// WebSocket client for openai_realtime or gemini_live. It connects (key from the environment or
// an ephemeral token fetched from `token-url`), sends the session setup and the restored
// conversation, streams user audio, parses server events (protocol.h) and hands them to the
// element through callbacks that run on this thread. It owns the reliability policy:
//   - 401/403 on upgrade (or no key)  -> error kind "auth", retry every reconnect-max-ms;
//   - 429                             -> "rate_limit", honour Retry-After, else backoff;
//   - 5xx, refused, TLS, drops        -> "server"/"network", exponential backoff
//                                        reconnect-min-ms .. reconnect-max-ms;
//   - no server event within watchdog-ms while a response (or the session ack) is due
//                                     -> "watchdog", reconnect at once;
//   - session age >= max-session-s (at the next idle moment, at the latest 10 s later), Gemini
//     goAway, OpenAI error "session_expired" -> roll over to a new session (not an error).
// After every (re)connect the session setup is sent again and the last finished turns (user and
// assistant transcripts, up to 20) are re-inserted as text conversation items.
// Never logs the key, the token or a URL with its query.
#pragma once

#include <glib.h>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "protocol.h"

namespace mf::llm {

struct NetSettings {
  Provider provider = Provider::OpenAI;
  std::string url;        // empty = default_url()
  SessionConfig session;
  std::string key_env;    // env var name (never the key)
  std::string token_url;  // ephemeral token endpoint, empty = use key_env
  unsigned watchdog_ms = 5000;
  unsigned max_session_s = 1680;  // 0 = never
  unsigned reconnect_min_ms = 250;
  unsigned reconnect_max_ms = 30000;
};

class NetClient {
 public:
  struct Callbacks {
    std::function<void(ServerEvent &ev)> on_event;
    /// kind: auth | rate_limit | server | network | watchdog | protocol
    std::function<void(const char *kind, const std::string &message)> on_error;
    /// true when the session is acknowledged (session.created/updated, setupComplete), false
    /// when the connection is lost.
    std::function<void(bool connected)> on_connected;
    std::function<void()> on_reconnect;  // a reconnect attempt after a failure or a drop
    std::function<void()> on_rollover;   // a planned new session
    std::function<void()> on_unknown_event;
  };

  NetClient(NetSettings settings, Callbacks cb);
  ~NetClient();  // stops the thread and closes the connection
  NetClient(const NetClient &) = delete;
  NetClient &operator=(const NetClient &) = delete;

  void start();
  /// Closes the connection and joins the thread; idempotent. Callbacks have all returned when
  /// it returns.
  void stop();
  /// Any thread. User audio at the provider's input rate; `running_time` (ns) is when its first
  /// sample was in the sink stream (UINT64_MAX = unknown), used to map the server's
  /// speech_stopped audio_end_ms back to our timeline (ServerEvent::input_time). False (dropped)
  /// when not connected or the send backlog is over one second.
  bool send_audio(std::vector<int16_t> samples, uint64_t running_time = UINT64_MAX);
  /// Any thread (runs at once on the network thread). OpenAI: response.cancel + item truncate.
  void cancel_and_truncate(const std::string &item_id, int64_t audio_end_ms);
  bool connected() const { return connected_.load(); }

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> connected_{false};
};

}  // namespace mf::llm
