// WebRTC connection setup: announce -> first decoded media buffer, ours against plain webrtcbin.
//
// Ours: the embedded signalling server on a thread of this process; peer A (mfwebrtcsink with a live
// Opus audio source + mfwebrtcsrc receiving audio) joins a fresh room; once A is announced, peer B
// (the same) joins. t0 = B's `announced` event (B then creates its webrtcbin and offers), t1 = first
// decoded audio buffer on B's mfwebrtcsrc pad carrying A's audio (a pad probe). The time until A
// decodes B's audio is printed as well ("both ways").
// Baseline: two plain webrtcbins (defaults) in two pipelines, SDP/candidates passed in-process,
// audiotestsrc ! opusenc ! rtpopuspay -> webrtcbin ... webrtcbin -> rtpopusdepay ! opusdec ! fakesink.
// t0 = before the two pipelines are built, t1 = first decoded buffer at the receiver.
// Warm: MESHFLOW_BENCH_SETUP_WARM (default 15) connections in one process after one unmeasured
// connection (the DTLS certificate exists). Cold: MESHFLOW_BENCH_SETUP_COLD (default 10) fresh
// processes, each making ONE connection (its first): for ours the DTLS warm-up thread starts when A's
// pipeline goes to READY, so a peer joining right away may still wait for the key generation.
// Everything runs in a loopback-only network namespace with ICE on 127.0.0.1.
#include <gst/gst.h>

#include <cmath>
#include <memory>
#include <thread>

#include "bench_common.h"
#include "harness.h"

using namespace mf::bench;

namespace {

constexpr const char *kAudioSrc =
    "audiotestsrc is-live=true wave=sine samplesperbuffer=480 ! capsfilter caps=audio/x-raw,rate=48000,channels=1";
constexpr const char *kDecodedSink = "fakesink sync=false async=false name=fs";

int64_t g_main_ns = 0;

struct FirstBuffer {
  std::atomic<int64_t> t{0};
};

void probe_first(GstPad *pad, FirstBuffer *fb) {
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, +[](GstPad *, GstPadProbeInfo *, gpointer d) {
    auto *f = static_cast<FirstBuffer *>(d);
    int64_t z = 0;
    f->t.compare_exchange_strong(z, now_ns());
    return GST_PAD_PROBE_REMOVE;
  }, fb, nullptr);
}

bool wait_until(const std::function<bool()> &c, int ms) {
  int64_t end = now_ns() + int64_t(ms) * 1000000;
  while (now_ns() < end) {
    if (c()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return c();
}

struct Sample {
  double newcomer_ms = NAN, both_ms = NAN, from_start_ms = NAN;
};

// One connection of ours. Returns NaN fields on failure.
Sample ours_once(const std::string &url, int n) {
  Sample s;
  std::string room = "setup-" + std::to_string(getpid()) + "-" + std::to_string(n);
  FirstBuffer a_got, b_got;
  auto on_pad = [](FirstBuffer *fb) {
    return [fb](GstElement *pipeline, GstPad *pad) {
      GstElement *b = attach_bin(pipeline, pad, kDecodedSink);
      if (!b) return;
      GstPad *sp = gst_element_get_static_pad(b, "sink");
      probe_first(sp, fb);
      gst_object_unref(sp);
    };
  };
  OurPeer a(url, room, "a", kAudioSrc, "", {"audio"}, on_pad(&a_got));
  OurPeer b(url, room, "b", kAudioSrc, "", {"audio"}, on_pad(&b_got));
  a.start();
  if (!wait_until([&] { return a.announced_ns != 0; }, 10000)) return s;
  b.start();
  if (!wait_until([&] { return b_got.t != 0 && a_got.t != 0; }, 15000)) return s;
  s.newcomer_ms = double(b_got.t - b.announced_ns) / 1e6;
  s.both_ms = double(std::max(a_got.t.load(), b_got.t.load()) - b.announced_ns) / 1e6;
  s.from_start_ms = double(b_got.t - g_main_ns) / 1e6;
  return s;
}

Sample base_once() {
  Sample s;
  FirstBuffer got;
  int64_t t0 = now_ns();
  BasePair pair(std::string(kAudioSrc) +
                    " ! opusenc ! rtpopuspay ! application/x-rtp,media=audio,encoding-name=OPUS,payload=96 "
                    "! webrtcbin name=w",
                [&got](GstElement *pipeline, GstPad *pad) {
                  GstElement *b = attach_bin(pipeline, pad, std::string("rtpopusdepay ! opusdec ! ") + kDecodedSink);
                  if (!b) return;
                  GstElement *fs = gst_bin_get_by_name(GST_BIN(b), "fs");
                  GstPad *sp = gst_element_get_static_pad(fs, "sink");
                  probe_first(sp, &got);
                  gst_object_unref(sp);
                  gst_object_unref(fs);
                });
  pair.start();
  if (!wait_until([&] { return got.t != 0; }, 15000)) return s;
  s.newcomer_ms = s.both_ms = double(got.t - t0) / 1e6;
  s.from_start_ms = double(got.t - g_main_ns) / 1e6;
  return s;
}

void report(const char *label, const std::vector<double> &v, int attempts) {
  std::printf("   %-58s n=%zu/%d  p50 %7.1f ms  p95 %7.1f ms  min %7.1f  max %7.1f\n", label, v.size(), attempts,
              percentile(v, 0.5), percentile(v, 0.95), percentile(v, 0), percentile(v, 1));
}

void collect(std::vector<double> *out, double x) {
  if (!std::isnan(x)) out->push_back(x);
}

// Child: one cold connection; prints "newcomer both from_start" on stdout.
int cold_child(bool ours) {
  Sample s;
  if (ours) {
    mf::test::ServerThread server;
    s = ours_once(server.url(), 0);
  } else {
    s = base_once();
  }
  std::printf("%.3f %.3f %.3f\n", s.newcomer_ms, s.both_ms, s.from_start_ms);
  std::fflush(stdout);
  return std::isnan(s.newcomer_ms) ? 1 : 0;
}

std::vector<Sample> run_cold(bool ours, int n) {
  std::vector<Sample> out;
  for (int i = 0; i < n; i++) {
    char tmpl[] = "/tmp/mf-bench-setup-XXXXXX";
    int fd = mkstemp(tmpl);
    pid_t pid = fork();
    if (pid == 0) {
      dup2(fd, 1);
      char self[4096];
      ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
      self[len > 0 ? len : 0] = 0;
      execl(self, self, "--cold", ours ? "ours" : "base", (char *)nullptr);
      _exit(127);
    }
    close(fd);
    wait_child(pid);
    auto rows = read_rows(tmpl);
    unlink(tmpl);
    Sample s;
    if (!rows.empty() && rows[0].size() == 3) {
      s.newcomer_ms = rows[0][0];
      s.both_ms = rows[0][1];
      s.from_start_ms = rows[0][2];
    }
    out.push_back(s);
  }
  return out;
}

}  // namespace

int main(int argc, char **argv) {
  g_main_ns = now_ns();
  if (bench_start(argc, argv, "--cold")) return cold_child(arg_value(argc, argv, "--cold") == "ours");

  int warm_n = std::atoi(g_getenv("MESHFLOW_BENCH_SETUP_WARM") ? g_getenv("MESHFLOW_BENCH_SETUP_WARM") : "15");
  int cold_n = std::atoi(g_getenv("MESHFLOW_BENCH_SETUP_COLD") ? g_getenv("MESHFLOW_BENCH_SETUP_COLD") : "10");
  print_header("webrtc-setup", "announce -> first decoded audio buffer (Opus), loopback netns, ICE 127.0.0.1");
  std::printf("   ours: mfwebrtcsrc/mfwebrtcsink via the embedded signalling server (t0 = newcomer's 'announced')\n"
              "   baseline: plain webrtcbin defaults, 2 pipelines, SDP/candidates in-process (t0 = before building)\n");

  // Cold first (fresh processes).
  std::vector<double> cold_ours, cold_ours_start, cold_base;
  for (auto &s : run_cold(true, cold_n)) {
    collect(&cold_ours, s.newcomer_ms);
    collect(&cold_ours_start, s.from_start_ms);
  }
  for (auto &s : run_cold(false, cold_n)) collect(&cold_base, s.newcomer_ms);

  // Warm.
  std::vector<double> warm_ours, warm_ours_both, warm_base;
  {
    mf::test::ServerThread server;
    ours_once(server.url(), -1);  // unmeasured: makes sure the certificate exists
    for (int i = 0; i < warm_n; i++) {
      Sample s = ours_once(server.url(), i);
      collect(&warm_ours, s.newcomer_ms);
      collect(&warm_ours_both, s.both_ms);
    }
  }
  base_once();
  for (int i = 0; i < warm_n; i++) collect(&warm_base, base_once().newcomer_ms);

  std::printf("   -- warm (certificate already generated in this process)\n");
  report("ours: announce -> first decoded audio at newcomer", warm_ours, warm_n);
  report("ours: announce -> first decoded audio, both directions", warm_ours_both, warm_n);
  report("baseline webrtcbin: build -> first decoded audio", warm_base, warm_n);
  std::printf("   warm p50 ratio baseline/ours %.2fx, p95 ratio %.2fx; target ours warm p95 <= 150 ms: %s\n",
              percentile(warm_base, 0.5) / percentile(warm_ours, 0.5),
              percentile(warm_base, 0.95) / percentile(warm_ours, 0.95),
              percentile(warm_ours, 0.95) <= 150 ? "MET" : "NOT MET");
  std::printf("   -- cold (first connection of a fresh process, one process per sample)\n");
  report("ours: announce -> first decoded audio at newcomer", cold_ours, cold_n);
  report("ours: process start -> first decoded audio at newcomer", cold_ours_start, cold_n);
  report("baseline webrtcbin: build -> first decoded audio", cold_base, cold_n);
  std::printf("   cold p50 ratio baseline/ours %.2fx, p95 ratio %.2fx\n",
              percentile(cold_base, 0.5) / percentile(cold_ours, 0.5),
              percentile(cold_base, 0.95) / percentile(cold_ours, 0.95));
  print_footer("webrtc-setup");
  bool ok = !warm_ours.empty() && !warm_base.empty();
  return ok ? 0 : 1;
}
