// How an element declares itself a Meshflow node.
//
// A node type is an ordinary GStreamer element. To give it a friendly manifest name (`blur` for
// `mfblur`), add one metadata entry in class_init:
//
//   mf_node_class_set_name (element_class, "blur");
//
// meshflow-inspect and the manifest validator read it from the factory; no second registry exists.
// Custom plugins do the same and are found through GST_PLUGIN_PATH.
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/// The element-metadata key whose value is a node type's manifest name.
#define MF_NODE_METADATA_KEY "meshflow-node"

/// Metadata key marking a per-peer source: an element whose SOMETIMES src pads are named
/// `<family>_<peer-id>` (template `<family>_%s`, e.g. `video_%s`), one per remote peer and stream.
/// The session instantiates the nodes downstream of each such pad once per peer (per-peer fan-out).
#define MF_NODE_PER_PEER_KEY "meshflow-per-peer"

static inline void mf_node_class_set_name(GstElementClass *klass, const gchar *node_name) {
  gst_element_class_add_static_metadata(klass, MF_NODE_METADATA_KEY, node_name);
}

static inline void mf_node_class_set_per_peer(GstElementClass *klass) {
  gst_element_class_add_static_metadata(klass, MF_NODE_PER_PEER_KEY, "true");
}

G_END_DECLS
