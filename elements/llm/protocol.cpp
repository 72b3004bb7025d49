// Realtime LLM wire protocols (see protocol.h).
#include "protocol.h"

#include <glib.h>
#include <json-glib/json-glib.h>

#include <cstring>

namespace mf::llm {
namespace {

struct BuilderPtr {
  JsonBuilder *b = json_builder_new();
  ~BuilderPtr() { g_object_unref(b); }
};

std::string to_string(JsonBuilder *b) {
  JsonNode *root = json_builder_get_root(b);
  JsonGenerator *gen = json_generator_new();
  json_generator_set_root(gen, root);
  gchar *s = json_generator_to_data(gen, nullptr);
  std::string out(s ? s : "");
  g_free(s);
  g_object_unref(gen);
  json_node_unref(root);
  return out;
}

void add_str(JsonBuilder *b, const char *name, const std::string &v) {
  json_builder_set_member_name(b, name);
  json_builder_add_string_value(b, v.c_str());
}

const char *obj_str(JsonObject *o, const char *name) {
  if (!o || !json_object_has_member(o, name)) return nullptr;
  JsonNode *n = json_object_get_member(o, name);
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) return nullptr;
  return json_node_get_string(n);
}

JsonObject *obj_obj(JsonObject *o, const char *name) {
  if (!o || !json_object_has_member(o, name)) return nullptr;
  JsonNode *n = json_object_get_member(o, name);
  return JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : nullptr;
}

bool obj_bool(JsonObject *o, const char *name) {
  if (!o || !json_object_has_member(o, name)) return false;
  JsonNode *n = json_object_get_member(o, name);
  return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_BOOLEAN &&
         json_node_get_boolean(n);
}

std::string s_or(const char *s) { return s ? s : ""; }

// Parses `data` into an object root. The parser is returned so the object stays alive.
JsonParser *parse_object(const char *data, size_t len, JsonObject **obj, std::string *error) {
  JsonParser *p = json_parser_new();
  GError *err = nullptr;
  if (!json_parser_load_from_data(p, data, gssize(len), &err)) {
    *error = std::string("malformed JSON: ") + (err ? err->message : "?");
    g_clear_error(&err);
    g_object_unref(p);
    return nullptr;
  }
  JsonNode *root = json_parser_get_root(p);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    *error = "server message is not a JSON object";
    g_object_unref(p);
    return nullptr;
  }
  *obj = json_node_get_object(root);
  return p;
}

}  // namespace

std::string base64_encode_pcm16(const int16_t *samples, size_t n) {
  std::vector<guint8> bytes(n * 2);
  for (size_t i = 0; i < n; i++) {
    uint16_t v = uint16_t(samples[i]);
    bytes[2 * i] = guint8(v & 0xff);
    bytes[2 * i + 1] = guint8(v >> 8);
  }
  gchar *s = g_base64_encode(bytes.data(), bytes.size());
  std::string out(s);
  g_free(s);
  return out;
}

bool base64_decode_pcm16(const std::string &b64, std::vector<int16_t> *out) {
  // g_base64_decode is lenient (skips invalid characters); validate the alphabet first.
  size_t pad = 0;
  for (char c : b64) {
    if (c == '=') {
      pad++;
      continue;
    }
    if (pad) return false;  // data after padding
    if (!(g_ascii_isalnum(c) || c == '+' || c == '/')) return false;
  }
  if (pad > 2 || (b64.size() % 4) != 0) return false;
  gsize len = 0;
  guchar *bytes = g_base64_decode(b64.c_str(), &len);
  if (len % 2) {
    g_free(bytes);
    return false;
  }
  out->resize(len / 2);
  for (gsize i = 0; i < len / 2; i++)
    (*out)[i] = int16_t(uint16_t(bytes[2 * i]) | (uint16_t(bytes[2 * i + 1]) << 8));
  g_free(bytes);
  return true;
}

const char *provider_name(Provider p) {
  switch (p) {
    case Provider::OpenAI: return "openai_realtime";
    case Provider::Gemini: return "gemini_live";
    default: return "mock";
  }
}

std::string default_model(Provider p) {
  switch (p) {
    case Provider::OpenAI: return "gpt-4o-realtime-preview";
    case Provider::Gemini: return "models/gemini-2.0-flash-live-001";
    default: return "mock";
  }
}

std::string default_voice(Provider p) {
  switch (p) {
    case Provider::OpenAI: return "alloy";
    case Provider::Gemini: return "Puck";
    default: return "tone";
  }
}

const char *default_key_env(Provider p) {
  switch (p) {
    case Provider::OpenAI: return "OPENAI_API_KEY";
    case Provider::Gemini: return "GEMINI_API_KEY";
    default: return "";
  }
}

int provider_input_rate(Provider p) { return p == Provider::Gemini ? 16000 : 24000; }
int provider_output_rate(Provider) { return 24000; }

std::string with_query_param(const std::string &url, const char *name, const std::string &value) {
  gchar *esc = g_uri_escape_string(value.c_str(), nullptr, FALSE);
  std::string out = url + (url.find('?') == std::string::npos ? "?" : "&") + name + "=" + esc;
  g_free(esc);
  return out;
}

std::string default_url(Provider p, const std::string &model) {
  if (p == Provider::OpenAI)
    return with_query_param("wss://api.openai.com/v1/realtime", "model", model);
  if (p == Provider::Gemini)
    return "wss://generativelanguage.googleapis.com/ws/"
           "google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent";
  return "";
}

bool url_is_azure(const std::string &url) {
  GUri *u = g_uri_parse(url.c_str(), G_URI_FLAGS_NONE, nullptr);
  if (!u) return false;
  const char *host = g_uri_get_host(u);
  bool az = host && g_str_has_suffix(host, ".azure.com");
  g_uri_unref(u);
  return az;
}

std::string redact_url(const std::string &url) {
  GUri *u = g_uri_parse(url.c_str(), G_URI_FLAGS_NONE, nullptr);
  if (!u) return "(unparsable url)";
  std::string out = s_or(g_uri_get_scheme(u)) + "://" + s_or(g_uri_get_host(u));
  if (g_uri_get_port(u) > 0) out += ":" + std::to_string(g_uri_get_port(u));
  out += s_or(g_uri_get_path(u));
  g_uri_unref(u);
  return out;
}

// ---- OpenAI ----------------------------------------------------------------------------------

std::string openai_session_update(const SessionConfig &cfg) {
  BuilderPtr bp;
  JsonBuilder *b = bp.b;
  json_builder_begin_object(b);
  add_str(b, "type", "session.update");
  json_builder_set_member_name(b, "session");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "modalities");
  json_builder_begin_array(b);
  json_builder_add_string_value(b, "audio");
  json_builder_add_string_value(b, "text");
  json_builder_end_array(b);
  add_str(b, "voice", cfg.voice.empty() ? default_voice(Provider::OpenAI) : cfg.voice);
  if (!cfg.instructions.empty()) add_str(b, "instructions", cfg.instructions);
  add_str(b, "input_audio_format", "pcm16");
  add_str(b, "output_audio_format", "pcm16");
  json_builder_set_member_name(b, "input_audio_transcription");
  json_builder_begin_object(b);
  add_str(b, "model", "whisper-1");
  json_builder_end_object(b);
  json_builder_set_member_name(b, "turn_detection");
  json_builder_begin_object(b);
  add_str(b, "type", "server_vad");
  json_builder_set_member_name(b, "create_response");
  json_builder_add_boolean_value(b, TRUE);
  json_builder_set_member_name(b, "interrupt_response");
  json_builder_add_boolean_value(b, TRUE);
  json_builder_end_object(b);
  json_builder_end_object(b);
  json_builder_end_object(b);
  return to_string(b);
}

std::string openai_audio_append(const int16_t *samples, size_t n) {
  BuilderPtr bp;
  json_builder_begin_object(bp.b);
  add_str(bp.b, "type", "input_audio_buffer.append");
  add_str(bp.b, "audio", base64_encode_pcm16(samples, n));
  json_builder_end_object(bp.b);
  return to_string(bp.b);
}

std::string openai_response_cancel() {
  BuilderPtr bp;
  json_builder_begin_object(bp.b);
  add_str(bp.b, "type", "response.cancel");
  json_builder_end_object(bp.b);
  return to_string(bp.b);
}

std::string openai_truncate(const std::string &item_id, int64_t audio_end_ms) {
  BuilderPtr bp;
  JsonBuilder *b = bp.b;
  json_builder_begin_object(b);
  add_str(b, "type", "conversation.item.truncate");
  add_str(b, "item_id", item_id);
  json_builder_set_member_name(b, "content_index");
  json_builder_add_int_value(b, 0);
  json_builder_set_member_name(b, "audio_end_ms");
  json_builder_add_int_value(b, audio_end_ms < 0 ? 0 : audio_end_ms);
  json_builder_end_object(b);
  return to_string(b);
}

std::string openai_history_item(const HistoryItem &item) {
  BuilderPtr bp;
  JsonBuilder *b = bp.b;
  json_builder_begin_object(b);
  add_str(b, "type", "conversation.item.create");
  json_builder_set_member_name(b, "item");
  json_builder_begin_object(b);
  add_str(b, "type", "message");
  add_str(b, "role", item.user ? "user" : "assistant");
  json_builder_set_member_name(b, "content");
  json_builder_begin_array(b);
  json_builder_begin_object(b);
  add_str(b, "type", item.user ? "input_text" : "text");
  add_str(b, "text", item.text);
  json_builder_end_object(b);
  json_builder_end_array(b);
  json_builder_end_object(b);
  json_builder_end_object(b);
  return to_string(b);
}

// A non-negative integer member (ms), -1 when absent or not a number.
static int64_t obj_ms(JsonObject *o, const char *name) {
  JsonNode *n = json_object_get_member(o, name);
  if (!n || !JSON_NODE_HOLDS_VALUE(n)) return -1;
  GType t = json_node_get_value_type(n);
  if (t != G_TYPE_INT64 && t != G_TYPE_DOUBLE) return -1;
  int64_t v = t == G_TYPE_INT64 ? json_node_get_int(n) : int64_t(json_node_get_double(n));
  return v < 0 ? -1 : v;
}

bool openai_parse(const char *data, size_t len, ServerEvent *ev, std::string *error) {
  JsonObject *o = nullptr;
  JsonParser *p = parse_object(data, len, &o, error);
  if (!p) return false;
  bool ok = true;
  const char *type = obj_str(o, "type");
  if (!type) {
    *error = "server event without a string \"type\"";
    g_object_unref(p);
    return false;
  }
  ev->type = type;
  ev->item_id = s_or(obj_str(o, "item_id"));
  ev->response_id = s_or(obj_str(o, "response_id"));
  std::string t = type;
  if (t == "session.created" || t == "session.updated") {
    ev->kind = EventKind::SessionReady;
  } else if (t == "input_audio_buffer.speech_started") {
    ev->kind = EventKind::SpeechStarted;
    ev->audio_ms = obj_ms(o, "audio_start_ms");
  } else if (t == "input_audio_buffer.speech_stopped") {
    ev->kind = EventKind::SpeechStopped;
    ev->audio_ms = obj_ms(o, "audio_end_ms");
  } else if (t == "response.created") {
    ev->kind = EventKind::ResponseCreated;
    if (JsonObject *r = obj_obj(o, "response")) ev->response_id = s_or(obj_str(r, "id"));
  } else if (t == "response.audio.delta") {
    ev->kind = EventKind::AudioDelta;
    const char *d = obj_str(o, "delta");
    if (!d || !base64_decode_pcm16(d, &ev->audio)) {
      *error = "response.audio.delta: \"delta\" is not base64 PCM16";
      ok = false;
    }
  } else if (t == "response.audio.done") {
    ev->kind = EventKind::AudioDone;
  } else if (t == "response.audio_transcript.delta" || t == "response.text.delta") {
    ev->kind = EventKind::AssistantTextDelta;
    ev->text = s_or(obj_str(o, "delta"));
  } else if (t == "response.audio_transcript.done" || t == "response.text.done") {
    ev->kind = EventKind::AssistantTextDone;
    ev->text = s_or(obj_str(o, t == "response.text.done" ? "text" : "transcript"));
  } else if (t == "conversation.item.input_audio_transcription.completed") {
    ev->kind = EventKind::UserText;
    ev->text = s_or(obj_str(o, "transcript"));
  } else if (t == "response.done") {
    ev->kind = EventKind::ResponseDone;
    if (JsonObject *r = obj_obj(o, "response")) ev->response_id = s_or(obj_str(r, "id"));
  } else if (t == "error") {
    ev->kind = EventKind::Error;
    JsonObject *e = obj_obj(o, "error");
    ev->error_code = s_or(obj_str(e, "code"));
    if (ev->error_code.empty()) ev->error_code = s_or(obj_str(e, "type"));
    ev->error_message = s_or(obj_str(e, "message"));
  } else if (t == "rate_limits.updated") {
    ev->kind = EventKind::RateLimits;
  } else if (g_str_has_prefix(type, "conversation.") || g_str_has_prefix(type, "response.") ||
             g_str_has_prefix(type, "input_audio_buffer.") || g_str_has_prefix(type, "session.")) {
    ev->kind = EventKind::Ignored;
  } else {
    ev->kind = EventKind::Unknown;
  }
  g_object_unref(p);
  return ok;
}

// ---- Gemini ----------------------------------------------------------------------------------

std::string gemini_setup(const SessionConfig &cfg) {
  BuilderPtr bp;
  JsonBuilder *b = bp.b;
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "setup");
  json_builder_begin_object(b);
  std::string model = cfg.model.empty() ? default_model(Provider::Gemini) : cfg.model;
  if (!g_str_has_prefix(model.c_str(), "models/")) model = "models/" + model;
  add_str(b, "model", model);
  json_builder_set_member_name(b, "generationConfig");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "responseModalities");
  json_builder_begin_array(b);
  json_builder_add_string_value(b, "AUDIO");
  json_builder_end_array(b);
  json_builder_set_member_name(b, "speechConfig");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "voiceConfig");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "prebuiltVoiceConfig");
  json_builder_begin_object(b);
  add_str(b, "voiceName", cfg.voice.empty() ? default_voice(Provider::Gemini) : cfg.voice);
  json_builder_end_object(b);
  json_builder_end_object(b);
  json_builder_end_object(b);
  json_builder_end_object(b);
  if (!cfg.instructions.empty()) {
    json_builder_set_member_name(b, "systemInstruction");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "parts");
    json_builder_begin_array(b);
    json_builder_begin_object(b);
    add_str(b, "text", cfg.instructions);
    json_builder_end_object(b);
    json_builder_end_array(b);
    json_builder_end_object(b);
  }
  json_builder_set_member_name(b, "inputAudioTranscription");
  json_builder_begin_object(b);
  json_builder_end_object(b);
  json_builder_set_member_name(b, "outputAudioTranscription");
  json_builder_begin_object(b);
  json_builder_end_object(b);
  json_builder_end_object(b);
  json_builder_end_object(b);
  return to_string(b);
}

std::string gemini_audio(const int16_t *samples, size_t n, int rate) {
  BuilderPtr bp;
  JsonBuilder *b = bp.b;
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "realtimeInput");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "audio");
  json_builder_begin_object(b);
  add_str(b, "data", base64_encode_pcm16(samples, n));
  add_str(b, "mimeType", "audio/pcm;rate=" + std::to_string(rate));
  json_builder_end_object(b);
  json_builder_end_object(b);
  json_builder_end_object(b);
  return to_string(b);
}

std::string gemini_history(const std::vector<HistoryItem> &items) {
  BuilderPtr bp;
  JsonBuilder *b = bp.b;
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "clientContent");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "turns");
  json_builder_begin_array(b);
  for (const auto &it : items) {
    json_builder_begin_object(b);
    add_str(b, "role", it.user ? "user" : "model");
    json_builder_set_member_name(b, "parts");
    json_builder_begin_array(b);
    json_builder_begin_object(b);
    add_str(b, "text", it.text);
    json_builder_end_object(b);
    json_builder_end_array(b);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_set_member_name(b, "turnComplete");
  json_builder_add_boolean_value(b, FALSE);
  json_builder_end_object(b);
  json_builder_end_object(b);
  return to_string(b);
}

bool gemini_parse(const char *data, size_t len, std::vector<ServerEvent> *out,
                  std::string *error) {
  JsonObject *o = nullptr;
  JsonParser *p = parse_object(data, len, &o, error);
  if (!p) return false;
  bool ok = true;
  bool known = false;
  if (json_object_has_member(o, "setupComplete")) {
    known = true;
    ServerEvent ev;
    ev.kind = EventKind::SessionReady;
    ev.type = "setupComplete";
    out->push_back(std::move(ev));
  }
  if (JsonObject *sc = obj_obj(o, "serverContent")) {
    known = true;
    if (JsonObject *it = obj_obj(sc, "inputTranscription")) {
      ServerEvent ev;
      ev.kind = EventKind::UserText;
      ev.type = "serverContent.inputTranscription";
      ev.text = s_or(obj_str(it, "text"));
      out->push_back(std::move(ev));
    }
    if (JsonObject *mt = obj_obj(sc, "modelTurn")) {
      JsonNode *parts = json_object_has_member(mt, "parts") ? json_object_get_member(mt, "parts")
                                                             : nullptr;
      if (parts && JSON_NODE_HOLDS_ARRAY(parts)) {
        JsonArray *a = json_node_get_array(parts);
        for (guint i = 0; i < json_array_get_length(a); i++) {
          JsonNode *pn = json_array_get_element(a, i);
          if (!JSON_NODE_HOLDS_OBJECT(pn)) continue;
          JsonObject *part = json_node_get_object(pn);
          if (JsonObject *inl = obj_obj(part, "inlineData")) {
            ServerEvent ev;
            ev.kind = EventKind::AudioDelta;
            ev.type = "serverContent.modelTurn.inlineData";
            const char *d = obj_str(inl, "data");
            if (!d || !base64_decode_pcm16(d, &ev.audio)) {
              *error = "serverContent.modelTurn inlineData.data is not base64 PCM16";
              ok = false;
              continue;
            }
            out->push_back(std::move(ev));
          }
        }
      }
    }
    if (JsonObject *ot = obj_obj(sc, "outputTranscription")) {
      ServerEvent ev;
      ev.kind = EventKind::AssistantTextDelta;
      ev.type = "serverContent.outputTranscription";
      ev.text = s_or(obj_str(ot, "text"));
      out->push_back(std::move(ev));
    }
    if (obj_bool(sc, "interrupted")) {
      ServerEvent ev;
      ev.kind = EventKind::Interrupted;
      ev.type = "serverContent.interrupted";
      out->push_back(std::move(ev));
    }
    if (obj_bool(sc, "turnComplete")) {
      ServerEvent ev;
      ev.kind = EventKind::ResponseDone;
      ev.type = "serverContent.turnComplete";
      out->push_back(std::move(ev));
    }
  }
  if (json_object_has_member(o, "goAway")) {
    known = true;
    ServerEvent ev;
    ev.kind = EventKind::GoAway;
    ev.type = "goAway";
    out->push_back(std::move(ev));
  }
  if (json_object_has_member(o, "usageMetadata") || json_object_has_member(o, "toolCall") ||
      json_object_has_member(o, "sessionResumptionUpdate"))
    known = true;
  if (!known) {
    ServerEvent ev;
    ev.kind = EventKind::Unknown;
    ev.type = "unknown";
    out->push_back(std::move(ev));
  }
  g_object_unref(p);
  return ok;
}

int64_t played_ms(int64_t samples, int rate) {
  if (samples <= 0 || rate <= 0) return 0;
  return samples * 1000 / rate;
}

}  // namespace mf::llm

namespace mf::llm {
std::string transcript_json(const std::string &text, const std::string &speaker, bool is_final,
                            double confidence, int64_t unix_ms) {
  BuilderPtr bp;
  JsonBuilder *b = bp.b;
  json_builder_begin_object(b);
  add_str(b, "type", "transcript");
  add_str(b, "text", text);
  add_str(b, "speaker", speaker);
  json_builder_set_member_name(b, "is_final");
  json_builder_add_boolean_value(b, is_final);
  json_builder_set_member_name(b, "confidence");
  if (confidence < 0)
    json_builder_add_null_value(b);
  else
    json_builder_add_double_value(b, confidence);
  json_builder_set_member_name(b, "timestamp");
  json_builder_add_int_value(b, unix_ms);
  json_builder_end_object(b);
  return to_string(b);
}
}  // namespace mf::llm
