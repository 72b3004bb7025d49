#include "common.h"

#include <gst/gst.h>

#include "meshflow-elements.h"

namespace mf::tools {

void init_gstreamer(int *argc, char ***argv) {
  gst_init(argc, argv);
  meshflow_elements_register_static();
}

std::string meshflow_plugin_dir() {
  for (const char *dir : {MESHFLOW_BUILD_PLUGIN_DIR, MESHFLOW_INSTALL_PLUGIN_DIR}) {
    gchar *so = g_build_filename(dir, "libgstmeshflow.so", nullptr);
    bool ok = g_file_test(so, G_FILE_TEST_EXISTS);
    g_free(so);
    if (ok) return dir;
  }
  return "";
}

}  // namespace mf::tools
