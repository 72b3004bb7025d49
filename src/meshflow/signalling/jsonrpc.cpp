#include "meshflow/signalling/jsonrpc.h"

#include <cstring>
#include <unordered_set>
#include <vector>

#include "meshflow/json/json_text.h"

namespace mf::signalling {

const char *error_message(int code) {
  switch (code) {
    case kParseError: return "Parse error";
    case kInvalidRequest: return "Invalid Request";
    case kMethodNotFound: return "Method not found";
    case kInvalidParams: return "Invalid params";
    case kInternalError: return "Internal error";
    case kUnauthorized: return "Unauthorized";
    case kRoomFull: return "Room full";
    case kUnknownPeer: return "Unknown peer";
    case kRateLimited: return "Rate limited";
    case kSessionMismatch: return "Session mismatch";
    case kNotAnnounced: return "Not announced";
    case kDuplicatePeer: return "Duplicate peer id";
    case kLimitExceeded: return "Limit exceeded";
    case kInvalidSdp: return "Invalid SDP";
    case kInvalidCandidate: return "Invalid candidate";
    case kAlreadyAnnounced: return "Already announced";
    default: return "Server error";
  }
}

// ---------------------------------------------------------------------------------------------
// prescan: strict, iterative RFC 8259 validator.

namespace {

struct Frame {
  bool object;
  std::unordered_set<std::string> keys;  // objects only
};

enum class Expect { Value, KeyOrEnd, Key, Colon, ObjCommaOrEnd, ValueOrEnd, ArrCommaOrEnd };

PrescanResult fail(int code, const char *reason, size_t off) {
  PrescanResult r;
  r.ok = false;
  r.code = code;
  r.reason = reason;
  r.offset = off;
  return r;
}

inline bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Scans a string starting at text[pos] == '"'. On success pos points past the closing quote and,
// when `out` is given, it receives the decoded UTF-8 content.
const char *scan_string(std::string_view t, size_t &pos, std::string *out) {
  size_t i = pos + 1;
  while (i < t.size()) {
    unsigned char c = static_cast<unsigned char>(t[i]);
    if (c == '"') {
      pos = i + 1;
      return nullptr;
    }
    if (c < 0x20) return c == 0 ? "nul" : "control_character";
    if (c != '\\') {
      if (out) out->push_back(char(c));
      i++;
      continue;
    }
    if (i + 1 >= t.size()) return "syntax";
    char e = t[i + 1];
    i += 2;
    switch (e) {
      case '"': if (out) out->push_back('"'); break;
      case '\\': if (out) out->push_back('\\'); break;
      case '/': if (out) out->push_back('/'); break;
      case 'b': if (out) out->push_back('\b'); break;
      case 'f': if (out) out->push_back('\f'); break;
      case 'n': if (out) out->push_back('\n'); break;
      case 'r': if (out) out->push_back('\r'); break;
      case 't': if (out) out->push_back('\t'); break;
      case 'u': {
        auto read4 = [&](size_t at, uint32_t *v) {
          if (at + 4 > t.size()) return false;
          uint32_t x = 0;
          for (size_t k = 0; k < 4; k++) {
            int h = hexval(t[at + k]);
            if (h < 0) return false;
            x = x * 16 + uint32_t(h);
          }
          *v = x;
          return true;
        };
        uint32_t cp;
        if (!read4(i, &cp)) return "syntax";
        i += 4;
        if (cp == 0) return "nul";
        if (cp >= 0xDC00 && cp <= 0xDFFF) return "utf8";  // lone low surrogate
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t lo;
          if (i + 6 > t.size() || t[i] != '\\' || t[i + 1] != 'u' || !read4(i + 2, &lo) ||
              lo < 0xDC00 || lo > 0xDFFF)
            return "utf8";
          i += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (out) {
          char buf[8];
          int n = g_unichar_to_utf8(cp, buf);
          out->append(buf, size_t(n));
        }
        break;
      }
      default: return "syntax";
    }
  }
  return "syntax";  // unterminated
}

// Scans a number at pos. Returns nullptr on success; sets `integer_out_of_range`.
const char *scan_number(std::string_view t, size_t &pos, bool *range_error) {
  size_t i = pos;
  bool neg = false;
  if (t[i] == '-') {
    neg = true;
    i++;
  }
  if (i >= t.size() || !g_ascii_isdigit(t[i])) return "syntax";
  size_t int_start = i;
  if (t[i] == '0') {
    i++;
  } else {
    while (i < t.size() && g_ascii_isdigit(t[i])) i++;
  }
  size_t int_end = i;
  bool is_int = true;
  if (i < t.size() && t[i] == '.') {
    is_int = false;
    i++;
    if (i >= t.size() || !g_ascii_isdigit(t[i])) return "syntax";
    while (i < t.size() && g_ascii_isdigit(t[i])) i++;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    is_int = false;
    i++;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) i++;
    if (i >= t.size() || !g_ascii_isdigit(t[i])) return "syntax";
    while (i < t.size() && g_ascii_isdigit(t[i])) i++;
  }
  if (is_int) {
    size_t digits = int_end - int_start;
    if (digits > 16) {
      *range_error = true;
    } else {
      int64_t v = 0;
      for (size_t k = int_start; k < int_end; k++) v = v * 10 + (t[k] - '0');
      (void)neg;
      if (v > kMaxSafeInteger) *range_error = true;
    }
  }
  pos = i;
  return nullptr;
}

}  // namespace

PrescanResult prescan(std::string_view t, const PrescanLimits &limits) {
  if (t.size() > limits.max_bytes) return fail(kLimitExceeded, "size", limits.max_bytes);
  if (const void *z = std::memchr(t.data(), 0, t.size()))
    return fail(kParseError, "nul", size_t(static_cast<const char *>(z) - t.data()));
  if (t.size() >= 3 && (unsigned char)t[0] == 0xEF && (unsigned char)t[1] == 0xBB &&
      (unsigned char)t[2] == 0xBF)
    return fail(kParseError, "bom", 0);
  const gchar *bad = nullptr;
  if (!g_utf8_validate_len(t.data(), t.size(), &bad))
    return fail(kParseError, "utf8", size_t(bad - t.data()));

  if (t.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return fail(kParseError, "empty", 0);

  std::vector<Frame> stack;
  Expect expect = Expect::Value;
  bool root_done = false;
  bool range_error = false;
  size_t range_offset = 0;
  PrescanResult ok;
  size_t pos = 0;
  std::string key;

  auto after_value = [&]() {
    if (stack.empty()) {
      root_done = true;
      return;
    }
    expect = stack.back().object ? Expect::ObjCommaOrEnd : Expect::ArrCommaOrEnd;
  };

  for (;;) {
    while (pos < t.size() && is_ws(t[pos])) pos++;
    if (pos >= t.size()) {
      if (root_done) break;
      return fail(kParseError, "syntax", pos);
    }
    if (root_done) return fail(kParseError, "trailing", pos);
    char c = t[pos];
    switch (expect) {
      case Expect::Value:
      case Expect::ValueOrEnd: {
        if (expect == Expect::ValueOrEnd && c == ']') {
          stack.pop_back();
          pos++;
          after_value();
          continue;
        }
        if (c == '{' || c == '[') {
          if (int(stack.size()) >= limits.max_depth) return fail(kParseError, "depth", pos);
          if (stack.empty()) ok.is_array = (c == '[');
          stack.push_back(Frame{c == '{', {}});
          expect = c == '{' ? Expect::KeyOrEnd : Expect::ValueOrEnd;
          pos++;
          continue;
        }
        if (c == '"') {
          if (const char *r = scan_string(t, pos, nullptr)) return fail(kParseError, r, pos);
        } else if (c == '-' || g_ascii_isdigit(c)) {
          bool re = false;
          size_t at = pos;
          if (const char *r = scan_number(t, pos, &re)) return fail(kParseError, r, pos);
          if (re && !range_error) {
            range_error = true;
            range_offset = at;
          }
        } else if (t.compare(pos, 4, "true") == 0) {
          pos += 4;
        } else if (t.compare(pos, 5, "false") == 0) {
          pos += 5;
        } else if (t.compare(pos, 4, "null") == 0) {
          pos += 4;
        } else {
          return fail(kParseError, "syntax", pos);
        }
        after_value();
        continue;
      }
      case Expect::KeyOrEnd:
      case Expect::Key: {
        if (expect == Expect::KeyOrEnd && c == '}') {
          stack.pop_back();
          pos++;
          after_value();
          continue;
        }
        if (c != '"') return fail(kParseError, "syntax", pos);
        key.clear();
        size_t at = pos;
        if (const char *r = scan_string(t, pos, &key)) return fail(kParseError, r, pos);
        if (!stack.back().keys.insert(key).second) return fail(kParseError, "duplicate_key", at);
        expect = Expect::Colon;
        continue;
      }
      case Expect::Colon:
        if (c != ':') return fail(kParseError, "syntax", pos);
        pos++;
        expect = Expect::Value;
        continue;
      case Expect::ObjCommaOrEnd:
        if (c == ',') {
          expect = Expect::Key;
        } else if (c == '}') {
          stack.pop_back();
          pos++;
          after_value();
          continue;
        } else {
          return fail(kParseError, "syntax", pos);
        }
        pos++;
        continue;
      case Expect::ArrCommaOrEnd:
        if (c == ',') {
          expect = Expect::Value;
        } else if (c == ']') {
          stack.pop_back();
          pos++;
          after_value();
          continue;
        } else {
          return fail(kParseError, "syntax", pos);
        }
        pos++;
        continue;
    }
  }
  if (range_error) {
    PrescanResult r = fail(kInvalidRequest, "integer_range", range_offset);
    r.is_array = ok.is_array;
    return r;
  }
  return ok;
}

// ---------------------------------------------------------------------------------------------
// building messages

static JsonNode *id_copy(JsonNode *id) {
  if (!id) return json_node_init_null(json_node_alloc());
  return json_node_copy(id);
}

NodePtr make_error(const RpcError &e, JsonNode *id) {
  JsonObject *err = json_object_new();
  json_object_set_int_member(err, "code", e.code);
  json_object_set_string_member(err, "message",
                                e.message.empty() ? error_message(e.code) : e.message.c_str());
  if (!e.reason.empty() || !e.extra.empty()) {
    JsonObject *data = json_object_new();
    if (!e.reason.empty()) json_object_set_string_member(data, "reason", e.reason.c_str());
    for (auto &[k, v] : e.extra) json_object_set_int_member(data, k.c_str(), v);
    json_object_set_object_member(err, "data", data);
  }
  JsonObject *o = json_object_new();
  json_object_set_string_member(o, "jsonrpc", "2.0");
  json_object_set_object_member(o, "error", err);
  json_object_set_member(o, "id", id_copy(id));
  JsonNode *n = json_node_init_object(json_node_alloc(), o);
  json_object_unref(o);
  return NodePtr(n);
}

NodePtr make_result(JsonNode *result, JsonNode *id) {
  JsonObject *o = json_object_new();
  json_object_set_string_member(o, "jsonrpc", "2.0");
  json_object_set_member(o, "result", result ? result : json_node_init_null(json_node_alloc()));
  json_object_set_member(o, "id", id_copy(id));
  JsonNode *n = json_node_init_object(json_node_alloc(), o);
  json_object_unref(o);
  return NodePtr(n);
}

NodePtr make_notification(const std::string &method, JsonNode *params) {
  JsonObject *o = json_object_new();
  json_object_set_string_member(o, "jsonrpc", "2.0");
  json_object_set_string_member(o, "method", method.c_str());
  if (params) json_object_set_member(o, "params", params);
  JsonNode *n = json_node_init_object(json_node_alloc(), o);
  json_object_unref(o);
  return NodePtr(n);
}

std::string to_string(JsonNode *node) {
  // json-glib underneath, with the fix-ups for what json-glib 1.6 writes as invalid JSON (a raw
  // U+001F in a string, e.g. an echoed id; "2e+46.0" for doubles): see json/json_text.h.
  return mf::json::to_text(node);
}

bool valid_id(JsonNode *id) {
  if (!id) return true;
  if (JSON_NODE_HOLDS_NULL(id)) return true;
  if (!JSON_NODE_HOLDS_VALUE(id)) return false;
  GType t = json_node_get_value_type(id);
  if (t == G_TYPE_STRING) return true;
  if (t == G_TYPE_INT64) {
    int64_t v = json_node_get_int(id);
    return v >= -kMaxSafeInteger && v <= kMaxSafeInteger;
  }
  return false;  // doubles (fractional ids), booleans
}

// ---------------------------------------------------------------------------------------------
// dispatch

namespace {
struct ParserFree {
  void operator()(JsonParser *p) const { g_object_unref(p); }
};
}  // namespace

namespace {
// Reasons that name the specification's own error cases: those responses carry no "data", so they
// are exactly the specification's examples.
bool plain_reason(const std::string &r) {
  return r == "syntax" || r == "method" || r == "empty_batch" || r == "not_an_object";
}
}  // namespace

// The error response of a malformed request, counted; `id` may be null.
NodePtr Dispatcher::malformed(int code, const std::string &reason, JsonNode *id) const {
  report(code, reason);
  return make_error(RpcError{code, {}, plain_reason(reason) ? "" : reason, {}}, id);
}

NodePtr Dispatcher::handle_one(JsonNode *msg, void *context) const {
  auto error = [&](int code, const char *reason, JsonNode *id) { return malformed(code, reason, id); };
  if (!JSON_NODE_HOLDS_OBJECT(msg)) return error(kInvalidRequest, "not_an_object", nullptr);
  JsonObject *o = json_node_get_object(msg);
  JsonNode *id = json_object_get_member(o, "id");
  bool id_ok = valid_id(id);
  JsonNode *reply_id = id_ok ? id : nullptr;
  JsonNode *method = json_object_get_member(o, "method");
  if (!method && (json_object_has_member(o, "result") || json_object_has_member(o, "error")))
    return error(kInvalidRequest, "response", reply_id);
  if (!method || !JSON_NODE_HOLDS_VALUE(method) ||
      json_node_get_value_type(method) != G_TYPE_STRING)
    return error(kInvalidRequest, "method", reply_id);
  JsonNode *ver = json_object_get_member(o, "jsonrpc");
  if (!ver || !JSON_NODE_HOLDS_VALUE(ver) || json_node_get_value_type(ver) != G_TYPE_STRING ||
      g_strcmp0(json_node_get_string(ver), "2.0") != 0)
    return error(kInvalidRequest, "jsonrpc", reply_id);
  if (!id_ok) return error(kInvalidRequest, "id", nullptr);
  JsonNode *params = json_object_get_member(o, "params");
  if (params && !JSON_NODE_HOLDS_OBJECT(params) && !JSON_NODE_HOLDS_ARRAY(params))
    return error(kInvalidRequest, "params", id);

  Call call;
  call.method = json_node_get_string(method);
  call.params = params;
  call.id = id;
  call.context = context;

  auto refuse = [&](const RpcError &e) -> NodePtr {
    report(e.code, e.reason);
    if (call.notification()) return nullptr;
    return make_error(e, id);
  };
  if (gate_) {
    if (auto e = gate_(call)) return refuse(*e);
  }
  auto h = handlers_.find(call.method);
  if (h == handlers_.end()) return refuse(RpcError{kMethodNotFound, {}, {}, {}});
  Reply r = h->second(call);
  if (r.error) return refuse(*r.error);
  if (call.notification()) return nullptr;
  return make_result(r.result.release(), id);
}

std::string Dispatcher::handle(std::string_view text, void *context) const {
  auto error = [&](int code, const std::string &reason) {
    return to_string(malformed(code, reason, nullptr).get());
  };
  PrescanResult pr = prescan(text, limits_.prescan);
  if (!pr.ok) return error(pr.code, pr.reason);

  std::unique_ptr<JsonParser, ParserFree> parser(json_parser_new_immutable());
  GError *err = nullptr;
  if (!json_parser_load_from_data(parser.get(), text.data(), gssize(text.size()), &err)) {
    g_clear_error(&err);
    return error(kParseError, "syntax");
  }
  JsonNode *root = json_parser_get_root(parser.get());
  if (!root) return error(kParseError, "empty");

  if (JSON_NODE_HOLDS_ARRAY(root)) {
    JsonArray *a = json_node_get_array(root);
    guint n = json_array_get_length(a);
    if (n == 0) return error(kInvalidRequest, "empty_batch");
    if (n > limits_.max_batch) {
      report(kLimitExceeded, "batch");
      RpcError e{kLimitExceeded, {}, "batch", {{"limit", int64_t(limits_.max_batch)}}};
      return to_string(make_error(e, nullptr).get());
    }
    JsonArray *out = json_array_new();
    for (guint i = 0; i < n; i++) {
      NodePtr r = handle_one(json_array_get_element(a, i), context);
      if (r) json_array_add_element(out, r.release());
    }
    if (json_array_get_length(out) == 0) {
      json_array_unref(out);
      return {};
    }
    NodePtr arr(json_node_init_array(json_node_alloc(), out));
    json_array_unref(out);
    return to_string(arr.get());
  }
  NodePtr r = handle_one(root, context);
  return r ? to_string(r.get()) : std::string();
}

}  // namespace mf::signalling
