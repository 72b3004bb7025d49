// End-to-end tests of meshflow-launch and meshflow-inspect as a user runs them: real processes,
// real manifests (every file in manifests/), exit codes, messages, --print-gst lines run by
// gst-launch-1.0.
#include <gtest/gtest.h>
#include <json-glib/json-glib.h>

#include <filesystem>
#include <fstream>

#include "meshflow/signalling/token.h"
#include "process.h"
#include <gio/gio.h>
#include <libsoup/soup.h>

using namespace mf::test;
namespace fs = std::filesystem;

namespace {

std::string launch() { return env_path("MESHFLOW_LAUNCH"); }
std::string inspect() { return env_path("MESHFLOW_INSPECT"); }

std::vector<std::string> shipped_manifests() {
  std::vector<std::string> out;
  for (auto &e : fs::directory_iterator(env_path("MESHFLOW_TEST_MANIFESTS")))
    if (e.path().extension() == ".yaml") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Manifests that join a WebRTC room run until interrupted (no EOS of their own).
bool is_live_session(const std::string &path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Transports and the LLM bridge wait for peers (or a service): they never reach EOS by themselves.
  for (const char *live : {"type: webrtc_", "type: websocket_", "type: llm_bridge"})
    if (text.find(live) != std::string::npos) return true;
  return false;
}

std::string write_file(const std::string &dir, const std::string &name, const std::string &text) {
  std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

bool parses_as_json(const std::string &text) {
  JsonParser *p = json_parser_new();
  bool ok = json_parser_load_from_data(p, text.c_str(), -1, nullptr) && json_parser_get_root(p);
  g_object_unref(p);
  return ok;
}

TEST(Launch, EveryShippedManifestValidates) {
  auto manifests = shipped_manifests();
  ASSERT_FALSE(manifests.empty());
  for (const auto &m : manifests) {
    auto r = run_process({launch(), "--validate", m});
    EXPECT_EQ(r.exit_status, 0) << m << "\n" << r.err;
    EXPECT_NE(r.out.find("OK"), std::string::npos) << r.out;
  }
}

TEST(Launch, EveryShippedManifestRuns) {
  for (const auto &m : shipped_manifests()) {
    std::string out = make_temp_dir();
    if (is_live_session(m)) {
      // A room session: it starts, joins its room on the embedded server, serves the client page,
      // and stops cleanly on Ctrl-C.
      Background launcher({launch(), "--listen", "127.0.0.1:0", "--ice-local-address", "127.0.0.1", m},
                          {{"MESHFLOW_OUT_DIR", out}});
      EXPECT_NE(launcher.wait_for_stderr("running"), "") << m << "\n" << launcher.stderr_text();
      EXPECT_NE(launcher.stderr_text().find("/client?room="), std::string::npos) << launcher.stderr_text();
      g_usleep(1500 * 1000);
      EXPECT_EQ(launcher.interrupt_and_wait(), 0) << m << "\n" << launcher.stderr_text();
      continue;
    }
    // With the embedded signalling server on an ephemeral loopback port, as users run it.
    auto r = run_process({launch(), "--listen", "127.0.0.1:0", m}, {{"MESHFLOW_OUT_DIR", out}}, 120);
    EXPECT_EQ(r.exit_status, 0) << m << "\n" << r.err;
    EXPECT_NE(r.err.find("signalling on ws://127.0.0.1:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("end of stream"), std::string::npos) << m << "\n" << r.err;
  }
}

TEST(Launch, DefaultManifestLeavesAVideoAndSnapshots) {
  std::string out = make_temp_dir();
  std::string m = env_path("MESHFLOW_TEST_MANIFESTS") + "/blur-file.yaml";
  auto r = run_process({launch(), "--no-server", m}, {{"MESHFLOW_OUT_DIR", out}}, 120);
  ASSERT_EQ(r.exit_status, 0) << r.err;
  ASSERT_TRUE(fs::exists(out + "/meshflow-blurred.webm"));
  EXPECT_GT(fs::file_size(out + "/meshflow-blurred.webm"), 10000u);
  int pngs = 0;
  for (auto &e : fs::directory_iterator(out)) pngs += e.path().extension() == ".png";
  EXPECT_GE(pngs, 3);
}

TEST(Launch, PrintGstLineRunsWithGstLaunch) {
  for (const auto &m : shipped_manifests()) {
    std::string out = make_temp_dir();
    auto r = run_process({launch(), "--print-gst", m}, {{"MESHFLOW_OUT_DIR", out}});
    ASSERT_EQ(r.exit_status, 0) << m << "\n" << r.err;
    // A room session's line shows one peer's chain (per-peer pads by template); it needs peers to
    // do anything, so it is printed but not run here.
    if (is_live_session(m)) {
      EXPECT_NE(r.out.find("gst-launch-1.0"), std::string::npos) << r.out;
      continue;
    }
    if (r.out.find("mfblur") != std::string::npos) {
      ASSERT_EQ(r.out.rfind("GST_PLUGIN_PATH=", 0), 0u) << "uses mfblur, so it needs the plugin path: " << r.out;
    }
    // The line is for a shell: run it through one. GST_REGISTRY keeps the test's registry private.
    auto g = run_process({"/bin/sh", "-c", r.out},
                         {{"GST_REGISTRY", out + "/registry.bin"}}, 120);
    EXPECT_EQ(g.exit_status, 0) << m << "\n" << r.out << "\n" << g.out << g.err;
    EXPECT_NE(g.out.find("Got EOS"), std::string::npos) << g.out;
  }
}

TEST(Launch, InvalidManifestExits2WithLocation) {
  std::string dir = make_temp_dir();
  std::string bad = write_file(dir, "bad.yaml",
                               "version: 1\nnodes:\n  - {id: cam, type: videotestsrc}\n"
                               "  - {id: fx, type: blur, properties: {sigmaa: 3}}\n");
  auto r = run_process({launch(), "--no-server", bad});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_NE(r.err.find("bad.yaml:4:39: error: node 'fx': 'blur' has no property 'sigmaa' "
                       "(did you mean 'sigma'?"),
            std::string::npos)
      << r.err;
}

TEST(Launch, UsageErrorsExit2) {
  auto r = run_process({launch()});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_NE(r.err.find("no manifest given"), std::string::npos) << r.err;
  r = run_process({launch(), "--frobnicate", "x.yaml"});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_NE(r.err.find("unknown option '--frobnicate'"), std::string::npos) << r.err;
  r = run_process({launch(), "--no-server", "/nonexistent/manifest.yaml"});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_NE(r.err.find("/nonexistent/manifest.yaml"), std::string::npos) << r.err;
}

TEST(Launch, RuntimeErrorExits1NamingTheNode) {
  std::string dir = make_temp_dir();
  std::string m = write_file(dir, "runtime.yaml",
                             "version: 1\nnodes:\n  - {id: tone, type: audiotestsrc}\n"
                             "  - id: out\n    type: filesink\n    properties: {location: /nonexistent-dir/a.raw}\n"
                             "links:\n  - {from: tone, to: out}\n");
  auto r = run_process({launch(), "--no-server", m});
  EXPECT_EQ(r.exit_status, 1) << r.err;
  EXPECT_NE(r.err.find("runtime.yaml:4:5: error: node 'out': out:"), std::string::npos) << r.err;
}

TEST(Launch, InterruptSendsEosAndExitsCleanly) {
  std::string dir = make_temp_dir();
  std::string m = write_file(dir, "live.yaml",
                             "version: 1\nnodes:\n  - {id: cam, type: videotestsrc, properties: {is-live: true}}\n"
                             "  - {id: fx, type: blur}\n  - {id: out, type: fakesink}\n"
                             "links:\n  - {from: cam, to: fx, caps: \"video/x-raw,width=160,height=120\"}\n"
                             "  - {from: fx, to: out}\n");
  auto r = run_process({launch(), "--no-server", m}, {}, 60, 1.5);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_NE(r.err.find("sending EOS"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("end of stream"), std::string::npos) << r.err;
}

TEST(Launch, VerbosePrintsNegotiatedCaps) {
  std::string m = env_path("MESHFLOW_TEST_MANIFESTS") + "/fragment.yaml";
  auto r = run_process({launch(), "--no-server", "-v", m});
  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_NE(r.out.find("/GstPipeline:fragment/GstMfBlur:face_blur.GstPad:src: caps = video/x-raw"),
            std::string::npos)
      << r.out;
}

TEST(Launch, DotDirGetsAGraphPerStateChange) {
  std::string dir = make_temp_dir() + "/dots";
  std::string m = env_path("MESHFLOW_TEST_MANIFESTS") + "/fragment.yaml";
  auto r = run_process({launch(), "--no-server", "--dot", dir, m});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  std::vector<std::string> names;
  for (auto &e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  auto has = [&](const char *part) {
    return std::any_of(names.begin(), names.end(), [&](auto &n) { return n.find(part) != std::string::npos; });
  };
  EXPECT_TRUE(has("NULL_READY"));
  EXPECT_TRUE(has("PAUSED_PLAYING"));
  EXPECT_TRUE(has("eos"));
}

TEST(Launch, SetOverridesAProperty) {
  std::string m = env_path("MESHFLOW_TEST_MANIFESTS") + "/fragment.yaml";
  auto r = run_process({launch(), "--print-gst", "--set", "face_blur.sigma=12.5", m});
  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_NE(r.out.find("sigma=12.5"), std::string::npos) << r.out;
  r = run_process({launch(), "--validate", "--set", "face_blur.sigma=99", m});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_NE(r.err.find("out of range (allowed: 0..64)"), std::string::npos) << r.err;
}

TEST(Launch, SchemaIsJson) {
  auto r = run_process({launch(), "--schema"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_TRUE(parses_as_json(r.out));
  EXPECT_NE(r.out.find("\"blur\""), std::string::npos);
}

TEST(Launch, TokenNeedsTheSecretAndVerifies) {
  auto r = run_process({launch(), "--token", "demo", "alice"}, {{"MESHFLOW_SECRET", ""}});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_NE(r.err.find("MESHFLOW_SECRET"), std::string::npos) << r.err;
  r = run_process({launch(), "--token", "demo", "alice", "--token-ttl", "60"}, {{"MESHFLOW_SECRET", "s3cret"}});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  std::string token = r.out.substr(0, r.out.find('\n'));
  mf::signalling::TokenVerifier verifier("s3cret");
  mf::signalling::TokenClaims claims;
  EXPECT_EQ(verifier.verify(token, "demo", &claims), mf::signalling::TokenError::None);
  EXPECT_EQ(claims.user, "alice");
  EXPECT_LE(claims.expires - claims.not_before, 60);
  EXPECT_NE(verifier.verify(token, "other-room"), mf::signalling::TokenError::None);
}

TEST(Launch, BusyListenPortIsARuntimeError) {
  GSocketListener *l = g_socket_listener_new();
  guint16 port = g_socket_listener_add_any_inet_port(l, nullptr, nullptr);
  ASSERT_NE(port, 0);
  std::string m = env_path("MESHFLOW_TEST_MANIFESTS") + "/audio-tone.yaml";
  // add_any_inet_port binds the wildcard address, so 127.0.0.1:port is taken as well.
  auto r = run_process({launch(), "--listen", "127.0.0.1:" + std::to_string(port), m});
  EXPECT_EQ(r.exit_status, 1) << r.err;
  EXPECT_NE(r.err.find("signalling server:"), std::string::npos) << r.err;
  g_socket_listener_close(l);
  g_object_unref(l);
  r = run_process({launch(), "--listen", "nonsense", m});
  EXPECT_EQ(r.exit_status, 1);
  EXPECT_NE(r.err.find("--listen wants HOST:PORT"), std::string::npos) << r.err;
}

// GETs a URL with libsoup; returns the status and fills `body`.
int http_get(const std::string &url, std::string &body) {
  SoupSession *session = soup_session_new();
  SoupMessage *msg = soup_message_new("GET", url.c_str());
  GBytes *bytes = msg ? soup_session_send_and_read(session, msg, nullptr, nullptr) : nullptr;
  int status = msg ? (int)soup_message_get_status(msg) : 0;
  if (bytes) {
    gsize n = 0;
    const char *d = static_cast<const char *>(g_bytes_get_data(bytes, &n));
    body.assign(d ? d : "", n);
    g_bytes_unref(bytes);
  }
  if (msg) g_object_unref(msg);
  g_object_unref(session);
  return status;
}

TEST(Launch, ServesMetricsAndTheBrowserClientOnOnePort) {
  std::string dir = make_temp_dir();
  std::string m = write_file(dir, "live.yaml",
                             "version: 1\nnodes:\n  - {id: cam, type: videotestsrc, properties: {is-live: true}}\n"
                             "  - {id: out, type: fakesink}\nlinks:\n  - {from: cam, to: out}\n");
  Background launcher({launch(), "--listen", "127.0.0.1:0", m});
  int port = port_from_line(launcher.wait_for_stderr("signalling on"));
  ASSERT_GT(port, 0) << launcher.stderr_text();
  std::string base = "http://127.0.0.1:" + std::to_string(port);
  std::string body;
  ASSERT_EQ(http_get(base + "/metrics", body), 200);
  EXPECT_NE(body.find("# TYPE"), std::string::npos) << body;
  // promtool (Debian package prometheus) is the reference parser of the exposition format.
  std::string file = write_file(dir, "metrics.txt", body);
  auto check = run_process({"/bin/sh", "-c", "promtool check metrics < " + file});
  EXPECT_EQ(check.exit_status, 0) << check.out << check.err;
  ASSERT_EQ(http_get(base + "/client?room=demo", body), 200);
  EXPECT_NE(body.find("<html"), std::string::npos);
  EXPECT_EQ(http_get(base + "/web/client.js", body), 200);
  // Traversal: refused by libsoup (400) or by us (404), never served.
  EXPECT_GE(http_get(base + "/web/..%2F..%2Fetc%2Fpasswd", body), 400);
  EXPECT_EQ(body.find("root:"), std::string::npos);
  EXPECT_EQ(http_get(base + "/web/.hidden", body), 404);
  EXPECT_EQ(http_get(base + "/web/nonexistent.js", body), 404);
  EXPECT_EQ(launcher.interrupt_and_wait(), 0) << launcher.stderr_text();
}

TEST(Inspect, DescribesNodes) {
  auto r = run_process({inspect(), "blur"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_NE(r.out.find("element factory: mfblur"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sigma"), std::string::npos);
  r = run_process({inspect(), "--json", "blur"});
  ASSERT_EQ(r.exit_status, 0);
  EXPECT_TRUE(parses_as_json(r.out));
  r = run_process({inspect(), "--json"});
  ASSERT_EQ(r.exit_status, 0);
  EXPECT_TRUE(parses_as_json(r.out));
  EXPECT_NE(r.out.find("\"videotestsrc\""), std::string::npos);
  r = run_process({inspect(), "videotestsrc"});
  EXPECT_NE(r.out.find("pattern"), std::string::npos);
  r = run_process({inspect(), "blurr"});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_NE(r.err.find("did you mean 'blur'?"), std::string::npos) << r.err;
}

TEST(Inspect, ACustomPluginNodeIsFoundByItsFriendlyName) {
  const char *dir = g_getenv("MESHFLOW_EXAMPLE_PLUGIN_DIR");
  if (!dir) GTEST_FAIL() << "examples are disabled in this build; the custom-plugin example is part of the suite";
  std::map<std::string, std::string> env{{"GST_PLUGIN_PATH", dir}};
  auto r = run_process({inspect(), "invert"}, env);
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_NE(r.out.find("element factory: mfinvert"), std::string::npos) << r.out;
  std::string tmp = make_temp_dir();
  std::string m = write_file(tmp, "invert.yaml",
                             "version: 1\nnodes:\n  - {id: cam, type: videotestsrc, properties: {num-buffers: 5}}\n"
                             "  - {id: neg, type: invert, properties: {strength: 0.5}}\n  - {id: out, type: fakesink}\n"
                             "links:\n  - {from: cam, to: neg}\n  - {from: neg, to: out}\n");
  r = run_process({launch(), "--no-server", m}, env);
  EXPECT_EQ(r.exit_status, 0) << r.err;
  r = run_process({launch(), "--validate", "--set", "neg.strength=2", m}, env);
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_NE(r.err.find("allowed: 0..1"), std::string::npos) << r.err;
}

TEST(Inspect, NodesDocIsUpToDate) {
  auto r = run_process({inspect(), "--markdown"});
  ASSERT_EQ(r.exit_status, 0);
  std::ifstream in(env_path("MESHFLOW_SOURCE_ROOT") + "/docs/nodes.md");
  std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(doc, r.out) << "docs/nodes.md is stale: run build/src/tools/meshflow-inspect --markdown > docs/nodes.md";
}

}  // namespace
