#include "meshflow/transport/ws_frame.h"

#include <cmath>

#include <glib.h>
#include <json-glib/json-glib.h>

#include <memory>

#include "meshflow/json/json_text.h"
#include "meshflow/signalling/jsonrpc.h"

namespace mf::transport {

namespace {
uint16_t rd16(const uint8_t *p) { return uint16_t(p[0] | (p[1] << 8)); }
uint32_t rd32(const uint8_t *p) { return uint32_t(rd16(p)) | (uint32_t(rd16(p + 2)) << 16); }
uint64_t rd64(const uint8_t *p) { return uint64_t(rd32(p)) | (uint64_t(rd32(p + 4)) << 32); }

struct ParserFree {
  void operator()(JsonParser *p) const { g_object_unref(p); }
};

std::string build(JsonBuilder *b) {
  JsonNode *root = json_builder_get_root(b);
  std::string out = mf::json::to_text(root);  // json-glib, with its invalid-output fix-ups
  json_node_unref(root);
  g_object_unref(b);
  return out;
}

JsonBuilder *begin(const char *type) {
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, type);
  return b;
}
void str(JsonBuilder *b, const char *k, const std::string &v) {
  json_builder_set_member_name(b, k);
  json_builder_add_string_value(b, v.c_str());  // control characters: escaped by to_text
}
void num(JsonBuilder *b, const char *k, int64_t v) {
  json_builder_set_member_name(b, k);
  json_builder_add_int_value(b, v);
}
std::string end(JsonBuilder *b) {
  json_builder_end_object(b);
  return build(b);
}

// Member accessors with type checks.
bool get_int(JsonObject *o, const char *k, int64_t *out) {
  JsonNode *n = json_object_get_member(o, k);
  if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64) return false;
  *out = json_node_get_int(n);
  return true;
}
bool get_str(JsonObject *o, const char *k, std::string *out) {
  JsonNode *n = json_object_get_member(o, k);
  if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) return false;
  *out = json_node_get_string(n);
  return true;
}
}  // namespace

MediaFrame parse_media(const uint8_t *data, size_t len) {
  MediaFrame f;
  f.code = "bad_frame";
  if (!data || len < kMediaHeaderBytes) {
    f.message = "binary frame of " + std::to_string(len) + " bytes is shorter than the " +
                std::to_string(kMediaHeaderBytes) + "-byte media header";
    return f;
  }
  f.header.version = data[0];
  f.header.flags = data[1];
  f.header.stream_id = rd16(data + 2);
  f.header.seq = rd32(data + 4);
  f.header.capture_ts_us = rd64(data + 8);
  if (f.header.version != kMediaVersion) {
    f.message = "media header version " + std::to_string(f.header.version) + " at byte 0 (expected " +
                std::to_string(kMediaVersion) + ")";
    return f;
  }
  if (f.header.flags & ~kFlagDiscontinuity) {
    f.message = "unknown media header flags 0x" + std::to_string(f.header.flags) +
                " at byte 1 (only bit 0 is defined)";
    return f;
  }
  f.ok = true;
  f.code.clear();
  f.payload = data + kMediaHeaderBytes;
  f.payload_bytes = len - kMediaHeaderBytes;
  return f;
}

void write_media_header(const MediaHeader &h, uint8_t out[kMediaHeaderBytes]) {
  out[0] = h.version;
  out[1] = h.flags;
  out[2] = uint8_t(h.stream_id);
  out[3] = uint8_t(h.stream_id >> 8);
  for (int i = 0; i < 4; i++) out[4 + i] = uint8_t(h.seq >> (8 * i));
  for (int i = 0; i < 8; i++) out[8 + i] = uint8_t(h.capture_ts_us >> (8 * i));
}

bool check_payload(const StreamFormat &f, size_t n, std::string *code, std::string *message) {
  if (f.format != "pcm16") return true;  // encoded payloads: only the frame size budget applies
  size_t unit = 2 * size_t(f.channels ? f.channels : 1);
  size_t max = size_t(f.rate) * kMaxFrameMs / 1000 * unit;
  if (n > max) {
    *code = "too_large";
    *message = "pcm16 payload of " + std::to_string(n) + " bytes is more than " +
               std::to_string(kMaxFrameMs) + " ms (" + std::to_string(max) + " bytes)";
    return false;
  }
  if (n == 0 || n % unit) {
    *code = "bad_frame";
    *message = "pcm16 payload of " + std::to_string(n) + " bytes is not a positive multiple of " +
               std::to_string(unit) + " (2 bytes x " + std::to_string(f.channels) + " channels)";
    return false;
  }
  return true;
}

Control parse_control(std::string_view text, size_t max_bytes) {
  Control c;
  if (text.size() > max_bytes) {
    c.code = "too_large";
    c.message = "text message of " + std::to_string(text.size()) + " bytes (limit " +
                std::to_string(max_bytes) + ")";
    return c;
  }
  signalling::PrescanLimits lim;
  lim.max_bytes = max_bytes;
  lim.max_depth = 8;
  auto pre = signalling::prescan(text, lim);
  if (!pre.ok) {
    c.code = "bad_json";
    c.message = "invalid JSON (" + pre.reason + ") at byte " + std::to_string(pre.offset);
    return c;
  }
  std::unique_ptr<JsonParser, ParserFree> parser(json_parser_new_immutable());
  if (!json_parser_load_from_data(parser.get(), text.data(), gssize(text.size()), nullptr) ||
      !json_parser_get_root(parser.get()) || !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser.get()))) {
    c.code = "bad_json";
    c.message = "a control message must be one JSON object";
    return c;
  }
  JsonObject *o = json_node_get_object(json_parser_get_root(parser.get()));
  if (!get_str(o, "type", &c.type)) {
    c.code = "bad_message";
    c.message = "missing string member \"type\"";
    return c;
  }
  auto bad = [&](const std::string &m) {
    c.code = "bad_message";
    c.message = c.type.substr(0, 64) + ": " + m;
    return c;
  };
  if (c.type == "stream.start" || c.type == "stream.stop") {
    if (!get_int(o, "stream_id", &c.stream_id) || c.stream_id < 0 || c.stream_id > 65535)
      return bad("\"stream_id\" must be an integer 0..65535");
    if (c.type == "stream.start") {
      int64_t v = 0;
      if (json_object_has_member(o, "kind") && !get_str(o, "kind", &c.format.kind))
        return bad("\"kind\" must be a string");
      if (c.format.kind != "audio") return bad("kind '" + c.format.kind.substr(0, 32) + "' is not supported (audio)");
      if (json_object_has_member(o, "format") && !get_str(o, "format", &c.format.format))
        return bad("\"format\" must be a string");
      if (c.format.format != "pcm16")
        return bad("format '" + c.format.format.substr(0, 32) + "' is not supported (pcm16)");
      if (json_object_has_member(o, "rate")) {
        if (!get_int(o, "rate", &v) || v < 8000 || v > 48000) return bad("\"rate\" must be 8000..48000");
        c.format.rate = unsigned(v);
      }
      if (json_object_has_member(o, "channels")) {
        if (!get_int(o, "channels", &v) || v < 1 || v > 2) return bad("\"channels\" must be 1 or 2");
        c.format.channels = unsigned(v);
      }
      if (json_object_has_member(o, "frame_ms")) {
        if (!get_int(o, "frame_ms", &v) || v < 1 || v > kMaxFrameMs) return bad("\"frame_ms\" must be 1..200");
        c.format.frame_ms = unsigned(v);
      }
    }
  } else if (c.type == "ping" || c.type == "pong") {
    JsonNode *t = json_object_get_member(o, "t");
    if (t) {
      if (!JSON_NODE_HOLDS_VALUE(t)) return bad("\"t\" must be a number");
      GType vt = json_node_get_value_type(t);
      if (vt == G_TYPE_INT64) {
        c.t_int = json_node_get_int(t);
      } else if (vt == G_TYPE_DOUBLE) {
        c.t_is_int = false;
        c.t_double = json_node_get_double(t);
        // json-glib 1.6 writes doubles needing an exponent as invalid JSON ("2e+46.0", found by
        // fuzz_ws_frame): only echo what it writes correctly.
        double a = c.t_double < 0 ? -c.t_double : c.t_double;
        if (!(a == 0 || (a >= 1e-4 && a < 1e15))) return bad("\"t\" must be an integer or a number of magnitude 1e-4..1e15");
      } else {
        return bad("\"t\" must be a number");
      }
    }
  } else if (c.type == "status") {
    get_str(o, "state", &c.state);
    get_str(o, "peer_id", &c.peer_id);
    get_str(o, "reason", &c.reason);
    get_int(o, "heartbeat_ms", &c.heartbeat_ms);
  } else if (c.type == "transcript" || c.type == "error") {
    // Accepted (a peer may relay them); nothing to validate for the transport.
  } else {
    c.code = "unknown_type";
    c.message = "unknown message type '" + c.type.substr(0, 64) + "'";
    return c;
  }
  c.ok = true;
  return c;
}

std::string make_error(const std::string &code, const std::string &message) {
  JsonBuilder *b = begin("error");
  str(b, "code", code);
  str(b, "message", message);
  return end(b);
}

std::string make_status_connected(const std::string &peer_id, const std::string &room,
                                  unsigned heartbeat_ms, const std::string &session_id) {
  JsonBuilder *b = begin("status");
  str(b, "state", "connected");
  str(b, "peer_id", peer_id);
  str(b, "room", room);
  num(b, "heartbeat_ms", heartbeat_ms);
  str(b, "session_id", session_id);
  return end(b);
}

std::string make_status_disconnecting(const std::string &reason) {
  JsonBuilder *b = begin("status");
  str(b, "state", "disconnecting");
  str(b, "reason", reason);
  return end(b);
}

std::string make_stream_start(uint16_t id, const StreamFormat &f) {
  JsonBuilder *b = begin("stream.start");
  num(b, "stream_id", id);
  str(b, "kind", f.kind);
  str(b, "format", f.format);
  num(b, "rate", f.rate);
  num(b, "channels", f.channels);
  num(b, "frame_ms", f.frame_ms);
  return end(b);
}

std::string make_stream_stop(uint16_t id) {
  JsonBuilder *b = begin("stream.stop");
  num(b, "stream_id", id);
  return end(b);
}

std::string make_ping(int64_t t) {
  JsonBuilder *b = begin("ping");
  num(b, "t", t);
  return end(b);
}

std::string make_pong(const Control &ping) {
  JsonBuilder *b = begin("pong");
  json_builder_set_member_name(b, "t");
  if (ping.t_is_int)
    json_builder_add_int_value(b, ping.t_int);
  else
    json_builder_add_double_value(b, ping.t_double);
  return end(b);
}

std::string make_transcript(const Transcript &t) {
  JsonBuilder *b = begin("transcript");
  str(b, "text", t.text);
  str(b, "speaker", t.speaker);
  json_builder_set_member_name(b, "is_final");
  json_builder_add_boolean_value(b, t.is_final);
  json_builder_set_member_name(b, "confidence");
  json_builder_add_double_value(b, t.confidence);
  num(b, "timestamp", t.timestamp_ms ? t.timestamp_ms : g_get_real_time() / 1000);
  return end(b);
}

bool transcript_from_text(std::string_view in, Transcript *out, std::string *error) {
  *out = Transcript{};
  if (in.size() > kMaxControlBytes) {
    *error = "transcript of " + std::to_string(in.size()) + " bytes (limit " +
             std::to_string(kMaxControlBytes) + ")";
    return false;
  }
  // Trailing NULs and whitespace (text/x-raw buffers often end in one) are not content.
  while (!in.empty() && (in.back() == '\0' || in.back() == '\n' || in.back() == ' ')) in.remove_suffix(1);
  if (!g_utf8_validate(in.data(), gssize(in.size()), nullptr)) {
    *error = "transcript is not valid UTF-8";
    return false;
  }
  if (!in.empty() && in.front() == '{') {
    signalling::PrescanLimits lim;
    lim.max_bytes = kMaxControlBytes;
    lim.max_depth = 8;
    if (!signalling::prescan(in, lim).ok) {
      *error = "transcript JSON is invalid";
      return false;
    }
    std::unique_ptr<JsonParser, ParserFree> parser(json_parser_new_immutable());
    if (!json_parser_load_from_data(parser.get(), in.data(), gssize(in.size()), nullptr) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser.get()))) {
      *error = "transcript JSON is not an object";
      return false;
    }
    JsonObject *o = json_node_get_object(json_parser_get_root(parser.get()));
    if (!get_str(o, "text", &out->text)) {
      *error = "transcript JSON has no string member \"text\"";
      return false;
    }
    get_str(o, "speaker", &out->speaker);
    JsonNode *n = json_object_get_member(o, "is_final");
    if (n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_BOOLEAN)
      out->is_final = json_node_get_boolean(n);
    n = json_object_get_member(o, "confidence");
    if (n && JSON_NODE_HOLDS_VALUE(n) &&
        (json_node_get_value_type(n) == G_TYPE_DOUBLE || json_node_get_value_type(n) == G_TYPE_INT64)) {
      // json-glib turns an out-of-range literal (1e999) into inf, which no JSON can carry on.
      const double c = json_node_get_double(n);
      if (!std::isfinite(c) || c < 0 || c > 1) {
        *error = "transcript \"confidence\" must be a number from 0 to 1";
        return false;
      }
      out->confidence = c;
    }
    get_int(o, "timestamp", &out->timestamp_ms);
    return true;
  }
  if (in.empty()) {
    *error = "empty transcript";
    return false;
  }
  out->text = std::string(in);
  return true;
}

}  // namespace mf::transport
