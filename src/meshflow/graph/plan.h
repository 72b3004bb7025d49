// Stage 2 of loading: check a parsed manifest against the element classes (types, GParamSpecs,
// pad templates, caps, cycles) and expand it into a Plan — the exact list of elements (nodes plus
// the tees, queues, capsfilters and converters the links need) and pad links.
//
// The Plan is the single source for building (builder.h) and for --print-gst (the equivalent
// gst-launch-1.0 line), so the two can never disagree.
#pragma once

#include <gst/gst.h>

#include <string>
#include <vector>

#include "meshflow/error.h"
#include "meshflow/graph/registry.h"
#include "meshflow/manifest/model.h"

namespace mf::graph {

/// An owned GValue with value semantics.
class OwnedValue {
 public:
  OwnedValue() = default;
  explicit OwnedValue(const GValue *v) { copy_from(v); }
  OwnedValue(const OwnedValue &o) { copy_from(&o.v_); }
  OwnedValue &operator=(const OwnedValue &o) {
    if (this != &o) {
      reset();
      copy_from(&o.v_);
    }
    return *this;
  }
  ~OwnedValue() { reset(); }
  /// Take the contents of an initialised GValue (leaves `v` unset).
  static OwnedValue take(GValue *v) {
    OwnedValue o;
    o.v_ = *v;
    *v = G_VALUE_INIT;
    return o;
  }
  const GValue *get() const { return &v_; }

 private:
  void copy_from(const GValue *v) {
    if (G_IS_VALUE(v)) {
      g_value_init(&v_, G_VALUE_TYPE(v));
      g_value_copy(v, &v_);
    }
  }
  void reset() {
    if (G_IS_VALUE(&v_)) g_value_unset(&v_);
  }
  GValue v_ = G_VALUE_INIT;
};

struct PlanProperty {
  std::string name;
  OwnedValue value;
  Location loc;
};

struct PlanElement {
  enum class Role { Node, Tee, Queue, Capsfilter, Converter };
  Role role = Role::Node;
  std::string name;      // element name in the pipeline (the node id for nodes)
  std::string factory;   // element factory; empty for a `gst` fragment
  std::string fragment;  // gst-launch fragment for `type: gst`
  std::string node_id;   // the manifest node this element belongs to
  Location loc;          // where that node (or link, for inserted elements) is in the manifest
  std::vector<PlanProperty> properties;
  /// Per-peer fan-out: "<source>.<family>" (e.g. "peers_in.video") if this element is built once per
  /// remote peer when the per-peer source adds a `<family>_<peer>` pad; "" if shared.
  std::string peer_scope;
  bool per_peer_source = false;  // a per-peer source node (its links are made per peer pad)
  /// A shared node with per-peer outputs (a mix_minus mixer: one `src_N` per input, its pad
  /// property `peer-id` naming the peer it belongs to). Its `per_peer_output` links are made by the
  /// session for each such pad, scoped "<node>.<family>" like a per-peer source's.
  bool per_peer_outputs = false;
};

struct PlanLink {
  std::string src, src_pad;  // src_pad empty: any compatible pad
  std::string dst, dst_pad;
  bool src_sometimes = false;  // the src pad appears later (pad-added)
  bool dst_request = false;    // dst_pad is a request pad (a merge point: mixer, webrtc_sink)
  std::string route;           // the manifest link's route (set on request pads that have it)
  bool per_peer_output = false;  // from a per-peer output template (src_%u with peer-id), route origin
  Location loc;                // the manifest link
};

struct Plan {
  std::string manifest_file;
  std::vector<PlanElement> elements;
  std::vector<PlanLink> links;
  const PlanElement *find(const std::string &name) const;

  /// Per-peer scopes ("peers_in.video", ...), in plan order.
  std::vector<std::string> scopes() const;
  /// The elements and internal links of one scope ("" = the shared part built at start).
  Plan part(const std::string &scope) const;
  /// Links entering `scope` from its per-peer source, and links leaving it into shared elements.
  std::vector<PlanLink> entry_links(const std::string &scope) const;
  std::vector<PlanLink> exit_links(const std::string &scope) const;
};

/// Validate `m` against the element classes and expand it. Collects every error it can.
Diagnostics compile(const manifest::Manifest &m, const Registry &registry, Plan &out);

}  // namespace mf::graph
