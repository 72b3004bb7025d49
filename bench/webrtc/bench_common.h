// Shared pieces of the WebRTC benchmarks (bench/webrtc/): the loopback-only network namespace, the
// monotonic clock, load average, percentiles, child processes of the benchmark binary itself, our
// peer (mfwebrtcsrc/mfwebrtcsink joined through the embedded signalling server) and the baseline
// (two plain webrtcbins with default settings in two pipelines, SDP and candidates exchanged
// directly in-process, ICE restricted to 127.0.0.1 through the ice-agent).
#pragma once

#define GST_USE_UNSTABLE_API 1
#include <gst/gst.h>
#include <gst/webrtc/webrtc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "meshflow-elements.h"
#include "netns.h"

namespace mf::bench {

/// CLOCK_MONOTONIC in ns: the clock GstSystemClock uses (GST_CLOCK_TYPE_MONOTONIC), shared by every
/// process on the host.
inline int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

inline std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

inline void print_header(const char *name, const char *what) {
  std::printf("== %s: %s\n", name, what);
  std::printf("   machine: 2 shared vCPUs, noisy (other helpers build on it); load average at start: %s\n",
              loadavg().c_str());
  std::fflush(stdout);
}
inline void print_footer(const char *name) {
  std::printf("   %s: load average at end: %s\n", name, loadavg().c_str());
  std::fflush(stdout);
}

/// q in [0,1], nearest-rank on a sorted copy; NaN if empty.
inline double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0 / 0.0;
  std::sort(v.begin(), v.end());
  size_t i = size_t(q * double(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

/// Process CPU time (user + system, all threads) in seconds.
inline double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

/// VmRSS (kB) and Threads from /proc/self/status.
inline void rss_threads(long *rss_kb, long *threads) {
  std::ifstream f("/proc/self/status");
  std::string line;
  *rss_kb = *threads = -1;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) *rss_kb = std::atol(line.c_str() + 6);
    if (line.rfind("Threads:", 0) == 0) *threads = std::atol(line.c_str() + 8);
  }
}

/// Start this binary again with `args` (a child in the same network namespace). Returns the pid.
inline pid_t spawn_self(const std::vector<std::string> &args) {
  std::vector<char *> argv;
  static std::string self = [] {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    return std::string(buf, n > 0 ? size_t(n) : 0);
  }();
  argv.push_back(const_cast<char *>(self.c_str()));
  for (auto &a : args) argv.push_back(const_cast<char *>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    execv(self.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}
inline int wait_child(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/// Numbers, one per line, from a file a child wrote (pairs when `cols` = 2).
inline std::vector<std::vector<double>> read_rows(const std::string &path) {
  std::vector<std::vector<double>> rows;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream is(line);
    std::vector<double> r;
    double x;
    while (is >> x) r.push_back(x);
    if (!r.empty()) rows.push_back(r);
  }
  return rows;
}

inline std::string arg_value(int argc, char **argv, const char *name, const char *def = "") {
  for (int i = 1; i + 1 < argc; i++)
    if (std::string(argv[i]) == name) return argv[i + 1];
  return def;
}
inline bool has_arg(int argc, char **argv, const char *name) {
  for (int i = 1; i < argc; i++)
    if (std::string(argv[i]) == name) return true;
  return false;
}

// Start of every benchmark process: the parent (no `child_flag` argument) moves into a
// loopback-only network namespace, which the children it spawns inherit; then GStreamer and the
// meshflow elements are initialised. Returns true in a child. Exits 1 if the namespace fails.
inline bool bench_start(int &argc, char **&argv, const char *child_flag) {
  bool child = has_arg(argc, argv, child_flag);
  if (!child) {
    std::string err;
    if (!mf::test::enter_loopback_netns(&err)) {
      std::fprintf(stderr, "loopback-only network namespace: %s (run as root)\n", err.c_str());
      std::exit(1);
    }
  }
  gst_init(&argc, &argv);
  meshflow_elements_register_static();
  return child;
}

inline void print_bus_error(GstMessage *m, const char *who) {
  GError *e = nullptr;
  gchar *dbg = nullptr;
  if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) gst_message_parse_error(m, &e, &dbg);
  else gst_message_parse_warning(m, &e, &dbg);
  std::fprintf(stderr, "[%s] %s from %s: %s\n", who, GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR ? "ERROR" : "WARNING",
               GST_MESSAGE_SRC_NAME(m), e ? e->message : "?");
  g_clear_error(&e);
  g_free(dbg);
}

/// What a receive-only peer of ours sends back: our sender's dead-peer detection counts only RTP and
/// data-channel traffic as activity, so a peer that sends nothing is dropped as "inactive" after
/// inactivity-timeout (5 s) even though its RTCP receiver reports keep arriving. A silent Opus stream
/// (as a muted microphone in a call would send) keeps it alive.
constexpr const char *kBackChannel =
    "audiotestsrc is-live=true wave=silence samplesperbuffer=960 ! capsfilter caps=audio/x-raw,rate=48000,channels=1";

// ---------------------------------------------------------------------------------------------
// Ours: one pipeline per peer, mfwebrtcsrc (receiving) and/or mfwebrtcsink (sending) joined to a
// room of the signalling server. The bus is handled synchronously (messages are dropped after
// being looked at): `announced_ns` is the CLOCK_MONOTONIC time the `announced` event was posted.
GstElement *attach_bin(GstElement *pipeline, GstPad *pad, const std::string &desc);
inline void attach_sink(GstElement *pipeline, GstPad *pad) {
  attach_bin(pipeline, pad, "fakesink sync=false async=false");
}

class OurPeer {
 public:
  using PadFn = std::function<void(GstElement *pipeline, GstPad *pad)>;
  /// `send_audio` / `send_video`: gst-launch bin descriptions linked to the sink's audio_%u /
  /// video_%u pads (empty = none). `recv_media`: kinds mfwebrtcsrc receives (empty = no source).
  OurPeer(const std::string &url, const std::string &room, const std::string &id, const std::string &send_audio,
          const std::string &send_video, const std::vector<std::string> &recv_media, PadFn on_pad,
          const std::function<void(GstElement *sink)> &configure_sink = nullptr)
      : on_pad_(std::move(on_pad)), id_(id) {
    pipeline_ = gst_pipeline_new(("peer-" + id).c_str());
    const gchar *addrs[] = {"127.0.0.1", nullptr};
    GstElement *first = nullptr;
    if (!recv_media.empty()) {
      src_ = gst_element_factory_make("mfwebrtcsrc", "src");
      std::vector<const gchar *> media;
      for (auto &m : recv_media) media.push_back(m.c_str());
      media.push_back(nullptr);
      g_object_set(src_, "media", media.data(), nullptr);
      gst_bin_add(GST_BIN(pipeline_), src_);
      g_signal_connect(src_, "pad-added", G_CALLBACK(+[](GstElement *, GstPad *pad, gpointer d) {
                         auto *self = static_cast<OurPeer *>(d);
                         if (self->on_pad_) self->on_pad_(self->pipeline_, pad);
                         else attach_sink(self->pipeline_, pad);
                       }), this);
      first = src_;
    }
    if (!send_audio.empty() || !send_video.empty()) {
      sink_ = gst_element_factory_make("mfwebrtcsink", "sink");
      gst_bin_add(GST_BIN(pipeline_), sink_);
      if (configure_sink) configure_sink(sink_);
      if (!first) first = sink_;
      for (auto [desc, pad] : {std::make_pair(send_audio, "audio_%u"), std::make_pair(send_video, "video_%u")}) {
        if (desc.empty()) continue;
        GError *err = nullptr;
        GstElement *b = gst_parse_bin_from_description(desc.c_str(), TRUE, &err);
        if (!b) {
          std::fprintf(stderr, "bad description '%s': %s\n", desc.c_str(), err ? err->message : "?");
          std::exit(2);
        }
        gst_bin_add(GST_BIN(pipeline_), b);
        if (!gst_element_link_pads(b, nullptr, sink_, pad)) std::fprintf(stderr, "cannot link %s\n", pad);
      }
    }
    g_object_set(first, "signalling-url", url.c_str(), "room", room.c_str(), "peer-id", id.c_str(),
                 "ice-local-addresses", addrs, "data-channel", FALSE, nullptr);
    GstBus *bus = gst_element_get_bus(pipeline_);
    gst_bus_set_sync_handler(bus, &OurPeer::on_bus, this, nullptr);
    gst_object_unref(bus);
  }
  ~OurPeer() {
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    gst_object_unref(pipeline_);
  }
  bool start() { return gst_element_set_state(pipeline_, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE; }
  GstElement *pipeline() const { return pipeline_; }
  GstElement *by_name(const char *n) const { return gst_bin_get_by_name(GST_BIN(pipeline_), n); }
  std::atomic<int64_t> announced_ns{0};
  std::atomic<int> failures{0};

 private:
  static GstBusSyncReply on_bus(GstBus *, GstMessage *m, gpointer d) {
    auto *self = static_cast<OurPeer *>(d);
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR || GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING) {
      print_bus_error(m, self->id_.c_str());
    } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT && gst_message_has_name(m, "meshflow-peer")) {
      const char *ev = gst_structure_get_string(gst_message_get_structure(m), "event");
      if (g_strcmp0(ev, "announced") == 0 && self->announced_ns == 0) self->announced_ns = now_ns();
      if (g_strcmp0(ev, "failed") == 0) self->failures++;
      if (g_getenv("MESHFLOW_BENCH_DEBUG")) {
        gchar *txt = gst_structure_to_string(gst_message_get_structure(m));
        std::fprintf(stderr, "[%s] %.3f %s\n", self->id_.c_str(), double(now_ns()) / 1e9, txt);
        g_free(txt);
      }
    }
    gst_message_unref(m);
    return GST_BUS_DROP;
  }
  PadFn on_pad_;
  std::string id_;
  GstElement *pipeline_ = nullptr, *src_ = nullptr, *sink_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// Baseline: plain webrtcbin (all defaults: latency 200 ms, bundle-policy none) in two pipelines of
// this process. `send_desc` must contain `webrtcbin name=w` fed by the sending chain; the receiver is
// a bare webrtcbin whose pads are handed to `on_pad`. Offer/answer/candidates are passed directly.
class BasePair {
 public:
  using PadFn = std::function<void(GstElement *pipeline, GstPad *pad)>;
  BasePair(const std::string &send_desc, PadFn on_pad) : on_pad_(std::move(on_pad)) {
    GError *err = nullptr;
    send_ = gst_parse_launch(send_desc.c_str(), &err);
    if (!send_) {
      std::fprintf(stderr, "baseline sender: %s\n", err ? err->message : "?");
      std::exit(2);
    }
    recv_ = gst_pipeline_new("baseline-recv");
    gst_bin_add(GST_BIN(recv_), gst_element_factory_make("webrtcbin", "w"));
    w1_ = gst_bin_get_by_name(GST_BIN(send_), "w");
    w2_ = gst_bin_get_by_name(GST_BIN(recv_), "w");
    for (GstElement *w : {w1_, w2_}) {
      GObject *agent = nullptr;
      g_object_get(w, "ice-agent", &agent, nullptr);
      gboolean ok = FALSE;
      g_signal_emit_by_name(agent, "add-local-ip-address", "127.0.0.1", &ok);
      g_object_unref(agent);
    }
    g_signal_connect(w1_, "on-negotiation-needed", G_CALLBACK(+[](GstElement *w, gpointer d) {
                       GstPromise *p = gst_promise_new_with_change_func(&BasePair::on_offer, d, nullptr);
                       g_signal_emit_by_name(w, "create-offer", nullptr, p);
                     }), this);
    g_signal_connect(w1_, "on-ice-candidate", G_CALLBACK(+[](GstElement *, guint idx, gchar *c, gpointer d) {
                       g_signal_emit_by_name(static_cast<BasePair *>(d)->w2_, "add-ice-candidate", idx, c);
                     }), this);
    g_signal_connect(w2_, "on-ice-candidate", G_CALLBACK(+[](GstElement *, guint idx, gchar *c, gpointer d) {
                       g_signal_emit_by_name(static_cast<BasePair *>(d)->w1_, "add-ice-candidate", idx, c);
                     }), this);
    g_signal_connect(w2_, "pad-added", G_CALLBACK(+[](GstElement *, GstPad *pad, gpointer d) {
                       auto *self = static_cast<BasePair *>(d);
                       if (GST_PAD_DIRECTION(pad) == GST_PAD_SRC && self->on_pad_) self->on_pad_(self->recv_, pad);
                     }), this);
    for (GstElement *p : {send_, recv_}) {
      GstBus *bus = gst_element_get_bus(p);
      gst_bus_set_sync_handler(bus, +[](GstBus *, GstMessage *m, gpointer) -> GstBusSyncReply {
        if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) print_bus_error(m, "baseline");
        gst_message_unref(m);
        return GST_BUS_DROP;
      }, nullptr, nullptr);
      gst_object_unref(bus);
    }
  }
  ~BasePair() {
    gst_element_set_state(send_, GST_STATE_NULL);
    gst_element_set_state(recv_, GST_STATE_NULL);
    gst_object_unref(w1_);
    gst_object_unref(w2_);
    gst_object_unref(send_);
    gst_object_unref(recv_);
  }
  bool start() {
    return gst_element_set_state(recv_, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE &&
           gst_element_set_state(send_, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE;
  }
  /// Tuned variant only (the baseline keeps the default 200 ms).
  void set_latency(unsigned ms) {
    g_object_set(w1_, "latency", ms, nullptr);
    g_object_set(w2_, "latency", ms, nullptr);
  }
  GstElement *sender() const { return send_; }
  GstElement *receiver() const { return recv_; }

 private:
  static GstWebRTCSessionDescription *take_desc(GstPromise *p, const char *field) {
    const GstStructure *r = gst_promise_get_reply(p);
    GstWebRTCSessionDescription *d = nullptr;
    if (r) gst_structure_get(r, field, GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &d, nullptr);
    gst_promise_unref(p);
    return d;
  }
  static void on_offer(GstPromise *p, gpointer d) {
    auto *self = static_cast<BasePair *>(d);
    GstWebRTCSessionDescription *offer = take_desc(p, "offer");
    if (!offer) return;
    g_signal_emit_by_name(self->w1_, "set-local-description", offer, nullptr);
    g_signal_emit_by_name(self->w2_, "set-remote-description", offer, nullptr);
    gst_webrtc_session_description_free(offer);
    GstPromise *a = gst_promise_new_with_change_func(&BasePair::on_answer, d, nullptr);
    g_signal_emit_by_name(self->w2_, "create-answer", nullptr, a);
  }
  static void on_answer(GstPromise *p, gpointer d) {
    auto *self = static_cast<BasePair *>(d);
    GstWebRTCSessionDescription *answer = take_desc(p, "answer");
    if (!answer) return;
    g_signal_emit_by_name(self->w2_, "set-local-description", answer, nullptr);
    g_signal_emit_by_name(self->w1_, "set-remote-description", answer, nullptr);
    gst_webrtc_session_description_free(answer);
  }
  PadFn on_pad_;
  GstElement *send_ = nullptr, *recv_ = nullptr, *w1_ = nullptr, *w2_ = nullptr;
};

/// Add `desc` (a bin with one ghost sink pad) to `pipeline`, link `pad` to it, bring it up.
/// Returns the bin (owned by the pipeline).
inline GstElement *attach_bin(GstElement *pipeline, GstPad *pad, const std::string &desc) {
  GError *err = nullptr;
  GstElement *b = gst_parse_bin_from_description(desc.c_str(), TRUE, &err);
  if (!b) {
    std::fprintf(stderr, "bad description '%s': %s\n", desc.c_str(), err ? err->message : "?");
    return nullptr;
  }
  gst_bin_add(GST_BIN(pipeline), b);
  GstPad *sp = gst_element_get_static_pad(b, "sink");
  if (gst_pad_link(pad, sp) != GST_PAD_LINK_OK) std::fprintf(stderr, "link to '%s' failed\n", desc.c_str());
  gst_object_unref(sp);
  gst_element_sync_state_with_parent(b);
  return b;
}

/// The kind of a pad from its name (ours: audio_<peer>) or caps (baseline: application/x-rtp media=).
inline std::string pad_kind(GstPad *pad) {
  std::string n = GST_PAD_NAME(pad);
  if (n.rfind("audio_", 0) == 0) return "audio";
  if (n.rfind("video_", 0) == 0) return "video";
  GstCaps *c = gst_pad_get_current_caps(pad);
  if (!c) c = gst_pad_query_caps(pad, nullptr);
  std::string kind;
  if (c && gst_caps_get_size(c) > 0) {
    const char *m = gst_structure_get_string(gst_caps_get_structure(c, 0), "media");
    kind = m ? m : "";
  }
  if (c) gst_caps_unref(c);
  return kind;
}

}  // namespace mf::bench
