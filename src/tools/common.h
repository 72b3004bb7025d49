// Shared start-up of the Meshflow tools.
#pragma once

#include <string>

namespace mf::tools {

/// gst_init + static registration of the `meshflow` plugin.
void init_gstreamer(int *argc, char ***argv);

/// Directory holding the installable libgstmeshflow.so for GST_PLUGIN_PATH (build tree first,
/// then the install location); "" if neither exists.
std::string meshflow_plugin_dir();

}  // namespace mf::tools
