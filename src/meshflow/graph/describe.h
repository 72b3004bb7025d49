// Everything a user needs to know about a node type, read from its element class: the data
// behind meshflow-inspect (text, --json) and docs/nodes.md (--markdown).
#pragma once

#include <string>
#include <vector>

#include "meshflow/graph/registry.h"

namespace mf::graph {

struct PadDoc {
  std::string name;       // template name
  std::string direction;  // "src" | "sink"
  std::string presence;   // "always" | "sometimes" | "request"
  std::string caps;       // template caps, serialised
};

struct PropertyDoc {
  std::string name, type, blurb;
  std::string range;    // "0..64", "one of: a, b", ""
  std::string default_value;
  bool writable = false, readable = false, controllable = false, mutable_playing = false;
};

struct NodeDoc {
  NodeType type;
  std::vector<PadDoc> pads;
  std::vector<PropertyDoc> properties;  // excluding GstObject's name/parent
};

/// Describe a resolved type (loads its plugin).
NodeDoc describe(const Registry &registry, const NodeType &type);

}  // namespace mf::graph
