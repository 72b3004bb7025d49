#include "meshflow/graph/validate.h"

#include <algorithm>
#include <functional>
#include <set>

#include "meshflow/graph/properties.h"
#include "meshflow/manifest/suggest.h"

namespace mf::graph {

using manifest::Manifest;
using manifest::Node;

bool pad_name_matches(const std::string &tmpl, const std::string &name) {
  std::function<bool(size_t, size_t)> match = [&](size_t ti, size_t ni) -> bool {
    if (ti == tmpl.size()) return ni == name.size();
    if (tmpl[ti] == '%' && ti + 1 < tmpl.size()) {
      char conv = tmpl[ti + 1];
      size_t start = ni;
      if (conv == 'd' && ni < name.size() && name[ni] == '-') ni++;
      size_t end = ni;
      if (conv == 'u' || conv == 'd') {
        while (end < name.size() && g_ascii_isdigit(name[end])) end++;
        if (end == ni) return false;
        return match(ti + 2, end);
      }
      // %s: any non-empty run; try every split.
      for (end = start + 1; end <= name.size(); end++)
        if (match(ti + 2, end)) return true;
      return false;
    }
    return ni < name.size() && tmpl[ti] == name[ni] && match(ti + 1, ni + 1);
  };
  return match(0, 0);
}

namespace {

const char *dir_name(GstPadDirection d) { return d == GST_PAD_SRC ? "src" : "sink"; }

std::vector<PadInfo> template_pads(GstElementFactory *f) {
  std::vector<PadInfo> pads;
  for (const GList *l = gst_element_factory_get_static_pad_templates(f); l; l = l->next) {
    auto *t = static_cast<GstStaticPadTemplate *>(l->data);
    PadInfo p;
    p.name_template = t->name_template;
    p.direction = t->direction;
    p.presence = t->presence;
    p.caps = adopt(gst_static_caps_get(&t->static_caps));
    pads.push_back(std::move(p));
  }
  return pads;
}

std::vector<PadInfo> bin_pads(GstElement *bin) {
  std::vector<PadInfo> pads;
  GstIterator *it = gst_element_iterate_pads(bin);
  GValue item = G_VALUE_INIT;
  while (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
    auto *pad = GST_PAD(g_value_get_object(&item));
    PadInfo p;
    p.name_template = GST_PAD_NAME(pad);
    p.direction = GST_PAD_DIRECTION(pad);
    p.presence = GST_PAD_ALWAYS;
    p.caps = adopt(gst_pad_query_caps(pad, nullptr));
    pads.push_back(std::move(p));
    g_value_reset(&item);
  }
  g_value_unset(&item);
  gst_iterator_free(it);
  return pads;
}

void resolve_properties(const Node &n, GType type, ResolvedNode &r, Diagnostics &diag) {
  auto *klass = static_cast<GObjectClass *>(g_type_class_ref(type));
  for (const auto &prop : n.properties) {
    GParamSpec *ps = g_object_class_find_property(klass, prop.name.c_str());
    if (!ps || !(ps->flags & G_PARAM_WRITABLE)) {
      std::vector<std::string> names;
      guint n_props = 0;
      GParamSpec **all = g_object_class_list_properties(klass, &n_props);
      for (guint i = 0; i < n_props; i++)
        if ((all[i]->flags & G_PARAM_WRITABLE) && g_strcmp0(all[i]->name, "name") != 0 &&
            g_strcmp0(all[i]->name, "parent") != 0)
          names.push_back(all[i]->name);
      g_free(all);
      if (ps)
        diag.add("read-only-property", prop.loc, n.id,
                 "property '" + prop.name + "' of '" + n.type + "' is read-only");
      else
        diag.add("unknown-property", prop.loc, n.id,
                 "'" + n.type + "' has no property '" + prop.name + "'",
                 did_you_mean(prop.name, names) + (names.size() > 8 ? "; see meshflow-inspect " + n.type : ""));
      continue;
    }
    if (prop.name == "name" || prop.name == "parent") {
      diag.add("reserved-property", prop.loc, n.id,
               "property '" + prop.name + "' is set by Meshflow", "the element is named after the node id");
      continue;
    }
    GValue gv = G_VALUE_INIT;
    ConvertError err;
    if (!value_to_gvalue(prop.value, ps, &gv, &err)) {
      diag.add("bad-value", prop.value.loc, n.id, "property '" + prop.name + "': " + err.message,
               err.hint);
      continue;
    }
    r.properties.push_back(PlanProperty{prop.name, OwnedValue::take(&gv), prop.value.loc});
  }
  g_type_class_unref(klass);
}

}  // namespace

Diagnostics resolve_nodes(const Manifest &m, const Registry &registry, std::vector<ResolvedNode> &out) {
  Diagnostics diag;
  out.clear();
  out.resize(m.nodes.size());
  std::vector<std::string> names;  // filled lazily for did-you-mean
  for (size_t i = 0; i < m.nodes.size(); i++) {
    const Node &n = m.nodes[i];
    ResolvedNode &r = out[i];
    r.node = &n;
    auto t = registry.lookup(n.type);
    if (!t) {
      if (names.empty()) names = registry.all_names();
      diag.add("unknown-type", n.type_loc, n.id, "unknown node type '" + n.type + "'",
               did_you_mean(n.type, names) + "; meshflow-inspect lists every type");
      continue;
    }
    r.type = *t;
    if (t->name == kGstFragmentType) {
      if (!n.properties.empty()) {
        diag.add("properties-on-fragment", n.properties.front().loc, n.id,
                 "a 'gst' node takes no properties", "set them inside 'pipeline:'");
        continue;
      }
      GError *err = nullptr;
      GstElement *bin = gst_parse_bin_from_description_full(
          n.pipeline.c_str(), TRUE, nullptr, GST_PARSE_FLAG_FATAL_ERRORS, &err);
      if (!bin) {
        diag.add("bad-fragment", n.pipeline_loc, n.id,
                 std::string("invalid pipeline fragment: ") + (err ? err->message : "parse failed"));
        g_clear_error(&err);
        continue;
      }
      auto owned = sink(bin);
      r.pads = bin_pads(bin);
      r.ok = true;
      continue;
    }
    auto factory = registry.factory(*t);
    if (!factory) {
      diag.add("unloadable-type", n.type_loc, n.id,
               "element factory '" + t->factory + "' could not be loaded");
      continue;
    }
    r.pads = template_pads(factory.get());
    size_t before = diag.errors.size();
    resolve_properties(n, gst_element_factory_get_element_type(factory.get()), r, diag);
    r.ok = diag.errors.size() == before;
  }
  return diag;
}

bool resolve_endpoint(const ResolvedNode &node, const manifest::Endpoint &ep,
                      GstPadDirection dir, ResolvedEndpoint &out, Diagnostics &diag) {
  std::vector<const PadInfo *> cands;
  for (const auto &p : node.pads)
    if (p.direction == dir) cands.push_back(&p);
  const std::string &id = node.node->id;
  std::string kind = node.type.name;
  if (cands.empty()) {
    diag.add("no-pads", ep.loc, id,
             "'" + kind + "' has no " + dir_name(dir) + " pads, so it cannot be a link's " +
                 (dir == GST_PAD_SRC ? "'from'" : "'to'"));
    return false;
  }
  if (ep.pad.empty()) {
    // Several pads and none named: the node's main pad (an always pad called "src" / "sink",
    // e.g. llm_bridge's audio `src` beside its `text`), as a gst-launch user expects.
    if (cands.size() > 1) {
      const char *main_name = dir == GST_PAD_SRC ? "src" : "sink";
      for (auto *c : cands)
        if (c->presence == GST_PAD_ALWAYS && c->name_template == main_name) {
          cands = {c};
          break;
        }
    }
    if (cands.size() == 1) {
      out.pad = cands[0];
      out.pad_name = cands[0]->presence == GST_PAD_ALWAYS ? cands[0]->name_template : "";
      out.caps = adopt(gst_caps_ref(cands[0]->caps.get()));
    } else {
      out.pad = nullptr;
      out.pad_name = "";
      GstCaps *all = gst_caps_new_empty();
      for (auto *c : cands) all = gst_caps_merge(all, gst_caps_ref(c->caps.get()));
      out.caps = adopt(all);
    }
    return true;
  }
  for (auto *c : cands) {
    const std::string &t = c->name_template;
    bool exact = t == ep.pad;
    bool concrete = !exact && pad_name_matches(t, ep.pad);
    bool family = !exact && !concrete && t.rfind(ep.pad + "_%", 0) == 0;
    if (exact || concrete || family) {
      out.pad = c;
      out.pad_name = family ? t : ep.pad;
      out.caps = adopt(gst_caps_ref(c->caps.get()));
      return true;
    }
  }
  std::vector<std::string> names;
  std::string list;
  for (auto *c : cands) {
    names.push_back(c->name_template);
    list += (list.empty() ? "" : ", ") + c->name_template;
  }
  std::string hint = did_you_mean(ep.pad, names);
  if (hint.rfind("valid:", 0) != 0) hint += "; " + std::string(dir_name(dir)) + " pads: " + list;
  diag.add("unknown-pad", ep.loc, id,
           "'" + kind + "' has no " + dir_name(dir) + " pad '" + ep.pad + "'", hint);
  return false;
}

Diagnostics check_cycles(const Manifest &m) {
  Diagnostics diag;
  std::map<std::string, std::vector<const manifest::Link *>> out_links;
  for (const auto &l : m.links) out_links[l.from.node].push_back(&l);
  enum Color { White, Grey, Black };
  std::map<std::string, Color> color;
  std::vector<std::string> stack;
  std::set<std::string> reported;
  // Iterative DFS: manifests are small, but a hostile one must not drive the C++ stack.
  for (const auto &start : m.nodes) {
    if (color[start.id] != White) continue;
    std::vector<std::pair<std::string, size_t>> work{{start.id, 0}};
    color[start.id] = Grey;
    stack.push_back(start.id);
    while (!work.empty()) {
      auto &[node, idx] = work.back();
      auto &edges = out_links[node];
      if (idx < edges.size()) {
        const manifest::Link *l = edges[idx++];
        const std::string &next = l->to.node;
        if (color[next] == Grey) {
          auto it = std::find(stack.begin(), stack.end(), next);
          std::string path;
          for (auto p = it; p != stack.end(); ++p) path += *p + " -> ";
          path += next;
          if (reported.insert(path).second)
            diag.add("cycle", l->loc, l->from.node, "links form a cycle: " + path,
                     "media graphs must be acyclic; remove one of these links");
        } else if (color[next] == White) {
          color[next] = Grey;
          stack.push_back(next);
          work.push_back({next, 0});
        }
      } else {
        color[node] = Black;
        stack.pop_back();
        work.pop_back();
      }
    }
  }
  return diag;
}

}  // namespace mf::graph
