// json_schema(): valid JSON, draft 2020-12, mirrors the loader's rules.
#include <gtest/gtest.h>
#include <json-glib/json-glib.h>

#include "meshflow/manifest/schema.h"

namespace {

JsonObject *path(JsonObject *o, std::initializer_list<const char *> keys) {
  for (const char *k : keys) {
    if (!o || !json_object_has_member(o, k)) return nullptr;
    o = json_object_get_object_member(o, k);
  }
  return o;
}

}  // namespace

TEST(ManifestSchema, ParsesBackAndHasTheRules) {
  const std::string text = mf::manifest::json_schema({"blur", "mixer", "webrtc_sink"});
  JsonParser *p = json_parser_new();
  GError *err = nullptr;
  ASSERT_TRUE(json_parser_load_from_data(p, text.c_str(), -1, &err)) << (err ? err->message : "");
  JsonObject *root = json_node_get_object(json_parser_get_root(p));
  ASSERT_NE(root, nullptr);
  EXPECT_STREQ(json_object_get_string_member(root, "$schema"),
               "https://json-schema.org/draft/2020-12/schema");
  EXPECT_FALSE(json_object_get_boolean_member(root, "additionalProperties"));
  JsonArray *req = json_object_get_array_member(root, "required");
  ASSERT_EQ(json_array_get_length(req), 2u);
  EXPECT_STREQ(json_array_get_string_element(req, 0), "version");
  EXPECT_STREQ(json_array_get_string_element(req, 1), "nodes");

  JsonObject *nodes = path(root, {"properties", "nodes"});
  ASSERT_NE(nodes, nullptr);
  EXPECT_EQ(json_object_get_int_member(nodes, "minItems"), 1);

  JsonObject *type = path(root, {"$defs", "node", "properties", "type"});
  ASSERT_NE(type, nullptr);
  JsonArray *ex = json_object_get_array_member(type, "examples");
  ASSERT_EQ(json_array_get_length(ex), 3u);
  EXPECT_STREQ(json_array_get_string_element(ex, 0), "blur");
  EXPECT_STREQ(json_array_get_string_element(ex, 2), "webrtc_sink");

  JsonObject *node = path(root, {"$defs", "node"});
  EXPECT_FALSE(json_object_get_boolean_member(node, "additionalProperties"));
  EXPECT_NE(path(root, {"$defs", "node", "then"}), nullptr);

  JsonObject *transport = path(root, {"$defs", "session", "properties", "transport"});
  ASSERT_NE(transport, nullptr);
  EXPECT_EQ(json_array_get_length(json_object_get_array_member(transport, "enum")), 3u);

  JsonObject *peers = path(root, {"$defs", "session", "properties", "max_peers"});
  ASSERT_NE(peers, nullptr);
  JsonObject *range =
      json_array_get_object_element(json_object_get_array_member(peers, "anyOf"), 0);
  EXPECT_EQ(json_object_get_int_member(range, "minimum"), 1);
  EXPECT_EQ(json_object_get_int_member(range, "maximum"), 64);
  EXPECT_EQ(json_object_get_int_member(peers, "default"), 10);

  JsonObject *link = path(root, {"$defs", "link"});
  ASSERT_NE(link, nullptr);
  EXPECT_EQ(json_array_get_length(json_object_get_array_member(link, "required")), 2u);
  EXPECT_NE(path(root, {"$defs", "ice_server", "properties", "urls"}), nullptr);
  g_object_unref(p);
}
