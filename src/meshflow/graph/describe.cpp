#include "meshflow/graph/describe.h"

#include <algorithm>

#include "meshflow/graph/properties.h"

namespace mf::graph {

NodeDoc describe(const Registry &registry, const NodeType &type) {
  NodeDoc doc;
  doc.type = type;
  auto factory = registry.factory(type);
  if (!factory) return doc;
  for (const GList *l = gst_element_factory_get_static_pad_templates(factory.get()); l; l = l->next) {
    auto *t = static_cast<GstStaticPadTemplate *>(l->data);
    PadDoc p;
    p.name = t->name_template;
    p.direction = t->direction == GST_PAD_SRC ? "src" : "sink";
    p.presence = t->presence == GST_PAD_ALWAYS ? "always"
                 : t->presence == GST_PAD_SOMETIMES ? "sometimes" : "request";
    GstCaps *caps = gst_static_caps_get(&t->static_caps);
    gchar *s = gst_caps_to_string(caps);
    p.caps = s;
    g_free(s);
    gst_caps_unref(caps);
    doc.pads.push_back(std::move(p));
  }
  // The registry lists templates in registration order when the plugin is loaded and reversed
  // when it comes from the registry cache: sort (sink pads first, then by name) so the docs are stable.
  std::stable_sort(doc.pads.begin(), doc.pads.end(), [](const PadDoc &a, const PadDoc &b) {
    return a.direction != b.direction ? a.direction == "sink" : a.name < b.name;
  });
  GType gtype = gst_element_factory_get_element_type(factory.get());
  auto *klass = static_cast<GObjectClass *>(g_type_class_ref(gtype));
  guint n = 0;
  GParamSpec **specs = g_object_class_list_properties(klass, &n);
  for (guint i = 0; i < n; i++) {
    GParamSpec *ps = specs[i];
    if (ps->owner_type == GST_TYPE_OBJECT || ps->owner_type == G_TYPE_OBJECT) continue;
    PropertyDoc d;
    d.name = ps->name;
    d.type = g_type_name(G_PARAM_SPEC_VALUE_TYPE(ps));
    d.blurb = g_param_spec_get_blurb(ps) ? g_param_spec_get_blurb(ps) : "";
    d.range = describe_pspec_range(ps);
    d.default_value = pspec_default_string(ps);
    d.writable = ps->flags & G_PARAM_WRITABLE;
    d.readable = ps->flags & G_PARAM_READABLE;
    d.controllable = ps->flags & GST_PARAM_CONTROLLABLE;
    d.mutable_playing = ps->flags & GST_PARAM_MUTABLE_PLAYING;
    doc.properties.push_back(std::move(d));
  }
  g_free(specs);
  g_type_class_unref(klass);
  return doc;
}

}  // namespace mf::graph
