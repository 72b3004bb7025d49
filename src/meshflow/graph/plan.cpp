// compile(): validate a manifest against the element classes and expand it into a Plan.
//
// Link expansion rules (documented in docs/manifest.md):
//  - one source pad feeding several links gets a `tee`, and each branch its own `queue` (thread);
//  - a link with `caps:` gets a `capsfilter`;
//  - raw video/audio gets converters (videoconvert + videoscale, or audioconvert + audioresample)
//    unless the source's template caps are a subset of the sink's; they run in passthrough when
//    nothing needs converting. Any other caps mismatch is an error ("incompatible caps");
//  - a non-request sink pad takes one link only (fan-in needs a mixer).
#include "meshflow/graph/plan.h"

#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "meshflow/graph/validate.h"

namespace mf::graph {

using manifest::Link;
using manifest::Manifest;

const PlanElement *Plan::find(const std::string &name) const {
  for (const auto &e : elements)
    if (e.name == name) return &e;
  return nullptr;
}

namespace {
std::string scope_of(const Plan &p, const std::string &element) {
  const PlanElement *e = p.find(element);
  return e ? e->peer_scope : "";
}
}  // namespace

std::vector<std::string> Plan::scopes() const {
  std::vector<std::string> out;
  for (const auto &e : elements)
    if (!e.peer_scope.empty() && std::find(out.begin(), out.end(), e.peer_scope) == out.end())
      out.push_back(e.peer_scope);
  return out;
}

Plan Plan::part(const std::string &scope) const {
  Plan p;
  p.manifest_file = manifest_file;
  for (const auto &e : elements)
    if (e.peer_scope == scope) p.elements.push_back(e);
  for (const auto &l : links) {
    const PlanElement *src = find(l.src);
    if (src && src->per_peer_source) continue;  // made by the session for each peer pad
    if (l.per_peer_output) continue;             // made by the session for each output pad
    if (scope_of(*this, l.src) == scope && scope_of(*this, l.dst) == scope) p.links.push_back(l);
  }
  return p;
}

std::vector<PlanLink> Plan::entry_links(const std::string &scope) const {
  std::vector<PlanLink> out;
  for (const auto &l : links)
    if (scope_of(*this, l.dst) == scope && scope_of(*this, l.src) != scope) out.push_back(l);
  return out;
}

std::vector<PlanLink> Plan::exit_links(const std::string &scope) const {
  std::vector<PlanLink> out;
  for (const auto &l : links)
    if (scope_of(*this, l.src) == scope && scope_of(*this, l.dst) != scope) out.push_back(l);
  return out;
}

namespace {

enum class RawKind { None, Video, Audio };

RawKind raw_kind(GstCaps *caps) {
  if (!caps || gst_caps_is_any(caps) || gst_caps_is_empty(caps)) return RawKind::None;
  RawKind kind = RawKind::None;
  for (guint i = 0; i < gst_caps_get_size(caps); i++) {
    const char *name = gst_structure_get_name(gst_caps_get_structure(caps, i));
    RawKind k = g_str_equal(name, "video/x-raw")   ? RawKind::Video
                : g_str_equal(name, "audio/x-raw") ? RawKind::Audio
                                                   : RawKind::None;
    if (k == RawKind::None || (kind != RawKind::None && k != kind)) return RawKind::None;
    kind = k;
  }
  return kind;
}

enum class Need { Nothing, Convert, Impossible };

// What a link from caps `s` to caps `d` needs. Raw media of one kind gets converters unless every
// format `s` can produce is accepted by `d` (converters in passthrough cost ~nothing, a failed
// negotiation costs the run); anything else must intersect or the link is an error.
Need needs(GstCaps *s, GstCaps *d) {
  RawKind k = raw_kind(s);
  if (k != RawKind::None && k == raw_kind(d)) return gst_caps_is_subset(s, d) ? Need::Nothing : Need::Convert;
  return gst_caps_can_intersect(s, d) ? Need::Nothing : Need::Impossible;
}

std::string caps_summary(GstCaps *caps) {
  if (!caps || gst_caps_is_any(caps)) return "ANY";
  std::set<std::string> names;
  std::string s;
  for (guint i = 0; i < gst_caps_get_size(caps); i++) {
    std::string n = gst_structure_get_name(gst_caps_get_structure(caps, i));
    if (names.insert(n).second) s += (s.empty() ? "" : " or ") + n;
  }
  return s.empty() ? "nothing" : s;
}

// The template of `n`'s per-peer outputs: SOMETIMES src pads whose pad type has a `peer-id`
// property (mfmixer's src_%u). nullptr if it has none.
const PadInfo *per_peer_output_template(const ResolvedNode &n) {
  if (n.type.factory.empty()) return nullptr;
  Ptr<GstElementFactory> f = adopt(gst_element_factory_find(n.type.factory.c_str()));
  if (!f) return nullptr;
  auto *klass = static_cast<GstElementClass *>(g_type_class_ref(gst_element_factory_get_element_type(f.get())));
  const PadInfo *found = nullptr;
  for (const auto &p : n.pads) {
    if (p.direction != GST_PAD_SRC || p.presence != GST_PAD_SOMETIMES) continue;
    GstPadTemplate *t = gst_element_class_get_pad_template(klass, p.name_template.c_str());
    GType gtype = G_TYPE_NONE;
    if (t) g_object_get(t, "gtype", &gtype, nullptr);
    if (gtype == G_TYPE_NONE || !g_type_is_a(gtype, GST_TYPE_PAD)) continue;
    auto *pk = static_cast<GObjectClass *>(g_type_class_ref(gtype));
    if (g_object_class_find_property(pk, "peer-id")) found = &p;
    g_type_class_unref(pk);
    if (found) break;
  }
  g_type_class_unref(klass);
  return found;
}

// Whether `n`, with its manifest properties, really makes a per-peer output when an input is
// requested (mfmixer does only with mode=mix_minus): asked of a throwaway instance.
bool makes_per_peer_outputs(const ResolvedNode &n) {
  GstElement *e = gst_element_factory_make(n.type.factory.c_str(), nullptr);
  if (!e) return false;
  auto owned = sink(e);
  for (const auto &p : n.properties) g_object_set_property(G_OBJECT(e), p.name.c_str(), p.value.get());
  GstPad *req = nullptr;
  for (GList *l = gst_element_class_get_pad_template_list(GST_ELEMENT_GET_CLASS(e)); l && !req; l = l->next) {
    auto *t = static_cast<GstPadTemplate *>(l->data);
    if (GST_PAD_TEMPLATE_DIRECTION(t) == GST_PAD_SINK && GST_PAD_TEMPLATE_PRESENCE(t) == GST_PAD_REQUEST)
      req = gst_element_request_pad(e, t, nullptr, nullptr);
  }
  if (!req) return false;
  bool outputs = e->numsrcpads > 1;  // the always src, plus the new input's own output
  gst_element_release_request_pad(e, req);
  gst_object_unref(req);
  return outputs;
}

class Expander {
 public:
  Expander(const Manifest &m, Plan &plan, Diagnostics &diag) : m_(m), plan_(plan), diag_(diag) {
    for (const auto &n : m.nodes) names_.insert(n.id);
  }

  std::string unique(const std::string &base) {
    std::string name = base;
    for (int i = 2; names_.count(name); i++) name = base + "_" + std::to_string(i);
    names_.insert(name);
    return name;
  }

  std::string add(PlanElement::Role role, const std::string &base, const std::string &factory,
                  const std::string &node_id, const Location &loc) {
    PlanElement e;
    e.role = role;
    e.name = unique(base);
    e.factory = factory;
    e.node_id = node_id;
    e.loc = loc;
    plan_.elements.push_back(std::move(e));
    return plan_.elements.back().name;
  }

  void link(const std::string &src, const std::string &src_pad, const std::string &dst,
            const std::string &dst_pad, bool sometimes, const Location &loc) {
    PlanLink l;
    l.src = src;
    l.src_pad = src_pad;
    l.dst = dst;
    l.dst_pad = dst_pad;
    l.src_sometimes = sometimes;
    l.loc = loc;
    l.per_peer_output = !output_src_.empty() && src == output_src_;
    plan_.links.push_back(std::move(l));
  }

  // Appends converters for `kind` after `head`; returns the new head.
  std::string convert(RawKind kind, std::string head, std::string &head_pad, bool &sometimes,
                      const std::string &node_id, const Location &loc) {
    const char *f1 = kind == RawKind::Video ? "videoconvert" : "audioconvert";
    const char *f2 = kind == RawKind::Video ? "videoscale" : "audioresample";
    std::string c1 = add(PlanElement::Role::Converter, node_id + "_convert", f1, node_id, loc);
    std::string c2 = add(PlanElement::Role::Converter,
                         node_id + (kind == RawKind::Video ? "_scale" : "_resample"), f2, node_id, loc);
    link(head, head_pad, c1, "", sometimes, loc);
    link(c1, "", c2, "", false, loc);
    head_pad = "";
    sometimes = false;
    return c2;
  }

  struct Branch {
    const Link *link;
    ResolvedEndpoint src, dst;
    Ptr<GstCaps> caps;  // link caps, may be null
    bool per_peer_output = false;
  };

  // Expands one link from (head, head_pad) to its destination.
  void expand_branch(Branch &b, std::string head, std::string head_pad, bool sometimes) {
    const Link &l = *b.link;
    GstCaps *s = b.src.caps.get();
    Ptr<GstCaps> filtered;
    if (b.caps) {
      switch (needs(s, b.caps.get())) {
        case Need::Nothing: break;
        case Need::Convert:
          head = convert(raw_kind(s), head, head_pad, sometimes, l.to.node, l.loc);
          break;
        case Need::Impossible:
          diag_.add("incompatible-caps", l.caps_loc, l.from.node,
                    "'" + l.from.str() + "' cannot produce caps '" + l.caps + "'",
                    "it produces " + caps_summary(s));
          return;
      }
      std::string cf = add(PlanElement::Role::Capsfilter, l.to.node + "_caps", "capsfilter",
                           l.to.node, l.caps_loc);
      GValue v = G_VALUE_INIT;
      g_value_init(&v, GST_TYPE_CAPS);
      gst_value_set_caps(&v, b.caps.get());
      plan_.elements.back().properties.push_back(PlanProperty{"caps", OwnedValue::take(&v), l.caps_loc});
      link(head, head_pad, cf, "", sometimes, l.loc);
      head = cf;
      head_pad = "";
      sometimes = false;
      s = b.caps.get();
    }
    GstCaps *d = b.dst.caps.get();
    switch (needs(s, d)) {
      case Need::Nothing: break;
      case Need::Convert: head = convert(raw_kind(s), head, head_pad, sometimes, l.to.node, l.loc); break;
      case Need::Impossible:
        diag_.add("incompatible-caps", l.loc, l.to.node,
                  "incompatible caps: '" + l.from.str() + "' produces " + caps_summary(s) + " but '" +
                      l.to.str() + "' accepts " + caps_summary(d),
                  "insert a node that converts between them (a decoder or encoder)");
        return;
    }
    link(head, head_pad, l.to.node, b.dst.pad_name, sometimes, l.loc);
    plan_.links.back().dst_request = b.dst.pad && b.dst.pad->presence == GST_PAD_REQUEST;
    plan_.links.back().route = l.route;
  }

  void run(std::vector<ResolvedNode> &nodes) {
    std::map<std::string, ResolvedNode *> by_id;
    for (auto &r : nodes) {
      by_id[r.node->id] = &r;
      PlanElement e;
      e.role = PlanElement::Role::Node;
      e.name = r.node->id;
      e.factory = r.type.factory;
      e.fragment = r.node->pipeline;
      e.node_id = r.node->id;
      e.loc = r.node->loc;
      e.properties = r.properties;
      e.per_peer_source = r.type.per_peer;
      plan_.elements.push_back(std::move(e));
    }
    // Resolve both ends of every link; group by source pad to find fan-out.
    std::vector<std::string> order;
    std::map<std::string, std::vector<Branch>> groups;
    std::map<std::string, const Link *> sink_used;
    for (const auto &l : m_.links) {
      auto fi = by_id.find(l.from.node), ti = by_id.find(l.to.node);
      if (fi == by_id.end() || ti == by_id.end()) continue;  // reported by the loader
      if (!fi->second->ok || !ti->second->ok) continue;      // reported with the node
      Branch b{&l, {}, {}, nullptr};
      bool ok = resolve_endpoint(*fi->second, l.from, GST_PAD_SRC, b.src, diag_);
      ok = resolve_endpoint(*ti->second, l.to, GST_PAD_SINK, b.dst, diag_) && ok;
      if (!l.caps.empty()) {
        b.caps = adopt(gst_caps_from_string(l.caps.c_str()));
        if (!b.caps) {
          diag_.add("bad-caps", l.caps_loc, l.from.node, "cannot parse caps '" + l.caps + "'",
                    "example: video/x-raw,width=640,height=360");
          ok = false;
        }
      }
      if (!ok) continue;
      // Per-peer outputs (a mix_minus mixer's src_N, each for one peer): `route: origin` from such
      // a node sends each output back to its own peer.
      if (const PadInfo *out = per_peer_output_template(*fi->second)) {
        bool named = !l.from.pad.empty() && b.src.pad == out;
        if (named || (l.from.pad.empty() && l.route == "origin")) {
          if (l.route != "origin") {
            diag_.add("per-peer-output-route", l.loc, l.from.node,
                      "'" + l.from.str() + "' gives one stream per peer; it can only go back to that peer",
                      "use route: origin");
            continue;
          }
          if (!makes_per_peer_outputs(*fi->second)) {
            diag_.add("no-per-peer-outputs", l.loc, l.from.node,
                      "route: origin from '" + l.from.node + "': with these properties '" + fi->second->type.name +
                          "' makes one output for everybody, not one per peer",
                      "set mode: mix_minus (one mix per peer without that peer), or use route: broadcast");
            continue;
          }
          b.src.pad = out;
          b.src.pad_name = out->name_template;
          b.src.caps = adopt(gst_caps_ref(out->caps.get()));
          b.per_peer_output = true;
          for (auto &e : plan_.elements)
            if (e.name == l.from.node) e.per_peer_outputs = true;
        }
      }
      if (b.dst.pad && b.dst.pad->presence != GST_PAD_REQUEST) {
        std::string key = l.to.node + "." + b.dst.pad->name_template;
        auto [it, fresh] = sink_used.emplace(key, &l);
        if (!fresh) {
          diag_.add("sink-already-linked", l.loc, l.to.node,
                    "pad '" + key + "' already has a link (from '" + it->second->from.str() +
                        "' at line " + std::to_string(it->second->loc.line) + ")",
                    "a sink pad takes one stream; merge streams with a mixer (mixer, audiomixer, "
                    "compositor)");
          continue;
        }
      }
      if (!b.dst.pad && l.to.pad.empty()) {
        // `to: node` with several sink templates (webrtc_sink: audio_%u, video_%u): the one whose
        // caps fit, if exactly one does. A request template makes the link a merge point.
        GstCaps *s = b.caps ? b.caps.get() : b.src.caps.get();
        const PadInfo *match = nullptr;
        int n = 0;
        for (const auto &p : ti->second->pads)
          if (p.direction == GST_PAD_SINK && s && gst_caps_can_intersect(s, p.caps.get())) {
            match = &p;
            n++;
          }
        if (n == 1 && match->presence == GST_PAD_REQUEST) {
          b.dst.pad = match;
          b.dst.pad_name = match->name_template;
          b.dst.caps = adopt(gst_caps_ref(match->caps.get()));
        }
      }
      std::string key = l.from.node + "." + b.src.pad_name + "|" + l.from.pad;
      if (!groups.count(key)) order.push_back(key);
      groups[key].push_back(std::move(b));
    }
    for (const auto &key : order) {
      auto &branches = groups[key];
      const Link &first = *branches.front().link;
      const ResolvedEndpoint &src = branches.front().src;
      bool sometimes = src.pad && src.pad->presence == GST_PAD_SOMETIMES;
      output_src_ = branches.front().per_peer_output ? first.from.node : "";
      if (branches.size() == 1) {
        expand_branch(branches[0], first.from.node, src.pad_name, sometimes);
        continue;
      }
      std::string tee = add(PlanElement::Role::Tee, first.from.node + "_tee", "tee", first.from.node,
                            first.loc);
      link(first.from.node, src.pad_name, tee, "", sometimes, first.loc);
      for (auto &b : branches) {
        std::string q = add(PlanElement::Role::Queue, b.link->to.node + "_queue", "queue",
                            b.link->to.node, b.link->loc);
        link(tee, "", q, "", false, b.link->loc);
        expand_branch(b, q, "", false);
      }
    }
    output_src_.clear();
    assign_peer_scopes(by_id);
  }

  // Per-peer fan-out (DESIGN.md): everything downstream of a per-peer source's pad family, up to a
  // request pad (a merge point: mixer, webrtc_sink), is instantiated once per remote peer.
  void assign_peer_scopes(const std::map<std::string, ResolvedNode *> &by_id) {
    auto element = [&](const std::string &name) -> PlanElement * {
      for (auto &e : plan_.elements)
        if (e.name == name) return &e;
      return nullptr;
    };
    for (auto &r : by_id) {
      const bool source = r.second->type.per_peer;
      const PlanElement *self = element(r.first);
      if (!source && !(self && self->per_peer_outputs)) continue;
      const std::string &src = r.first;
      for (size_t i = 0; i < plan_.links.size(); i++) {
        const PlanLink entry = plan_.links[i];
        if (entry.src != src) continue;
        if (!source && !entry.per_peer_output) continue;  // its shared outputs (the full mix)
        const std::string family = entry.src_pad.substr(0, entry.src_pad.rfind("_%"));
        if (entry.src_pad.empty() || family == entry.src_pad) {
          diag_.add("per-peer-pad", entry.loc, src,
                    "a link from per-peer source '" + src + "' must name a pad family",
                    "for example '" + src + ".video' or '" + src + ".audio'");
          continue;
        }
        const std::string scope = src + "." + family;
        std::deque<std::string> todo{entry.dst};
        if (entry.dst_request) continue;  // straight into a merge point: nothing per peer
        while (!todo.empty()) {
          std::string name = todo.front();
          todo.pop_front();
          PlanElement *e = element(name);
          if (!e || e->peer_scope == scope) continue;
          if (!e->peer_scope.empty()) {
            diag_.add("per-peer-mix", e->loc, e->node_id,
                      "node '" + e->node_id + "' is fed per peer from both '" + e->peer_scope +
                          "' and '" + scope + "'",
                      "give each stream family its own nodes, or merge them with a mixer first");
            return;
          }
          e->peer_scope = scope;
          bool has_out = false;
          for (const auto &l : plan_.links) {
            if (l.src != name) continue;
            has_out = true;
            if (!l.dst_request) todo.push_back(l.dst);
          }
          auto rn = by_id.find(name);
          if (!has_out && rn != by_id.end()) {
            bool has_src_pads = false;
            for (const auto &p : rn->second->pads) has_src_pads |= p.direction == GST_PAD_SRC;
            if (has_src_pads)
              diag_.add("per-peer-dead-end", e->loc, e->node_id,
                        "the per-peer chain from '" + scope + "' ends at '" + name +
                            "', whose output goes nowhere",
                        "link it to a sink (webrtc_sink, a mixer, fakesink...)");
          }
        }
      }
    }
    // A shared element fed from inside a scope through a non-request pad would be built once for
    // all peers: only possible if the scope walk above stopped there, which it does not. A shared
    // element feeding a per-peer one is an error: that element would need one output per peer.
    for (const auto &l : plan_.links) {
      const PlanElement *s = element(l.src);
      const PlanElement *d = element(l.dst);
      if (!s || !d || d->peer_scope.empty() || s->peer_scope == d->peer_scope) continue;
      auto rs = by_id.find(l.src);
      if (rs != by_id.end() && rs->second->type.per_peer) continue;  // the entry link
      if (l.per_peer_output) continue;                                 // a per-peer output's entry
      diag_.add("per-peer-shared-input", l.loc, d->node_id,
                "node '" + d->node_id + "' runs once per peer (fed from '" + d->peer_scope +
                    "') but also takes input from shared '" + l.src + "'",
                "mix shared media in with a mixer after the per-peer part");
    }
  }

 private:
  const Manifest &m_;
  Plan &plan_;
  Diagnostics &diag_;
  std::set<std::string> names_;
  std::string output_src_;  // while expanding per-peer output links: their source node
};

}  // namespace

Diagnostics compile(const Manifest &m, const Registry &registry, Plan &out) {
  out = Plan{};
  out.manifest_file = m.file;
  Diagnostics diag = check_cycles(m);
  std::vector<ResolvedNode> nodes;
  diag.append(resolve_nodes(m, registry, nodes));
  Expander(m, out, diag).run(nodes);
  return diag;
}

}  // namespace mf::graph
