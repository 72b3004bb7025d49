// GoogleTest main for every Meshflow test binary.
//
// Gives each test binary its own GStreamer registry cache (GST_REGISTRY next to the binary), so a
// developer's installed plugins or a stale cache never leak into a test, and registers the
// `meshflow` plugin statically, exactly as meshflow-launch does.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <string>

#include "meshflow-elements.h"

int main(int argc, char **argv) {
  if (!g_getenv("GST_REGISTRY")) {
    std::string reg = std::string(argv[0]) + ".registry";
    g_setenv("GST_REGISTRY", reg.c_str(), TRUE);
  }
  // The installable plugin must not be loaded next to the static registration.
  g_unsetenv("GST_PLUGIN_PATH");
  g_unsetenv("GST_PLUGIN_PATH_1_0");
  gst_init(&argc, &argv);
  meshflow_elements_register_static();
  ::testing::InitGoogleTest(&argc, argv);
  int rc = RUN_ALL_TESTS();
  gst_deinit();
  return rc;
}
