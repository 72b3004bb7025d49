// Test harness for the WebRTC nodes: the real signalling server on a loop thread of its own, and a
// "peer pipeline" (test sources -> webrtc_sink, webrtc_source -> counting fakesinks) whose decoded
// buffers are counted per source pad (audio_<peer>, video_<peer>). Waits poll with an upper bound.
#pragma once

#include <gst/gst.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "meshflow/signalling/server.h"

namespace mf::test {

inline bool wait_for(const std::function<bool()> &cond,
                     std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

/// mf::signalling::Server on a thread and GMainContext of its own, listening on 127.0.0.1:0.
class ServerThread {
 public:
  explicit ServerThread(mf::signalling::ServerConfig cfg = {}) {
    ctx_ = g_main_context_new();
    loop_ = g_main_loop_new(ctx_, FALSE);
    std::promise<void> ready;
    thread_ = std::thread([this, &ready, cfg] {
      g_main_context_push_thread_default(ctx_);
      server_ = std::make_unique<mf::signalling::Server>(cfg);
      std::string err;
      if (!server_->listen("127.0.0.1", 0, &err)) g_printerr("server: %s\n", err.c_str());
      url_ = server_->url();
      ready.set_value();
      g_main_loop_run(loop_);
      server_->shutdown();
      server_.reset();
      g_main_context_pop_thread_default(ctx_);
    });
    ready.get_future().wait();
  }
  ~ServerThread() {
    GSource *s = g_idle_source_new();
    g_source_set_callback(s, [](gpointer l) -> gboolean { g_main_loop_quit((GMainLoop *)l); return G_SOURCE_REMOVE; }, loop_, nullptr);
    g_source_attach(s, ctx_);
    g_source_unref(s);
    thread_.join();
    g_main_loop_unref(loop_);
    g_main_context_unref(ctx_);
  }
  const std::string &url() const { return url_; }

 private:
  GMainContext *ctx_;
  GMainLoop *loop_;
  std::thread thread_;
  std::unique_ptr<mf::signalling::Server> server_;
  std::string url_;
};

struct PeerOptions {
  std::string url, room = "test", peer_id;
  bool audio = true, video = true;
  std::vector<std::string> local_addresses{"127.0.0.1"};
  std::string video_codec = "vp8";
  std::string extra;  // applied as "prop=value" pairs by the caller if needed
  unsigned setup_timeout_ms = 10000;
  unsigned inactivity_timeout_ms = 5000;
  bool data_channel = true;
  std::vector<std::string> remote_peers;  // the elements' remote-peers filter (empty: everyone)
};

/// The options of peer `id` on the signalling server at `url`, the rest as default.
inline PeerOptions peer_options(const std::string &url, const std::string &id) {
  PeerOptions o;
  o.url = url;
  o.peer_id = id;
  return o;
}

/// One peer: its own GstPipeline with webrtc_sink (test sources) and webrtc_source (counted). Its bus
/// is drained synchronously (see the constructor); poll_bus() collects what was recorded.
class PeerPipeline {
 public:
  explicit PeerPipeline(const PeerOptions &o) : opts_(o) {
    pipeline_ = gst_pipeline_new(("peer-" + o.peer_id).c_str());
    src_ = gst_element_factory_make("mfwebrtcsrc", "src");
    sink_ = gst_element_factory_make("mfwebrtcsink", "sink");
    gst_bin_add_many(GST_BIN(pipeline_), src_, sink_, nullptr);
    gchar *addrs[8] = {};
    for (size_t i = 0; i < o.local_addresses.size() && i < 7; i++) addrs[i] = (gchar *)o.local_addresses[i].c_str();
    g_object_set(src_, "signalling-url", o.url.c_str(), "room", o.room.c_str(), "peer-id", o.peer_id.c_str(),
                 "ice-local-addresses", addrs, "setup-timeout", o.setup_timeout_ms, "inactivity-timeout",
                 o.inactivity_timeout_ms, "data-channel", o.data_channel, nullptr);
    g_object_set(sink_, "video-codec", o.video_codec.c_str(), nullptr);
    if (!o.remote_peers.empty()) {
      std::vector<const gchar *> pats;
      for (const auto &p : o.remote_peers) pats.push_back(p.c_str());
      pats.push_back(nullptr);
      g_object_set(src_, "remote-peers", pats.data(), nullptr);
    }
    if (o.audio) {
      GstElement *a = gst_parse_bin_from_description(
          "audiotestsrc is-live=true wave=ticks samplesperbuffer=480 ! audio/x-raw,rate=48000,channels=1", TRUE, nullptr);
      gst_bin_add(GST_BIN(pipeline_), a);
      gst_element_link_pads(a, nullptr, sink_, "audio_%u");
    }
    if (o.video) {
      GstElement *v = gst_parse_bin_from_description(
          "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1", TRUE, nullptr);
      gst_bin_add(GST_BIN(pipeline_), v);
      gst_element_link_pads(v, nullptr, sink_, "video_%u");
    }
    g_signal_connect(src_, "pad-added", G_CALLBACK(on_pad_added), this);
    g_signal_connect(src_, "pad-removed", G_CALLBACK(on_pad_removed), this);
    // Drain the bus as it is posted to, like an application's bus watch. A message holds a ref on
    // its source; a bus nobody pops keeps every webrtcbin child that ever posted (nicesrc/nicesink
    // -> the libnice agent and its sockets, webrtcbin -> its "pc" and "ice" threads) alive after the
    // peer is freed. That, not a GStreamer leak, was the churn test's "12 fds + 2 threads per peer".
    GstBus *bus = gst_element_get_bus(pipeline_);
    gst_bus_set_sync_handler(bus, on_bus, this, nullptr);
    gst_object_unref(bus);
  }
  ~PeerPipeline() {
    stop();
    GstBus *bus = gst_element_get_bus(pipeline_);
    gst_bus_set_sync_handler(bus, nullptr, nullptr, nullptr);
    gst_object_unref(bus);
    gst_object_unref(pipeline_);
  }
  bool start() { return gst_element_set_state(pipeline_, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE; }
  void stop() { gst_element_set_state(pipeline_, GST_STATE_NULL); }

  uint64_t count(const std::string &pad) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = counts_.find(pad);
    return it == counts_.end() ? 0 : it->second->load();
  }
  bool has_pad(const std::string &pad) {
    std::lock_guard<std::mutex> l(mu_);
    return pads_.count(pad) > 0;
  }
  std::string peer_tag(const std::string &pad) {
    std::lock_guard<std::mutex> l(mu_);
    return tags_[pad];
  }
  /// Move the meshflow-peer events and errors recorded by the bus handler into `events` / `errors`
  /// (which only the test thread touches).
  void poll_bus() {
    std::lock_guard<std::mutex> l(bus_mu_);
    events.insert(events.end(), pending_events_.begin(), pending_events_.end());
    errors.insert(errors.end(), pending_errors_.begin(), pending_errors_.end());
    pending_events_.clear();
    pending_errors_.clear();
  }
  bool has_event(const std::string &ev) {
    poll_bus();
    for (auto &e : events)
      if (e == ev) return true;
    return false;
  }
  GstElement *pipeline() const { return pipeline_; }
  GstElement *source() const { return src_; }
  GstElement *sink() const { return sink_; }
  std::vector<std::string> errors, events;

 private:
  // Any thread: record what the tests look at, drop every message (a sync handler returning
  // GST_BUS_DROP owns the message and must unref it).
  static GstBusSyncReply on_bus(GstBus *, GstMessage *m, gpointer d) {
    auto *self = static_cast<PeerPipeline *>(d);
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
      GError *e = nullptr;
      gst_message_parse_error(m, &e, nullptr);
      std::lock_guard<std::mutex> l(self->bus_mu_);
      self->pending_errors_.push_back(std::string(GST_MESSAGE_SRC_NAME(m)) + ": " + (e ? e->message : "?"));
      g_clear_error(&e);
    } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT && gst_message_has_name(m, "meshflow-peer")) {
      const GstStructure *s = gst_message_get_structure(m);
      std::lock_guard<std::mutex> l(self->bus_mu_);
      // "event:peer", and for data-channel messages "data:peer:type".
      std::string ev = std::string(gst_structure_get_string(s, "event")) + ":" + gst_structure_get_string(s, "peer-id");
      if (const char *type = gst_structure_get_string(s, "type")) ev += std::string(":") + type;
      self->pending_events_.push_back(ev);
    }
    gst_message_unref(m);
    return GST_BUS_DROP;
  }
  static GstPadProbeReturn count_probe(GstPad *, GstPadProbeInfo *info, gpointer d) {
    auto *self = static_cast<std::pair<PeerPipeline *, std::string> *>(d);
    if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
      std::lock_guard<std::mutex> l(self->first->mu_);
      self->first->counts_[self->second]->fetch_add(1);
    } else if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_TAG) {
      GstTagList *tl = nullptr;
      gst_event_parse_tag(GST_PAD_PROBE_INFO_EVENT(info), &tl);
      gchar *v = nullptr;
      if (gst_tag_list_get_string(tl, "meshflow-peer-id", &v)) {
        std::lock_guard<std::mutex> l(self->first->mu_);
        self->first->tags_[self->second] = v;
        g_free(v);
      }
    }
    return GST_PAD_PROBE_OK;
  }
  static void on_pad_added(GstElement *, GstPad *pad, gpointer d) {
    auto *self = static_cast<PeerPipeline *>(d);
    std::string name = GST_PAD_NAME(pad);
    GstElement *fs = gst_element_factory_make("fakesink", nullptr);
    g_object_set(fs, "sync", FALSE, "async", FALSE, nullptr);
    gst_bin_add(GST_BIN(self->pipeline_), fs);
    gst_element_sync_state_with_parent(fs);
    GstPad *sp = gst_element_get_static_pad(fs, "sink");
    {
      std::lock_guard<std::mutex> l(self->mu_);
      self->pads_[name] = fs;
      if (!self->counts_.count(name)) self->counts_[name] = std::make_unique<std::atomic<uint64_t>>(0);
    }
    gst_pad_add_probe(sp, GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM), count_probe,
                      new std::pair<PeerPipeline *, std::string>(self, name),
                      [](gpointer p) { delete static_cast<std::pair<PeerPipeline *, std::string> *>(p); });
    gst_pad_link(pad, sp);
    gst_object_unref(sp);
  }
  static void on_pad_removed(GstElement *, GstPad *pad, gpointer d) {
    auto *self = static_cast<PeerPipeline *>(d);
    GstElement *fs = nullptr;
    {
      std::lock_guard<std::mutex> l(self->mu_);
      auto it = self->pads_.find(GST_PAD_NAME(pad));
      if (it == self->pads_.end()) return;
      fs = it->second;
      self->pads_.erase(it);
    }
    // Not from a streaming thread of fs: safe to stop it here.
    gst_element_set_state(fs, GST_STATE_NULL);
    gst_bin_remove(GST_BIN(self->pipeline_), fs);
  }

  PeerOptions opts_;
  GstElement *pipeline_, *src_, *sink_;
  std::mutex mu_;  // protects counts_, pads_, tags_
  std::map<std::string, std::unique_ptr<std::atomic<uint64_t>>> counts_;
  std::map<std::string, GstElement *> pads_;
  std::map<std::string, std::string> tags_;
  std::mutex bus_mu_;  // protects pending_events_, pending_errors_
  std::vector<std::string> pending_events_, pending_errors_;
};

}  // namespace mf::test
