// llm_bridge latency benchmark against the mock realtime server (a real WebSocket on 127.0.0.1).
//
// The server answers every turn a known fixed time after the speech ends: its VAD needs
// kSilenceMs of quiet to end the turn, then it waits kDelayMs before the first audio delta, so
// D = kSilenceMs + kDelayMs. The input is live audio in 20 ms blocks (24 kHz mono) paced in real
// time; turns are 400 ms of a loud tone.
//   first audio:  speech end (the last speech block pushed into the bridge's sink) -> the first
//                 assistant sample leaving the bridge's src pad; overhead = measured - D.
//   interruption: speech start while an answer plays (first speech block pushed) -> FLUSH_START
//                 downstream of the src pad.
// Baseline, same run, same server: a bare libsoup client (bare_client.h) sending the same audio
// the same way; overhead = speech end -> first response.audio.delta received - D, and speech
// start -> input_audio_buffer.speech_started received. The server's /log (CLOCK_MONOTONIC
// timestamps) splits the bridge's figures into the part after the server's event was sent.
// MESHFLOW_BENCH_LLM_TURNS (default 20) cycles; each cycle gives 2 first-audio samples (the turn
// and the interrupting turn) and 1 interruption.
// MESHFLOW_BENCH_LLM_PERIOD_MS sets the bridge's output-period-ms (default: the element's, 10 ms;
// 20 gives the figures from before the default changed).
#include <gio/gio.h>
#include <gst/gst.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "bare_client.h"
#include "bridge_pipeline.h"
#include "meshflow-elements.h"

namespace {

constexpr int kSilenceMs = 200, kDelayMs = 200, kAnswerMs = 600;
constexpr double kD = kSilenceMs + kDelayMs;
const char *kKeyEnv = "MF_BENCH_LLM_KEY";
const char *kKey = "sk-bench-1";

bool wait_until(const std::function<bool()> &cond, int timeout_ms = 15000) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return cond();
}
void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

struct Stats {
  std::vector<double> v;
  double pct(double p) const {
    if (v.empty()) return NAN;
    std::vector<double> s = v;
    std::sort(s.begin(), s.end());
    size_t i = size_t(std::ceil(p * double(s.size()))) - 1;
    return s[std::min(i, s.size() - 1)];
  }
  std::string str() const {
    char b[128];
    std::snprintf(b, sizeof b, "p50 %.1f ms, p95 %.1f ms (n=%zu)", pct(0.5), pct(0.95), v.size());
    return b;
  }
};

// Server event send times (CLOCK_MONOTONIC us) of `type` from the mock server's GET /log.
std::vector<gint64> server_times(int port, const char *type) {
  std::vector<gint64> out;
  SoupSession *s = soup_session_new();
  SoupMessage *m = soup_message_new("GET", ("http://127.0.0.1:" + std::to_string(port) + "/log").c_str());
  GBytes *body = soup_session_send_and_read(s, m, nullptr, nullptr);
  if (body) {
    JsonParser *p = json_parser_new();
    gsize n = 0;
    const char *d = static_cast<const char *>(g_bytes_get_data(body, &n));
    if (json_parser_load_from_data(p, d, gssize(n), nullptr)) {
      JsonArray *ev = json_object_get_array_member(json_node_get_object(json_parser_get_root(p)), "events");
      for (guint i = 0; i < json_array_get_length(ev); ++i) {
        JsonObject *o = json_array_get_object_element(ev, i);
        if (json_object_has_member(o, "type") && std::string(json_object_get_string_member(o, "type")) == type)
          out.push_back(json_object_get_int_member(o, "mono_us"));
      }
    }
    g_object_unref(p);
    g_bytes_unref(body);
  }
  g_object_unref(m);
  g_object_unref(s);
  return out;
}

// The latest server time <= t (0 if none).
gint64 latest_before(const std::vector<gint64> &times, gint64 t) {
  gint64 best = 0;
  for (gint64 x : times)
    if (x <= t) best = std::max(best, x);
  return best;
}

struct Server {
  GSubprocess *proc = nullptr;
  int port = 0;
  bool start() {
    const char *path = g_getenv("MESHFLOW_MOCK_REALTIME");
    if (!path) return false;
    std::vector<std::string> args = {path, "--key", kKey, "--silence-ms", std::to_string(kSilenceMs),
                                     "--delay-ms", std::to_string(kDelayMs), "--answer-ms", std::to_string(kAnswerMs),
                                     "--pace", "1"};
    std::vector<const char *> argv;
    for (auto &a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    proc = g_subprocess_newv(argv.data(), G_SUBPROCESS_FLAGS_STDERR_PIPE, nullptr);
    if (!proc) return false;
    GDataInputStream *in = g_data_input_stream_new(g_subprocess_get_stderr_pipe(proc));
    gchar *line = g_data_input_stream_read_line(in, nullptr, nullptr, nullptr);
    if (line) {
      const char *at = std::strstr(line, "ws://127.0.0.1:");
      if (at) port = std::atoi(at + std::strlen("ws://127.0.0.1:"));
      g_free(line);
    }
    g_object_unref(in);
    return port > 0;
  }
  ~Server() {
    if (!proc) return;
    g_subprocess_send_signal(proc, SIGINT);
    g_subprocess_wait(proc, nullptr, nullptr);
    g_object_unref(proc);
  }
};

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  meshflow_elements_register_static();
  const int turns = g_getenv("MESHFLOW_BENCH_LLM_TURNS") ? std::atoi(g_getenv("MESHFLOW_BENCH_LLM_TURNS")) : 20;
  Server server;
  if (!server.start()) {
    std::fprintf(stderr, "bench-llm: cannot start the mock realtime server (MESHFLOW_MOCK_REALTIME)\n");
    return 1;
  }
  const std::string url = "ws://127.0.0.1:" + std::to_string(server.port) + "/v1/realtime";
  g_setenv(kKeyEnv, kKey, TRUE);
  std::printf("llm bridge benchmark: mock server %s, D = VAD silence %d ms + answer delay %d ms, %d cycles\n",
              url.c_str(), kSilenceMs, kDelayMs, turns);

  // Baseline: the bare client.
  Stats base_first, base_intr;
  {
    mf::bench::BareClient c(url, kKey);
    if (!wait_until([&] { return c.connected(); })) {
      std::fprintf(stderr, "bench-llm: bare client did not connect\n");
      return 1;
    }
    sleep_ms(500);
    for (int i = 0; i < turns; ++i) {
      const int done0 = c.responses_done();
      c.arm();
      c.say(400);
      if (!wait_until([&] { return c.first_delta_us() != 0; })) return std::fprintf(stderr, "baseline: no answer\n"), 1;
      base_first.v.push_back(double(c.first_delta_us() - c.speech_end_us()) / 1000.0 - kD);
      sleep_ms(300);
      c.arm();
      c.say(300);
      if (!wait_until([&] { return c.speech_started_us() != 0; })) return std::fprintf(stderr, "baseline: no speech_started\n"), 1;
      base_intr.v.push_back(double(c.speech_started_us() - c.speech_start_us()) / 1000.0);
      wait_until([&] { return c.responses_done() >= done0 + 1; });
      c.arm();
      if (!wait_until([&] { return c.first_delta_us() != 0; })) return std::fprintf(stderr, "baseline: no 2nd answer\n"), 1;
      base_first.v.push_back(double(c.first_delta_us() - c.speech_end_us()) / 1000.0 - kD);
      wait_until([&] { return c.responses_done() >= done0 + 2; });
      sleep_ms(300);
    }
  }

  // The bridge.
  Stats first, intr, first_tail, intr_tail;
  std::vector<gint64> tones, flushes;
  {
    std::string props = "provider=openai_realtime url=" + url + " api-key-env=" + kKeyEnv;
    if (const char *period = g_getenv("MESHFLOW_BENCH_LLM_PERIOD_MS"))
      props += std::string(" output-period-ms=") + period;
    std::printf("bridge: %s\n", props.c_str());
    mf::test::BridgePipeline p(props);
    if (!p.ok() || !p.play()) return std::fprintf(stderr, "bench-llm: pipeline: %s\n", p.parse_error().c_str()), 1;
    if (!wait_until([&] { return p.stat_bool("connected"); })) return std::fprintf(stderr, "bridge did not connect\n"), 1;
    sleep_ms(500);
    for (int i = 0; i < turns; ++i) {
      p.arm_first_tone();
      p.say(400);
      if (!wait_until([&] { return p.first_tone_us() != 0; })) return std::fprintf(stderr, "bridge: no answer\n"), 1;
      first.v.push_back(double(p.first_tone_us() - p.speech_end_us()) / 1000.0 - kD);
      tones.push_back(p.first_tone_us());
      sleep_ms(300);
      const int f0 = p.flushes();
      p.say(300);
      if (!wait_until([&] { return p.flushes() > f0; })) return std::fprintf(stderr, "bridge: no flush on barge-in\n"), 1;
      intr.v.push_back(double(p.last_flush_us() - p.speech_start_us()) / 1000.0);
      flushes.push_back(p.last_flush_us());
      p.arm_first_tone();
      if (!wait_until([&] { return p.first_tone_us() != 0; })) return std::fprintf(stderr, "bridge: no 2nd answer\n"), 1;
      first.v.push_back(double(p.first_tone_us() - p.speech_end_us()) / 1000.0 - kD);
      tones.push_back(p.first_tone_us());
      sleep_ms(kAnswerMs + 300);
    }
    if (!p.bus_errors().empty()) std::fprintf(stderr, "bench-llm: pipeline error: %s\n", p.bus_errors()[0].c_str());
  }
  // The part of the bridge's figures after the server sent its event.
  const auto deltas = server_times(server.port, "mock.first_audio_delta");
  const auto starts = server_times(server.port, "input_audio_buffer.speech_started");
  for (gint64 t : tones)
    if (gint64 s = latest_before(deltas, t)) first_tail.v.push_back(double(t - s) / 1000.0);
  for (gint64 t : flushes)
    if (gint64 s = latest_before(starts, t)) intr_tail.v.push_back(double(t - s) / 1000.0);

  std::printf("first audio, framework overhead (speech end -> first assistant sample out of src, minus D):\n");
  std::printf("  llm_bridge: %s\n", first.str().c_str());
  std::printf("    of which server sent response.audio.delta -> sample out of src: %s\n", first_tail.str().c_str());
  std::printf("  baseline (bare libsoup client, speech end -> first audio delta received, minus D): %s\n",
              base_first.str().c_str());
  std::printf("  ratio bridge/baseline: p50 %.2f, p95 %.2f\n", first.pct(0.5) / base_first.pct(0.5),
              first.pct(0.95) / base_first.pct(0.95));
  std::printf("interruption reaction (speech start in the input -> FLUSH_START downstream of src):\n");
  std::printf("  llm_bridge: %s\n", intr.str().c_str());
  std::printf("    of which server sent speech_started -> flush downstream: %s\n", intr_tail.str().c_str());
  std::printf("  baseline (bare libsoup client, speech start sent -> speech_started received): %s\n",
              base_intr.str().c_str());
  std::printf("  ratio bridge/baseline: p50 %.2f, p95 %.2f\n", intr.pct(0.5) / base_intr.pct(0.5),
              intr.pct(0.95) / base_intr.pct(0.95));
  return 0;
}
