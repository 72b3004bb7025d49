// Realtime LLM wire protocols, as pure functions: building client messages and parsing server
// events for the OpenAI/Azure Realtime API (beta, `OpenAI-Beta: realtime=v1`) and Gemini Live
// (BidiGenerateContent). JSON via json-glib, base64 via GLib. No I/O; the unit tests call these
// directly, the network client (net_client.h) sends what they build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mf::llm {

enum class Provider { Mock = 0, OpenAI = 1, Gemini = 2 };

struct SessionConfig {
  std::string model;         // empty = provider default
  std::string voice;         // empty = provider default
  std::string instructions;  // may be empty
};

/// One finished turn, kept to restore the conversation after a reconnect.
struct HistoryItem {
  bool user = true;
  std::string text;
};

enum class EventKind {
  SessionReady,       // openai session.created/updated, gemini setupComplete
  SpeechStarted,      // openai input_audio_buffer.speech_started
  SpeechStopped,      // openai input_audio_buffer.speech_stopped
  ResponseCreated,    // openai response.created
  AudioDelta,         // assistant audio (samples at 24 kHz)
  AudioDone,          // openai response.audio.done
  AssistantTextDelta, // assistant transcript piece
  AssistantTextDone,  // assistant transcript final (text = full text when the provider gives it)
  UserText,           // user transcript (final)
  ResponseDone,       // openai response.done, gemini turnComplete
  Interrupted,        // gemini serverContent.interrupted (server-side barge-in)
  Error,              // openai error event
  RateLimits,         // openai rate_limits.updated
  GoAway,             // gemini goAway: the server will close soon -> roll over
  Ignored,            // known, nothing to do (session.updated echo, item.created, ...)
  Unknown,            // valid JSON, unknown type (counted, not fatal)
};

struct ServerEvent {
  EventKind kind = EventKind::Unknown;
  std::string type;         // the raw event type ("response.audio.delta", "serverContent", ...)
  std::string item_id;      // openai item id (audio delta, transcript, truncate target)
  std::string response_id;  // openai response id
  std::vector<int16_t> audio;
  std::string text;
  std::string error_code;   // openai error.code / error.type
  std::string error_message;
  /// openai speech_started/speech_stopped: audio_start_ms / audio_end_ms (ms of input audio
  /// appended in this session), -1 when absent.
  int64_t audio_ms = -1;
  /// speech_stopped: audio_ms mapped to the running time (ns) at which that input sample was in
  /// the bridge's sink stream (set by the network client), UINT64_MAX when unknown.
  uint64_t input_time = UINT64_MAX;
};

// ---- helpers -------------------------------------------------------------------------------
std::string base64_encode_pcm16(const int16_t *samples, size_t n);
/// Decodes base64 little-endian PCM16. False (and `out` untouched) on malformed input or an odd
/// byte count.
bool base64_decode_pcm16(const std::string &b64, std::vector<int16_t> *out);

const char *provider_name(Provider p);
std::string default_model(Provider p);
std::string default_voice(Provider p);
const char *default_key_env(Provider p);
/// Input and output sample rates of the provider (mock: 24000/24000).
int provider_input_rate(Provider p);
int provider_output_rate(Provider p);
/// The default endpoint (no key in it). Gemini keys/tokens are added by with_query_param().
std::string default_url(Provider p, const std::string &model);
/// url + (?|&) name=escaped(value).
std::string with_query_param(const std::string &url, const char *name, const std::string &value);
/// True when the url's host ends in ".azure.com" (Azure OpenAI: `api-key` header).
bool url_is_azure(const std::string &url);
/// scheme://host[:port]/path, without query or userinfo: safe to log.
std::string redact_url(const std::string &url);

// ---- OpenAI Realtime (client events) -----------------------------------------------------
std::string openai_session_update(const SessionConfig &cfg);
std::string openai_audio_append(const int16_t *samples, size_t n);
std::string openai_response_cancel();
std::string openai_truncate(const std::string &item_id, int64_t audio_end_ms);
std::string openai_history_item(const HistoryItem &item);
/// Parses one server event. False with *error set on malformed JSON / missing "type" / bad audio.
bool openai_parse(const char *data, size_t len, ServerEvent *ev, std::string *error);

// ---- Gemini Live -------------------------------------------------------------------------
std::string gemini_setup(const SessionConfig &cfg);
std::string gemini_audio(const int16_t *samples, size_t n, int rate);
/// clientContent with the turns (turnComplete=false: context only, no reply is requested).
std::string gemini_history(const std::vector<HistoryItem> &items);
/// One server message can carry several events (audio parts, transcriptions, interrupted,
/// turnComplete), appended to *out in that order.
bool gemini_parse(const char *data, size_t len, std::vector<ServerEvent> *out, std::string *error);

/// audio_end_ms for conversation.item.truncate: samples played of the item at `rate`, floor.
int64_t played_ms(int64_t samples, int rate);

}  // namespace mf::llm

namespace mf::llm {
/// The transcript event JSON of the `text` pad and of `meshflow-transcript` messages:
/// {"type":"transcript","text":..,"speaker":..,"is_final":..,"confidence":number|null,
///  "timestamp":unix_ms}. confidence < 0 -> null.
std::string transcript_json(const std::string &text, const std::string &speaker, bool is_final,
                            double confidence, int64_t unix_ms);
}  // namespace mf::llm
