// Node registry: manifest `type:` names -> element factories, read from the GStreamer registry.
//
// A type is (in this order) a Meshflow friendly name (an element whose class metadata has
// MF_NODE_METADATA_KEY, see sdk/node.h — custom plugins are found the same way), any element
// factory name, or `gst` (a bin parsed from a gst-launch fragment). The element class is the
// contract: properties come from its GParamSpecs, pads from its pad templates.
#pragma once

#include <gst/gst.h>

#include <optional>
#include <string>
#include <vector>

#include "meshflow/sdk/ptr.h"

namespace mf::graph {

inline constexpr const char *kGstFragmentType = "gst";

struct NodeType {
  std::string name;         // the name used in manifests (friendly name if it has one)
  std::string factory;      // element factory name; empty for `gst`
  bool meshflow = false;    // a Meshflow node (has a friendly name)
  bool per_peer = false;    // a per-peer source (MF_NODE_PER_PEER_KEY): one src pad per peer
  std::string description;  // factory long name + description
  std::string klass;        // e.g. "Filter/Effect/Video"
  std::string plugin;       // plugin name
};

class Registry {
 public:
  /// Snapshot of the current GStreamer registry (call after gst_init and static registration).
  Registry();

  /// Resolve a manifest type name. nullopt if unknown.
  std::optional<NodeType> lookup(const std::string &type) const;
  /// Load the factory of a resolved type (nullptr for `gst`).
  Ptr<GstElementFactory> factory(const NodeType &t) const;

  /// Meshflow node types (friendly names), sorted.
  const std::vector<NodeType> &meshflow_types() const { return meshflow_; }
  /// Every name a manifest may use: friendly names, factory names and `gst`.
  std::vector<std::string> all_names() const;
  /// All element factories (by factory name), sorted.
  const std::vector<NodeType> &all_factories() const { return factories_; }

 private:
  std::vector<NodeType> meshflow_;
  std::vector<NodeType> factories_;
};

}  // namespace mf::graph
