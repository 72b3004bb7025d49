// The JSON-RPC 2.0 layer: the specification's own examples (section 7), table-driven, and the
// pre-scan that stands between the network and json-glib 1.6.6.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "json_util.h"
#include "meshflow/signalling/jsonrpc.h"

using namespace mf::signalling;

namespace {

int64_t num(JsonArray *a, guint i) { return json_array_get_int_element(a, i); }

Dispatcher spec_dispatcher() {
  Dispatcher d;
  d.add("subtract", [](const Call &c) {
    int64_t a = 0, b = 0;
    if (c.params && JSON_NODE_HOLDS_ARRAY(c.params)) {
      JsonArray *arr = json_node_get_array(c.params);
      if (json_array_get_length(arr) != 2) return Reply::fail(kInvalidParams);
      a = num(arr, 0);
      b = num(arr, 1);
    } else if (c.params && JSON_NODE_HOLDS_OBJECT(c.params)) {
      JsonObject *o = json_node_get_object(c.params);
      a = json_object_get_int_member(o, "minuend");
      b = json_object_get_int_member(o, "subtrahend");
    }
    JsonNode *n = json_node_alloc();
    json_node_init_int(n, a - b);
    return Reply::ok(n);
  });
  d.add("sum", [](const Call &c) {
    int64_t s = 0;
    JsonArray *arr = json_node_get_array(c.params);
    for (guint i = 0; i < json_array_get_length(arr); i++) s += num(arr, i);
    JsonNode *n = json_node_alloc();
    json_node_init_int(n, s);
    return Reply::ok(n);
  });
  auto nothing = [](const Call &) { return Reply::ok(nullptr); };
  d.add("update", nothing);
  d.add("notify_hello", nothing);
  d.add("notify_sum", nothing);
  d.add("get_data", [](const Call &) {
    JsonArray *a = json_array_new();
    json_array_add_string_element(a, "hello");
    json_array_add_int_element(a, 5);
    JsonNode *n = json_node_init_array(json_node_alloc(), a);
    json_array_unref(a);
    return Reply::ok(n);
  });
  return d;
}

struct SpecCase {
  const char *name;
  const char *request;
  const char *response;  // "" = nothing is returned
};

// https://www.jsonrpc.org/specification section 7, verbatim.
const SpecCase kSpec[] = {
    {"positional_1", R"({"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1})",
     R"({"jsonrpc": "2.0", "result": 19, "id": 1})"},
    {"positional_2", R"({"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2})",
     R"({"jsonrpc": "2.0", "result": -19, "id": 2})"},
    {"named_1",
     R"({"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3})",
     R"({"jsonrpc": "2.0", "result": 19, "id": 3})"},
    {"named_2",
     R"({"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4})",
     R"({"jsonrpc": "2.0", "result": 19, "id": 4})"},
    {"notification_1", R"({"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]})", ""},
    {"notification_2", R"({"jsonrpc": "2.0", "method": "foobar"})", ""},
    {"method_not_found", R"({"jsonrpc": "2.0", "method": "foobar", "id": "1"})",
     R"({"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"})"},
    {"invalid_json", R"({"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz])",
     R"({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null})"},
    {"invalid_request", R"({"jsonrpc": "2.0", "method": 1, "params": "bar"})",
     R"({"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null})"},
    {"batch_invalid_json",
     "[\n  {\"jsonrpc\": \"2.0\", \"method\": \"sum\", \"params\": [1,2,4], \"id\": \"1\"},\n"
     "  {\"jsonrpc\": \"2.0\", \"method\"\n]",
     R"({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null})"},
    {"batch_empty", "[]",
     R"({"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null})"},
    {"batch_invalid_one", "[1]",
     R"([{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}])"},
    {"batch_invalid_three", "[1,2,3]",
     R"([{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
         {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
         {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}])"},
    {"batch_mixed", R"([
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
    ])",
     R"([
        {"jsonrpc": "2.0", "result": 7, "id": "1"},
        {"jsonrpc": "2.0", "result": 19, "id": "2"},
        {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
        {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "5"},
        {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"}
    ])"},
    {"batch_all_notifications", R"([
        {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
    ])",
     ""},
};

class SpecExamples : public ::testing::TestWithParam<SpecCase> {};

TEST_P(SpecExamples, BehavesExactlyAsTheSpecificationSays) {
  const SpecCase &c = GetParam();
  Dispatcher d = spec_dispatcher();
  std::string out = d.handle(c.request);
  if (c.response[0] == 0) {
    EXPECT_EQ(out, "") << c.name;
  } else {
    EXPECT_TRUE(json_equal(out, c.response)) << c.name << "\n got: " << out
                                             << "\nwant: " << c.response;
  }
}

INSTANTIATE_TEST_SUITE_P(Section7, SpecExamples, ::testing::ValuesIn(kSpec),
                         [](const auto &info) { return std::string(info.param.name); });

// ---- pre-scan ---------------------------------------------------------------------------------

struct ScanCase {
  const char *name;
  std::string text;
  bool ok;
  int code;
  const char *reason;
};

std::vector<ScanCase> scan_cases() {
  std::string deep(100000, '[');
  std::string deep33 = std::string(33, '[') + std::string(33, ']');
  std::string deep32 = std::string(32, '[') + std::string(32, ']');
  return {
      {"deep_100000", deep, false, kParseError, "depth"},
      {"depth_33", deep33, false, kParseError, "depth"},
      {"depth_32_ok", deep32, true, 0, ""},
      {"raw_nul", std::string("{\"a\":\"x\0y\"}", 11), false, kParseError, "nul"},
      {"escaped_nul", R"({"peer_id":"alice\u0000admin"})", false, kParseError, "nul"},
      {"empty", "", false, kParseError, "empty"},
      {"whitespace", " \n\t\r ", false, kParseError, "empty"},
      {"duplicate_key", R"({"a":1,"a":2})", false, kParseError, "duplicate_key"},
      {"duplicate_key_escaped", R"({"a":1,"\u0061":2})", false, kParseError, "duplicate_key"},
      {"duplicate_nested", R"({"p":{"to":"x","to":"y"}})", false, kParseError, "duplicate_key"},
      {"same_key_other_objects", R"([{"a":1},{"a":2}])", true, 0, ""},
      {"huge_integer", R"({"id":123456789012345678901234567890})", false, kInvalidRequest,
       "integer_range"},
      {"integer_2p53_ok", R"({"id":9007199254740992})", true, 0, ""},
      {"integer_2p53_plus_1", R"({"id":9007199254740993})", false, kInvalidRequest,
       "integer_range"},
      {"negative_2p53_ok", R"({"id":-9007199254740992})", true, 0, ""},
      {"bom", "\xEF\xBB\xBF{}", false, kParseError, "bom"},
      {"two_roots", "{}{}", false, kParseError, "trailing"},
      {"two_roots_ws", "{} []", false, kParseError, "trailing"},
      {"comment", "{} // hi", false, kParseError, "trailing"},
      {"comment_inside", "{/*x*/}", false, kParseError, "syntax"},
      {"single_quotes", "{'a':1}", false, kParseError, "syntax"},
      {"trailing_comma", "[1,]", false, kParseError, "syntax"},
      {"leading_zero", "[01]", false, kParseError, "syntax"},
      {"raw_control", "[\"a\tb\"]", false, kParseError, "control_character"},
      {"bad_utf8", "[\"\xC3\x28\"]", false, kParseError, "utf8"},
      {"lone_surrogate", R"(["\uD800"])", false, kParseError, "utf8"},
      {"pair_surrogate_ok", R"(["\uD83D\uDE00"])", true, 0, ""},
      {"truncated", R"({"a":)", false, kParseError, "syntax"},
      {"nan", "[NaN]", false, kParseError, "syntax"},
      {"valid", R"({"jsonrpc":"2.0","method":"peer.ping","id":1,"params":{}})", true, 0, ""},
      {"scalar_root", "42", true, 0, ""},
  };
}

TEST(Prescan, Table) {
  for (auto &c : scan_cases()) {
    PrescanLimits lim;
    lim.max_bytes = 1 << 20;  // let the 100,000-deep case reach the depth check
    PrescanResult r = prescan(c.text, lim);
    EXPECT_EQ(r.ok, c.ok) << c.name << " reason=" << r.reason;
    if (!c.ok) {
      EXPECT_EQ(r.code, c.code) << c.name;
      EXPECT_EQ(r.reason, c.reason) << c.name;
    }
  }
}

TEST(Prescan, SizeLimit) {
  PrescanLimits lim;
  lim.max_bytes = 10;
  PrescanResult r = prescan("[1,2,3,4,5,6]", lim);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.code, kLimitExceeded);
  EXPECT_EQ(r.reason, "size");
}

// The whole path: deep nesting never reaches json-glib (which would segfault at ~80,000).
TEST(Dispatch, DeepNestingIsAClearParseError) {
  Dispatcher d = spec_dispatcher();
  d.limits().prescan.max_bytes = 1 << 20;
  std::string out = d.handle(std::string(100000, '['));
  EXPECT_TRUE(json_equal(out, R"({"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error",
                                  "data":{"reason":"depth"}},"id":null})"))
      << out;
}

TEST(Dispatch, EmbeddedNulIsRejected) {
  Dispatcher d = spec_dispatcher();
  std::string out = d.handle(R"({"jsonrpc":"2.0","method":"sum","params":["a\u0000b"],"id":1})");
  EXPECT_TRUE(json_equal(out, R"({"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error",
                                  "data":{"reason":"nul"}},"id":null})"))
      << out;
}

TEST(Dispatch, Ids) {
  Dispatcher d = spec_dispatcher();
  // string, integer, null: echoed
  EXPECT_TRUE(json_equal(d.handle(R"({"jsonrpc":"2.0","method":"sum","params":[1],"id":"x"})"),
                         R"({"jsonrpc":"2.0","result":1,"id":"x"})"));
  EXPECT_TRUE(json_equal(d.handle(R"({"jsonrpc":"2.0","method":"sum","params":[1],"id":null})"),
                         R"({"jsonrpc":"2.0","result":1,"id":null})"));
  EXPECT_TRUE(json_equal(
      d.handle(R"({"jsonrpc":"2.0","method":"sum","params":[1],"id":-9007199254740992})"),
      R"({"jsonrpc":"2.0","result":1,"id":-9007199254740992})"));
  // fractional, boolean, object ids: invalid request, id null
  for (const char *bad : {"1.5", "true", "{}", "[]", "1e3"}) {
    std::string req = std::string(R"({"jsonrpc":"2.0","method":"sum","params":[1],"id":)") + bad +
                      "}";
    std::string out = d.handle(req);
    EXPECT_TRUE(json_equal(out, R"({"jsonrpc":"2.0","error":{"code":-32600,
        "message":"Invalid Request","data":{"reason":"id"}},"id":null})"))
        << bad << " -> " << out;
  }
  // huge integer id: json-glib would read it back as -1; the pre-scan refuses it
  std::string out =
      d.handle(R"({"jsonrpc":"2.0","method":"sum","params":[1],"id":123456789012345678901234})");
  EXPECT_TRUE(json_equal(out, R"({"jsonrpc":"2.0","error":{"code":-32600,
      "message":"Invalid Request","data":{"reason":"integer_range"}},"id":null})"))
      << out;
}

TEST(Dispatch, ResponsesFromClientsAreRejectedAndCounted) {
  Dispatcher d = spec_dispatcher();
  int responses = 0;
  d.set_error_sink([&](int, const std::string &reason) { responses += reason == "response"; });
  std::string out = d.handle(R"({"jsonrpc":"2.0","result":19,"id":7})");
  EXPECT_TRUE(json_equal(out, R"({"jsonrpc":"2.0","error":{"code":-32600,
      "message":"Invalid Request","data":{"reason":"response"}},"id":7})"))
      << out;
  d.handle(R"({"jsonrpc":"2.0","error":{"code":1,"message":"x"},"id":null})");
  EXPECT_EQ(responses, 2);
}

TEST(Dispatch, WrongVersionAndParams) {
  Dispatcher d = spec_dispatcher();
  EXPECT_TRUE(json_equal(d.handle(R"({"jsonrpc":"1.0","method":"sum","params":[1],"id":1})"),
                         R"({"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request",
                            "data":{"reason":"jsonrpc"}},"id":1})"));
  EXPECT_TRUE(json_equal(d.handle(R"({"method":"sum","params":[1],"id":1})"),
                         R"({"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request",
                            "data":{"reason":"jsonrpc"}},"id":1})"));
  EXPECT_TRUE(json_equal(d.handle(R"({"jsonrpc":"2.0","method":"sum","params":3,"id":1})"),
                         R"({"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request",
                            "data":{"reason":"params"}},"id":1})"));
}

TEST(Dispatch, BatchLimit) {
  Dispatcher d = spec_dispatcher();
  d.limits().max_batch = 3;
  // and a whole message over the size limit is refused before anything else
  d.limits().prescan.max_bytes = 100;
  EXPECT_NE(d.handle(std::string(200, ' ')).find("-32008"), std::string::npos);
  d.limits().prescan.max_bytes = 64 * 1024;
  std::string four = R"([{"jsonrpc":"2.0","method":"sum","params":[1],"id":1},
                         {"jsonrpc":"2.0","method":"sum","params":[1],"id":2},
                         {"jsonrpc":"2.0","method":"sum","params":[1],"id":3},
                         {"jsonrpc":"2.0","method":"sum","params":[1],"id":4}])";
  EXPECT_TRUE(json_equal(d.handle(four), R"({"jsonrpc":"2.0","error":{"code":-32008,
      "message":"Limit exceeded","data":{"reason":"batch","limit":3}},"id":null})"))
      << d.handle(four);
}

TEST(Dispatch, GateRefusesRequestsButNotifiesNothing) {
  Dispatcher d = spec_dispatcher();
  d.set_gate([](const Call &) { return RpcError{kRateLimited, {}, "messages_per_second", {}}; });
  EXPECT_TRUE(json_equal(d.handle(R"({"jsonrpc":"2.0","method":"sum","params":[1],"id":1})"),
                         R"({"jsonrpc":"2.0","error":{"code":-32004,"message":"Rate limited",
                            "data":{"reason":"messages_per_second"}},"id":1})"));
  EXPECT_EQ(d.handle(R"({"jsonrpc":"2.0","method":"sum","params":[1]})"), "");
}

TEST(Dispatch, ErrorMessages) {
  for (int code : {kParseError, kInvalidRequest, kMethodNotFound, kInvalidParams, kInternalError,
                   kUnauthorized, kRoomFull, kUnknownPeer, kRateLimited, kSessionMismatch,
                   kNotAnnounced, kDuplicatePeer, kLimitExceeded, kInvalidSdp, kInvalidCandidate,
                   kAlreadyAnnounced})
    EXPECT_STRNE(error_message(code), "Server error") << code;
}

}  // namespace
