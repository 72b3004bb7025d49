// The shared JSON text output (src/meshflow/json/json_text.h): json-glib 1.6 writes a raw U+001F
// inside strings and doubles like "2e+46.0"; the output of mf::json::to_text, and so every /rpc
// answer (jsonrpc to_string) and every /ws control frame, must be valid JSON for any value.
#include <gtest/gtest.h>

#include <cctype>
#include <string>

#include "json_util.h"
#include "meshflow/json/json_text.h"
#include "meshflow/signalling/jsonrpc.h"

using namespace mf::signalling;

namespace {

// Strict enough for the two json-glib defects: no raw control character anywhere (outside a
// string JSON allows only whitespace, which the compact generator does not write), no ".0" after
// an exponent, and the text parses.
::testing::AssertionResult strict_json(const std::string &t) {
  for (size_t i = 0; i < t.size(); ++i)
    if (static_cast<unsigned char>(t[i]) < 0x20)
      return ::testing::AssertionFailure() << "raw control character 0x" << std::hex
                                           << int(static_cast<unsigned char>(t[i])) << " at " << std::dec
                                           << i << " in " << t;
  for (size_t e = t.find_first_of("eE"); e != std::string::npos; e = t.find_first_of("eE", e + 1)) {
    size_t j = e + 1;
    if (j < t.size() && (t[j] == '+' || t[j] == '-')) ++j;
    if (j >= t.size() || !isdigit(static_cast<unsigned char>(t[j]))) continue;  // not an exponent
    while (j < t.size() && isdigit(static_cast<unsigned char>(t[j]))) ++j;
    if (j < t.size() && t[j] == '.') return ::testing::AssertionFailure() << "'.' after an exponent in " << t;
  }
  JsonNode *n = parse_json(t);
  if (!n) return ::testing::AssertionFailure() << "does not parse: " << t;
  json_node_unref(n);
  return ::testing::AssertionSuccess();
}

}  // namespace

TEST(JsonText, FixesWhatJsonGlibWritesInvalidly) {
  EXPECT_EQ(mf::json::fix_generated("[\"a\x1f" "b\",2e+46.0,1.5,-3e-05.0,\"2e+46.0\",true,1E+300.0]"),
            "[\"a\\u001fb\",2e+46,1.5,-3e-05,\"2e+46.0\",true,1E+300]");
  // Escapes json-glib already wrote are kept as they are.
  EXPECT_EQ(mf::json::fix_generated("{\"k\\\"\":\"\\\\\\u0001\\n\"}"), "{\"k\\\"\":\"\\\\\\u0001\\n\"}");
}

TEST(JsonText, EveryControlCharacterAndLargeDoublesRoundTrip) {
  std::string all;
  for (int c = 1; c < 0x20; ++c) all += char(c);
  JsonBuilder *b = json_builder_new();
  json_builder_begin_array(b);
  json_builder_add_string_value(b, all.c_str());
  for (double v : {2e46, -1e300, 1e-7, 123.25, 5e-324}) json_builder_add_double_value(b, v);
  json_builder_end_array(b);
  JsonNode *root = json_builder_get_root(b);
  g_object_unref(b);
  const std::string text = mf::json::to_text(root);
  EXPECT_TRUE(strict_json(text));
  JsonNode *back = parse_json(text);
  ASSERT_NE(back, nullptr);
  JsonArray *a = json_node_get_array(back);
  EXPECT_EQ(std::string(json_array_get_string_element(a, 0)), all);
  EXPECT_DOUBLE_EQ(json_array_get_double_element(a, 1), 2e46);
  EXPECT_DOUBLE_EQ(json_array_get_double_element(a, 2), -1e300);
  EXPECT_DOUBLE_EQ(json_array_get_double_element(a, 3), 1e-7);
  EXPECT_DOUBLE_EQ(json_array_get_double_element(a, 4), 123.25);
  json_node_unref(back);
  json_node_unref(root);
}

// /rpc: an id with U+001F is echoed, and a double result written, as valid JSON (the same input
// is the fuzz-replay seed tests/fuzz/corpus/jsonrpc/control_char_id.json).
TEST(JsonText, RpcAnswersValidJsonForControlCharacterIdsAndDoubles) {
  Dispatcher d;
  d.add("echo", [](const Call &c) { return Reply::ok(c.params ? json_node_copy(c.params) : nullptr); });
  const std::string req = R"({"jsonrpc":"2.0","id":"a\u001fb","method":"echo","params":[2e46,"x\u001fy\u0001"]})";
  const std::string out = d.handle(req, nullptr);
  EXPECT_TRUE(strict_json(out));
  EXPECT_TRUE(json_equal(out, R"({"jsonrpc":"2.0","id":"a\u001fb","result":[2e46,"x\u001fy\u0001"]})")) << out;
  // An error answer echoes the id too.
  const std::string err = d.handle(R"({"jsonrpc":"2.0","id":"\u001f","method":"nope"})", nullptr);
  EXPECT_TRUE(strict_json(err));
  EXPECT_NE(err.find("\\u001f"), std::string::npos) << err;
}
