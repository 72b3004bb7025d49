#include "meshflow/graph/builder.h"

#include "meshflow/graph/validate.h"

namespace mf::graph {

Graph::~Graph() { remove(); }

GstElement *Graph::element(const std::string &plan_name) const {
  for (const auto &m : members_)
    if (m.plan->name == plan_name) return m.element.get();
  return nullptr;
}

const PlanElement *Graph::element_for(GstObject *obj) const {
  for (GstObject *o = obj; o; o = GST_OBJECT_PARENT(o))
    for (const auto &m : members_)
      if (GST_OBJECT_CAST(m.element.get()) == o) return m.plan;
  return nullptr;
}

// A request pad whose type has a `route` property (webrtc_sink, websocket_sink) for a link with a
// route: requested and given the route BEFORE it is linked (those sinks route a stream from the
// moment its pad is linked). nullptr when the link has no route or the pad no such property.
static GstPad *request_routed_pad(GstElement *dst, const PlanLink &l) {
  if (!l.dst_request || l.route.empty() || l.dst_pad.empty()) return nullptr;
  GstPadTemplate *t = gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(dst), l.dst_pad.c_str());
  if (!t || GST_PAD_TEMPLATE_PRESENCE(t) != GST_PAD_REQUEST) return nullptr;
  auto *klass = static_cast<GObjectClass *>(g_type_class_ref(GST_PAD_TEMPLATE_GTYPE(t) != G_TYPE_NONE
                                                                 ? GST_PAD_TEMPLATE_GTYPE(t)
                                                                 : GST_TYPE_PAD));
  const bool routed = g_object_class_find_property(klass, "route") != nullptr;
  g_type_class_unref(klass);
  if (!routed) return nullptr;
  GstPad *req = gst_element_request_pad(dst, t, nullptr, nullptr);
  if (req) g_object_set(req, "route", l.route.c_str(), nullptr);
  return req;
}

static bool link_now(GstElement *src, const PlanLink &l, GstElement *dst, const char *src_pad) {
  if (GstPad *req = request_routed_pad(dst, l)) {
    bool ok = gst_element_link_pads_full(src, src_pad, dst, GST_PAD_NAME(req), GST_PAD_LINK_CHECK_DEFAULT);
    if (!ok) gst_element_release_request_pad(dst, req);
    gst_object_unref(req);
    return ok;
  }
  return gst_element_link_pads_full(src, src_pad, dst, l.dst_pad.empty() ? nullptr : l.dst_pad.c_str(),
                                    GST_PAD_LINK_CHECK_DEFAULT);
}

static void on_pad_added(GstElement *src, GstPad *pad, gpointer data) {
  auto *p = static_cast<Graph::PendingLink *>(data);
  if (p->done || GST_PAD_DIRECTION(pad) != GST_PAD_SRC || gst_pad_is_linked(pad)) return;
  if (!p->link.src_pad.empty() && !pad_name_matches(p->link.src_pad, GST_PAD_NAME(pad))) return;
  if (link_now(src, p->link, p->dst, GST_PAD_NAME(pad))) p->done = true;
}

Diagnostics Graph::build(const Plan &plan, GstBin *bin, const std::string &suffix, bool sync_state) {
  Diagnostics diag;
  remove();
  plan_ = plan;
  suffix_ = suffix;
  bin_ = bin;
  for (const auto &pe : plan_.elements) {
    std::string name = pe.name + suffix;
    GstElement *e = nullptr;
    if (!pe.fragment.empty()) {
      GError *err = nullptr;
      e = gst_parse_bin_from_description_full(pe.fragment.c_str(), TRUE, nullptr,
                                               GST_PARSE_FLAG_FATAL_ERRORS, &err);
      if (!e) {
        diag.add("bad-fragment", pe.loc, pe.node_id,
                 std::string("invalid pipeline fragment: ") + (err ? err->message : "?"));
        g_clear_error(&err);
        continue;
      }
      gst_object_set_name(GST_OBJECT(e), name.c_str());
    } else {
      e = gst_element_factory_make(pe.factory.c_str(), name.c_str());
      if (!e) {
        diag.add("create-failed", pe.loc, pe.node_id,
                 "could not create element '" + pe.factory + "'", "is its plugin installed?");
        continue;
      }
    }
    for (const auto &p : pe.properties) g_object_set_property(G_OBJECT(e), p.name.c_str(), p.value.get());
    members_.push_back(Member{sink(e), &pe});
  }
  if (!diag.ok()) {
    members_.clear();
    return diag;
  }
  for (const auto &m : members_) gst_bin_add(bin, m.element.get());
  for (const auto &l : plan_.links) {
    GstElement *src = element(l.src), *dst = element(l.dst);
    if (l.src_sometimes) {
      auto p = std::make_unique<PendingLink>(PendingLink{src, dst, l});
      gulong id = g_signal_connect(src, "pad-added", G_CALLBACK(on_pad_added), p.get());
      handlers_.emplace_back(src, id);
      pending_.push_back(std::move(p));
      continue;
    }
    if (!link_now(src, l, dst, l.src_pad.empty() ? nullptr : l.src_pad.c_str())) {
      const PlanElement *pe = element_for(GST_OBJECT(dst));
      diag.add("link-failed", l.loc, pe ? pe->node_id : l.dst,
               "could not link " + l.src + (l.src_pad.empty() ? "" : "." + l.src_pad) + " to " + l.dst +
                   (l.dst_pad.empty() ? "" : "." + l.dst_pad),
               "the pads' caps do not intersect; run with GST_DEBUG=GST_PADS:5 for details");
    }
  }
  if (!diag.ok()) {
    remove();
    return diag;
  }
  if (sync_state) {
    // Sinks added to a PLAYING live pipeline must not wait for a preroll (async): live sources
    // give none in PAUSED and the whole pipeline would lose its state.
    for (const auto &m : members_)
      if (GST_OBJECT_FLAG_IS_SET(m.element.get(), GST_ELEMENT_FLAG_SINK) &&
          g_object_class_find_property(G_OBJECT_GET_CLASS(m.element.get()), "async"))
        g_object_set(m.element.get(), "async", FALSE, nullptr);
    // Downstream first: a source that starts pushing into an element still in NULL gets FLUSHING
    // and stops for good.
    for (const auto &m : members_)
      if (!GST_OBJECT_FLAG_IS_SET(m.element.get(), GST_ELEMENT_FLAG_SOURCE))
        gst_element_sync_state_with_parent(m.element.get());
    for (const auto &m : members_)
      if (GST_OBJECT_FLAG_IS_SET(m.element.get(), GST_ELEMENT_FLAG_SOURCE))
        gst_element_sync_state_with_parent(m.element.get());
  }
  return diag;
}

void Graph::remove() {
  for (auto &[e, id] : handlers_) g_signal_handler_disconnect(e, id);
  handlers_.clear();
  pending_.clear();
  if (bin_) {
    for (auto &m : members_) {
      gst_element_set_state(m.element.get(), GST_STATE_NULL);
      if (GST_OBJECT_PARENT(m.element.get()) == GST_OBJECT(bin_)) gst_bin_remove(bin_, m.element.get());
    }
  }
  members_.clear();
  bin_ = nullptr;
}

}  // namespace mf::graph
