// Stage 3 of loading: instantiate a Plan into a GstBin (the session's pipeline) and link it.
//
// A Graph owns the elements it added. It is built for a whole manifest (suffix "") or, by the
// session layer, for one peer's chain of nodes (suffix "/<peer>") while the pipeline plays:
// build(..., sync_state=true) adds, links and syncs the new elements; remove() unlinks them, sets
// them to NULL and frees them without stopping the rest of the pipeline.
#pragma once

#include <gst/gst.h>

#include <memory>
#include <string>
#include <vector>

#include "meshflow/error.h"
#include "meshflow/graph/plan.h"
#include "meshflow/sdk/ptr.h"

namespace mf::graph {

class Graph {
 public:
  Graph() = default;
  Graph(const Graph &) = delete;
  Graph &operator=(const Graph &) = delete;
  ~Graph();

  /// Create every plan element (name = plan name + suffix), set its properties, add to `bin` and
  /// link. Pads that appear later (sometimes pads) are linked on pad-added. On failure nothing is
  /// left in `bin`. With sync_state (a chain added to a playing pipeline) the elements are brought
  /// to the bin's state downstream first, and sinks get async=false.
  Diagnostics build(const Plan &plan, GstBin *bin, const std::string &suffix = "",
                    bool sync_state = false);

  /// Unlink, stop and remove this graph's elements from their bin (safe while the bin plays).
  void remove();

  /// The plan element a bus message source belongs to (walks up parents), or nullptr.
  const PlanElement *element_for(GstObject *obj) const;
  GstElement *element(const std::string &plan_name) const;

 public:
  /// A link whose src pad appears later (pad-added); internal.
  struct PendingLink {
    GstElement *src;  // borrowed: owned by members_
    GstElement *dst;
    PlanLink link;
    bool done = false;
  };

 private:
  struct Member {
    Ptr<GstElement> element;
    const PlanElement *plan;
  };
  Plan plan_;  // own copy: PlanElement pointers below point into it
  std::string suffix_;
  GstBin *bin_ = nullptr;
  std::vector<Member> members_;
  std::vector<std::unique_ptr<PendingLink>> pending_;
  std::vector<std::pair<GstElement *, gulong>> handlers_;
};

}  // namespace mf::graph
