// Test helpers: compare JSON texts structurally (json-glib), build messages.
#pragma once

#include <json-glib/json-glib.h>

#include <string>

inline JsonNode *parse_json(const std::string &text) {
  JsonParser *p = json_parser_new();
  JsonNode *n = nullptr;
  if (json_parser_load_from_data(p, text.data(), gssize(text.size()), nullptr) &&
      json_parser_get_root(p))
    n = json_node_copy(json_parser_get_root(p));
  g_object_unref(p);
  return n;
}

/// True when both texts parse to equal JSON values (member order ignored).
inline bool json_equal(const std::string &a, const std::string &b) {
  JsonNode *x = parse_json(a), *y = parse_json(b);
  bool eq = x && y && json_node_equal(x, y);
  if (x) json_node_unref(x);
  if (y) json_node_unref(y);
  return eq;
}
