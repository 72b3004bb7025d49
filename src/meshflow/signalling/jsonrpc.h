// JSON-RPC 2.0 protocol layer: pure, no I/O, fuzzable (tests/fuzz/fuzz_jsonrpc.cpp).
//
// Every text message goes through prescan() BEFORE json-glib sees it: json-glib 1.6.6 segfaults
// on deep nesting, accepts an empty document (NULL root), truncates strings at \u0000, keeps the
// last of duplicate keys, reads huge integers back as -1, and accepts comments, single quotes, a
// BOM and a second root. prescan() is a strict RFC 8259 validator (iterative, no recursion) that
// rejects all of that; only then is the text parsed with json-glib and dispatched.
#pragma once

#include <json-glib/json-glib.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mf::signalling {

/// Error codes (docs/protocols.md, "Errors").
enum ErrorCode : int {
  kParseError = -32700,
  kInvalidRequest = -32600,
  kMethodNotFound = -32601,
  kInvalidParams = -32602,
  kInternalError = -32603,
  kUnauthorized = -32001,
  kRoomFull = -32002,
  kUnknownPeer = -32003,
  kRateLimited = -32004,
  kSessionMismatch = -32005,
  kNotAnnounced = -32006,
  kDuplicatePeer = -32007,
  kLimitExceeded = -32008,
  kInvalidSdp = -32009,
  kInvalidCandidate = -32010,
  kAlreadyAnnounced = -32011,
};

/// The standard message for a code ("Parse error", "Room full", ...).
const char *error_message(int code);

/// Largest integer exactly representable in a double: ids must lie within +-2^53.
constexpr int64_t kMaxSafeInteger = (int64_t(1) << 53);

struct PrescanLimits {
  size_t max_bytes = 64 * 1024;
  int max_depth = 32;
};

struct PrescanResult {
  bool ok = true;
  int code = 0;        // kParseError, kInvalidRequest (integer out of range), kLimitExceeded (size)
  std::string reason;  // "depth", "nul", "bom", "empty", "trailing", "duplicate_key", "syntax",
                       // "integer_range", "size", "control_character", "utf8"
  size_t offset = 0;   // byte offset of the problem
  bool is_array = false;  // root is an array (a batch)
};

/// Strict RFC 8259 validation of `text` (exactly one root value, no BOM, no comments, no NUL,
/// depth <= max_depth, no duplicate member names, integers within +-2^53, valid UTF-8).
PrescanResult prescan(std::string_view text, const PrescanLimits &limits = {});

/// Owning wrapper of a JsonNode.
struct NodeFree {
  void operator()(JsonNode *n) const { if (n) json_node_unref(n); }
};
using NodePtr = std::unique_ptr<JsonNode, NodeFree>;

/// An error a handler returns: code, message (default: error_message(code)), optional data
/// object {"reason": reason, ...extra integers}.
struct RpcError {
  int code = kInternalError;
  std::string message;
  std::string reason;
  std::map<std::string, int64_t> extra;
};

/// A handler's outcome: a result (any JSON node; null for `{}`-less results is allowed) or an error.
struct Reply {
  NodePtr result;
  std::optional<RpcError> error;
  static Reply ok(JsonNode *result) { Reply r; r.result.reset(result); return r; }
  static Reply fail(int code, std::string reason = {}, std::map<std::string, int64_t> extra = {}) {
    Reply r;
    r.error = RpcError{code, {}, std::move(reason), std::move(extra)};
    return r;
  }
};

/// One validated request (or notification) as a handler sees it.
struct Call {
  std::string method;
  JsonNode *params = nullptr;  // borrowed: object, array or nullptr when absent
  JsonNode *id = nullptr;      // borrowed: nullptr for a notification
  bool notification() const { return id == nullptr; }
  void *context = nullptr;     // what Dispatcher::handle() was given (the connection)
};

struct DispatchLimits {
  PrescanLimits prescan;
  size_t max_batch = 16;
};

/// Routes validated calls to handlers; produces the exact JSON-RPC 2.0 response text.
class Dispatcher {
 public:
  using Handler = std::function<Reply(const Call &)>;
  /// Called before each call of a batch or single request; return an error to refuse it (rate
  /// limiting). Notifications refused this way get no response, as the specification requires.
  using Gate = std::function<std::optional<RpcError>(const Call &)>;
  /// Told about every error response (code) and every problem with no response (code, reason).
  using ErrorSink = std::function<void(int code, const std::string &reason)>;

  explicit Dispatcher(DispatchLimits limits = {}) : limits_(limits) {}
  void add(const std::string &method, Handler h) { handlers_[method] = std::move(h); }
  void set_gate(Gate g) { gate_ = std::move(g); }
  void set_error_sink(ErrorSink s) { sink_ = std::move(s); }
  const DispatchLimits &limits() const { return limits_; }
  DispatchLimits &limits() { return limits_; }

  /// Full processing of one text message. Returns the response text, or "" when nothing must be
  /// sent (notifications, all-notification batches).
  std::string handle(std::string_view text, void *context = nullptr) const;

  /// Count of responses (objects with result/error) a client sent us (rejected with -32600).
  /// Reported through the error sink with reason "response".

 private:
  NodePtr handle_one(JsonNode *msg, void *context) const;  // nullptr = no response
  NodePtr malformed(int code, const std::string &reason, JsonNode *id) const;
  void report(int code, const std::string &reason) const { if (sink_) sink_(code, reason); }
  DispatchLimits limits_;
  std::map<std::string, Handler> handlers_;
  Gate gate_;
  ErrorSink sink_;
};

// --- building messages (json-glib) ---

/// {"jsonrpc":"2.0","error":{code,message[,data]},"id":id|null}
NodePtr make_error(const RpcError &e, JsonNode *id /* borrowed, nullable = null */);
/// {"jsonrpc":"2.0","result":result,"id":id}
NodePtr make_result(JsonNode *result /* adopted */, JsonNode *id /* borrowed */);
/// {"jsonrpc":"2.0","method":method,"params":params} (a server -> client notification)
NodePtr make_notification(const std::string &method, JsonNode *params /* adopted */);
/// Compact serialization.
std::string to_string(JsonNode *node);

/// Integer id check: string, integer within +-2^53, or null.
bool valid_id(JsonNode *id);

}  // namespace mf::signalling
