// Failure and churn tests of the WebRTC nodes, in-process (pipelines per peer, in-process server).
#include <gtest/gtest.h>
#include <dirent.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "harness.h"

using namespace mf::test;
using namespace std::chrono_literals;

namespace {

int count_dir(const char *path) {
  int n = 0;
  if (DIR *d = opendir(path)) {
    while (dirent *e = readdir(d))
      if (e->d_name[0] != '.') n++;
    closedir(d);
  }
  return n;
}

long rss_kb() {
  std::ifstream f("/proc/self/status");
  std::string k;
  long v = 0;
  while (f >> k) {
    if (k == "VmRSS:") {
      f >> v;
      return v;
    }
    f.ignore(1 << 12, '\n');
  }
  return 0;
}

int peer_count(GstElement *e) {
  GstStructure *st = nullptr;
  g_object_get(e, "stats", &st, nullptr);
  int n = -1;
  gst_structure_get_int(st, "peers", &n);
  gst_structure_free(st);
  return n;
}

}  // namespace

// Bob gathers candidates only on an address that exists on no interface: ICE can never connect.
// Both sides give up within a bound (setup-timeout 2 s: bob, the offerer, makes 2 fresh offers, then
// fails; alice, the answerer, waits 2x the timeout per offer), report `failed` on the bus, and free
// the peer. Neither pipeline errors.
TEST(WebrtcFailure, IceNeverConnects) {
  ServerThread server;
  PeerOptions a = peer_options(server.url(), "alice");
  a.setup_timeout_ms = 2000;
  PeerOptions b = a;
  b.peer_id = "bob";
  b.local_addresses = {"10.254.254.254"};
  PeerPipeline pa(a), pb(b);
  ASSERT_TRUE(pa.start());
  ASSERT_TRUE(wait_for([&] { return pa.has_event("announced:alice"); }, 10s));
  ASSERT_TRUE(pb.start());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(wait_for([&] { return pb.has_event("failed:alice"); }, 20s));
  double bob_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(wait_for([&] { return pa.has_event("failed:bob") || pa.has_event("peer-left:bob"); }, 20s));
  EXPECT_TRUE(wait_for([&] { return peer_count(pa.source()) == 0 && peer_count(pb.source()) == 0; }, 20s));
  EXPECT_LT(bob_s, 15.0);
  EXPECT_EQ(pa.count("video_bob"), 0u);
  for (auto &e : pa.errors) ADD_FAILURE() << "alice: " << e;
  for (auto &e : pb.errors) ADD_FAILURE() << "bob: " << e;
  RecordProperty("bob_gave_up_after_s", std::to_string(bob_s));
}

// 50 cycles of a second peer (bob, a whole pipeline of its own in this process) joining, exchanging
// media both ways and leaving. Everything of a cycle is freed, so the process's fds and threads are
// EXACTLY flat after a warm-up of 5 cycles (first-use allocations: GStreamer's thread pools, the
// DTLS certificate, plugin loading, the usrsctp stack), and RSS grows by at most a bounded amount.
//
// Root cause of the old "~12 fds + 2 threads + 1.75 MB per cycle" leak: the harness never drained
// alice's bus, and each queued message kept a ref on the webrtcbin child that posted it (nicesrc /
// nicesink keep the libnice agent and its UDP + ICE-TCP sockets, webrtcbin keeps its pc and ice
// threads). With a bus handler dropping messages as they come (as any application's bus watch does;
// see harness.h and docs/debugging.md) everything is finalized.
TEST(WebrtcChurn, FiftyJoinLeaveCycles) {
  ServerThread server;
  PeerOptions a = peer_options(server.url(), "alice");
  if (g_getenv("MF_CHURN_NODC")) a.data_channel = false;
  PeerPipeline pa(a);
  ASSERT_TRUE(pa.start());
  ASSERT_TRUE(wait_for([&] { return pa.has_event("announced:alice"); }, 10s));
  int fds0 = 0, thr0 = 0;
  long rss0 = 0, rss_mid = 0;
  const int kCycles = g_getenv("MF_CHURN_CYCLES") ? std::max(atoi(g_getenv("MF_CHURN_CYCLES")), 6) : 50;
  const int kWarmup = 5;
  // A cycle's objects are freed asynchronously (webrtcbin's ICE / pc threads are joined when the
  // last ref goes, the usrsctp association timers run out): wait, bounded, for the counts to settle
  // back to the baseline instead of sampling once.
  auto settled = [&](int *fds, int *thr) {
    wait_for([&] {
      *fds = count_dir("/proc/self/fd");
      *thr = count_dir("/proc/self/task");
      return *fds <= fds0 && *thr <= thr0;
    }, 5s);
  };
  int max_fds = 0, max_thr = 0;
  for (int i = 0; i < kCycles; i++) {
    PeerOptions b = a;
    b.peer_id = "bob";
    {
      PeerPipeline pb(b);
      ASSERT_TRUE(pb.start());
      ASSERT_TRUE(wait_for([&] { return pa.count("video_bob") > 2 && pb.count("video_alice") > 2 &&
                                        pa.count("audio_bob") > 2; }, 20s))
          << "cycle " << i;
      pb.stop();
    }
    ASSERT_TRUE(wait_for([&] { return !pa.has_pad("video_bob") && !pa.has_pad("audio_bob") &&
                                      peer_count(pa.source()) == 0; }, 10s))
        << "cycle " << i;
    pa.poll_bus();
    pa.events.clear();
    if (i == kWarmup - 1) {
      std::this_thread::sleep_for(500ms);
      fds0 = count_dir("/proc/self/fd");
      thr0 = count_dir("/proc/self/task");
      rss0 = rss_kb();
    } else if (i >= kWarmup) {
      int f = 0, t = 0;
      settled(&f, &t);
      max_fds = std::max(max_fds, f);
      max_thr = std::max(max_thr, t);
      if (i == kWarmup + (kCycles - kWarmup) / 2) rss_mid = rss_kb();
      if (g_getenv("MF_CHURN_DEBUG"))
        std::printf("cycle %d: fds %d threads %d rss %ld kB\n", i, f, t, rss_kb());
    }
  }
  int fds = 0, thr = 0;
  settled(&fds, &thr);
  long rss = rss_kb();
  if (g_getenv("MF_CHURN_DEBUG")) {
    std::string pid = std::to_string(getpid());
    std::string cmd = "for t in /proc/" + pid + "/task/*; do cat $t/comm; done | sort | uniq -c | sort -rn; ls -l /proc/" + pid +
                      "/fd | awk '{print $NF}' | sed 's/[0-9]*//g' | sort | uniq -c";
    std::system(cmd.c_str());
  }
  int n = kCycles - kWarmup;
  std::printf("churn: fds %d -> %d (max %d), threads %d -> %d (max %d), RSS %ld -> %ld (mid %ld) kB over %d cycles\n",
              fds0, fds, max_fds, thr0, thr, max_thr, rss0, rss, rss_mid, n);
  // Our own objects are gone: no per-peer element left in either bin.
  EXPECT_EQ(GST_BIN_NUMCHILDREN(pa.source()), 0);
  EXPECT_EQ(GST_BIN_NUMCHILDREN(pa.sink()), 9);  // the two encoder chains only
  // Exactly flat after the warm-up: every cycle settles back to the baseline.
  EXPECT_LE(max_fds, fds0);
  EXPECT_LE(max_thr, thr0);
  EXPECT_LE(fds, fds0);
  EXPECT_LE(thr, thr0);
  // RSS is not exactly flat even without a leak: glibc malloc keeps freed memory in per-thread
  // arenas (each cycle's bob runs on new streaming threads) and fragments. Measured with no leak
  // (50 cycles): +8-13 MB over the first cycles after the warm-up, then a plateau that moved by
  // 3 MB (idle machine) to 12 MB (the whole suite and other builds running) over the second half.
  // So: at most 32 MB in total and 16 MB over the second half. The old per-peer leak (1.75 MB a
  // cycle: ~79 MB in total, ~38 MB over the second half) breaks both.
  EXPECT_LE(rss, rss0 + 32 * 1024) << "RSS grew " << (rss - rss0) << " kB over " << n << " cycles";
  if (rss_mid > 0) {
    EXPECT_LE(rss, rss_mid + 16 * 1024) << "RSS grew " << (rss - rss_mid) << " kB over the second half";
  }
  RecordProperty("fds_growth", std::to_string(fds - fds0));
  RecordProperty("threads_growth", std::to_string(thr - thr0));
  RecordProperty("rss_growth_kb", std::to_string(rss - rss0));
  pa.poll_bus();
  for (auto &e : pa.errors) ADD_FAILURE() << "alice: " << e;
}
