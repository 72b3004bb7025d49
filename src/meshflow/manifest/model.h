// Manifest v1 model: what the loader produces (stage 1 parse + structural validation) and what the
// graph layer validates against GStreamer (stage 2) and builds (stage 3).
//
// Every value keeps the file:line:column it came from, so any later stage can point at it.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "meshflow/error.h"

namespace mf::manifest {

/// A located YAML value (aliases already expanded, environment variables already substituted).
struct Value {
  enum class Kind { Null, Scalar, Sequence, Map };
  Kind kind = Kind::Null;
  std::string scalar;  // Scalar: the text as written (after ${ENV} expansion)
  bool quoted = false; // Scalar: written quoted ('...' or "..."): always a string, never a number
  std::vector<Value> items;                          // Sequence
  std::vector<std::pair<Value, Value>> entries;      // Map, in file order; keys are scalars
  Location loc;

  bool is_scalar() const { return kind == Kind::Scalar; }
  bool is_map() const { return kind == Kind::Map; }
  bool is_sequence() const { return kind == Kind::Sequence; }
  /// Map lookup; nullptr if absent or not a map.
  const Value *find(const std::string &key) const;
  /// A short description of the kind for messages: "a string", "a list", "a mapping", "null".
  const char *kind_name() const;
};

/// `properties:` entry of a node. `loc` is where the key is; `value.loc` where the value is.
struct Property {
  std::string name;
  Value value;
  Location loc;
};

struct Node {
  std::string id;         // [A-Za-z_][A-Za-z0-9_-]*, unique in the manifest
  std::string type;       // friendly node name, element factory name, or "gst"
  std::string pipeline;   // only for type: gst, a gst-launch fragment
  std::vector<Property> properties;
  Location loc;           // the node's mapping
  Location id_loc, type_loc, pipeline_loc;
};

/// `node` or `node.pad` of a link.
struct Endpoint {
  std::string node;
  std::string pad;  // empty: any compatible pad
  Location loc;
  std::string str() const { return pad.empty() ? node : node + "." + pad; }
};

struct Link {
  Endpoint from, to;
  std::string caps;   // optional caps string (checked by the graph layer)
  Location caps_loc;
  /// "broadcast" (default), "origin", "others" or "peer:<id>"
  std::string route = "broadcast";
  Location route_loc;
  Location loc;
};

struct IceServer {
  std::vector<std::string> urls;
  std::string username, credential;
  Location loc;
};

struct Session {
  std::string room = "demo";
  int max_peers = 10;                 // 1..64
  std::string signalling = "embedded";  // "embedded" or a ws:// / wss:// URL
  std::vector<IceServer> ice_servers;
  std::vector<std::string> ice_local_addresses;
  std::string transport = "auto";     // auto | webrtc | websocket
  int webrtc_rollout_percent = 100;   // 0..100
  Location loc;
};

struct Manifest {
  std::string file;   // as given to the loader ("<string>" for in-memory text)
  int version = 1;
  std::string name;
  std::string description;
  Session session;
  std::vector<Node> nodes;
  std::vector<Link> links;

  const Node *find_node(const std::string &id) const;
  Node *find_node(const std::string &id);
};

}  // namespace mf::manifest
