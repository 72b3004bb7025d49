#include "meshflow/session/session.h"

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "meshflow/graph/properties.h"
#include "meshflow/graph/validate.h"

namespace mf::session {

std::unique_ptr<Session> Session::create(const graph::Plan &plan, SessionOptions opts,
                                         Diagnostics &diag) {
  std::unique_ptr<Session> s(new Session());
  s->opts_ = std::move(opts);
  if (!s->opts_.print) s->opts_.print = [](const std::string &l) { std::printf("%s\n", l.c_str()); std::fflush(stdout); };
  s->manifest_file_ = plan.manifest_file;
  s->pipeline_ = sink(gst_pipeline_new(s->opts_.name.c_str()));
  s->plan_ = plan;
  s->context_ = g_main_context_ref_thread_default();
  // The shared part now; per-peer chains when their source pads appear.
  diag.append(s->graph_.build(plan.part(""), GST_BIN(s->pipeline_.get())));
  if (!diag.ok()) return nullptr;
  // A session with per-peer sources is live and changes shape while playing: a shared sink that
  // waits for a preroll (async) would hold the pipeline in PAUSED, where live sources give nothing.
  bool dynamic = std::any_of(plan.elements.begin(), plan.elements.end(),
                             [](const graph::PlanElement &e) { return e.per_peer_source; });
  if (dynamic)
    for (const auto &e : plan.part("").elements) {
      GstElement *el = s->graph_.element(e.name);
      if (GST_OBJECT_FLAG_IS_SET(el, GST_ELEMENT_FLAG_SINK) &&
          g_object_class_find_property(G_OBJECT_GET_CLASS(el), "async"))
        g_object_set(el, "async", FALSE, nullptr);
    }
  for (const auto &e : plan.elements) {
    if (!e.per_peer_source && !e.per_peer_outputs) continue;
    GstElement *src = s->graph_.element(e.name);
    s->handlers_.emplace_back(src, g_signal_connect(src, "pad-added",
                                                    e.per_peer_source ? G_CALLBACK(pad_added_cb) : G_CALLBACK(output_added_cb),
                                                    s.get()));
    s->handlers_.emplace_back(src, g_signal_connect(src, "pad-removed", G_CALLBACK(pad_removed_cb), s.get()));
  }
  GstBus *bus = gst_pipeline_get_bus(s->pipeline());
  s->bus_source_ = adopt(gst_bus_create_watch(bus));
  g_source_set_callback(s->bus_source_.get(), (GSourceFunc)(void (*)())bus_cb, s.get(), nullptr);
  g_source_attach(s->bus_source_.get(), g_main_context_get_thread_default());
  gst_object_unref(bus);
  if (s->opts_.verbose)
    s->notify_watch_ = gst_element_add_property_deep_notify_watch(s->pipeline_.get(), nullptr, TRUE);
  return s;
}

Session::~Session() {
  alive_.reset();
  for (auto &[e, id] : handlers_) g_signal_handler_disconnect(e, id);
  handlers_.clear();
  {
    std::lock_guard<std::mutex> lock(outputs_mutex_);
    for (auto &[pad, id] : output_waits_) g_signal_handler_disconnect(pad.get(), id);
    output_waits_.clear();
  }
  stop();
  {
    std::lock_guard<std::mutex> lock(chains_mutex_);
    for (auto &[key, chain] : chains_) free_chain(chain);
    for (auto &[key, chain] : dying_) free_chain(chain);
    chains_.clear();
    dying_.clear();
  }
  if (bus_source_) g_source_destroy(bus_source_.get());
  if (context_) g_main_context_unref(context_);
}

std::vector<std::string> Session::peer_chains() const {
  std::lock_guard<std::mutex> lock(chains_mutex_);
  std::vector<std::string> out;
  for (const auto &[key, chain] : chains_) out.push_back(key);
  return out;
}

void Session::pad_added_cb(GstElement *src, GstPad *pad, gpointer self) {
  static_cast<Session *>(self)->peer_pad_added(src, pad);
}

void Session::pad_removed_cb(GstElement *src, GstPad *pad, gpointer self) {
  auto *s = static_cast<Session *>(self);
  {
    std::lock_guard<std::mutex> lock(s->outputs_mutex_);
    auto &w = s->output_waits_;
    for (auto it = w.begin(); it != w.end(); ++it)
      if (it->first.get() == pad) {
        g_signal_handler_disconnect(pad, it->second);
        w.erase(it);
        break;
      }
  }
  s->peer_pad_removed(src, pad);
}

// Per-peer outputs (a mix_minus mixer's src_N): mfmixer adds src_N while its sink_N is being
// requested, before anyone could set the peer-id; the chain is built once the pad names its peer.
void Session::output_added_cb(GstElement *src, GstPad *pad, gpointer self) {
  auto *s = static_cast<Session *>(self);
  if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
  if (!g_object_class_find_property(G_OBJECT_GET_CLASS(pad), "peer-id")) return;
  // Until its chain is linked, and once the chain is gone (the mixer unlinks src_N before it
  // stops the thread feeding it), the output's buffers are dropped here: an unlinked push would
  // be a not-linked error that ends the whole session.
  gst_pad_add_probe(
      pad, GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
      [](GstPad *p, GstPadProbeInfo *, gpointer) { return gst_pad_is_linked(p) ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP; },
      nullptr, nullptr);
  gchar *peer = nullptr;
  {
    // Watch first, then read: a peer-id set in between is seen by one of the two.
    std::lock_guard<std::mutex> lock(s->outputs_mutex_);
    gulong id = g_signal_connect(pad, "notify::peer-id", G_CALLBACK(output_peer_cb), s);
    s->output_waits_.emplace_back(ref(pad), id);
  }
  g_object_get(pad, "peer-id", &peer, nullptr);
  bool known = peer && *peer;
  g_free(peer);
  if (known) s->output_ready(src, pad);
}

void Session::output_peer_cb(GstPad *pad, GParamSpec *, gpointer self) {
  auto *s = static_cast<Session *>(self);
  GstElement *parent = GST_ELEMENT(gst_pad_get_parent(pad));
  if (!parent) return;
  s->output_ready(parent, pad);
  gst_object_unref(parent);
}

void Session::output_ready(GstElement *src, GstPad *pad) {
  gchar *id = nullptr;
  g_object_get(pad, "peer-id", &id, nullptr);
  std::string peer = id ? id : "";
  g_free(id);
  if (peer.empty()) return;
  {
    std::lock_guard<std::mutex> lock(outputs_mutex_);
    bool waiting = false;
    for (auto it = output_waits_.begin(); it != output_waits_.end(); ++it)
      if (it->first.get() == pad) {
        g_signal_handler_disconnect(pad, it->second);
        output_waits_.erase(it);
        waiting = true;
        break;
      }
    if (!waiting) return;  // handled already
  }
  const std::string source = GST_OBJECT_NAME(src);
  for (const auto &l : plan_.links)
    if (l.src == source && l.per_peer_output && graph::pad_name_matches(l.src_pad, GST_PAD_NAME(pad))) {
      build_chain(src, pad, l.src_pad.substr(0, l.src_pad.rfind("_%")), peer);
      return;
    }
}

// A shared element's request pad for one peer's stream, with the link's route and the origin peer
// set when the pad has such properties (webrtc_sink's pads do).
bool Session::link_to_shared(GstPad *srcpad, const graph::PlanLink &l, const std::string &peer,
                             PeerChain &chain) {
  GstElement *dst = graph_.element(l.dst);
  if (!dst) return false;
  std::string name = l.dst_pad;
  if (name.empty()) {
    // The element's request sink template whose caps fit this stream.
    Ptr<GstCaps> caps = adopt(gst_pad_query_caps(srcpad, nullptr));
    for (GList *t = gst_element_class_get_pad_template_list(GST_ELEMENT_GET_CLASS(dst)); t; t = t->next) {
      auto *tmpl = static_cast<GstPadTemplate *>(t->data);
      if (GST_PAD_TEMPLATE_DIRECTION(tmpl) != GST_PAD_SINK || GST_PAD_TEMPLATE_PRESENCE(tmpl) != GST_PAD_REQUEST)
        continue;
      Ptr<GstCaps> tc = adopt(gst_pad_template_get_caps(tmpl));
      if (name.empty() || gst_caps_can_intersect(caps.get(), tc.get()))
        name = GST_PAD_TEMPLATE_NAME_TEMPLATE(tmpl);
      if (gst_caps_can_intersect(caps.get(), tc.get())) break;
    }
  }
  GstPad *req = name.empty() ? nullptr : gst_element_request_pad_simple(dst, name.c_str());
  if (!req) return false;
  GObjectClass *klass = G_OBJECT_GET_CLASS(req);
  if (g_object_class_find_property(klass, "route")) g_object_set(req, "route", l.route.c_str(), nullptr);
  if (g_object_class_find_property(klass, "origin-peer")) g_object_set(req, "origin-peer", peer.c_str(), nullptr);
  // A mixer input: its per-peer output (mix_minus src_N) is built for this peer (output_ready).
  if (g_object_class_find_property(klass, "peer-id")) g_object_set(req, "peer-id", peer.c_str(), nullptr);
  bool ok = GST_PAD_LINK_SUCCESSFUL(gst_pad_link(srcpad, req));
  chain.requested.emplace_back(ref(dst), adopt(req));
  return ok;
}

void Session::peer_pad_added(GstElement *src, GstPad *pad) {
  const std::string source = GST_OBJECT_NAME(src);
  const std::string pad_name = GST_PAD_NAME(pad);
  // Which family ("video" of "video_%s") does this pad belong to, and which peer is it?
  std::string family, peer;
  for (const auto &l : plan_.links) {
    if (l.src != source) continue;
    std::string f = l.src_pad.substr(0, l.src_pad.rfind("_%"));
    if (pad_name.size() > f.size() + 1 && pad_name.compare(0, f.size() + 1, f + "_") == 0) {
      family = f;
      peer = pad_name.substr(f.size() + 1);
    }
  }
  if (family.empty()) return;  // a family the manifest does not use
  build_chain(src, pad, family, peer);
}

void Session::build_chain(GstElement *src, GstPad *pad, const std::string &family, const std::string &peer) {
  const std::string source = GST_OBJECT_NAME(src);
  const std::string pad_name = GST_PAD_NAME(pad);
  const std::string scope = source + "." + family;
  PeerChain chain;
  chain.peer = peer;
  chain.family = family;
  const graph::PlanElement *pe = plan_.find(source);
  chain.output = pe && pe->per_peer_outputs;
  Diagnostics diag;
  std::string error;
  graph::Plan part = plan_.part(scope);
  if (!part.elements.empty()) {
    chain.graph = std::make_unique<graph::Graph>();
    diag = chain.graph->build(part, GST_BIN(pipeline_.get()), "@" + peer, true);
    if (diag.ok()) {
      // Out of the chain first (request pads on shared elements), then into it.
      for (const auto &l : plan_.exit_links(scope)) {
        GstElement *from = chain.graph->element(l.src);
        GstPad *srcpad = l.src_pad.empty() ? gst_element_get_static_pad(from, "src")
                                           : gst_element_get_static_pad(from, l.src_pad.c_str());
        if (!srcpad || !link_to_shared(srcpad, l, peer, chain)) error = "cannot link " + l.src + " to " + l.dst;
        if (srcpad) gst_object_unref(srcpad);
      }
      for (const auto &l : plan_.entry_links(scope)) {
        GstElement *to = chain.graph->element(l.dst);
        GstPad *sinkpad = gst_element_get_static_pad(to, l.dst_pad.empty() ? "sink" : l.dst_pad.c_str());
        if (!sinkpad || !GST_PAD_LINK_SUCCESSFUL(gst_pad_link(pad, sinkpad)))
          error = "cannot link " + pad_name + " to " + l.dst + "@" + peer;
        if (sinkpad) gst_object_unref(sinkpad);
      }
    }
  } else {
    // Straight into a merge point (e.g. peers_in.audio -> mixer, mixer.src_N -> webrtc_sink).
    for (const auto &l : plan_.links)
      if (l.src == source && l.src_pad.substr(0, l.src_pad.rfind("_%")) == family && l.dst_request &&
          !link_to_shared(pad, l, peer, chain))
        error = "cannot link " + pad_name + " to " + l.dst;
  }
  if (!diag.ok() || !error.empty()) {
    Error e;
    e.code = "peer-chain";
    e.node = source;
    e.loc = plan_.find(source) ? plan_.find(source)->loc : Location{plan_.manifest_file};
    e.message = "peer '" + peer + "': " + (diag.ok() ? error : diag.errors.front().format());
    opts_.print("WARNING: " + e.format());
    free_chain(chain);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(chains_mutex_);
    chains_[source + "." + pad_name] = std::move(chain);
  }
  dump_dot("peer-joined-" + peer);
  if (on_peer) on_peer("joined", peer, family);
}

void Session::peer_pad_removed(GstElement *src, GstPad *pad) {
  std::string key = std::string(GST_OBJECT_NAME(src)) + "." + GST_PAD_NAME(pad);
  {
    std::lock_guard<std::mutex> lock(chains_mutex_);
    auto it = chains_.find(key);
    if (it == chains_.end()) return;
    dying_[key] = std::move(it->second);
    chains_.erase(it);
  }
  // Tear down on the session's context, never on the (streaming) thread that removed the pad.
  struct Job {
    std::weak_ptr<int> alive;
    Session *self;
    std::string key;
  };
  g_main_context_invoke_full(
      context_, G_PRIORITY_DEFAULT,
      [](gpointer d) -> gboolean {
        auto *j = static_cast<Job *>(d);
        if (j->alive.expired()) return G_SOURCE_REMOVE;  // ~Session freed it already
        PeerChain chain;
        {
          std::lock_guard<std::mutex> lock(j->self->chains_mutex_);
          auto it = j->self->dying_.find(j->key);
          if (it == j->self->dying_.end()) return G_SOURCE_REMOVE;
          chain = std::move(it->second);
          j->self->dying_.erase(it);
        }
        j->self->free_chain(chain);
        j->self->dump_dot("peer-left-" + chain.peer);
        if (j->self->on_peer) j->self->on_peer("left", chain.peer, chain.family);
        return G_SOURCE_REMOVE;
      },
      new Job{alive_, this, key}, [](gpointer d) { delete static_cast<Job *>(d); });
}

void Session::free_chain(PeerChain &chain) {
  for (auto &[element, pad] : chain.requested) {
    if (GstPad *peer = gst_pad_get_peer(pad.get())) {
      // A per-peer output's thread may be pushing right now: unlink between two buffers (the
      // stream lock of the sink pad is held while one goes through); later ones are dropped by
      // the output's probe instead of failing as not-linked.
      if (chain.output) GST_PAD_STREAM_LOCK(pad.get());
      gst_pad_unlink(peer, pad.get());
      if (chain.output) GST_PAD_STREAM_UNLOCK(pad.get());
      gst_object_unref(peer);
    }
    gst_element_release_request_pad(element.get(), pad.get());
  }
  chain.requested.clear();
  if (chain.graph) chain.graph->remove();
  chain.graph.reset();
}

bool Session::start(Diagnostics &diag) {
  GstStateChangeReturn r = gst_element_set_state(pipeline_.get(), GST_STATE_PLAYING);
  if (r == GST_STATE_CHANGE_FAILURE) {
    // The bus carries the element's own error message; report it with the node.
    GstBus *bus = gst_pipeline_get_bus(pipeline());
    bool found = false;
    while (GstMessage *m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
      diag.add(error_from(m));
      gst_message_unref(m);
      found = true;
    }
    gst_object_unref(bus);
    if (!found) diag.add("state-change-failed", Location{manifest_file_}, "", "the pipeline failed to start");
    dump_dot("error");
    return false;
  }
  return true;
}

void Session::send_eos() { gst_element_send_event(pipeline_.get(), gst_event_new_eos()); }

void Session::stop() {
  if (!pipeline_) return;
  if (notify_watch_) {
    gst_element_remove_property_notify_watch(pipeline_.get(), notify_watch_);
    notify_watch_ = 0;
  }
  gst_element_set_state(pipeline_.get(), GST_STATE_NULL);
}

void Session::dump_dot(const std::string &label) {
  if (opts_.dot_dir.empty()) return;
  gchar *data = gst_debug_bin_to_dot_data(GST_BIN(pipeline_.get()), GST_DEBUG_GRAPH_SHOW_ALL);
  char seq[16];
  std::snprintf(seq, sizeof seq, "%04d", ++dot_seq_);
  std::string path = opts_.dot_dir + "/" + seq + "-" + opts_.name + "-" + label + ".dot";
  std::ofstream(path) << data;
  g_free(data);
}

Error Session::error_from(GstMessage *msg) const {
  GError *err = nullptr;
  gchar *debug = nullptr;
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) gst_message_parse_error(msg, &err, &debug);
  else gst_message_parse_warning(msg, &err, &debug);
  Error e;
  e.code = "runtime";
  const graph::PlanElement *pe = graph_.element_for(GST_MESSAGE_SRC(msg));
  std::string src = GST_MESSAGE_SRC_NAME(msg) ? GST_MESSAGE_SRC_NAME(msg) : "?";
  if (pe) {
    e.node = pe->node_id;
    e.loc = pe->loc;
    if (pe->role != graph::PlanElement::Role::Node) src += " (inserted for this node)";
  } else {
    e.loc = Location{manifest_file_};
  }
  e.message = src + ": " + (err ? err->message : "unknown error");
  if (debug) e.hint = debug;
  g_clear_error(&err);
  g_free(debug);
  return e;
}

gboolean Session::bus_cb(GstBus *, GstMessage *msg, gpointer self) {
  static_cast<Session *>(self)->handle(msg);
  return G_SOURCE_CONTINUE;
}

void Session::handle(GstMessage *msg) {
  switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_EOS:
      dump_dot("eos");
      if (on_eos) on_eos();
      break;
    case GST_MESSAGE_ERROR: {
      dump_dot("error");
      Error e = error_from(msg);
      if (on_error) on_error(e);
      break;
    }
    case GST_MESSAGE_WARNING: {
      Error e = error_from(msg);
      opts_.print("WARNING: " + e.format());
      break;
    }
    case GST_MESSAGE_STATE_CHANGED:
      if (GST_MESSAGE_SRC(msg) == GST_OBJECT(pipeline_.get())) {
        GstState from, to;
        gst_message_parse_state_changed(msg, &from, &to, nullptr);
        dump_dot(std::string(gst_element_state_get_name(from)) + "_" + gst_element_state_get_name(to));
      }
      break;
    case GST_MESSAGE_PROPERTY_NOTIFY: {
      GstObject *obj = nullptr;
      const gchar *prop = nullptr;
      const GValue *val = nullptr;
      gst_message_parse_property_notify(msg, &obj, &prop, &val);
      gchar *path = gst_object_get_path_string(obj);
      std::string v = val ? graph::gvalue_to_string(val) : "(no value)";
      opts_.print(std::string(path) + ": " + prop + " = " + v);
      g_free(path);
      break;
    }
    default:
      break;
  }
}

}  // namespace mf::session
