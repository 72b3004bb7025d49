#include "meshflow-elements.h"

GST_ELEMENT_REGISTER_DECLARE(mfblur);
GST_ELEMENT_REGISTER_DECLARE(mfmixer);
GST_ELEMENT_REGISTER_DECLARE(mfjittersync);
GST_ELEMENT_REGISTER_DECLARE(mfwebrtcsrc);
GST_ELEMENT_REGISTER_DECLARE(mfwebrtcsink);
GST_ELEMENT_REGISTER_DECLARE(mfwssrc);
GST_ELEMENT_REGISTER_DECLARE(mfwssink);
GST_ELEMENT_REGISTER_DECLARE(mfllmbridge);

gboolean meshflow_elements_register(GstPlugin *plugin) {
  gboolean ok = TRUE;
  ok &= GST_ELEMENT_REGISTER(mfblur, plugin);
  ok &= GST_ELEMENT_REGISTER(mfmixer, plugin);
  ok &= GST_ELEMENT_REGISTER(mfjittersync, plugin);
  ok &= GST_ELEMENT_REGISTER(mfwebrtcsrc, plugin);
  ok &= GST_ELEMENT_REGISTER(mfwebrtcsink, plugin);
  ok &= GST_ELEMENT_REGISTER(mfwssrc, plugin);
  ok &= GST_ELEMENT_REGISTER(mfwssink, plugin);
  ok &= GST_ELEMENT_REGISTER(mfllmbridge, plugin);
  return ok;
}

void meshflow_elements_register_static(void) {
  static gsize once = 0;
  if (g_once_init_enter(&once)) {
    // If the installed plugin is also on the plugin path, the registry already knows "meshflow":
    // registering again would register every GType twice.
    GstPlugin *existing = gst_registry_find_plugin(gst_registry_get(), "meshflow");
    if (existing) {
      gst_object_unref(existing);
    } else {
      gst_plugin_register_static(GST_VERSION_MAJOR, GST_VERSION_MINOR, "meshflow",
                                 "Meshflow real-time media nodes", meshflow_elements_register,
                                 VERSION, "LGPL", "meshflow", "meshflow",
                                 "https://github.com/meshflow/meshflow");
    }
    g_once_init_leave(&once, 1);
  }
}
