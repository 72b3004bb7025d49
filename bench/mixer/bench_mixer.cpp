// Mix-minus for 10 peers: mfmixer mode=mix_minus against the baseline without mix-minus,
// 10 `audiomixer`s each mixing the 9 other inputs, fed the same data in the same run.
//
// Input: 10 appsrc, 48 kHz mono S16LE, 20 ms buffers (960 frames), non-live, pushed as fast as
// the pipeline takes them, MESHFLOW_BENCH_MIXER_SECONDS (default 60) seconds of audio each. The
// payloads are pre-generated speech-like signals (a few sines + noise, peak < 3300, so 10 peers
// never clip and both configurations must produce identical samples, which is checked first).
// Outputs: 10 fakesinks (sync=false, async=false); mixers use 20 ms output blocks.
//   A  mfmixer mode=mix_minus                     (default: a queue thread per output)
//   B  mfmixer mode=mix_minus decouple-outputs=false  (pushed from the mixing thread)
//   C  10 x (tee fan-out -> audiomixer with 9 inputs)
//   D  floor: the same 10 appsrc straight into 10 fakesinks (what feeding and sinking costs)
// Figure: process CPU time (CLOCK_PROCESS_CPUTIME_ID, all threads) per second of audio, from
// PLAYING to EOS, median of 3 runs, and the ratio baseline / mfmixer, for the whole process and
// for the mixing cost alone (CPU minus the floor D).
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "meshflow-elements.h"

namespace {

constexpr int kPeers = 10;
constexpr int kRate = 48000;
constexpr int kFrames = 960;  // 20 ms
constexpr int kPayloads = 50;  // distinct 20 ms payloads per peer, cycled
constexpr const char *kCaps = "audio/x-raw,format=S16LE,rate=48000,channels=1,layout=interleaved";

struct Source {
  std::vector<GstMemory *> payloads;  // owned refs
  uint64_t next = 0, count = 0;
};

std::vector<Source> g_sources;

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}
double wall_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

void make_payloads(uint64_t buffers) {
  g_sources.assign(kPeers, Source{});
  for (int p = 0; p < kPeers; ++p) {
    std::mt19937 rng(unsigned(p + 1));
    std::normal_distribution<double> noise(0.0, 300.0);
    const double f1 = 110.0 + 23.0 * p, f2 = 2.7 * f1, f3 = 5.1 * f1;
    for (int k = 0; k < kPayloads; ++k) {
      std::vector<int16_t> s(kFrames);
      for (int i = 0; i < kFrames; ++i) {
        const double t = double(k * kFrames + i) / kRate;
        const double env = 0.6 + 0.4 * std::sin(2 * M_PI * 3.0 * t + p);  // syllable-rate envelope
        double v = env * (1500 * std::sin(2 * M_PI * f1 * t) + 700 * std::sin(2 * M_PI * f2 * t) +
                          300 * std::sin(2 * M_PI * f3 * t)) +
                   std::clamp(noise(rng), -600.0, 600.0);
        s[size_t(i)] = int16_t(std::lround(v));
      }
      GstMemory *mem = gst_allocator_alloc(nullptr, sizeof(int16_t) * kFrames, nullptr);
      GstMapInfo map;
      gst_memory_map(mem, &map, GST_MAP_WRITE);
      std::copy(s.begin(), s.end(), reinterpret_cast<int16_t *>(map.data));
      gst_memory_unmap(mem, &map);
      g_sources[size_t(p)].payloads.push_back(mem);
    }
    g_sources[size_t(p)].count = buffers;
  }
}

void need_data(GstAppSrc *src, guint, gpointer user_data) {
  Source &s = g_sources[size_t(GPOINTER_TO_INT(user_data))];
  if (s.next >= s.count) {
    gst_app_src_end_of_stream(src);
    return;
  }
  GstBuffer *buf = gst_buffer_new();
  gst_buffer_append_memory(buf, gst_memory_ref(s.payloads[s.next % kPayloads]));
  GST_BUFFER_PTS(buf) = gst_util_uint64_scale(s.next * kFrames, GST_SECOND, kRate);
  GST_BUFFER_DURATION(buf) = gst_util_uint64_scale((s.next + 1) * kFrames, GST_SECOND, kRate) - GST_BUFFER_PTS(buf);
  GST_BUFFER_OFFSET(buf) = s.next * kFrames;
  GST_BUFFER_OFFSET_END(buf) = (s.next + 1) * kFrames;
  s.next++;
  gst_app_src_push_buffer(src, buf);
}

GstElement *make(const char *factory, const std::string &name) {
  GstElement *e = gst_element_factory_make(factory, name.c_str());
  if (!e) {
    fprintf(stderr, "bench-mixer: element '%s' is missing\n", factory);
    exit(2);
  }
  return e;
}

GstElement *add_source(GstBin *pipe, int peer) {
  GstElement *src = make("appsrc", "in" + std::to_string(peer));
  GstCaps *caps = gst_caps_from_string(kCaps);
  g_object_set(src, "caps", caps, "format", GST_FORMAT_TIME, "is-live", FALSE, "stream-type", 0, nullptr);
  gst_caps_unref(caps);
  GstAppSrcCallbacks cb{};
  cb.need_data = need_data;
  gst_app_src_set_callbacks(GST_APP_SRC(src), &cb, GINT_TO_POINTER(peer), nullptr);
  gst_bin_add(pipe, src);
  return src;
}

// Per-output checksum (FNV-1a over the samples), only in the verification pass.
struct Check {
  uint64_t hash = 1469598103934665603ull;
  uint64_t bytes = 0;
};
std::vector<Check> g_checks;

GstElement *add_sink(GstBin *pipe, int peer, bool verify) {
  GstElement *sink = make("fakesink", "out" + std::to_string(peer));
  g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
  gst_bin_add(pipe, sink);
  if (verify) {
    GstPad *pad = gst_element_get_static_pad(sink, "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER,
                      [](GstPad *, GstPadProbeInfo *info, gpointer ud) -> GstPadProbeReturn {
                        Check &c = g_checks[size_t(GPOINTER_TO_INT(ud))];
                        GstMapInfo map;
                        GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
                        if (gst_buffer_map(b, &map, GST_MAP_READ)) {
                          for (gsize i = 0; i < map.size; ++i) c.hash = (c.hash ^ map.data[i]) * 1099511628211ull;
                          c.bytes += map.size;
                          gst_buffer_unmap(b, &map);
                        }
                        return GST_PAD_PROBE_OK;
                      },
                      GINT_TO_POINTER(peer), nullptr);
    gst_object_unref(pad);
  }
  return sink;
}

enum class Config { MfmixerDecoupled, MfmixerDirect, AudiomixerBaseline, Floor };

GstElement *build(Config config, bool verify) {
  GstElement *pipe = gst_pipeline_new("bench");
  GstBin *bin = GST_BIN(pipe);
  std::vector<GstElement *> srcs;
  for (int p = 0; p < kPeers; ++p) srcs.push_back(add_source(bin, p));
  if (config == Config::Floor) {
    for (int p = 0; p < kPeers; ++p) gst_element_link(srcs[size_t(p)], add_sink(bin, p, verify));
  } else if (config != Config::AudiomixerBaseline) {
    GstElement *mix = make("mfmixer", "mix");
    gst_util_set_object_arg(G_OBJECT(mix), "mode", "mix_minus");
    g_object_set(mix, "output-buffer-duration", guint64(20 * GST_MSECOND), "decouple-outputs",
                 config == Config::MfmixerDecoupled, nullptr);
    gst_bin_add(bin, mix);
    for (int p = 0; p < kPeers; ++p) {
      std::string in = "sink_" + std::to_string(p), out = "src_" + std::to_string(p);
      if (!gst_element_link_pads(srcs[size_t(p)], "src", mix, in.c_str()) ||
          !gst_element_link_pads(mix, out.c_str(), add_sink(bin, p, verify), "sink")) {
        fprintf(stderr, "bench-mixer: linking mfmixer failed\n");
        exit(2);
      }
    }
  } else {
    std::vector<GstElement *> tees, mixers;
    for (int p = 0; p < kPeers; ++p) {
      GstElement *tee = make("tee", "tee" + std::to_string(p));
      gst_bin_add(bin, tee);
      gst_element_link(srcs[size_t(p)], tee);
      tees.push_back(tee);
      GstElement *am = make("audiomixer", "am" + std::to_string(p));
      g_object_set(am, "output-buffer-duration", guint64(20 * GST_MSECOND), nullptr);
      gst_bin_add(bin, am);
      gst_element_link(am, add_sink(bin, p, verify));
      mixers.push_back(am);
    }
    // Mixer m hears every peer but m; tee branches are requested in mixer order for all tees.
    for (int m = 0; m < kPeers; ++m)
      for (int p = 0; p < kPeers; ++p)
        if (p != m) {
          GstPad *tp = gst_element_request_pad_simple(tees[size_t(p)], "src_%u");
          GstPad *mp = gst_element_request_pad_simple(mixers[size_t(m)], "sink_%u");
          if (!tp || !mp || gst_pad_link(tp, mp) != GST_PAD_LINK_OK) {
            fprintf(stderr, "bench-mixer: linking audiomixer failed\n");
            exit(2);
          }
          gst_object_unref(tp);
          gst_object_unref(mp);
        }
  }
  return pipe;
}

struct Result {
  double cpu = 0, wall = 0;
};

Result run(Config config, double seconds, bool verify) {
  const uint64_t buffers = uint64_t(std::llround(seconds * kRate / kFrames));
  for (auto &s : g_sources) {
    s.next = 0;
    s.count = buffers;
  }
  g_checks.assign(kPeers, Check{});
  GstElement *pipe = build(config, verify);
  GstBus *bus = gst_element_get_bus(pipe);
  const double c0 = cpu_seconds(), w0 = wall_seconds();
  gst_element_set_state(pipe, GST_STATE_PLAYING);
  GstMessage *msg = gst_bus_timed_pop_filtered(bus, 600 * GST_SECOND,
                                               GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  Result r{cpu_seconds() - c0, wall_seconds() - w0};
  if (!msg || GST_MESSAGE_TYPE(msg) != GST_MESSAGE_EOS) {
    GError *err = nullptr;
    if (msg) gst_message_parse_error(msg, &err, nullptr);
    fprintf(stderr, "bench-mixer: run failed: %s\n", err ? err->message : "timeout");
    exit(1);
  }
  gst_message_unref(msg);
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(pipe);
  return r;
}

Result median_of(Config config, double seconds, int runs) {
  std::vector<Result> rs;
  for (int i = 0; i < runs; ++i) rs.push_back(run(config, seconds, false));
  std::sort(rs.begin(), rs.end(), [](const Result &a, const Result &b) { return a.cpu < b.cpu; });
  return rs[rs.size() / 2];
}

}  // namespace

int main(int argc, char **argv) {
  // A registry of our own next to the build, not the user's cache.
  const char *build_root = g_getenv("MESHFLOW_BUILD_ROOT");
  std::string reg = build_root ? std::string(build_root) + "/bench/mixer/bench-mixer.registry"
                               : std::string(argv[0]) + ".registry";
  g_setenv("GST_REGISTRY", reg.c_str(), TRUE);
  gst_init(&argc, &argv);
  meshflow_elements_register_static();

  double seconds = 60;
  if (const char *s = g_getenv("MESHFLOW_BENCH_MIXER_SECONDS")) seconds = std::max(1.0, atof(s));
  const int runs = 3;
  make_payloads(0);

  // 1. Same input, same output: every mix-minus output of mfmixer equals the audiomixer mix of
  //    the other 9 (no clipping in this data, where audiomixer's per-add saturation would differ).
  const double verify_seconds = 2;
  std::vector<Check> mf_checks, am_checks;
  run(Config::MfmixerDecoupled, verify_seconds, true);
  mf_checks = g_checks;
  run(Config::AudiomixerBaseline, verify_seconds, true);
  am_checks = g_checks;
  bool identical = true;
  const uint64_t want_bytes = uint64_t(verify_seconds * kRate) * 2;
  for (int p = 0; p < kPeers; ++p)
    identical &= mf_checks[size_t(p)].hash == am_checks[size_t(p)].hash &&
                 mf_checks[size_t(p)].bytes == want_bytes && am_checks[size_t(p)].bytes == want_bytes;

  // 2. Warm-up, then the timed runs, interleaved per config.
  run(Config::MfmixerDirect, 1, false);
  run(Config::AudiomixerBaseline, 1, false);
  run(Config::Floor, 1, false);
  const Result a = median_of(Config::MfmixerDecoupled, seconds, runs);
  const Result b = median_of(Config::MfmixerDirect, seconds, runs);
  const Result c = median_of(Config::AudiomixerBaseline, seconds, runs);
  const Result d = median_of(Config::Floor, seconds, runs);

  auto row = [&](const char *name, const Result &r) {
    printf("%-46s %9.3f %14.2f %9.3f %11.0fx\n", name, r.cpu, 1000.0 * r.cpu / seconds, r.wall,
           seconds / r.wall);
  };
  printf("\nmix-minus, %d peers: 48 kHz mono S16LE, 20 ms buffers, %.0f s of audio per peer, non-live\n",
         kPeers, seconds);
  printf("CPU = process CPU time (all threads) from PLAYING to EOS, median of %d runs\n\n", runs);
  printf("%-46s %9s %14s %9s %12s\n", "configuration", "CPU s", "CPU ms / s aud", "wall s", "speed");
  printf("%-46s %9s %14s %9s %12s\n", "----------------------------------------------", "---------",
         "--------------", "---------", "------------");
  row("mfmixer mix_minus (queue per output, default)", a);
  row("mfmixer mix_minus decouple-outputs=false", b);
  row("baseline: 10 x audiomixer, 9 inputs each", c);
  row("floor: 10 appsrc -> 10 fakesink, no mixing", d);
  printf("\nratio baseline / mfmixer, whole process:   %5.2fx (default)   %5.2fx (decouple=false)\n",
         c.cpu / a.cpu, c.cpu / b.cpu);
  auto attributable = [&](const Result &r) { return std::max(r.cpu - d.cpu, 1e-9); };
  printf("ratio on the mixing cost (CPU - floor):   %5.2fx (default)   %5.2fx (decouple=false)\n",
         attributable(c) / attributable(a), attributable(c) / attributable(b));
  printf("outputs identical to the baseline (10 outputs, %.0f s, FNV-1a): %s\n", verify_seconds,
         identical ? "yes" : "NO");

  for (auto &s : g_sources)
    for (GstMemory *m : s.payloads) gst_memory_unref(m);
  gst_deinit();
  return identical ? 0 : 1;
}
