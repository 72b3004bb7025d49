// WebRTC audio-only mesh around one node: RSS and threads per added peer, then a 9-peer mesh held for
// 60 s (CPU, RSS, underruns), ours against plain webrtcbin with defaults.
//
// Ours: this process is the node: one pipeline, audiotestsrc (live, 10 ms buffers) -> mfwebrtcsink
// (one Opus encoder, RTP fanned out to every peer) and mfwebrtcsrc -> fakesink per remote peer. Each
// other peer is a separate process (this binary with --role peer) with the same pipeline, joined to
// the same room through the embedded signalling server in this process, so only the node's memory
// is in VmRSS. Peers are added one at a time; after each, once the node decodes that peer's audio
// and 2 s have passed, VmRSS and Threads of the node are read (/proc/self/status). The figure is the
// least-squares slope per added peer. Then, with MESHFLOW_BENCH_MESH_PEERS (default 9) peers, the
// node's CPU (getrusage, % of one core) over MESHFLOW_BENCH_MESH_SECONDS (default 60) s, RSS at the
// end, and underruns: a decoded stream whose next buffer starts more than 5 ms after the previous
// one ended (what an audio sink would play as a dropout), summed over the node's received streams.
// Baseline: N pairs of plain webrtcbins (defaults: 200 ms latency, an opusenc per pair) in this
// process, audiotestsrc ! opusenc ! rtpopuspay ! webrtcbin -> webrtcbin ! rtpopusdepay ! opusdec !
// fakesink: each pair adds one send and one receive path, as one added peer does to the node. Same
// RSS/threads slope, and CPU + underruns over MESHFLOW_BENCH_MESH_BASE_SECONDS (default 30) s.
// The other peers' processes run on the same 2 cores; to load the machine less they receive with
// decode=false (RTP to a fakesink) and connect only to the node (`remote-peers=node`: a star around
// the node, whose side of every link is exactly what it is in a full mesh). MESHFLOW_BENCH_MESH_FULL=1
// makes them a full mesh among themselves too (9 x 8 more webrtcbins on the same 2 cores: load ~30,
// and the senders' scheduling jitter reaches the node as late packets).
#include <gst/gst.h>
#include <signal.h>

#include <cmath>
#include <map>
#include <memory>
#include <thread>

#include "bench_common.h"
#include "harness.h"

using namespace mf::bench;

namespace {

constexpr const char *kSrc =
    "audiotestsrc is-live=true wave=sine freq=440 volume=0.3 samplesperbuffer=480 ! "
    "capsfilter caps=audio/x-raw,rate=48000,channels=1";

// Decoded-audio continuity per stream.
struct Continuity {
  std::mutex mu;
  std::map<GstPad *, GstClockTime> next;
  std::atomic<uint64_t> underruns{0}, buffers{0}, streams{0};
  std::atomic<bool> counting{false};
  // Underruns by gap length: 5-10, 10-20, 20-40, 40-80, >= 80 ms.
  std::atomic<uint64_t> gaps[5] = {};
  void watch(GstPad *pad) {
    streams++;
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, +[](GstPad *p, GstPadProbeInfo *info, gpointer d) {
      auto *self = static_cast<Continuity *>(d);
      GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
      self->buffers++;
      if (!GST_BUFFER_PTS_IS_VALID(b) || !GST_BUFFER_DURATION_IS_VALID(b)) return GST_PAD_PROBE_OK;
      std::lock_guard<std::mutex> l(self->mu);
      auto it = self->next.find(p);
      if (it != self->next.end() && self->counting && GST_BUFFER_PTS(b) > it->second + 5 * GST_MSECOND) {
        self->underruns++;
        GstClockTime gap = GST_BUFFER_PTS(b) - it->second;
        int k = gap < 10 * GST_MSECOND ? 0 : gap < 20 * GST_MSECOND ? 1 : gap < 40 * GST_MSECOND ? 2 : gap < 80 * GST_MSECOND ? 3 : 4;
        self->gaps[k]++;
      }
      self->next[p] = GST_BUFFER_PTS(b) + GST_BUFFER_DURATION(b);
      return GST_PAD_PROBE_OK;
    }, this, nullptr);
  }
};

struct Point {
  int peers;
  long rss_kb, threads;
};

// Least-squares slope over the points with >= 1 peer (the first peer also pays one-time costs:
// webrtc/DTLS/Opus libraries, the first webrtcbin; that is reported separately).
double slope(const std::vector<Point> &all, bool threads) {
  std::vector<Point> pts;
  for (auto &p : all)
    if (p.peers >= 1) pts.push_back(p);
  double n = double(pts.size()), sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (auto &p : pts) {
    double x = p.peers, y = threads ? double(p.threads) : double(p.rss_kb) / 1024.0;
    sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  double den = n * sxx - sx * sx;
  return den == 0 ? NAN : (n * sxy - sx * sy) / den;
}

void print_points(const char *label, const std::vector<Point> &pts) {
  std::printf("   %s: peers/RSS MB/threads:", label);
  for (auto &p : pts) std::printf(" %d/%.1f/%ld", p.peers, double(p.rss_kb) / 1024.0, p.threads);
  std::printf("\n   %s: slope over 1..N peers %.2f MB RSS and %.1f threads per added peer", label, slope(pts, false),
              slope(pts, true));
  if (pts.size() >= 2)
    std::printf(" (first peer: %+.1f MB, %+ld threads)", double(pts[1].rss_kb - pts[0].rss_kb) / 1024.0,
                pts[1].threads - pts[0].threads);
  std::printf("\n");
  std::fflush(stdout);
}

bool wait_until(const std::function<bool()> &c, int ms) {
  int64_t end = now_ns() + int64_t(ms) * 1000000;
  while (now_ns() < end) {
    if (c()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return c();
}

bool full_mesh() { return g_getenv("MESHFLOW_BENCH_MESH_FULL") && std::atoi(g_getenv("MESHFLOW_BENCH_MESH_FULL")); }

int peer_child(int argc, char **argv) {
  OurPeer p(arg_value(argc, argv, "--url"), arg_value(argc, argv, "--room"), arg_value(argc, argv, "--id"), kSrc, "",
            {"audio", "video"}, nullptr);
  // The load generator shares the 2 cores: the other peers do not decode what they receive.
  GstElement *src = p.by_name("src");
  g_object_set(src, "decode", FALSE, nullptr);
  if (!full_mesh()) {
    const gchar *only_node[] = {"node", nullptr};
    g_object_set(src, "remote-peers", only_node, nullptr);
  }
  gst_object_unref(src);
  p.start();
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(60));  // until SIGTERM
}

struct Steady {
  double cpu = NAN;
  long rss_kb = 0, threads = 0;
  uint64_t underruns = 0, buffers = 0;
  uint64_t gaps[5] = {};
};

Steady hold(Continuity &cont, double seconds) {
  Steady s;
  cont.counting = true;
  uint64_t u0 = cont.underruns, b0 = cont.buffers;
  for (auto &g : cont.gaps) g = 0;
  double c0 = cpu_seconds();
  int64_t w0 = now_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(int(seconds * 1000)));
  s.cpu = 100.0 * (cpu_seconds() - c0) / (double(now_ns() - w0) / 1e9);
  s.underruns = cont.underruns - u0;
  for (int k = 0; k < 5; k++) s.gaps[k] = cont.gaps[k];
  s.buffers = cont.buffers - b0;
  rss_threads(&s.rss_kb, &s.threads);
  cont.counting = false;
  return s;
}

void print_steady(const char *label, const Steady &s, int peers, double seconds) {
  std::printf("   %s, %d peers, %.0f s: CPU %.1f %% of one core, RSS %.1f MB, threads %ld, underruns %llu "
              "(decoded buffers %llu)\n",
              label, peers, seconds, s.cpu, double(s.rss_kb) / 1024.0, s.threads, (unsigned long long)s.underruns,
              (unsigned long long)s.buffers);
  if (s.underruns)
    std::printf("      gaps 5-10 ms %llu, 10-20 ms %llu, 20-40 ms %llu, 40-80 ms %llu, >= 80 ms %llu\n",
                (unsigned long long)s.gaps[0], (unsigned long long)s.gaps[1], (unsigned long long)s.gaps[2],
                (unsigned long long)s.gaps[3], (unsigned long long)s.gaps[4]);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char **argv) {
  if (bench_start(argc, argv, "--role")) return peer_child(argc, argv);

  auto env_num = [](const char *n, double d) { return g_getenv(n) ? std::atof(g_getenv(n)) : d; };
  int npeers = int(env_num("MESHFLOW_BENCH_MESH_PEERS", 9));
  double seconds = env_num("MESHFLOW_BENCH_MESH_SECONDS", 60), base_seconds = env_num("MESHFLOW_BENCH_MESH_BASE_SECONDS", 30);
  print_header("webrtc-mesh", "audio-only mesh around one node: RSS/threads per added peer, CPU/underruns");
  std::printf("   ours: this process = the node (mfwebrtcsrc + mfwebrtcsink, one shared Opus encoder), each peer a\n"
              "         separate process (%s); baseline: plain webrtcbin pairs (defaults) in this\n"
              "         process, one pair per added peer. Other processes share the 2 cores.\n",
              full_mesh() ? "full mesh among themselves too" : "connected to the node only: a star");
  std::fflush(stdout);

  std::vector<Point> ours_pts, base_pts;
  Steady ours_steady, base_steady;
  int connected = 0;
  {
    mf::test::ServerThread server;
    Continuity cont;
    std::atomic<int> pads{0};
    OurPeer node(server.url(), "mesh", "node", kSrc, "", {"audio", "video"}, [&](GstElement *p, GstPad *pad) {
      GstElement *b = attach_bin(p, pad, "fakesink sync=false async=false");
      if (!b || pad_kind(pad) != "audio") return;
      GstPad *sp = gst_element_get_static_pad(b, "sink");
      cont.watch(sp);
      gst_object_unref(sp);
      pads++;
    });
    node.start();
    wait_until([&] { return node.announced_ns != 0; }, 10000);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    long rss, thr;
    rss_threads(&rss, &thr);
    ours_pts.push_back({0, rss, thr});
    std::vector<pid_t> kids;
    for (int i = 1; i <= npeers; i++) {
      kids.push_back(spawn_self({"--role", "peer", "--url", server.url(), "--room", "mesh", "--id", "p" + std::to_string(i)}));
      if (!wait_until([&] { return pads.load() >= i; }, 20000)) {
        std::printf("   ours: peer %d not decoded by the node within 20 s\n", i);
        break;
      }
      connected = i;
      std::this_thread::sleep_for(std::chrono::seconds(2));
      rss_threads(&rss, &thr);
      ours_pts.push_back({i, rss, thr});
    }
    print_points("ours", ours_pts);
    ours_steady = hold(cont, seconds);
    print_steady("ours node", ours_steady, connected, seconds);
    for (pid_t k : kids) kill(k, SIGTERM);
    for (pid_t k : kids) wait_child(k);
  }

  {
    Continuity cont;
    std::vector<std::unique_ptr<BasePair>> pairs;
    long rss, thr;
    rss_threads(&rss, &thr);
    base_pts.push_back({0, rss, thr});
    std::atomic<int> pads{0};
    for (int i = 1; i <= npeers; i++) {
      pairs.push_back(std::make_unique<BasePair>(
          std::string(kSrc) +
              " ! opusenc ! rtpopuspay ! application/x-rtp,media=audio,encoding-name=OPUS,payload=96 ! webrtcbin name=w",
          [&](GstElement *p, GstPad *pad) {
            GstElement *b = attach_bin(p, pad, "rtpopusdepay ! opusdec ! fakesink sync=false async=false");
            if (!b) return;
            GstPad *sp = gst_element_get_static_pad(b, "sink");
            cont.watch(sp);
            gst_object_unref(sp);
            pads++;
          }));
      pairs.back()->start();
      wait_until([&] { return pads.load() >= i; }, 20000);
      std::this_thread::sleep_for(std::chrono::seconds(2));
      rss_threads(&rss, &thr);
      base_pts.push_back({i, rss, thr});
    }
    print_points("baseline", base_pts);
    base_steady = hold(cont, base_seconds);
    print_steady("baseline pairs", base_steady, npeers, base_seconds);
  }
  double s_ours = slope(ours_pts, false), s_base = slope(base_pts, false);
  std::printf("   RSS per added peer: ours %.2f MB, baseline %.2f MB, ratio baseline/ours %.2fx; target <= 5 MB: %s\n",
              s_ours, s_base, s_base / s_ours, s_ours <= 5 ? "MET" : "NOT MET");
  std::printf("   %d-peer mesh CPU: ours %.1f %%, baseline %.1f %%, ratio %.2fx; target <= 15 %% and 0 underruns: %s\n",
              connected, ours_steady.cpu, base_steady.cpu, base_steady.cpu / ours_steady.cpu,
              ours_steady.cpu <= 15 && ours_steady.underruns == 0 ? "MET" : "NOT MET");
  print_footer("webrtc-mesh");
  return connected == npeers ? 0 : 1;
}
