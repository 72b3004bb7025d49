// The gst-launch-1.0 command line equivalent to a Plan (meshflow-launch --print-gst).
//
// Every element is declared with its name and properties, then every link is written as
// `src.pad ! dst.pad`, so the line is exactly the graph the builder makes. The result is
// shell-quoted and runs as is (tests run it).
#pragma once

#include <string>
#include <vector>

#include "meshflow/graph/plan.h"

namespace mf::graph {

/// gst-launch-1.0 arguments (one element per argv word, not yet shell-quoted).
std::vector<std::string> gst_launch_args(const Plan &plan);

/// Quote one word for a POSIX shell (only when needed).
std::string shell_quote(const std::string &word);

/// "gst-launch-1.0 ARGS..." shell-quoted, with `extra_env` (e.g. GST_PLUGIN_PATH=...) in front.
std::string gst_launch_line(const Plan &plan, const std::string &extra_env = "");

}  // namespace mf::graph
