// Every Meshflow element (found through the registry, so new nodes are covered automatically)
// walks through every state change, repeatedly, and documents itself.
#include <gtest/gtest.h>

#include "meshflow/graph/registry.h"
#include "meshflow/sdk/node.h"

using namespace mf;

TEST(Elements, EveryMeshflowElementSurvivesAllStateChanges) {
  graph::Registry reg;
  ASSERT_FALSE(reg.meshflow_types().empty());
  const GstState cycle[] = {GST_STATE_READY, GST_STATE_PAUSED, GST_STATE_PLAYING, GST_STATE_PAUSED,
                            GST_STATE_READY, GST_STATE_NULL, GST_STATE_PAUSED, GST_STATE_NULL};
  for (const auto &t : reg.meshflow_types()) {
    SCOPED_TRACE(t.name);
    for (int round = 0; round < 3; round++) {
      GstElement *e = gst_element_factory_make(t.factory.c_str(), nullptr);
      ASSERT_NE(e, nullptr);
      gst_object_ref_sink(e);
      for (GstState s : cycle) {
        GstStateChangeReturn r = gst_element_set_state(e, s);
        EXPECT_NE(r, GST_STATE_CHANGE_FAILURE) << gst_element_state_get_name(s);
        if (r == GST_STATE_CHANGE_ASYNC) gst_element_get_state(e, nullptr, nullptr, 0);
      }
      gst_element_set_state(e, GST_STATE_NULL);
      gst_object_unref(e);
    }
  }
}

TEST(Elements, EveryMeshflowElementHasMetadataAndAFriendlyName) {
  graph::Registry reg;
  for (const auto &t : reg.meshflow_types()) {
    SCOPED_TRACE(t.factory);
    EXPECT_FALSE(t.description.empty());
    EXPECT_FALSE(t.klass.empty());
    EXPECT_EQ(t.plugin, "meshflow");
    EXPECT_NE(t.name, t.factory) << "a Meshflow node has a friendly name (mf_node_class_set_name)";
    auto again = reg.lookup(t.name);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->factory, t.factory);
  }
}
