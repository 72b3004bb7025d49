// GoogleTest main for tests that open network connections (WebRTC, browsers, servers): like
// test_main.cpp, but the whole test process (and everything it spawns) lives in a network
// namespace of its own with only loopback up. Fails loudly if that is not possible.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "meshflow-elements.h"
#include "netns.h"

int main(int argc, char **argv) {
  std::string error;
  if (!mf::test::enter_loopback_netns(&error)) {
    std::fprintf(stderr, "cannot create a loopback-only network namespace: %s\n", error.c_str());
    return 1;
  }
  if (!g_getenv("GST_REGISTRY")) {
    std::string reg = std::string(argv[0]) + ".registry";
    g_setenv("GST_REGISTRY", reg.c_str(), TRUE);
  }
  g_unsetenv("GST_PLUGIN_PATH");
  g_unsetenv("GST_PLUGIN_PATH_1_0");
  gst_init(&argc, &argv);
  meshflow_elements_register_static();
  ::testing::InitGoogleTest(&argc, argv);
  int rc = RUN_ALL_TESTS();
  gst_deinit();
  return rc;
}
