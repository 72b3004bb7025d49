// WebSocket media transport benchmarks (./dev bench; meson test --benchmark --suite websocket).
//
// 1. Round trip of one 20 ms PCM16 frame through meshflow-launch on loopback (manifests/
//    ws-echo-direct.yaml: websocket_source -> websocket_sink, route origin), p50/p99 over 1000
//    frames sent one at a time by the Node `ws` client (tests/integration/websocket/ws_client.mjs
//    rtt). Baseline in the same run: the same client against a plain libsoup WebSocket echo server
//    (this process, its own thread). Prints both and the ratio.
// 2. Whole path: 20 ms frames at 50/s from a libsoup client through jitter_sync and back
//    (manifests/ws-echo.yaml) vs the same without jitter_sync (ws-echo-direct.yaml): p50/p99 of
//    (return time - capture time) per returned chunk; issue target <= one chunk + 10 ms.
// 3. 10 WebSocket peers at 50 frames/s (bursty, jittered sending) for 60 s through jitter_sync
//    (manifests/ws-echo.yaml, in this process so the jitter_sync stats messages can be read):
//    underruns, late drops and mean added delay summed over the peers, from jitter_sync's stats.
//    Baseline in the same run, at the same time: 10 more peers through a fixed 100 ms buffer
//    (the same manifest with dejitter.min-delay = max-delay = 100) in another room.
//    MESHFLOW_WS_BENCH_SECONDS overrides the 60 s.
#include <gio/gio.h>
#include <gst/gst.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include <condition_variable>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "meshflow-elements.h"
#include "meshflow/graph/plan.h"
#include "meshflow/graph/registry.h"
#include "meshflow/manifest/loader.h"
#include "meshflow/session/session.h"
#include "meshflow/signalling/server.h"
#include "meshflow/transport/ws_endpoint.h"
#include "meshflow/transport/ws_frame.h"

namespace {

std::string env(const char *k) {
  const char *v = g_getenv(k);
  return v ? v : "";
}

// --- the baseline: a plain libsoup echo server on its own thread -------------------------------
struct EchoServer {
  GMainContext *ctx = g_main_context_new();
  GMainLoop *loop = g_main_loop_new(ctx, FALSE);
  std::thread thread;
  unsigned port = 0;
  std::mutex mu;
  std::condition_variable cv;

  static void on_message(SoupWebsocketConnection *ws, gint type, GBytes *msg, gpointer) {
    if (type == SOUP_WEBSOCKET_DATA_BINARY) soup_websocket_connection_send_message(ws, SOUP_WEBSOCKET_DATA_BINARY, msg);
  }
  static void on_ws(SoupServer *, SoupServerMessage *, const char *, SoupWebsocketConnection *ws, gpointer) {
    g_object_ref(ws);
    g_signal_connect(ws, "message", G_CALLBACK(on_message), nullptr);
    g_signal_connect(ws, "closed", G_CALLBACK(+[](SoupWebsocketConnection *w, gpointer) { g_object_unref(w); }), nullptr);
  }
  void start() {
    thread = std::thread([this] {
      g_main_context_push_thread_default(ctx);
      SoupServer *s = soup_server_new(nullptr, nullptr);
      soup_server_add_websocket_handler(s, "/echo", nullptr, nullptr, on_ws, nullptr, nullptr);
      GInetAddress *a = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
      GSocketAddress *sa = g_inet_socket_address_new(a, 0);
      soup_server_listen(s, sa, SoupServerListenOptions(0), nullptr);
      GSList *l = soup_server_get_listeners(s);
      GSocketAddress *local = g_socket_get_local_address(G_SOCKET(l->data), nullptr);
      {
        std::lock_guard<std::mutex> g(mu);
        port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
      }
      cv.notify_all();
      g_slist_free(l);
      g_object_unref(local);
      g_object_unref(sa);
      g_object_unref(a);
      g_main_loop_run(loop);
      g_object_unref(s);
      g_main_context_pop_thread_default(ctx);
    });
    std::unique_lock<std::mutex> g(mu);
    cv.wait(g, [&] { return port != 0; });
  }
  ~EchoServer() {
    g_main_loop_quit(loop);
    if (thread.joinable()) thread.join();
    g_main_loop_unref(loop);
    g_main_context_unref(ctx);
  }
};

// Runs the Node client; its stdout is one JSON object.
struct Json {
  JsonParser *p = json_parser_new();
  JsonObject *o = nullptr;
  explicit Json(const std::string &t) {
    if (json_parser_load_from_data(p, t.c_str(), -1, nullptr) && JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
      o = json_node_get_object(json_parser_get_root(p));
  }
  ~Json() { g_object_unref(p); }
  double d(const char *k) const { return o && json_object_has_member(o, k) ? json_object_get_double_member(o, k) : -1; }
};

GSubprocess *spawn_node(const std::vector<std::string> &args) {
  std::vector<const char *> argv{nullptr, nullptr};
  static std::string node = env("MESHFLOW_NODE"), script;
  script = env("MESHFLOW_SOURCE_ROOT") + "/tests/integration/websocket/ws_client.mjs";
  argv = {node.c_str(), script.c_str()};
  for (auto &a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  GError *e = nullptr;
  GSubprocess *p = g_subprocess_newv(argv.data(), G_SUBPROCESS_FLAGS_STDOUT_PIPE, &e);
  if (!p) {
    std::fprintf(stderr, "cannot run node: %s\n", e->message);
    g_error_free(e);
  }
  return p;
}

std::string node_output(GSubprocess *p) {
  gchar *out = nullptr;
  g_subprocess_communicate_utf8(p, nullptr, nullptr, &out, nullptr, nullptr);
  std::string s = out ? out : "";
  g_free(out);
  g_object_unref(p);
  return s;
}

// meshflow-launch on port 0; returns the port (0 on failure). Its stderr keeps being read by
// nobody afterwards: it writes little.
unsigned start_launcher(GSubprocess **proc, const std::string &manifest) {
  std::string launch = env("MESHFLOW_BUILD_ROOT") + "/src/tools/meshflow-launch";
  const char *argv[] = {launch.c_str(), "--listen", "127.0.0.1:0", manifest.c_str(), nullptr};
  GError *e = nullptr;
  *proc = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDERR_PIPE, &e);
  if (!*proc) {
    std::fprintf(stderr, "cannot run %s: %s\n", launch.c_str(), e->message);
    g_error_free(e);
    return 0;
  }
  GDataInputStream *in = g_data_input_stream_new(g_subprocess_get_stderr_pipe(*proc));
  unsigned port = 0;
  while (gchar *line = g_data_input_stream_read_line(in, nullptr, nullptr, nullptr)) {
    std::string s = line;
    g_free(line);
    auto at = s.find("ws://127.0.0.1:");
    if (s.find("signalling on") != std::string::npos && at != std::string::npos)
      port = unsigned(std::stoul(s.substr(at + 15)));
    if (s.find("running") != std::string::npos) break;
  }
  g_object_unref(in);
  return port;
}

void rtt_bench() {
  EchoServer echo;
  echo.start();
  Json base(node_output(spawn_node({"rtt", "--raw", "--url",
                                    "ws://127.0.0.1:" + std::to_string(echo.port) + "/echo", "--frames", "1000"})));
  GSubprocess *launcher = nullptr;
  unsigned port = start_launcher(&launcher, env("MESHFLOW_SOURCE_ROOT") + "/manifests/ws-echo-direct.yaml");
  if (!port) {
    std::printf("websocket round trip: launcher did not start\n");
    return;
  }
  Json mf(node_output(spawn_node({"rtt", "--url", "ws://127.0.0.1:" + std::to_string(port) + "/ws?room=ws-echo",
                                  "--frames", "1000"})));
  // The baseline again, after: the order of the two runs must not decide the ratio.
  Json base2(node_output(spawn_node({"rtt", "--raw", "--url",
                                     "ws://127.0.0.1:" + std::to_string(echo.port) + "/echo", "--frames", "1000"})));
  g_subprocess_force_exit(launcher);
  g_subprocess_wait(launcher, nullptr, nullptr);
  g_object_unref(launcher);
  std::printf("websocket round trip, 20 ms PCM16 frame, loopback, 1000 frames (Node ws client):\n");
  std::printf("  through meshflow-launch (ws-echo-direct): p50 %.3f ms  p99 %.3f ms  max %.3f ms\n", mf.d("p50_ms"),
              mf.d("p99_ms"), mf.d("max_ms"));
  std::printf("  baseline, plain libsoup echo server:      p50 %.3f ms  p99 %.3f ms  max %.3f ms\n",
              base.d("p50_ms"), base.d("p99_ms"), base.d("max_ms"));
  std::printf("  baseline again, after the launcher run:  p50 %.3f ms  p99 %.3f ms  max %.3f ms\n",
              base2.d("p50_ms"), base2.d("p99_ms"), base2.d("max_ms"));
  std::printf("  ratio launcher/baseline (first run): p50 %.2fx  p99 %.2fx;  added by the launcher: p50 %.3f ms  p99 %.3f ms\n",
              mf.d("p50_ms") / base.d("p50_ms"), mf.d("p99_ms") / base.d("p99_ms"),
              mf.d("p50_ms") - base.d("p50_ms"), mf.d("p99_ms") - base.d("p99_ms"));
  std::fflush(stdout);
}


// --- whole path: audio round trip through meshflow-launch with jitter_sync --------------------
// A libsoup client (this thread) sends a 20 ms PCM16 frame every 20 ms on the real-time
// schedule, each stamped with its capture time = its scheduled send time (the monotonic clock);
// the launcher plays it back to the sender through jitter_sync (manifests/ws-echo.yaml:
// websocket_source -> jitter_sync -> websocket_sink, route origin). Every returned chunk carries
// the capture time of its first sample, so now - capture is the mouth-to-ear delay of the path
// (transport both ways + jitter_sync's added delay and output period). Issue target: <= one
// chunk (20 ms) + 10 ms. Baseline in the same run: ws-echo-direct.yaml (no jitter_sync).
struct PathRtt {
  GMainLoop *loop = g_main_loop_new(nullptr, FALSE);
  SoupWebsocketConnection *ws = nullptr;
  bool started = false;
  gint64 t0 = 0;
  uint32_t k = 0;
  uint32_t frames = 0;
  std::vector<double> lat_ms;
  std::string error;
  ~PathRtt() {
    if (ws) g_object_unref(ws);
    g_main_loop_unref(loop);
  }
};

double pct(std::vector<double> v, double q) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, size_t(q * double(v.size())));
  return v[i];
}

void path_on_message(SoupWebsocketConnection *ws, gint type, GBytes *msg, gpointer data) {
  auto *p = static_cast<PathRtt *>(data);
  gsize len = 0;
  const auto *bytes = static_cast<const uint8_t *>(g_bytes_get_data(msg, &len));
  if (type == SOUP_WEBSOCKET_DATA_TEXT) {
    auto c = mf::transport::parse_control(std::string_view(reinterpret_cast<const char *>(bytes), len));
    if (c.ok && c.type == "status" && c.state == "connected" && !p->started) {
      mf::transport::StreamFormat f;  // pcm16, 48 kHz mono, 20 ms
      soup_websocket_connection_send_text(ws, mf::transport::make_stream_start(1, f).c_str());
      p->started = true;
      p->t0 = g_get_monotonic_time() + 20000;
    }
    return;
  }
  auto m = mf::transport::parse_media(bytes, len);
  if (!m.ok || !p->started) return;
  const gint64 cap = gint64(m.header.capture_ts_us), now = g_get_monotonic_time();
  // After a 2 s warm-up, and only while the sender sends (after its last frame jitter_sync
  // conceals the missing end: not a delay of the path).
  if (cap >= p->t0 + 2 * G_USEC_PER_SEC && now <= p->t0 + gint64(p->frames) * 20000)
    p->lat_ms.push_back(double(now - cap) / 1000.0);
}

gboolean path_tick(gpointer data) {
  auto *p = static_cast<PathRtt *>(data);
  if (!p->started) return G_SOURCE_CONTINUE;
  const gint64 now = g_get_monotonic_time();
  while (p->k < p->frames && now >= p->t0 + gint64(p->k) * 20000) {
    std::vector<uint8_t> buf(mf::transport::kMediaHeaderBytes + 960 * 2);
    mf::transport::MediaHeader h;
    h.stream_id = 1;
    h.seq = p->k;
    h.capture_ts_us = guint64(p->t0 + gint64(p->k) * 20000);
    mf::transport::write_media_header(h, buf.data());
    for (size_t i = 0; i < 960; ++i) {  // a loud tone (never "silence" for jitter_sync)
      const gint16 v = gint16(((int64_t(p->k) * 960 + int64_t(i)) * 7919 % 60000) - 30000);
      buf[16 + 2 * i] = uint8_t(v & 0xff);
      buf[17 + 2 * i] = uint8_t((v >> 8) & 0xff);
    }
    soup_websocket_connection_send_binary(p->ws, buf.data(), buf.size());
    ++p->k;
  }
  if (p->k >= p->frames && now >= p->t0 + gint64(p->frames) * 20000 + 500000) {
    g_main_loop_quit(p->loop);
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

// Returns the latencies (ms) of the returned chunks after the warm-up; empty on failure.
std::vector<double> path_rtt(const std::string &manifest, unsigned seconds, std::string *error) {
  GSubprocess *launcher = nullptr;
  unsigned port = start_launcher(&launcher, env("MESHFLOW_SOURCE_ROOT") + "/manifests/" + manifest);
  if (!port) {
    *error = "launcher did not start";
    return {};
  }
  PathRtt p;
  p.frames = seconds * 50;
  SoupSession *session = soup_session_new();
  std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/ws?room=ws-echo";
  SoupMessage *msg = soup_message_new("GET", url.c_str());
  soup_session_websocket_connect_async(
      session, msg, nullptr, nullptr, G_PRIORITY_DEFAULT, nullptr,
      [](GObject *src, GAsyncResult *res, gpointer data) {
        auto *p = static_cast<PathRtt *>(data);
        GError *e = nullptr;
        p->ws = soup_session_websocket_connect_finish(SOUP_SESSION(src), res, &e);
        if (!p->ws) {
          p->error = e ? e->message : "connect failed";
          g_clear_error(&e);
          g_main_loop_quit(p->loop);
          return;
        }
        g_signal_connect(p->ws, "message", G_CALLBACK(path_on_message), p);
      },
      &p);
  guint tick = g_timeout_add(1, path_tick, &p);
  guint guard = g_timeout_add_seconds(seconds + 20, [](gpointer d) -> gboolean {
    auto *p = static_cast<PathRtt *>(d);
    p->error = "timed out";
    g_main_loop_quit(p->loop);
    return G_SOURCE_REMOVE;
  }, &p);
  g_main_loop_run(p.loop);
  g_source_remove(guard);
  if (GSource *s = g_main_context_find_source_by_id(nullptr, tick)) g_source_destroy(s);
  if (p.ws && soup_websocket_connection_get_state(p.ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close(p.ws, SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
  g_object_unref(msg);
  g_object_unref(session);
  g_subprocess_force_exit(launcher);
  g_subprocess_wait(launcher, nullptr, nullptr);
  g_object_unref(launcher);
  *error = p.error;
  return p.lat_ms;
}

void path_bench() {
  unsigned seconds = 12;
  std::string e1, e2;
  auto js = path_rtt("ws-echo.yaml", seconds, &e1);
  auto direct = path_rtt("ws-echo-direct.yaml", seconds, &e2);
  std::printf("websocket audio round trip, whole path (capture -> ws -> launcher -> ws -> ear), 20 ms PCM16 "
              "frames at 50/s for %u s, after 2 s warm-up:\n", seconds);
  std::printf("  through jitter_sync (ws-echo.yaml):   %zu chunks  p50 %.2f ms  p99 %.2f ms  max %.2f ms%s%s\n",
              js.size(), pct(js, 0.5), pct(js, 0.99), pct(js, 1.0), e1.empty() ? "" : "  error: ", e1.c_str());
  std::printf("  baseline, no jitter_sync (ws-echo-direct.yaml): %zu chunks  p50 %.2f ms  p99 %.2f ms  max %.2f ms%s%s\n",
              direct.size(), pct(direct, 0.5), pct(direct, 0.99), pct(direct, 1.0), e2.empty() ? "" : "  error: ",
              e2.c_str());
  std::printf("  target p99 <= one chunk + 10 ms = 30 ms: %s;  ratio jitter_sync/direct: p50 %.2fx  p99 %.2fx\n",
              !js.empty() && pct(js, 0.99) <= 30.0 ? "met" : "NOT met", pct(js, 0.5) / pct(direct, 0.5),
              pct(js, 0.99) / pct(direct, 0.99));
  std::fflush(stdout);
}

// --- 10 peers through jitter_sync (in this process) --------------------------------------------
struct Stats {
  std::mutex mu;
  std::map<std::string, std::map<std::string, GstStructure *>> last;  // session -> pad -> stats
};

GstBusSyncReply on_bus(GstBus *, GstMessage *m, gpointer data) {
  if (GST_MESSAGE_TYPE(m) != GST_MESSAGE_ELEMENT) return GST_BUS_PASS;
  const GstStructure *s = gst_message_get_structure(m);
  if (!s || !gst_structure_has_name(s, "mf-jitter-sync-stats")) return GST_BUS_PASS;
  auto *st = static_cast<Stats *>(data);
  GstObject *pipe = GST_MESSAGE_SRC(m);
  while (GST_OBJECT_PARENT(pipe)) pipe = GST_OBJECT_PARENT(pipe);
  std::string key = std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(m))) + "/" +
                    (gst_structure_get_string(s, "pad") ? gst_structure_get_string(s, "pad") : "");
  std::lock_guard<std::mutex> l(st->mu);
  GstStructure *&slot = st->last[GST_OBJECT_NAME(pipe)][key];
  if (slot) gst_structure_free(slot);
  slot = gst_structure_copy(s);
  return GST_BUS_PASS;
}

std::unique_ptr<mf::session::Session> make_session(const std::string &name, const std::string &room,
                                                   std::vector<std::string> overrides, Stats *stats) {
  mf::manifest::LoadOptions lo;
  lo.overrides = std::move(overrides);
  lo.overrides.push_back("ws_in.room=" + room);
  lo.overrides.push_back("ws_out.room=" + room);
  mf::manifest::Manifest m;
  auto diag = mf::manifest::load_file(env("MESHFLOW_SOURCE_ROOT") + "/manifests/ws-echo.yaml", lo, m);
  mf::graph::Registry reg;
  mf::graph::Plan plan;
  if (diag.ok()) diag = mf::graph::compile(m, reg, plan);
  mf::session::SessionOptions so;
  so.name = name;
  so.print = [](const std::string &) {};
  std::unique_ptr<mf::session::Session> s;
  if (diag.ok()) s = mf::session::Session::create(plan, so, diag);
  if (s) {
    GstBus *bus = gst_pipeline_get_bus(s->pipeline());
    gst_bus_set_sync_handler(bus, on_bus, stats, nullptr);
    gst_object_unref(bus);
  }
  if (!s || !s->start(diag)) {
    std::fprintf(stderr, "%s", diag.format().c_str());
    return nullptr;
  }
  return s;
}

struct Sum {
  uint64_t underruns = 0, late = 0, concealed = 0, received = 0;
  double delay_ms = 0;
  int streams = 0;
};

Sum sum(Stats &st, const std::string &session) {
  Sum r;
  std::lock_guard<std::mutex> l(st.mu);
  for (auto &[pad, s] : st.last[session]) {
    guint64 v = 0;
    if (gst_structure_get_uint64(s, "underruns", &v)) r.underruns += v;
    if (gst_structure_get_uint64(s, "late-drops", &v)) r.late += v;
    if (gst_structure_get_uint64(s, "concealed-samples", &v)) r.concealed += v;
    if (gst_structure_get_uint64(s, "received", &v)) r.received += v;
    double d = 0;
    if (gst_structure_get_double(s, "delay-ms", &d)) r.delay_ms += d;
    r.streams++;
  }
  if (r.streams) r.delay_ms /= r.streams;
  return r;
}

// Per stream: where the underruns are and what each target settled at.
std::vector<std::string> stream_lines(Stats &stats, const std::string &session) {
  std::vector<std::string> out;
  std::lock_guard<std::mutex> l(stats.mu);
  for (auto &[pad, st] : stats.last[session]) {
    guint64 u = 0;
    double target = 0, delay = 0, jitter = 0;
    gst_structure_get_uint64(st, "underruns", &u);
    gst_structure_get_double(st, "target-ms", &target);
    gst_structure_get_double(st, "delay-ms", &delay);
    gst_structure_get_double(st, "jitter-ms", &jitter);
    char line[256];
    std::snprintf(line, sizeof line, "    %s %-26s underruns %3llu  target %6.1f ms  delay %6.1f ms  jitter %5.1f ms\n",
                  session.c_str(), pad.c_str(), (unsigned long long)u, target, delay, jitter);
    out.push_back(line);
  }
  return out;
}

void peers_bench() {
  int seconds = 60;
  if (const char *s = g_getenv("MESHFLOW_WS_BENCH_SECONDS")) seconds = std::max(1, atoi(s));
  mf::signalling::ServerConfig cfg;
  mf::signalling::Server server(cfg);
  std::string error;
  if (!server.listen("127.0.0.1", 0, &error)) {
    std::printf("websocket peers: %s\n", error.c_str());
    return;
  }
  mf::transport::WsEndpoint::global().attach(server.soup_server());
  Stats stats;
  auto adaptive = make_session("adaptive", "adaptive", {}, &stats);
  auto fixed = make_session("fixed", "fixed", {"dejitter.min-delay=100", "dejitter.max-delay=100"}, &stats);
  if (!adaptive || !fixed) return;
  std::string base = "ws://127.0.0.1:" + std::to_string(server.port()) + "/ws?room=";
  auto run = [&](const std::string &room) {
    return spawn_node({"peers", "--url", base + room, "--peers", "10", "--seconds", std::to_string(seconds), "--burst"});
  };
  GSubprocess *a = run("adaptive"), *b = run("fixed");
  // Serve the sessions' buses (this thread's default context) until both clients are done.
  // Stats are read at 5 s (warm-up) and 0.5 s before the senders stop (after that, jitter_sync
  // conceals the end of the stream: not underruns of the transport).
  int done = 0;
  auto cb = +[](GObject *, GAsyncResult *, gpointer d) { ++*static_cast<int *>(d); };
  g_subprocess_wait_async(a, nullptr, cb, &done);
  g_subprocess_wait_async(b, nullptr, cb, &done);
  gint64 t0 = g_get_monotonic_time();
  bool warm_taken = false, end_taken = false;
  Sum wa, wf, sa, sf;
  std::vector<std::string> per_stream;
  while (done < 2) {
    g_main_context_iteration(nullptr, FALSE);
    g_usleep(2000);
    double el = double(g_get_monotonic_time() - t0) / 1e6;
    if (!warm_taken && el >= std::min(5.0, seconds / 2.0)) {
      warm_taken = true;
      wa = sum(stats, "adaptive");
      wf = sum(stats, "fixed");
    }
    if (!end_taken && el >= seconds - 0.5) {
      end_taken = true;
      sa = sum(stats, "adaptive");
      sf = sum(stats, "fixed");
      per_stream = stream_lines(stats, "adaptive");
    }
  }
  g_object_unref(a);
  g_object_unref(b);
  adaptive.reset();
  fixed.reset();
  server.shutdown();
  std::printf("websocket: 10 peers x 50 frames/s (bursty, jittered) for %d s through jitter_sync (ws-echo.yaml):\n",
              seconds);
  std::printf("  adaptive jitter_sync:        %d streams, underruns %llu, late drops %llu, concealed samples %llu, "
              "mean added delay %.1f ms\n",
              sa.streams, (unsigned long long)sa.underruns, (unsigned long long)sa.late,
              (unsigned long long)sa.concealed, sa.delay_ms);
  std::printf("  baseline fixed 100 ms buffer: %d streams, underruns %llu, late drops %llu, concealed samples %llu, "
              "mean added delay %.1f ms\n",
              sf.streams, (unsigned long long)sf.underruns, (unsigned long long)sf.late,
              (unsigned long long)sf.concealed, sf.delay_ms);
  std::printf("  after warm-up (from %.0f s on): underruns adaptive %llu, fixed %llu; late drops adaptive %llu, fixed %llu\n",
              std::min(5.0, seconds / 2.0), (unsigned long long)(sa.underruns - wa.underruns),
              (unsigned long long)(sf.underruns - wf.underruns), (unsigned long long)(sa.late - wa.late),
              (unsigned long long)(sf.late - wf.late));
  for (auto &line : per_stream) std::printf("%s", line.c_str());
  std::printf("  ratio adaptive/fixed: added delay %.2fx, underruns %llu vs %llu\n",
              sf.delay_ms > 0 ? sa.delay_ms / sf.delay_ms : 0.0, (unsigned long long)sa.underruns,
              (unsigned long long)sf.underruns);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  meshflow_elements_register_static();
  if (env("MESHFLOW_NODE").empty()) {
    std::printf("websocket benchmarks: node not found, skipped\n");
    return 0;
  }
  rtt_bench();
  path_bench();
  peers_bench();
  return 0;
}
