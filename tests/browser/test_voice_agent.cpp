// Browser end-to-end test of the voice agent (manifests/voice-agent.yaml: webrtc_source.audio ->
// llm_bridge -> webrtc_sink, route origin): headless Chromium whose fake microphone plays a WAV of
// speech bursts and pauses (written by voice_agent.mjs) joins the launcher's room, hears the
// agent's replies, and talks over them (barge-in). Runs in a loopback-only network namespace.
//
// The bridge's reply (mock-reply-ms / --answer-ms 3000) is longer than the pause between bursts
// (2 s), so every reply is interrupted by the next burst. voice_agent.mjs checks levels and counts:
// replies heard on the page (Web Audio analyser energy), meshflow_llm_first_audio_seconds and
// meshflow_llm_interruption_seconds counts in the launcher's /metrics, and, against the mock
// realtime server, the client's response.cancel + conversation.item.truncate in the server's log.
#include <gtest/gtest.h>
#include <signal.h>

#include <glib.h>

#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "child_process.h"
#include "process.h"

using mf::test::ChildProcess;
using Stream = mf::test::ChildProcess::Stream;

namespace {

std::string source_root() { return mf::test::env_path("MESHFLOW_SOURCE_ROOT"); }

std::string node_path() {
  gchar *p = g_find_program_in_path("node");
  std::string s = p ? p : "";
  g_free(p);
  return s;
}

std::string tail(const std::string &s, size_t n = 6000) { return s.size() > n ? "..." + s.substr(s.size() - n) : s; }

::testing::AssertionResult have_browser_tools() {
  const char *c = g_getenv("MESHFLOW_CHROMIUM");
  std::string chromium = c ? c : "/usr/bin/chromium";
  if (!g_file_test(chromium.c_str(), G_FILE_TEST_IS_EXECUTABLE))
    return ::testing::AssertionFailure() << chromium << " missing: apt-get install chromium (./dev setup)";
  if (node_path().empty()) return ::testing::AssertionFailure() << "node not in PATH (./dev setup)";
  std::string pw = source_root() + "/node_modules/playwright-core/package.json";
  if (!g_file_test(pw.c_str(), G_FILE_TEST_EXISTS))
    return ::testing::AssertionFailure() << pw << " missing: npm ci (./dev setup)";
  return ::testing::AssertionSuccess();
}

// meshflow-launch --listen 127.0.0.1:0 --ice-local-address 127.0.0.1 EXTRA... manifests/voice-agent.yaml
struct Launcher {
  std::unique_ptr<ChildProcess> proc;
  int port = 0;

  ::testing::AssertionResult start(const std::vector<std::string> &extra,
                                   const std::map<std::string, std::string> &env = {}) {
    std::vector<std::string> argv{mf::test::env_path("MESHFLOW_LAUNCH"), "--listen", "127.0.0.1:0",
                                  "--ice-local-address", "127.0.0.1"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    // Diagnostics: MESHFLOW_VOICE_AGENT_SET="agent.flush-on-barge-in=false" adds one more --set.
    if (const char *more = g_getenv("MESHFLOW_VOICE_AGENT_SET"); more && *more) {
      argv.push_back("--set");
      argv.push_back(more);
    }
    argv.push_back(source_root() + "/manifests/voice-agent.yaml");
    proc = std::make_unique<ChildProcess>(argv, env);
    if (!proc->started()) return ::testing::AssertionFailure() << "spawn meshflow-launch: " << proc->spawn_error();
    std::vector<std::string> g;
    if (!proc->wait_for(Stream::Err, std::regex(R"(signalling on ws://127\.0\.0\.1:(\d+)/rpc)"), 30, &g))
      return ::testing::AssertionFailure() << "meshflow-launch did not start signalling; stderr:\n" << proc->err();
    port = std::stoi(g[1]);
    if (!proc->wait_for(Stream::Err, std::regex("running '"), 30))
      return ::testing::AssertionFailure() << "meshflow-launch did not start its session; stderr:\n" << proc->err();
    return ::testing::AssertionSuccess();
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port); }
  std::string err() const { return proc ? proc->err() : ""; }
  int stop() {
    if (!proc) return -1;
    proc->signal(SIGTERM);
    return proc->wait(15);
  }
};

void run_script(const Launcher &launcher, const std::vector<std::string> &extra) {
  std::vector<std::string> argv{node_path(), source_root() + "/tests/browser/voice_agent.mjs", "--launcher",
                                launcher.base(), "--room", "agent"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto r = mf::test::run_process(argv, {}, 200);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_status, 0) << "voice_agent.mjs failed\n--- stdout:\n" << r.out << "\n--- stderr:\n" << tail(r.err)
                              << "\n--- launcher stderr:\n" << tail(launcher.err(), 3000);
  EXPECT_NE(r.out.find("PASS voice-agent"), std::string::npos) << r.out;
  // The figures, for the log.
  std::printf("%s", r.out.c_str());
  // Barge-in must not break the transport's stream. A FLUSH that reaches webrtcbin's RTP chain
  // leaves it without a segment (its rtpfunnel does not forward the new one): "Got data flow before
  // segment event" warnings and gst_segment_to_running_time CRITICALs on every packet after the
  // first barge-in. llm_bridge's `flush-on-barge-in: false` is meant for such transports.
  const std::string err = launcher.err();
  size_t at = err.find("before segment event");
  if (at == std::string::npos) at = err.find("CRITICAL");
  EXPECT_EQ(err.find("CRITICAL"), std::string::npos)
      << "meshflow-launch logged GStreamer CRITICALs during the session (set `flush-on-barge-in: false` on "
         "the llm_bridge of manifests/voice-agent.yaml, or make webrtc_sink absorb flushes); first:\n"
      << err.substr(at == std::string::npos ? 0 : (at > 200 ? at - 200 : 0), 800);
}

}  // namespace

// The in-process mock provider: the page hears at least two replies, the bridge measures their
// first-audio latency, and the page's next burst of speech interrupts a reply (barge-in).
TEST(VoiceAgent, BrowserTalksToMockAgentAndInterruptsIt) {
  ASSERT_TRUE(have_browser_tools());
  Launcher launcher;
  ASSERT_TRUE(launcher.start({"--set", "agent.provider=mock", "--set", "agent.mock-delay-ms=300", "--set",
                              "agent.mock-reply-ms=3000"}));
  run_script(launcher, {"--min-replies", "2", "--min-interruptions", "1"});
  EXPECT_EQ(launcher.stop(), 0) << tail(launcher.err(), 2000);
}

// The same session with provider openai_realtime against the mock realtime server
// (tests/fixtures/mock_realtime, a real WebSocket server process): server VAD, audio deltas,
// and the client's response.cancel + conversation.item.truncate on barge-in.
TEST(VoiceAgent, BrowserTalksToOpenAiRealtimeMockServerAndInterruptsIt) {
  ASSERT_TRUE(have_browser_tools());
  ChildProcess server({mf::test::env_path("MESHFLOW_MOCK_REALTIME"), "--delay-ms", "300", "--answer-ms", "3000"});
  ASSERT_TRUE(server.started()) << server.spawn_error();
  std::vector<std::string> g;
  ASSERT_TRUE(server.wait_for(Stream::Out, std::regex(R"(listening on ws://127\.0\.0\.1:(\d+)/v1/realtime)"), 30, &g))
      << "mock-realtime-server did not start; stderr:\n" << server.err();
  const std::string port = g[1];
  Launcher launcher;
  ASSERT_TRUE(launcher.start({"--set", "agent.provider=openai_realtime", "--set",
                              "agent.url=ws://127.0.0.1:" + port + "/v1/realtime", "--set",
                              "agent.api-key-env=MF_TEST_LLM_KEY"},
                             {{"MF_TEST_LLM_KEY", "sk-test-123"}}));
  run_script(launcher, {"--min-replies", "2", "--min-interruptions", "1", "--mock-server",
                        "http://127.0.0.1:" + port});
  EXPECT_EQ(launcher.stop(), 0) << tail(launcher.err(), 2000);
  server.signal(SIGTERM);
  server.wait(10);
}
