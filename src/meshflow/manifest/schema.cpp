// JSON Schema (draft 2020-12) of manifest v1, built with JsonBuilder (no hand-written JSON), kept
// in step with the loader: the same keys, enums, ranges and required keys, and
// additionalProperties: false wherever the loader rejects unknown keys. Integer fields also accept
// a ${VAR} string, because the loader expands environment variables before checking types.
#include "meshflow/manifest/schema.h"

#include <json-glib/json-glib.h>

#include <functional>
#include <initializer_list>

namespace mf::manifest {
namespace {

using Build = std::function<void(JsonBuilder *)>;

const char *kEnvPattern = "^\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}$";

void member(JsonBuilder *b, const char *name, const char *value) {
  json_builder_set_member_name(b, name);
  json_builder_add_string_value(b, value);
}
void member(JsonBuilder *b, const char *name, gint64 value) {
  json_builder_set_member_name(b, name);
  json_builder_add_int_value(b, value);
}
void member_bool(JsonBuilder *b, const char *name, bool value) {
  json_builder_set_member_name(b, name);
  json_builder_add_boolean_value(b, value);
}
void strings(JsonBuilder *b, const char *name, std::initializer_list<const char *> values) {
  json_builder_set_member_name(b, name);
  json_builder_begin_array(b);
  for (const char *v : values) json_builder_add_string_value(b, v);
  json_builder_end_array(b);
}
// "name": { ...body... }
void object(JsonBuilder *b, const char *name, const Build &body) {
  if (name) json_builder_set_member_name(b, name);
  json_builder_begin_object(b);
  body(b);
  json_builder_end_object(b);
}
// "name": [ {..}, {..} ]
void object_array(JsonBuilder *b, const char *name, std::initializer_list<Build> items) {
  json_builder_set_member_name(b, name);
  json_builder_begin_array(b);
  for (const auto &i : items) object(b, nullptr, i);
  json_builder_end_array(b);
}

void string_prop(JsonBuilder *b, const char *name, const char *description) {
  object(b, name, [&](JsonBuilder *b) {
    member(b, "type", "string");
    member(b, "description", description);
  });
}

void int_prop(JsonBuilder *b, const char *name, const char *description, gint64 min, gint64 max,
              gint64 def) {
  object(b, name, [&](JsonBuilder *b) {
    member(b, "description", description);
    member(b, "default", def);
    object_array(b, "anyOf",
                 {[&](JsonBuilder *b) {
                    member(b, "type", "integer");
                    member(b, "minimum", min);
                    member(b, "maximum", max);
                  },
                  [](JsonBuilder *b) {
                    member(b, "type", "string");
                    member(b, "pattern", kEnvPattern);
                    member(b, "description", "an environment variable, expanded at load time");
                  }});
  });
}

void session_def(JsonBuilder *b) {
  member(b, "type", "object");
  member(b, "description", "The room this manifest runs in and how peers reach each other.");
  member_bool(b, "additionalProperties", false);
  object(b, "properties", [](JsonBuilder *b) {
    object(b, "room", [](JsonBuilder *b) {
      member(b, "type", "string");
      member(b, "minLength", 1);
      member(b, "default", "demo");
      member(b, "description", "Room name; meshflow-launch --room overrides it.");
    });
    int_prop(b, "max_peers", "Full-mesh limit (peers in the room, the launcher included).", 1, 64,
             10);
    object(b, "signalling", [](JsonBuilder *b) {
      member(b, "type", "string");
      member(b, "default", "embedded");
      member(b, "description",
             "'embedded' (the launcher serves /rpc) or the ws:// or wss:// URL of a meshflow-signal.");
      member(b, "pattern", "^(embedded|wss?://.+)$");
    });
    object(b, "ice_servers", [](JsonBuilder *b) {
      member(b, "type", "array");
      member(b, "description", "STUN/TURN servers given to every peer.");
      object(b, "items", [](JsonBuilder *b) { member(b, "$ref", "#/$defs/ice_server"); });
    });
    object(b, "ice_local_addresses", [](JsonBuilder *b) {
      member(b, "type", "array");
      member(b, "description",
             "Restrict local host candidates to these IP addresses (tests use [127.0.0.1]).");
      object(b, "items", [](JsonBuilder *b) {
        member(b, "type", "string");
        object_array(b, "anyOf", {[](JsonBuilder *b) { member(b, "format", "ipv4"); },
                                  [](JsonBuilder *b) { member(b, "format", "ipv6"); }});
      });
    });
    object(b, "transport", [](JsonBuilder *b) {
      member(b, "type", "string");
      strings(b, "enum", {"auto", "webrtc", "websocket"});
      member(b, "default", "auto");
      member(b, "description",
             "How peers send media: WebRTC, WebSocket (PCM16), or auto (WebRTC, WebSocket fallback).");
    });
    int_prop(b, "webrtc_rollout_percent",
             "Share of users (bucketed by a hash of the user id) offered WebRTC in auto mode.", 0,
             100, 100);
  });
}

void ice_server_def(JsonBuilder *b) {
  const char *url = "^(stun|turn|turns):.+$";
  member(b, "type", "object");
  member(b, "description", "One STUN or TURN server.");
  member_bool(b, "additionalProperties", false);
  strings(b, "required", {"urls"});
  object(b, "properties", [&](JsonBuilder *b) {
    object(b, "urls", [&](JsonBuilder *b) {
      member(b, "description", "stun:, turn: or turns: URL, or a list of them.");
      object_array(b, "anyOf", {[&](JsonBuilder *b) {
                                  member(b, "type", "string");
                                  member(b, "pattern", url);
                                },
                                [&](JsonBuilder *b) {
                                  member(b, "type", "array");
                                  member(b, "minItems", 1);
                                  object(b, "items", [&](JsonBuilder *b) {
                                    member(b, "type", "string");
                                    member(b, "pattern", url);
                                  });
                                }});
    });
    string_prop(b, "username", "TURN user name.");
    string_prop(b, "credential", "TURN password.");
  });
}

void node_def(JsonBuilder *b, const std::vector<std::string> &node_types) {
  member(b, "type", "object");
  member(b, "description", "A node of the graph: a Meshflow node, any GStreamer element, or a gst fragment.");
  member_bool(b, "additionalProperties", false);
  strings(b, "required", {"id", "type"});
  object(b, "properties", [&](JsonBuilder *b) {
    object(b, "id", [](JsonBuilder *b) {
      member(b, "type", "string");
      member(b, "pattern", "^[A-Za-z_][A-Za-z0-9_-]*$");
      member(b, "maxLength", 64);
      member(b, "description", "Unique id; also the GStreamer element name.");
    });
    object(b, "type", [&](JsonBuilder *b) {
      member(b, "type", "string");
      member(b, "minLength", 1);
      member(b, "pattern", "^[A-Za-z0-9_+][A-Za-z0-9_+-]*$");
      member(b, "description",
             "A Meshflow node type, any GStreamer element factory name, or 'gst' with 'pipeline'.");
      json_builder_set_member_name(b, "examples");
      json_builder_begin_array(b);
      for (const auto &t : node_types) json_builder_add_string_value(b, t.c_str());
      json_builder_end_array(b);
    });
    object(b, "properties", [](JsonBuilder *b) {
      member(b, "type", "object");
      member(b, "description",
             "Element properties by name; checked against the element's GParamSpecs at load time.");
    });
    object(b, "pipeline", [](JsonBuilder *b) {
      member(b, "type", "string");
      member(b, "minLength", 1);
      member(b, "description",
             "Only with type: gst: a gst-launch fragment, e.g. \"videoconvert ! videoflip method=clockwise\".");
    });
  });
  // pipeline is required with type: gst and forbidden otherwise.
  object(b, "if", [](JsonBuilder *b) {
    strings(b, "required", {"type"});
    object(b, "properties", [](JsonBuilder *b) {
      object(b, "type", [](JsonBuilder *b) { member(b, "const", "gst"); });
    });
  });
  object(b, "then", [](JsonBuilder *b) { strings(b, "required", {"pipeline"}); });
  object(b, "else", [](JsonBuilder *b) {
    object(b, "not", [](JsonBuilder *b) { strings(b, "required", {"pipeline"}); });
  });
}

void link_def(JsonBuilder *b) {
  const char *endpoint = "^[A-Za-z_][A-Za-z0-9_-]*(\\.[A-Za-z0-9_%-]+)?$";
  member(b, "type", "object");
  member(b, "description", "A link from one node's output to another node's input.");
  member_bool(b, "additionalProperties", false);
  strings(b, "required", {"from", "to"});
  object(b, "properties", [&](JsonBuilder *b) {
    object(b, "from", [&](JsonBuilder *b) {
      member(b, "type", "string");
      member(b, "pattern", endpoint);
      member(b, "description", "node or node.pad");
    });
    object(b, "to", [&](JsonBuilder *b) {
      member(b, "type", "string");
      member(b, "pattern", endpoint);
      member(b, "description", "node or node.pad (a different node than 'from')");
    });
    string_prop(b, "caps", "Caps filter on the link, e.g. video/x-raw,width=640,height=480.");
    object(b, "route", [](JsonBuilder *b) {
      member(b, "type", "string");
      member(b, "default", "broadcast");
      member(b, "description",
             "broadcast (every peer), origin (back to the peer it came from), others (every peer "
             "but the origin) or peer:<id> (one peer).");
      object_array(b, "anyOf",
                   {[](JsonBuilder *b) { strings(b, "enum", {"broadcast", "origin", "others"}); },
                    [](JsonBuilder *b) { member(b, "pattern", "^peer:.+$"); }});
    });
  });
}

}  // namespace

std::string json_schema(const std::vector<std::string> &node_types) {
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  member(b, "$schema", "https://json-schema.org/draft/2020-12/schema");
  member(b, "$id", "https://meshflow.dev/schema/manifest-v1.json");
  member(b, "title", "Meshflow manifest v1");
  member(b, "description", "A graph of media nodes and links, run per room by meshflow-launch.");
  member(b, "type", "object");
  member_bool(b, "additionalProperties", false);
  strings(b, "required", {"version", "nodes"});
  object(b, "properties", [](JsonBuilder *b) {
    object(b, "version", [](JsonBuilder *b) {
      member(b, "type", "integer");
      member(b, "const", 1);
      member(b, "description", "Manifest format version; must be 1.");
    });
    string_prop(b, "name", "Short name of the manifest.");
    string_prop(b, "description", "What the graph does.");
    object(b, "session", [](JsonBuilder *b) { member(b, "$ref", "#/$defs/session"); });
    object(b, "nodes", [](JsonBuilder *b) {
      member(b, "type", "array");
      member(b, "minItems", 1);
      member(b, "description", "The nodes of the graph.");
      object(b, "items", [](JsonBuilder *b) { member(b, "$ref", "#/$defs/node"); });
    });
    object(b, "links", [](JsonBuilder *b) {
      member(b, "type", "array");
      member(b, "description", "Links between nodes.");
      object(b, "items", [](JsonBuilder *b) { member(b, "$ref", "#/$defs/link"); });
    });
  });
  object(b, "$defs", [&](JsonBuilder *b) {
    object(b, "session", session_def);
    object(b, "ice_server", ice_server_def);
    object(b, "node", [&](JsonBuilder *b) { node_def(b, node_types); });
    object(b, "link", link_def);
  });
  json_builder_end_object(b);

  JsonNode *root = json_builder_get_root(b);
  JsonGenerator *gen = json_generator_new();
  json_generator_set_pretty(gen, TRUE);
  json_generator_set_indent(gen, 2);
  json_generator_set_root(gen, root);
  gchar *text = json_generator_to_data(gen, nullptr);
  std::string out(text ? text : "");
  out += "\n";
  g_free(text);
  g_object_unref(gen);
  json_node_unref(root);
  g_object_unref(b);
  return out;
}

}  // namespace mf::manifest
