// WebRTC video glass-to-glass latency at 720p30 VP8 (frame number coded in the picture) and CPU per
// outgoing 720p30 VP8 stream, ours against plain webrtcbin / vp8enc with defaults.
//
// Producer: appsrc (live, I420 1280x720, 30/1) paced on CLOCK_MONOTONIC: frame k has PTS = k/30 s and
// is pushed when the clock reaches base_time + PTS (its "glass" time). The picture is a horizontally
// moving luma gradient (every pixel changes: the encoder has real work) with the frame number coded
// on top: 16 blocks of 64x32 (white = 1, black = 0) and below them the complement (a check).
// Receiver: ... ! fakesink sync=true signal-handoffs=true; at the handoff (the sink's render time) the
// blocks are sampled (mean luma of each block's centre), the number is checked against its
// complement, and "glass" time of that frame -> CLOCK_MONOTONIC now is the latency.
// Ours: two processes (this binary with --role send / --role recv) via the embedded signalling
// server in the parent: appsrc -> mfwebrtcsink (its VP8 real-time encoder settings) ...
// mfwebrtcsrc (decoded) -> fakesink processing-deadline=0. The sending process measures its own CPU
// (getrusage, all threads) over a 20 s window after 5 s of warm-up: CPU per outgoing stream, which
// includes producing the frames, encoding, SRTP and webrtcbin.
// Baseline latency: plain webrtcbin defaults, 2 pipelines in the parent, in-process SDP:
// appsrc ! vp8enc (defaults) ! rtpvp8pay ! webrtcbin ... webrtcbin ! rtpvp8depay ! vp8dec ! fakesink.
// Baseline CPU: a child process running appsrc (same producer) ! vp8enc (defaults) ! rtpvp8pay !
// fakesink for the same window (encode path only, no SRTP/webrtcbin: favours the baseline).
// MESHFLOW_BENCH_VIDEO_SECONDS (default 25: 5 s warm-up + 20 s measured) per configuration.
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <thread>

#include "bench_common.h"
#include "harness.h"

using namespace mf::bench;

namespace {

constexpr int kW = 1280, kH = 720;
constexpr int64_t kFrameNs = 1000000000LL / 30;
constexpr const char *kAppsrc =
    "appsrc name=vsrc is-live=true format=time do-timestamp=false "
    "caps=video/x-raw,format=I420,width=1280,height=720,framerate=30/1";
constexpr const char *kDetector = "fakesink name=det sync=true signal-handoffs=true";

class Producer {
 public:
  Producer(GstElement *pipeline, GstElement *appsrc) : pipeline_(pipeline), appsrc_(appsrc) {}
  ~Producer() { stop(); }
  void start() {
    gst_element_get_state(pipeline_, nullptr, nullptr, 5 * GST_SECOND);
    base_ = int64_t(gst_element_get_base_time(pipeline_));
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<int64_t> glass;  // index = frame number; valid after stop()

 private:
  void run() {
    const size_t ysize = size_t(kW) * kH, csize = ysize / 4;
    for (int64_t k = 0; !stop_; k++) {
      int64_t due = base_ + k * kFrameNs;
      timespec ts{time_t(due / 1000000000), long(due % 1000000000)};
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
      GstBuffer *b = gst_buffer_new_allocate(nullptr, ysize + 2 * csize, nullptr);
      GstMapInfo m;
      gst_buffer_map(b, &m, GST_MAP_WRITE);
      uint8_t *y = m.data;
      for (int r = 64; r < kH; r++)
        for (int c = 0; c < kW; c++) y[size_t(r) * kW + c] = uint8_t(((c + k * 8) >> 2) & 0xff);
      unsigned n = unsigned(k & 0xffff);
      for (int bit = 0; bit < 16; bit++) {
        bool one = (n >> bit) & 1;
        for (int r = 0; r < 64; r++) {
          bool v = r < 32 ? one : !one;
          std::memset(y + size_t(r) * kW + bit * 64, v ? 235 : 16, 64);
        }
      }
      std::memset(y + 64 * 16, 16, kW - 64 * 16);  // rest of the top rows
      for (int r = 1; r < 64; r++) std::memset(y + size_t(r) * kW + 64 * 16, 16, kW - 64 * 16);
      std::memset(m.data + ysize, 128, 2 * csize);
      gst_buffer_unmap(b, &m);
      GST_BUFFER_PTS(b) = GstClockTime(k * kFrameNs);
      GST_BUFFER_DURATION(b) = GstClockTime(kFrameNs);
      glass.push_back(base_ + k * kFrameNs);
      if (gst_app_src_push_buffer(GST_APP_SRC(appsrc_), b) != GST_FLOW_OK) break;
    }
  }
  GstElement *pipeline_, *appsrc_;
  int64_t base_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct Detector {
  std::mutex mu;
  std::vector<std::pair<int64_t, int64_t>> seen;  // (frame number, render time)
  size_t bad = 0;
  bool deadline_zero = false;
  static void on_handoff(GstElement *, GstBuffer *buf, GstPad *pad, gpointer d) {
    int64_t now = now_ns();
    auto *self = static_cast<Detector *>(d);
    GstCaps *caps = gst_pad_get_current_caps(pad);
    GstVideoInfo info;
    bool ok = caps && gst_video_info_from_caps(&info, caps);
    if (caps) gst_caps_unref(caps);
    GstVideoFrame f;
    if (!ok || !gst_video_frame_map(&f, &info, buf, GST_MAP_READ)) return;
    const uint8_t *y = static_cast<const uint8_t *>(GST_VIDEO_FRAME_PLANE_DATA(&f, 0));
    int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0);
    auto mean = [&](int x0, int y0) {
      int s = 0;
      for (int r = y0; r < y0 + 16; r++)
        for (int c = x0; c < x0 + 32; c++) s += y[r * stride + c];
      return s / (16 * 32);
    };
    unsigned n = 0;
    bool valid = GST_VIDEO_INFO_WIDTH(&info) == kW;
    for (int bit = 0; bit < 16 && valid; bit++) {
      bool one = mean(bit * 64 + 16, 8) > 128, check = mean(bit * 64 + 16, 40) > 128;
      if (one == check) valid = false;
      if (one) n |= 1u << bit;
    }
    gst_video_frame_unmap(&f);
    std::lock_guard<std::mutex> l(self->mu);
    if (valid) self->seen.emplace_back(n, now);
    else self->bad++;
  }
  void attach(GstElement *pipeline, GstPad *pad, const std::string &prefix = "") {
    GstElement *b = attach_bin(pipeline, pad, prefix + kDetector);
    if (!b) return;
    GstElement *fs = gst_bin_get_by_name(GST_BIN(b), "det");
    if (deadline_zero) g_object_set(fs, "processing-deadline", (guint64)0, nullptr);
    g_signal_connect(fs, "handoff", G_CALLBACK(&Detector::on_handoff), this);
    gst_object_unref(fs);
  }
};

struct Result {
  std::vector<double> lat_ms;
  size_t sent = 0, bad = 0;
};

Result match(const std::vector<int64_t> &glass, const std::vector<std::pair<int64_t, int64_t>> &seen, size_t bad) {
  Result r;
  r.sent = glass.size();
  r.bad = bad;
  for (auto &[n, t] : seen) {
    // Frame numbers wrap at 65536 (36 min at 30 fps): never within a run.
    if (n < int64_t(glass.size())) r.lat_ms.push_back(double(t - glass[size_t(n)]) / 1e6);
  }
  return r;
}

void report(const char *label, const Result &r) {
  std::printf("   %-48s frames sent %zu rendered+decoded %zu unreadable %zu  p50 %7.1f ms  p95 %7.1f ms  p99 %7.1f ms  "
              "min %6.1f max %7.1f\n",
              label, r.sent, r.lat_ms.size(), r.bad, percentile(r.lat_ms, 0.5), percentile(r.lat_ms, 0.95),
              percentile(r.lat_ms, 0.99), percentile(r.lat_ms, 0), percentile(r.lat_ms, 1));
  if (r.lat_ms.size() > 90) {
    std::vector<double> steady(r.lat_ms.begin() + 60, r.lat_ms.end());
    std::printf("   %-48s   after the first 60 rendered frames (start-up excluded): p50 %7.1f ms  p95 %7.1f ms\n", "",
                percentile(steady, 0.5), percentile(steady, 0.95));
  }
  std::fflush(stdout);
}

// CPU % of one core of this process between warm-up end and `seconds`.
double measure_cpu(double warmup, double seconds) {
  std::this_thread::sleep_for(std::chrono::milliseconds(int(warmup * 1000)));
  double c0 = cpu_seconds();
  int64_t w0 = now_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(int((seconds - warmup) * 1000)));
  return 100.0 * (cpu_seconds() - c0) / (double(now_ns() - w0) / 1e9);
}

int child(int argc, char **argv) {
  std::string role = arg_value(argc, argv, "--role"), url = arg_value(argc, argv, "--url"),
              room = arg_value(argc, argv, "--room"), out = arg_value(argc, argv, "--out");
  double seconds = std::atof(arg_value(argc, argv, "--seconds", "25").c_str());
  if (role == "recv") {
    Detector det;
    det.deadline_zero = true;
    OurPeer rx(url, room, "rx", kBackChannel, "", {"audio", "video"}, [&det](GstElement *p, GstPad *pad) {
      if (pad_kind(pad) == "video") det.attach(p, pad);
      else attach_sink(p, pad);
    });
    int latency = std::atoi(arg_value(argc, argv, "--latency", "-1").c_str());
    if (latency >= 0) {
      GstElement *src = rx.by_name("src");
      g_object_set(src, "latency", (guint)latency, nullptr);
      gst_object_unref(src);
    }
    rx.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(int((seconds + 1) * 1000)));
    if (g_getenv("MESHFLOW_BENCH_DEBUG")) {
      GstElement *src = rx.by_name("src");
      GstStructure *st = nullptr;
      g_object_get(src, "stats", &st, nullptr);
      gchar *txt = st ? gst_structure_to_string(st) : g_strdup("none");
      std::fprintf(stderr, "receiver stats: %s\n", txt);
      g_free(txt);
      if (st) gst_structure_free(st);
      gst_object_unref(src);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2000));
    std::lock_guard<std::mutex> l(det.mu);
    FILE *f = std::fopen(out.c_str(), "w");
    std::fprintf(f, "%zu\n", det.bad);
    for (auto &[n, t] : det.seen) std::fprintf(f, "%lld %lld\n", (long long)n, (long long)t);
    std::fclose(f);
    return 0;
  }
  double cpu = 0;
  std::vector<int64_t> glass;
  if (role == "send") {
    OurPeer tx(url, room, "tx", kBackChannel, kAppsrc, {"audio", "video"}, nullptr);
    tx.start();
    GstElement *src = tx.by_name("vsrc");
    Producer p(tx.pipeline(), src);
    p.start();
    cpu = measure_cpu(5, seconds);
    p.stop();
    gst_object_unref(src);
    glass = p.glass;
  } else {  // encode-base: the baseline encode path, CPU only
    GstElement *pipe = gst_parse_launch(
        (std::string(kAppsrc) + " ! vp8enc ! rtpvp8pay ! fakesink sync=false async=false").c_str(), nullptr);
    gst_element_set_state(pipe, GST_STATE_PLAYING);
    GstElement *src = gst_bin_get_by_name(GST_BIN(pipe), "vsrc");
    Producer p(pipe, src);
    p.start();
    cpu = measure_cpu(5, seconds);
    p.stop();
    gst_element_set_state(pipe, GST_STATE_NULL);
    gst_object_unref(src);
    gst_object_unref(pipe);
  }
  FILE *f = std::fopen(out.c_str(), "w");
  std::fprintf(f, "%.3f\n", cpu);
  for (int64_t t : glass) std::fprintf(f, "%lld\n", (long long)t);
  std::fclose(f);
  return 0;
}

std::string tmp_name(const std::string &what) {
  return "/tmp/mf-bench-video-" + what + "-" + std::to_string(getpid());
}

Result run_ours(const std::string &url, double seconds, double *cpu, int latency = -1) {
  std::string gf = tmp_name("glass"), df = tmp_name("det"), secs = std::to_string(seconds);
  std::string room = "video" + std::to_string(latency);
  pid_t rx = spawn_self({"--role", "recv", "--url", url, "--room", room, "--seconds", secs, "--out", df, "--latency",
                         std::to_string(latency)});
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  pid_t tx = spawn_self({"--role", "send", "--url", url, "--room", room, "--seconds", secs, "--out", gf});
  wait_child(tx);
  wait_child(rx);
  auto g = read_rows(gf), d = read_rows(df);
  if (g_getenv("MESHFLOW_BENCH_DEBUG")) {
    std::string cmd = "cp " + df + " /tmp/mf-bench-video-det.txt; cp " + gf + " /tmp/mf-bench-video-glass.txt";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "copy failed\n");
  }
  unlink(gf.c_str());
  unlink(df.c_str());
  std::vector<int64_t> glass;
  *cpu = g.empty() ? NAN : g[0][0];
  for (size_t i = 1; i < g.size(); i++) glass.push_back(int64_t(g[i][0]));
  std::vector<std::pair<int64_t, int64_t>> seen;
  size_t bad = d.empty() ? 0 : size_t(d[0][0]);
  for (size_t i = 1; i < d.size(); i++)
    if (d[i].size() == 2) seen.emplace_back(int64_t(d[i][0]), int64_t(d[i][1]));
  return match(glass, seen, bad);
}

double run_encode_base(double seconds) {
  std::string f = tmp_name("cpu");
  wait_child(spawn_self({"--role", "encode-base", "--seconds", std::to_string(seconds), "--out", f}));
  auto rows = read_rows(f);
  unlink(f.c_str());
  return rows.empty() ? NAN : rows[0][0];
}

Result run_base(double seconds) {
  Detector det;
  BasePair pair(std::string(kAppsrc) +
                    " ! vp8enc ! rtpvp8pay ! application/x-rtp,media=video,encoding-name=VP8,payload=96 "
                    "! webrtcbin name=w",
                [&det](GstElement *p, GstPad *pad) { det.attach(p, pad, "rtpvp8depay ! vp8dec ! "); });
  pair.start();
  GstElement *src = gst_bin_get_by_name(GST_BIN(pair.sender()), "vsrc");
  Producer p(pair.sender(), src);
  p.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(int(seconds * 1000)));
  p.stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  gst_object_unref(src);
  std::lock_guard<std::mutex> l(det.mu);
  return match(p.glass, det.seen, det.bad);
}

}  // namespace

int main(int argc, char **argv) {
  if (bench_start(argc, argv, "--role")) return child(argc, argv);

  const char *env = g_getenv("MESHFLOW_BENCH_VIDEO_SECONDS");
  double seconds = env ? std::atof(env) : 25;
  print_header("webrtc-video", "720p30 VP8 glass-to-glass latency and CPU per outgoing stream, loopback netns");
  std::printf("   ours: 2 processes via the embedded signalling server (mfwebrtcsink VP8 real-time settings,\n"
              "         mfwebrtcsrc defaults: video-latency 20 ms, sink processing-deadline=0); baseline: plain webrtcbin + vp8enc\n"
              "         defaults, 2 pipelines in one process. %.0f s each (CPU: last %.0f s).\n",
              seconds, seconds - 5);
  std::fflush(stdout);
  double cpu_ours = NAN;
  Result ours;
  const char *lat_env = g_getenv("MESHFLOW_BENCH_VIDEO_LATENCY");
  int lat = lat_env ? std::atoi(lat_env) : 0;  // comparison run (-1: none); 0 = the old default
  Result ours_lat;
  double cpu_lat = NAN;
  {
    mf::test::ServerThread server;
    ours = run_ours(server.url(), seconds, &cpu_ours);
    report("ours glass-to-glass (defaults: video-latency 20 ms)", ours);
    if (lat >= 0) {
      ours_lat = run_ours(server.url(), seconds, &cpu_lat, lat);
      std::string label = "ours, mfwebrtcsrc latency=" + std::to_string(lat) + " ms (not default; 0 was the default before)";
      report(label.c_str(), ours_lat);
    }
  }
  double cpu_base = run_encode_base(seconds);
  std::printf("   CPU per outgoing 720p30 VP8 stream, %% of one core (getrusage of the sending process):\n"
              "     ours (whole sending process: producer + encode + SRTP + webrtcbin)  %6.1f %%\n"
              "     baseline (producer + vp8enc defaults + rtpvp8pay only)              %6.1f %%\n"
              "     ratio baseline/ours %.2fx; target ours <= 25 %%: %s\n",
              cpu_ours, cpu_base, cpu_base / cpu_ours, cpu_ours <= 25 ? "MET" : "NOT MET");
  std::fflush(stdout);
  Result base = run_base(seconds - 5);
  report("baseline webrtcbin + vp8enc defaults", base);
  std::printf("   ratio baseline/ours p50 %.2fx, p95 %.2fx; target ours p95 <= 40 ms: %s\n",
              percentile(base.lat_ms, 0.5) / percentile(ours.lat_ms, 0.5),
              percentile(base.lat_ms, 0.95) / percentile(ours.lat_ms, 0.95),
              percentile(ours.lat_ms, 0.95) <= 40 ? "MET" : "NOT MET");
  if (!ours_lat.lat_ms.empty())
    std::printf("   with mfwebrtcsrc latency=%d ms: ratio baseline/ours p50 %.2fx, p95 %.2fx; p95 <= 40 ms: %s\n", lat,
                percentile(base.lat_ms, 0.5) / percentile(ours_lat.lat_ms, 0.5),
                percentile(base.lat_ms, 0.95) / percentile(ours_lat.lat_ms, 0.95),
                percentile(ours_lat.lat_ms, 0.95) <= 40 ? "MET" : "NOT MET");
  std::printf("   (no keyframe-request / loss cases measured; frames whose blocks do not decode are 'unreadable')\n");
  print_footer("webrtc-video");
  return ours.lat_ms.empty() ? 1 : 0;
}
