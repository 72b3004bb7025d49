// llm_bridge over a WebRTC loopback: first-audio overhead and interruption reaction as a peer hears
// them (issue 6 targets: speech end -> first audible assistant sample, framework overhead p95 <=
// 60 ms; interruption p95 <= 20 ms).
//
// Runs in a loopback-only network namespace (ICE on 127.0.0.1). A meshflow-launch process runs
// manifests/voice-agent.yaml (provider mock: known fixed delays D = mock-silence-ms 400 (the VAD
// needs that much quiet to end the turn) + mock-delay-ms 300 = 700 ms) with its embedded signalling
// server; this process joins the room as a peer with our elements (bench_common.h OurPeer:
// appsrc -> mfwebrtcsink, mfwebrtcsrc -> fakesink sync=true processing-deadline=0).
// The "microphone" is an appsrc paced on CLOCK_MONOTONIC (10 ms buffers, pushed when their last
// sample is due; mouth time of buffer k = base_time + k * 10 ms). A turn is 400 ms of a loud tone.
// The "ear" is the receiving fakesink's handoff (render time, after its clock wait) plus the offset
// of the sample in the buffer. Both processes use CLOCK_MONOTONIC (GstSystemClock).
//   first audio:  speech end (mouth) -> first reply sample rendered; overhead = that - D.
//   interruption: 300 ms into the reply the peer speaks again (300 ms); reaction = speech start
//                 (mouth) -> the last reply sample rendered.
// Baseline, same run: bench/llm/echo.yaml (the same source/sink path, each peer's audio sent back
// to it): the round trip mouth -> ear of the tone's onset. The bridge's part of the overhead is
// roughly overhead - round trip (the WebRTC uplink + downlink are in both).
// MESHFLOW_BENCH_LLM_TURNS (default 15) turns per configuration. Our peer sends 20 ms Opus frames
// like a browser; MESHFLOW_BENCH_LLM_FRAME_MS=10 makes it send 10 ms restricted-lowdelay frames.
// The launcher answers with 10 ms restricted-lowdelay frames (voice-agent.yaml and echo.yaml).
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>

#include "meshflow-elements.h"
#include "netns.h"
// after the two above (it uses both)
#include "bench_common.h"

using namespace mf::bench;

namespace {

constexpr int kRate = 48000;
constexpr int kBuf = 480;  // 10 ms
constexpr int64_t kBufNs = 10000000;
constexpr int64_t kMs = 1000000;
constexpr double kD = 400 + 300;  // mock-silence-ms + mock-delay-ms (the manifest's defaults)
constexpr double kVadStart = 20;  // the mock VAD declares speech after two voiced 10 ms frames

// The microphone: 10 ms buffers paced on CLOCK_MONOTONIC; loud in the scheduled [from, to) buffers.
class Mic {
 public:
  explicit Mic(GstElement *pipeline, GstElement *appsrc) : pipeline_(pipeline), appsrc_(appsrc) {}
  ~Mic() { stop(); }
  void start() {
    gst_element_get_state(pipeline_, nullptr, nullptr, 5 * GST_SECOND);
    base_ = int64_t(gst_element_get_base_time(pipeline_));
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Schedules `ms` of speech starting >= 30 ms from now; returns the first buffer index.
  int64_t say(int ms) {
    std::lock_guard<std::mutex> l(mu_);
    int64_t k0 = k_ + 3;
    from_ = k0;
    to_ = k0 + ms / 10;
    return k0;
  }
  int64_t mouth(int64_t k) const { return base_ + k * kBufNs; }

 private:
  void run() {
    for (int64_t k = 0; !stop_; k++) {
      int64_t due = base_ + (k + 1) * kBufNs;
      timespec ts{time_t(due / 1000000000), long(due % 1000000000)};
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
      bool loud;
      {
        std::lock_guard<std::mutex> l(mu_);
        k_ = k;
        loud = k >= from_ && k < to_;
      }
      GstBuffer *b = gst_buffer_new_allocate(nullptr, kBuf * 2, nullptr);
      GstMapInfo m;
      gst_buffer_map(b, &m, GST_MAP_WRITE);
      auto *s = reinterpret_cast<int16_t *>(m.data);
      for (int i = 0; i < kBuf; i++)
        s[i] = loud ? int16_t(0.5 * 32767 * std::sin(2 * M_PI * 300.0 * double(k * kBuf + i) / kRate)) : 0;
      gst_buffer_unmap(b, &m);
      GST_BUFFER_PTS(b) = GstClockTime(k * kBufNs);
      GST_BUFFER_DURATION(b) = GstClockTime(kBufNs);
      if (gst_app_src_push_buffer(GST_APP_SRC(appsrc_), b) != GST_FLOW_OK) break;
    }
  }
  GstElement *pipeline_, *appsrc_;
  int64_t base_ = 0;
  std::mutex mu_;
  int64_t k_ = 0, from_ = -1, to_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The ear: loud samples at the sink's render time.
struct Ear {
  std::mutex mu;
  std::vector<int64_t> onsets;  // first loud sample after >= 100 ms of quiet
  int64_t last = 0;             // last loud sample
  std::atomic<bool> attached{false};
  static void on_handoff(GstElement *, GstBuffer *buf, GstPad *, gpointer d) {
    int64_t now = now_ns();
    auto *self = static_cast<Ear *>(d);
    GstMapInfo m;
    if (!gst_buffer_map(buf, &m, GST_MAP_READ)) return;
    auto *s = reinterpret_cast<const int16_t *>(m.data);
    size_t n = m.size / 2;
    std::lock_guard<std::mutex> l(self->mu);
    for (size_t i = 0; i < n; i++) {
      if (std::abs(int(s[i])) > 2000) {
        int64_t t = now + int64_t(i) * 1000000000LL / kRate;
        if (t - self->last > 100 * kMs) self->onsets.push_back(t);
        self->last = t;
      }
    }
    gst_buffer_unmap(buf, &m);
  }
  // The first onset after t (0 = none yet).
  int64_t onset_after(int64_t t) {
    std::lock_guard<std::mutex> l(mu);
    for (int64_t o : onsets)
      if (o > t) return o;
    return 0;
  }
  int64_t last_loud() {
    std::lock_guard<std::mutex> l(mu);
    return last;
  }
};

bool wait_for(const std::function<bool()> &cond, int timeout_ms) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return cond();
}

struct Launcher {
  GSubprocess *proc = nullptr;
  std::string log;
  Launcher(const std::string &manifest, int port, const std::string &log_path) : log(log_path) {
    GSubprocessLauncher *l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
    g_subprocess_launcher_set_stderr_file_path(l, log_path.c_str());
    g_subprocess_launcher_set_stdout_file_path(l, (log_path + ".out").c_str());
    g_subprocess_launcher_setenv(l, "MESHFLOW_ROOM", "agent", TRUE);
    if (g_getenv("MESHFLOW_BENCH_DEBUG")) g_subprocess_launcher_setenv(l, "GST_DEBUG", "mfwebrtc*:4,mfllm*:4", TRUE);
    g_subprocess_launcher_setenv(l, "MESHFLOW_LLM_PROVIDER", "mock", TRUE);
    std::string listen = "127.0.0.1:" + std::to_string(port);
    const char *launch = g_getenv("MESHFLOW_LAUNCH");
    GError *err = nullptr;
    proc = g_subprocess_launcher_spawn(l, &err, launch ? launch : "meshflow-launch", "--listen", listen.c_str(),
                                       "--ice-local-address", "127.0.0.1", manifest.c_str(), nullptr);
    if (!proc) std::fprintf(stderr, "cannot start meshflow-launch: %s\n", err ? err->message : "?");
    g_clear_error(&err);
    g_object_unref(l);
  }
  bool wait_ready() {
    return wait_for([&] {
      std::ifstream f(log);
      std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      return s.find("signalling on") != std::string::npos;
    }, 30000);
  }
  ~Launcher() {
    if (!proc) return;
    g_subprocess_send_signal(proc, SIGINT);
    g_subprocess_wait(proc, nullptr, nullptr);
    g_object_unref(proc);
  }
};

int free_port() {
  GSocket *s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, nullptr);
  GInetAddress *lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  GSocketAddress *a = g_inet_socket_address_new(lo, 0);
  g_socket_bind(s, a, TRUE, nullptr);
  GSocketAddress *bound = g_socket_get_local_address(s, nullptr);
  int port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  g_object_unref(bound);
  g_object_unref(a);
  g_object_unref(lo);
  g_object_unref(s);
  return port;
}

struct Figures {
  std::vector<double> first, intr, rtt;
};

std::string pstr(const std::vector<double> &v) {
  char b[160];
  std::snprintf(b, sizeof b, "p50 %.1f ms, p95 %.1f ms, max %.1f ms (n=%zu)", percentile(v, 0.5), percentile(v, 0.95),
                percentile(v, 1.0), v.size());
  return b;
}

// One configuration: the launcher with `manifest`, our peer, `turns` turns. agent = the voice agent
// (first audio + interruption), else the echo (round trip).
bool run(const std::string &manifest, bool agent, int turns, Figures *f) {
  int port = free_port();
  std::string log = std::string(g_get_tmp_dir()) + "/bench-llm-webrtc-" + std::to_string(getpid()) +
                    (agent ? "-agent.log" : "-echo.log");
  Launcher launcher(manifest, port, log);
  if (!launcher.proc || !launcher.wait_ready()) {
    std::fprintf(stderr, "meshflow-launch did not start (log %s)\n", log.c_str());
    return false;
  }
  std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/rpc";
  Ear ear;
  const std::string mic_desc =
      "appsrc name=mic is-live=true format=time do-timestamp=false min-latency=10000000 "
      "caps=audio/x-raw,format=S16LE,rate=48000,channels=1,layout=interleaved";
  OurPeer peer(url, "agent", "user", mic_desc, "", {"audio"}, [&ear](GstElement *p, GstPad *pad) {
    if (pad_kind(pad) != "audio") return attach_sink(p, pad);
    GstElement *b = attach_bin(p, pad,
                               "audioconvert ! capsfilter caps=audio/x-raw,format=S16LE,rate=48000,channels=1 "
                               "! fakesink name=ear sync=true processing-deadline=0 signal-handoffs=true");
    if (!b) return;
    GstElement *fs = gst_bin_get_by_name(GST_BIN(b), "ear");
    g_signal_connect(fs, "handoff", G_CALLBACK(&Ear::on_handoff), &ear);
    gst_object_unref(fs);
    ear.attached = true;
  });
  // The launcher's session has the data channel on (transcripts go to peers over it).
  if (GstElement *src = peer.by_name("src")) {
    g_object_set(src, "data-channel", TRUE, nullptr);
    gst_object_unref(src);
  }
  if (const char *fm = g_getenv("MESHFLOW_BENCH_LLM_FRAME_MS")) {
    if (GstElement *sink = peer.by_name("sink")) {
      g_object_set(sink, "opus-frame-ms", (guint)std::atoi(fm), "opus-low-delay", std::atoi(fm) == 10, nullptr);
      gst_object_unref(sink);
    }
  }
  GstElement *appsrc = peer.by_name("mic");
  if (!appsrc || !peer.start()) return false;
  Mic mic(peer.pipeline(), appsrc);
  mic.start();
  gst_object_unref(appsrc);
  if (!wait_for([&] { return ear.attached.load(); }, 30000)) {
    std::fprintf(stderr, "no audio from the launcher (log %s)\n", log.c_str());
    return false;
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  for (int i = 0; i < turns; i++) {
    int64_t k0 = mic.say(400);
    int64_t start = mic.mouth(k0), end = mic.mouth(k0 + 40);
    if (!agent) {
      if (!wait_for([&] { return ear.onset_after(start) != 0; }, 5000)) return std::fprintf(stderr, "echo: nothing back\n"), false;
      f->rtt.push_back(double(ear.onset_after(start) - start) / 1e6);
      std::this_thread::sleep_for(std::chrono::milliseconds(900));
      continue;
    }
    if (!wait_for([&] { return ear.onset_after(end) != 0; }, 5000)) return std::fprintf(stderr, "agent: no reply\n"), false;
    int64_t heard = ear.onset_after(end);
    f->first.push_back(double(heard - end) / 1e6 - kD);
    // Barge in 300 ms into the reply (1500 ms long).
    std::this_thread::sleep_for(std::chrono::milliseconds(std::max<int64_t>(0, (heard + 300 * kMs - now_ns()) / kMs)));
    int64_t k1 = mic.say(300);
    int64_t bstart = mic.mouth(k1);
    // The reply goes quiet; the next one (to the barge-in turn) starts >= 300 + 700 ms later.
    std::this_thread::sleep_for(std::chrono::milliseconds(std::max<int64_t>(0, (bstart + 800 * kMs - now_ns()) / kMs)));
    int64_t last = 0;
    {
      std::lock_guard<std::mutex> l(ear.mu);
      last = ear.last;
    }
    f->intr.push_back(double(last - bstart) / 1e6);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::max<int64_t>(0, (bstart + 3000 * kMs - now_ns()) / kMs)));
  }
  mic.stop();
  g_unlink(log.c_str());  // kept only when something failed
  g_unlink((log + ".out").c_str());
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  bench_start(argc, argv, "--no-child");
  const char *t = g_getenv("MESHFLOW_BENCH_LLM_TURNS");
  int turns = t ? std::max(1, std::atoi(t)) : 15;
  const char *root = g_getenv("MESHFLOW_SOURCE_ROOT");
  std::string src = root ? root : ".";
  print_header("llm-webrtc", "voice agent (mock provider, D = 700 ms) over WebRTC loopback, ICE 127.0.0.1");
  Figures echo, agent;
  bool ok_echo = run(src + "/bench/llm/echo.yaml", false, turns, &echo);
  bool ok_agent = run(src + "/manifests/voice-agent.yaml", true, turns, &agent);
  if (ok_echo) std::printf("   baseline: echo round trip (mouth -> ear, same source/sink path): %s\n", pstr(echo.rtt).c_str());
  if (ok_agent) {
    std::printf("   first audio overhead (speech end -> first reply sample rendered, minus D): %s\n", pstr(agent.first).c_str());
    std::printf("   interruption (speech start -> last reply sample rendered): %s\n", pstr(agent.intr).c_str());
  }
  if (ok_echo && ok_agent) {
    std::printf("   minus the echo round trip p50 (%.1f ms): first audio p50 %.1f / p95 %.1f ms, interruption p50 %.1f / p95 %.1f ms\n",
                percentile(echo.rtt, 0.5), percentile(agent.first, 0.5) - percentile(echo.rtt, 0.5),
                percentile(agent.first, 0.95) - percentile(echo.rtt, 0.5),
                percentile(agent.intr, 0.5) - percentile(echo.rtt, 0.5),
                percentile(agent.intr, 0.95) - percentile(echo.rtt, 0.5));
    std::printf("   ratio first-audio overhead / echo round trip: p50 %.2f, p95 %.2f\n",
                percentile(agent.first, 0.5) / percentile(echo.rtt, 0.5),
                percentile(agent.first, 0.95) / percentile(echo.rtt, 0.95));
    // The interruption as heard contains two things that are not the framework's: the mock VAD's
    // known detection delay (kVadStart) and the WebRTC round trip (the echo baseline): the speech
    // must travel up before anything can react, and the reply already on its way down is heard.
    const double share95 = percentile(agent.intr, 0.95) - kVadStart - percentile(echo.rtt, 0.5);
    std::printf("   interruption, framework's share (heard - mock VAD %.0f ms - echo round trip p50): p50 %.1f / p95 %.1f ms\n",
                kVadStart, percentile(agent.intr, 0.5) - kVadStart - percentile(echo.rtt, 0.5), share95);
    std::printf("   targets: first audio overhead p95 <= 60 ms (WebRTC included): %s; interruption p95 <= 20 ms "
                "(framework's share): %s; as heard: %s\n",
                percentile(agent.first, 0.95) <= 60 ? "MET" : "NOT MET", share95 <= 20 ? "MET" : "NOT MET",
                percentile(agent.intr, 0.95) <= 20 ? "MET" : "NOT MET (>= the round trip by physics)");
  }
  print_footer("llm-webrtc");
  return ok_echo && ok_agent ? 0 : 1;
}
