// llm_bridge (provider openai_realtime) against the mock realtime server over a real WebSocket on
// 127.0.0.1, one test per scripted fault. In every test the pipeline never posts an ERROR and the
// bridge's src pad keeps producing (silence) through the fault (checked in TearDown and during
// the fault). Waits are bounded polls; the only time-based assertions are lower bounds the
// protocol demands (Retry-After, backoff) and a handshake count over a window (no storm).
#include <gtest/gtest.h>

#include <sstream>

#include "bridge_pipeline.h"
#include "harness.h"
#include "meshflow/metrics/registry.h"

namespace mf::test {
namespace {

using namespace std::chrono_literals;
constexpr int kRate = BridgePipeline::kRate;

// Sum of every series of `name` in the process registry's exposition.
double metric(const std::string &name) {
  std::istringstream in(mf::metrics::Registry::global().render());
  std::string line;
  double sum = 0;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0) continue;
    const char c = line.size() > name.size() ? line[name.size()] : '\0';
    if (c != ' ' && c != '{') continue;
    sum += std::atof(line.c_str() + line.rfind(' ') + 1);
  }
  return sum;
}

class LlmBridge : public ::testing::Test {
 protected:
  void SetUp() override { g_setenv("MF_TEST_LLM_KEY", "sk-test-123", TRUE); }
  void TearDown() override {
    if (!pipe) return;
    expect_producing("at the end");
    EXPECT_TRUE(pipe->bus_errors().empty()) << pipe->bus_errors().front();
    pipe.reset();
    srv.reset();
  }

  void start(const std::vector<std::string> &server_args, const std::string &props = "") {
    srv = std::make_unique<MockServer>(server_args);
    ASSERT_GT(srv->port(), 0) << srv->stderr_text();
    pipe = std::make_unique<BridgePipeline>("provider=openai_realtime url=" + srv->url() +
                                            " api-key-env=MF_TEST_LLM_KEY watchdog-ms=1000 "
                                            "reconnect-min-ms=200 reconnect-max-ms=1000 " + props);
    ASSERT_TRUE(pipe->ok()) << "mfllmbridge: " << pipe->parse_error();
    ASSERT_TRUE(pipe->play());
  }

  // The src pad keeps producing live audio: at least 200 ms more within a bounded wait.
  void expect_producing(const char *when) {
    const uint64_t before = pipe->samples_out();
    EXPECT_TRUE(wait_until([&] { return pipe->samples_out() >= before + kRate / 5; }, 10s))
        << "the bridge's src pad stopped producing " << when;
  }

  bool wait_connected() { return wait_until([&] { return pipe->stat_bool("connected"); }, 20s); }

  // One user turn; true when the answer's tone came out of the src pad.
  bool answered_turn(int speech_ms = 400) {
    pipe->arm_first_tone();
    pipe->say(speech_ms);
    return wait_until([&] { return pipe->first_tone_us() != 0; }, 20s);
  }

  // The mock server's log once `pred` holds for it (bounded wait).
  MockLog log_when(const std::function<bool(const MockLog &)> &pred, std::chrono::milliseconds t = 20s) {
    MockLog log;
    wait_until([&] {
      log = srv->log();
      return pred(log);
    }, t);
    return log;
  }

  std::unique_ptr<MockServer> srv;
  std::unique_ptr<BridgePipeline> pipe;
};

TEST_F(LlmBridge, AnswersATurnWithAudioAndTranscripts) {
  const double first_audio_before = metric("meshflow_llm_first_audio_seconds_count");
  start({"--delay-ms", "200", "--answer-ms", "800"});
  ASSERT_TRUE(wait_connected()) << srv->stderr_text();
  ASSERT_TRUE(answered_turn());
  // Most of the 800 ms answer comes out (the tone, recognisable by its level).
  EXPECT_TRUE(wait_until([&] { return pipe->tone_samples_out() >= uint64_t(kRate) * 700 / 1000; }));
  EXPECT_TRUE(wait_until([&] {
    for (const auto &t : pipe->transcripts())
      if (t.find("\"assistant\"") != std::string::npos && t.find("This is the mock assistant speaking.") != std::string::npos &&
          t.find("\"is_final\":true") != std::string::npos)
        return true;
    return false;
  })) << "no final assistant transcript";
  EXPECT_GE(pipe->stat_u64("responses"), 1u);
  EXPECT_GT(pipe->stat_double("first_audio_ms_last"), 0.0);
  std::printf("first audio: stats first_audio_ms_last=%.1f (server delay 200 ms + VAD silence 200 ms)\n",
              pipe->stat_double("first_audio_ms_last"));
  EXPECT_GE(metric("meshflow_llm_first_audio_seconds_count"), first_audio_before + 1);
  EXPECT_EQ(pipe->stat_u64("errors"), 0u);
  EXPECT_EQ(pipe->stat_u64("reconnects"), 0u);

  MockLog log = srv->log();
  EXPECT_EQ(log.handshakes, 1);
  auto hs = log.of("handshake", "handshake");
  ASSERT_EQ(hs.size(), 1u);
  EXPECT_EQ(hs[0].get_string("auth"), "ok");
  auto updates = log.of("in", "session.update");
  ASSERT_EQ(updates.size(), 1u);
  JsonObject *session = json_object_get_object_member(updates[0].obj, "session");
  ASSERT_NE(session, nullptr);
  EXPECT_STREQ(json_object_get_string_member(session, "input_audio_format"), "pcm16");
  EXPECT_STREQ(json_object_get_string_member(session, "output_audio_format"), "pcm16");
  // The user audio reached the server as PCM16 24 kHz (VAD found the 400 ms of speech).
  auto stopped = log.of("out", "input_audio_buffer.speech_stopped");
  ASSERT_EQ(stopped.size(), 1u);
  auto started = log.of("out", "input_audio_buffer.speech_started");
  ASSERT_EQ(started.size(), 1u);
  EXPECT_NEAR(double(stopped[0].get_int("audio_end_ms") - started[0].get_int("audio_start_ms")), 400.0, 30.0);
}

TEST_F(LlmBridge, StallIsCaughtByTheWatchdogAndTheSessionRestored) {
  start({"--mode", "stall", "--faulty", "1", "--delay-ms", "100"}, "");
  ASSERT_TRUE(wait_connected());
  pipe->say(400);
  MockLog log = log_when([](const MockLog &l) { return l.count("event", "mock.stall") == 1; });
  ASSERT_EQ(log.count("event", "mock.stall"), 1u);
  expect_producing("during the stall");
  ASSERT_TRUE(wait_until([&] { return pipe->stat_u64("errors_watchdog") >= 1 && pipe->stat_u64("reconnects") >= 1; }))
      << "watchdog did not fire";
  log = log_when([](const MockLog &l) {
    for (const auto &e : l.of("in", "session.update"))
      if (e.conn == 2) return true;
    return false;
  });
  EXPECT_EQ(log.handshakes, 2);
  size_t updates_on_2 = 0;
  for (const auto &e : log.of("in", "session.update")) updates_on_2 += e.conn == 2;
  EXPECT_EQ(updates_on_2, 1u) << "the session setup was not sent again on the new connection";
  ASSERT_TRUE(wait_connected());
  EXPECT_TRUE(answered_turn()) << "no answer after the reconnect";
  EXPECT_GE(metric("meshflow_llm_reconnects_total"), 1);
  EXPECT_GE(metric("meshflow_llm_errors_total"), 1);
}

TEST_F(LlmBridge, DisconnectReconnectsAfterTheBackoff) {
  start({"--mode", "disconnect", "--faulty", "1", "--delay-ms", "100"}, "reconnect-min-ms=300");
  ASSERT_TRUE(wait_connected());
  pipe->say(400);
  MockLog log = log_when([](const MockLog &l) { return l.handshakes >= 2 && l.connections >= 2; });
  ASSERT_EQ(log.count("event", "mock.disconnect"), 1u);
  ASSERT_GE(log.handshakes, 2);
  const double dropped_at = log.of("event", "mock.disconnect")[0].t_ms;
  const double again_at = log.of("handshake", "handshake")[1].t_ms;
  EXPECT_GE(again_at - dropped_at, 300.0) << "reconnected before reconnect-min-ms";
  EXPECT_GE(pipe->stat_u64("reconnects"), 1u);
  EXPECT_GE(pipe->stat_u64("errors_network") + pipe->stat_u64("errors_server"), 1u);
  ASSERT_TRUE(wait_connected());
  EXPECT_TRUE(answered_turn()) << "no answer after the reconnect";
}

TEST_F(LlmBridge, ReconnectRestoresTheConversation) {
  // The first answer completes; the second one is cut by a dropped connection.
  start({"--mode", "disconnect", "--faulty", "1", "--fault-response", "2", "--delay-ms", "100", "--answer-ms", "400"});
  ASSERT_TRUE(wait_connected());
  ASSERT_TRUE(answered_turn());
  ASSERT_TRUE(wait_until([&] {
    for (const auto &t : pipe->transcripts())
      if (t.find("\"assistant\"") != std::string::npos && t.find("\"is_final\":true") != std::string::npos) return true;
    return false;
  })) << "first turn did not finish";
  std::this_thread::sleep_for(600ms);
  pipe->say(400);
  MockLog log = log_when([](const MockLog &l) {
    for (const auto &e : l.of("in", "input_audio_buffer.append"))
      if (e.conn == 2) return true;
    return false;
  });
  ASSERT_EQ(log.count("event", "mock.disconnect"), 1u);
  // On the new connection: session.update, then the finished turn as conversation items, then audio.
  std::vector<std::string> order;
  std::string restored;
  for (const auto &e : log.events) {
    if (e.dir != "in" || e.conn != 2) continue;
    if (order.empty() || order.back() != e.type) order.push_back(e.type);
    if (e.type == "conversation.item.create") {
      JsonNode *n = json_object_get_member(e.obj, "item");
      gchar *s = json_to_string(n, FALSE);
      restored += s;
      g_free(s);
    }
  }
  ASSERT_GE(order.size(), 3u);
  EXPECT_EQ(order[0], "session.update");
  EXPECT_EQ(order[1], "conversation.item.create");
  EXPECT_EQ(order[2], "input_audio_buffer.append");
  EXPECT_NE(restored.find("This is the mock assistant speaking."), std::string::npos) << restored;
  EXPECT_NE(restored.find("mock user turn 1"), std::string::npos) << restored;
  ASSERT_TRUE(wait_connected());
  EXPECT_TRUE(answered_turn()) << "no answer after the restore";
}

TEST_F(LlmBridge, SilenceAfterTheUpgradeIsCaughtByTheWatchdog) {
  start({"--mode", "silent", "--faulty", "1"}, "watchdog-ms=800");
  ASSERT_TRUE(wait_until([&] { return pipe->stat_u64("errors_watchdog") >= 1; })) << "no session.created not detected";
  MockLog log = log_when([](const MockLog &l) { return l.connections >= 2; });
  EXPECT_GE(log.connections, 2) << "no reconnect after the silent session";
  ASSERT_TRUE(wait_connected());
  EXPECT_TRUE(answered_turn());
}

TEST_F(LlmBridge, MalformedAndUnknownEventsAreCountedNotFatal) {
  start({"--mode", "garbage", "--faulty", "1", "--delay-ms", "100", "--answer-ms", "400"});
  ASSERT_TRUE(wait_connected());
  EXPECT_TRUE(wait_until([&] { return pipe->stat_u64("errors_protocol") >= 1 && pipe->stat_u64("unknown_events") >= 1; }))
      << "errors_protocol " << pipe->stat_u64("errors_protocol") << " unknown_events " << pipe->stat_u64("unknown_events");
  EXPECT_TRUE(answered_turn());
  EXPECT_EQ(srv->log().handshakes, 1);
}

TEST_F(LlmBridge, ErrorEventsAreCountedAndAnswersContinue) {
  const double errors_before = metric("meshflow_llm_errors_total");
  start({"--mode", "error", "--delay-ms", "100", "--answer-ms", "500"});
  ASSERT_TRUE(wait_connected());
  ASSERT_TRUE(answered_turn());
  EXPECT_TRUE(wait_until([&] { return pipe->stat_u64("errors") >= 1; }));
  EXPECT_GE(metric("meshflow_llm_errors_total"), errors_before + 1);
  EXPECT_EQ(srv->log().handshakes, 1) << "an error event is not a reason to reconnect";
}

TEST_F(LlmBridge, UnauthorizedIsReportedWithoutAReconnectStorm) {
  start({"--mode", "401"}, "reconnect-max-ms=1000");
  ASSERT_TRUE(wait_until([&] { return pipe->stat_u64("errors_auth") >= 1; }));
  expect_producing("while unauthorized");
  const int before = srv->log().handshakes;
  // A fixed window of test time: auth failures retry once per reconnect-max-ms (1 s) at most.
  std::this_thread::sleep_for(3s);
  const int during = srv->log().handshakes - before;
  EXPECT_LE(during, 4) << "reconnect storm: " << during << " handshakes in 3 s";
  EXPECT_GE(during, 1) << "never retried";
  EXPECT_FALSE(pipe->stat_bool("connected"));
  EXPECT_EQ(srv->log().connections, 0);
  EXPECT_GE(metric("meshflow_llm_errors_total"), 1);
}

TEST_F(LlmBridge, RateLimitHonoursRetryAfter) {
  start({"--mode", "429", "--faulty", "1", "--retry-after-s", "2"}, "reconnect-min-ms=100");
  ASSERT_TRUE(wait_connected());
  MockLog log = srv->log();
  auto hs = log.of("handshake", "handshake");
  ASSERT_GE(hs.size(), 2u);
  EXPECT_EQ(hs[0].get_int("status"), 429);
  EXPECT_EQ(hs[1].get_int("status"), 101);
  EXPECT_GE(hs[1].t_ms - hs[0].t_ms, 2000.0) << "Retry-After: 2 not honoured";
  EXPECT_GE(pipe->stat_u64("errors_rate_limit"), 1u);
  EXPECT_TRUE(answered_turn());
}

TEST_F(LlmBridge, ServerErrorsAtTheHandshakeAreRetried) {
  start({"--mode", "500", "--faulty", "2"}, "reconnect-min-ms=100");
  ASSERT_TRUE(wait_connected());
  MockLog log = srv->log();
  auto hs = log.of("handshake", "handshake");
  ASSERT_EQ(hs.size(), 3u);
  EXPECT_EQ(hs[0].get_int("status"), 500);
  EXPECT_EQ(hs[1].get_int("status"), 500);
  EXPECT_EQ(hs[2].get_int("status"), 101);
  EXPECT_GE(hs[1].t_ms - hs[0].t_ms, 100.0);
  EXPECT_GE(hs[2].t_ms - hs[1].t_ms, 200.0) << "no exponential backoff";
  EXPECT_GE(pipe->stat_u64("errors_server"), 2u);
  EXPECT_TRUE(answered_turn());
}

TEST_F(LlmBridge, SlowReadsDoNotBlockTheStreamingThread) {
  start({"--mode", "slow_reads", "--faulty", "1", "--slow-read-ms", "5000", "--delay-ms", "100"},
        "watchdog-ms=20000");
  MockLog log;
  ASSERT_TRUE(wait_connected());
  // While the server does not read, the bridge's input side must not block or grow without bound:
  // the src pad keeps producing and user audio keeps being accepted.
  g_usleep(300 * 1000);
  const uint64_t out_before = pipe->samples_out();
  pipe->say(2000);
  std::this_thread::sleep_for(3s);
  EXPECT_GE(pipe->samples_out(), out_before + uint64_t(kRate) * 2) << "output stalled with the socket";
  log = log_when([](const MockLog &l) { return l.count("event", "mock.slow_read_end") == 1; });
  ASSERT_EQ(log.count("event", "mock.slow_read_end"), 1u);
  std::printf("slow reads: input_dropped_ms=%llu reconnects=%llu errors=%llu\n",
              (unsigned long long)pipe->stat_u64("input_dropped_ms"),
              (unsigned long long)pipe->stat_u64("reconnects"), (unsigned long long)pipe->stat_u64("errors"));
  // After the pause the server reads what was queued (the bridge drops input only beyond one second
  // of its own send backlog; 5 s at 24 kHz mostly fits in the kernel's socket buffers) and the
  // session goes on.
  log = log_when([](const MockLog &l) { return l.count("out", "input_audio_buffer.speech_stopped") >= 1; });
  EXPECT_GE(log.count("out", "input_audio_buffer.speech_stopped"), 1u) << "the speech sent during the pause was lost";
  ASSERT_TRUE(wait_connected());
  EXPECT_TRUE(answered_turn()) << "no answer after the slow reads";
}

TEST_F(LlmBridge, BargeInCancelsAndTruncatesAtTheLastPlayedSample) {
  const double interruptions_before = metric("meshflow_llm_interruption_seconds_count");
  start({"--delay-ms", "100", "--answer-ms", "8000"});
  ASSERT_TRUE(wait_connected());
  ASSERT_TRUE(answered_turn());
  // Let a second of the answer play, then talk over it.
  ASSERT_TRUE(wait_until([&] { return pipe->tone_since_flush() >= uint64_t(kRate); }));
  const int flushes = pipe->flushes();
  pipe->say(400, 250.0);
  ASSERT_TRUE(wait_until([&] { return pipe->flushes() > flushes; })) << "queued answer audio not flushed";
  MockLog log = log_when([](const MockLog &l) { return l.count("in", "conversation.item.truncate") >= 1; });
  auto cancels = log.of("in", "response.cancel");
  auto truncs = log.of("in", "conversation.item.truncate");
  ASSERT_EQ(truncs.size(), 1u);
  ASSERT_GE(cancels.size(), 1u);
  EXPECT_LE(cancels[0].t_ms, truncs[0].t_ms);
  EXPECT_EQ(truncs[0].get_string("item_id"), "item_mock_1");
  const gint64 end_ms = truncs[0].get_int("audio_end_ms");
  EXPECT_TRUE(wait_until([&] { return pipe->stat_i64("truncate_audio_end_ms_last") == end_ms; }))
      << "stats truncate_audio_end_ms_last " << pipe->stat_i64("truncate_audio_end_ms_last") << " vs sent " << end_ms;
  // What came out of the src pad before the flush, to one 20 ms buffer.
  const double played_ms = double(pipe->tone_at_last_flush()) * 1000.0 / kRate;
  std::printf("barge-in: truncate audio_end_ms=%lld, tone out of src before the flush %.1f ms\n", (long long)end_ms,
              played_ms);
  // The bridge counts the samples whose play time has come; the appsink (sync=false) also has the
  // 20 ms buffer in flight, so the two differ by at most one buffer, and never the other way.
  EXPECT_NEAR(double(end_ms), played_ms, 25.0);
  EXPECT_LE(double(end_ms), played_ms + 1.0) << "truncated after audio that never came out";
  EXPECT_GE(end_ms, 1000);
  EXPECT_GE(pipe->stat_u64("cancelled"), 1u);
  EXPECT_GE(pipe->stat_double("interruption_ms_last"), 0.0);
  EXPECT_GE(metric("meshflow_llm_interruption_seconds_count"), interruptions_before + 1);
  // Nothing of the cancelled answer comes out after the flush; the next answer does.
  pipe->arm_first_tone();
  EXPECT_TRUE(wait_until([&] { return pipe->first_tone_us() != 0; })) << "no answer to the interrupting turn";
}

}  // namespace
}  // namespace mf::test
