#include "meshflow/session/session.h"

#include <cstdio>
#include <fstream>

#include "meshflow/graph/properties.h"

namespace mf::session {

std::unique_ptr<Session> Session::create(const graph::Plan &plan, SessionOptions opts,
                                         Diagnostics &diag) {
  std::unique_ptr<Session> s(new Session());
  s->opts_ = std::move(opts);
  if (!s->opts_.print) s->opts_.print = [](const std::string &l) { std::printf("%s\n", l.c_str()); std::fflush(stdout); };
  s->manifest_file_ = plan.manifest_file;
  s->pipeline_ = sink(gst_pipeline_new(s->opts_.name.c_str()));
  diag.append(s->graph_.build(plan, GST_BIN(s->pipeline_.get())));
  if (!diag.ok()) return nullptr;
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
  stop();
  if (bus_source_) g_source_destroy(bus_source_.get());
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
