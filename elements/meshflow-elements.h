// The one place that registers every Meshflow element.
//
// meshflow_elements_register() is the plugin's init function; the installable plugin
// (plugin.cpp) and the static registration used by meshflow-launch and the tests both call it.
// No self-registering globals (static libraries silently drop them).
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

gboolean meshflow_elements_register(GstPlugin *plugin);

/// Register the `meshflow` plugin statically in this process (idempotent). Call after gst_init().
void meshflow_elements_register_static(void);

G_END_DECLS
