// The installable `meshflow` plugin: GST_PLUGIN_PATH=<builddir>/elements gst-inspect-1.0 meshflow
#include "meshflow-elements.h"

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, meshflow, "Meshflow real-time media nodes",
                  meshflow_elements_register, VERSION, "LGPL", "meshflow",
                  "https://github.com/meshflow/meshflow")
