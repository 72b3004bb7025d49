// A Session owns one GstPipeline built from a manifest's Plan, its bus watch, and the mapping of
// bus messages back to manifest nodes. One session = one room = one pipeline; an error ends that
// session only (the owner decides what to do: the launcher exits, a server tears the room down).
//
// Everything runs on the GMainContext that is thread-default when the session is created.
#pragma once

#include <gst/gst.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "meshflow/error.h"
#include "meshflow/graph/builder.h"
#include "meshflow/graph/plan.h"
#include "meshflow/sdk/ptr.h"

namespace mf::session {

struct SessionOptions {
  std::string name = "meshflow";  // pipeline name
  std::string dot_dir;            // write a .dot graph on every state change (and error) here
  bool verbose = false;           // property notifications, like gst-launch-1.0 -v
  /// Where verbose and informational lines go (default: stdout).
  std::function<void(const std::string &)> print;
};

class Session {
 public:
  /// Build the pipeline (stage 3). nullptr with diagnostics on failure.
  static std::unique_ptr<Session> create(const graph::Plan &plan, SessionOptions opts,
                                         Diagnostics &diag);
  ~Session();

  /// Set the pipeline to PLAYING. Errors (with node and location) go to on_error.
  bool start(Diagnostics &diag);
  /// Ask every source to finish: on_eos fires once the sinks have drained.
  void send_eos();
  /// Stop now (NULL state). Idempotent.
  void stop();

  GstPipeline *pipeline() const { return GST_PIPELINE(pipeline_.get()); }
  graph::Graph &graph() { return graph_; }
  /// Write a dot file named `<dir>/<seq>-<name>-<label>.dot` (no-op without dot_dir).
  void dump_dot(const std::string &label);

  std::function<void()> on_eos;
  std::function<void(const Error &)> on_error;
  /// A per-peer chain was built ("joined") or freed ("left"); called on the thread that saw it.
  std::function<void(const std::string &event, const std::string &peer, const std::string &family)> on_peer;

  /// Per-peer chains alive now, as "<source>.<pad>" names (tests, dashboard).
  std::vector<std::string> peer_chains() const;

 private:
  // One remote peer's stream: the chain built for it and the request pads it took on shared
  // elements (a mixer, webrtc_sink).
  struct PeerChain {
    std::string peer, family;
    std::unique_ptr<graph::Graph> graph;
    std::vector<std::pair<Ptr<GstElement>, Ptr<GstPad>>> requested;
    bool output = false;  // from a per-peer output (mix_minus src_N), whose thread keeps pushing
  };
  static void pad_added_cb(GstElement *src, GstPad *pad, gpointer self);
  static void pad_removed_cb(GstElement *src, GstPad *pad, gpointer self);
  static void output_added_cb(GstElement *src, GstPad *pad, gpointer self);
  static void output_peer_cb(GstPad *pad, GParamSpec *, gpointer self);
  void peer_pad_added(GstElement *src, GstPad *pad);
  // A per-peer output (mix_minus src_N) whose peer-id is known: its chain to the request pad.
  void output_ready(GstElement *src, GstPad *pad);
  void build_chain(GstElement *src, GstPad *pad, const std::string &family, const std::string &peer);
  void peer_pad_removed(GstElement *src, GstPad *pad);
  void free_chain(PeerChain &chain);
  bool link_to_shared(GstPad *srcpad, const graph::PlanLink &l, const std::string &peer, PeerChain &chain);

  Session() = default;
  static gboolean bus_cb(GstBus *, GstMessage *, gpointer self);
  void handle(GstMessage *msg);
  Error error_from(GstMessage *msg) const;

  SessionOptions opts_;
  std::string manifest_file_;
  Ptr<GstElement> pipeline_;
  graph::Graph graph_;
  Ptr<GSource> bus_source_;
  gulong notify_watch_ = 0;
  int dot_seq_ = 0;
  graph::Plan plan_;
  std::vector<std::pair<GstElement *, gulong>> handlers_;
  std::mutex outputs_mutex_;  // protects output_waits_
  std::vector<std::pair<Ptr<GstPad>, gulong>> output_waits_;  // outputs waiting for their peer-id
  mutable std::mutex chains_mutex_;  // protects chains_ (pad-added/removed come from any thread)
  std::map<std::string, PeerChain> chains_;  // key: "<source>.<pad name>"
  std::map<std::string, PeerChain> dying_;   // removed pads, freed on context_ (or in ~Session)
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // deferred jobs check it
  GMainContext *context_ = nullptr;  // where deferred teardown runs
};

}  // namespace mf::session
