// Checks of a manifest against GStreamer: node types, properties (GParamSpecs), pads (templates),
// cycles. Used by compile() (plan.cpp); internal to the graph layer.
#pragma once

#include <gst/gst.h>

#include <map>
#include <string>
#include <vector>

#include "meshflow/error.h"
#include "meshflow/graph/plan.h"
#include "meshflow/graph/registry.h"
#include "meshflow/manifest/model.h"
#include "meshflow/sdk/ptr.h"

namespace mf::graph {

struct PadInfo {
  std::string name_template;  // "src", "sink_%u", "video_%s"
  GstPadDirection direction = GST_PAD_UNKNOWN;
  GstPadPresence presence = GST_PAD_ALWAYS;
  Ptr<GstCaps> caps;
};

struct ResolvedNode {
  const manifest::Node *node = nullptr;
  NodeType type;
  std::vector<PadInfo> pads;
  std::vector<PlanProperty> properties;
  bool ok = false;
};

/// One side of a link, resolved against the node's pad templates.
struct ResolvedEndpoint {
  const PadInfo *pad = nullptr;  // the matching template, nullptr when the pad is left open
  std::string pad_name;          // concrete pad/template name to link, "" = let GStreamer choose
  Ptr<GstCaps> caps;             // caps the endpoint can carry (template caps, or ANY)
};

/// Resolve every node: its type, pads and properties. One entry per manifest node, same order.
Diagnostics resolve_nodes(const manifest::Manifest &m, const Registry &registry,
                          std::vector<ResolvedNode> &out);

/// Resolve the `from` (direction SRC) or `to` (direction SINK) side of a link.
bool resolve_endpoint(const ResolvedNode &node, const manifest::Endpoint &ep,
                      GstPadDirection direction, ResolvedEndpoint &out, Diagnostics &diag);

/// Cycles in the link graph, reported with their path ("a -> b -> a").
Diagnostics check_cycles(const manifest::Manifest &m);

/// True if `name` matches a pad template name ("sink_%u" matches "sink_0" and "sink").
bool pad_name_matches(const std::string &name_template, const std::string &name);

}  // namespace mf::graph
