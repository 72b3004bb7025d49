#include "meshflow/graph/registry.h"

#include <algorithm>

#include "meshflow/sdk/node.h"

namespace mf::graph {

static NodeType describe(GstElementFactory *f) {
  NodeType t;
  t.factory = GST_OBJECT_NAME(f);
  const char *friendly = gst_element_factory_get_metadata(f, MF_NODE_METADATA_KEY);
  t.meshflow = friendly != nullptr;
  t.per_peer = gst_element_factory_get_metadata(f, MF_NODE_PER_PEER_KEY) != nullptr;
  t.name = friendly ? friendly : t.factory;
  const char *longname = gst_element_factory_get_metadata(f, GST_ELEMENT_METADATA_LONGNAME);
  const char *desc = gst_element_factory_get_metadata(f, GST_ELEMENT_METADATA_DESCRIPTION);
  const char *klass = gst_element_factory_get_metadata(f, GST_ELEMENT_METADATA_KLASS);
  t.description = desc ? desc : (longname ? longname : "");
  t.klass = klass ? klass : "";
  const char *plugin = gst_plugin_feature_get_plugin_name(GST_PLUGIN_FEATURE(f));
  t.plugin = plugin ? plugin : "";
  return t;
}

Registry::Registry() {
  GList *list = gst_registry_get_feature_list(gst_registry_get(), GST_TYPE_ELEMENT_FACTORY);
  for (GList *l = list; l; l = l->next) {
    NodeType t = describe(GST_ELEMENT_FACTORY(l->data));
    if (t.meshflow) meshflow_.push_back(t);
    factories_.push_back(std::move(t));
  }
  gst_plugin_feature_list_free(list);
  auto by_name = [](const NodeType &a, const NodeType &b) { return a.name < b.name; };
  std::sort(meshflow_.begin(), meshflow_.end(), by_name);
  std::sort(factories_.begin(), factories_.end(),
            [](const NodeType &a, const NodeType &b) { return a.factory < b.factory; });
}

std::optional<NodeType> Registry::lookup(const std::string &type) const {
  if (type == kGstFragmentType) {
    NodeType t;
    t.name = kGstFragmentType;
    t.description = "A bin built from a gst-launch-1.0 fragment given in `pipeline:`";
    t.klass = "Bin";
    return t;
  }
  for (const auto &t : meshflow_)
    if (t.name == type) return t;
  auto it = std::lower_bound(factories_.begin(), factories_.end(), type,
                             [](const NodeType &a, const std::string &n) { return a.factory < n; });
  if (it != factories_.end() && it->factory == type) return *it;
  return std::nullopt;
}

Ptr<GstElementFactory> Registry::factory(const NodeType &t) const {
  if (t.factory.empty()) return nullptr;
  GstElementFactory *f = gst_element_factory_find(t.factory.c_str());
  if (!f) return nullptr;
  // Loading resolves the element GType so pspecs and templates can be read without an instance.
  auto loaded = adopt(GST_ELEMENT_FACTORY(gst_plugin_feature_load(GST_PLUGIN_FEATURE(f))));
  gst_object_unref(f);
  return loaded;
}

std::vector<std::string> Registry::all_names() const {
  std::vector<std::string> names;
  names.reserve(factories_.size() + meshflow_.size() + 1);
  for (const auto &t : meshflow_) names.push_back(t.name);
  for (const auto &t : factories_) names.push_back(t.factory);
  names.push_back(kGstFragmentType);
  return names;
}

}  // namespace mf::graph
