// mfllmbridge provider=openai_realtime against a WebSocket server on loopback in the test
// process: assistant audio deltas play, barge-in (speech_started while playing) flushes and sends
// response.cancel + conversation.item.truncate for the playing item with audio_end_ms = what had
// played, late deltas of the cancelled item are dropped; the watchdog reconnects a stalled
// session and restores the conversation; a dropped connection is reconnected.
#include <gst/gst.h>
#include <json-glib/json-glib.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "llm/protocol.h"
#include "llm_test_server.h"
#include "meshflow/metrics/registry.h"

using namespace llmtest;

namespace {
const char *kVar = "MF_TEST_LLM_NET_KEY";

std::string audio_delta(const char *item, const char *resp, size_t samples) {
  std::vector<int16_t> pcm(samples);
  for (size_t i = 0; i < samples; i++) pcm[i] = int16_t(6000 * std::sin(0.05 * double(i)));
  return std::string(R"({"type":"response.audio.delta","response_id":")") + resp +
         R"(","item_id":")" + item + R"(","output_index":0,"content_index":0,"delta":")" +
         mf::llm::base64_encode_pcm16(pcm.data(), pcm.size()) + "\"}";
}

gint64 json_int(const std::string &json, const char *member) {
  JsonParser *p = json_parser_new();
  gint64 v = -1;
  if (json_parser_load_from_data(p, json.c_str(), -1, nullptr))
    v = json_object_get_int_member(json_node_get_object(json_parser_get_root(p)), member);
  g_object_unref(p);
  return v;
}
}  // namespace

TEST(LlmOpenAiNet, BargeInCancelsAndTruncatesThePlayingItem) {
  g_setenv(kVar, "sk-net-test", TRUE);
  Server srv;
  srv.on_open = [](SoupWebsocketConnection *c, int) {
    soup_websocket_connection_send_text(c, R"({"type":"session.created","session":{}})");
  };
  GstElement *b = nullptr;
  GstElement *p = pipeline_with(std::string("provider=openai_realtime api-key-env=") + kVar +
                                    " url=" + srv.url("/v1/realtime"),
                                &b, 24000);
  ASSERT_TRUE(p);
  ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ASSERT_TRUE(spin_until([&] { return srv.got("session.update"); }));
  srv.send(R"({"type":"input_audio_buffer.speech_stopped","audio_end_ms":1000,"item_id":"u1"})");
  srv.send(R"({"type":"response.created","response":{"id":"resp_1"}})");
  srv.send(audio_delta("item_1", "resp_1", 48000));  // 2 s
  srv.send(R"({"type":"response.audio_transcript.delta","item_id":"item_1","delta":"Hel"})");
  // Wait until some of it has played, then the user barges in.
  ASSERT_TRUE(spin_until([&] {
    return stat_u64(b, "responses") >= 1 && stat_u64(b, "queued_ms") <= 1800;
  }));
  srv.send(R"({"type":"input_audio_buffer.speech_started","audio_start_ms":1200,"item_id":"u2"})");
  ASSERT_TRUE(spin_until([&] { return srv.got("conversation.item.truncate"); }));
  EXPECT_TRUE(srv.got("response.cancel"));
  std::string tr = srv.find("conversation.item.truncate");
  EXPECT_NE(tr.find("\"item_id\":\"item_1\""), std::string::npos) << tr;
  gint64 end_ms = json_int(tr, "audio_end_ms");
  EXPECT_GE(end_ms, 0);
  EXPECT_LT(end_ms, 2000);
  EXPECT_EQ(end_ms, stat_i64(b, "truncate_audio_end_ms_last"));
  EXPECT_EQ(stat_u64(b, "cancelled"), 1u);
  EXPECT_EQ(stat_u64(b, "queued_ms"), 0u);
  // A delta of the cancelled item still in flight is dropped; the marker after it proves it was
  // processed.
  guint64 unknown = stat_u64(b, "unknown_events");
  srv.send(audio_delta("item_1", "resp_1", 24000));
  srv.send(R"({"type":"test.marker"})");
  ASSERT_TRUE(spin_until([&] { return stat_u64(b, "unknown_events") > unknown; }));
  EXPECT_EQ(stat_u64(b, "queued_ms"), 0u);
  // A new response plays again.
  srv.send(R"({"type":"response.created","response":{"id":"resp_2"}})");
  srv.send(audio_delta("item_2", "resp_2", 4800));
  EXPECT_TRUE(spin_until([&] { return stat_u64(b, "responses") >= 2; }));
  GstStructure *st = nullptr;
  g_object_get(b, "stats", &st, nullptr);
  double fa = -2;
  gst_structure_get_double(st, "first_audio_ms_last", &fa);
  EXPECT_GE(fa, 0.0);
  gst_structure_free(st);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(b);
  gst_object_unref(p);
  g_unsetenv(kVar);
}

TEST(LlmOpenAiNet, WatchdogReconnectsAndRestoresTheConversation) {
  g_setenv(kVar, "sk-net-test", TRUE);
  Server srv;
  srv.on_open = [](SoupWebsocketConnection *c, int index) {
    soup_websocket_connection_send_text(c, R"({"type":"session.created","session":{}})");
    if (index == 0) {
      soup_websocket_connection_send_text(
          c, R"({"type":"conversation.item.input_audio_transcription.completed","item_id":"u1","transcript":"remember the milk"})");
      soup_websocket_connection_send_text(
          c, R"({"type":"response.audio_transcript.done","item_id":"a1","transcript":"milk noted"})");
      // A response is now due, and the server goes silent.
      soup_websocket_connection_send_text(c, R"({"type":"input_audio_buffer.speech_stopped"})");
    }
  };
  double before = mf::metrics::Registry::global().value("meshflow_llm_reconnects_total");
  GstElement *b = nullptr;
  GstElement *p = pipeline_with(std::string("provider=openai_realtime api-key-env=") + kVar +
                                    " watchdog-ms=300 reconnect-min-ms=10 url=" +
                                    srv.url("/v1/realtime"),
                                &b);
  ASSERT_TRUE(p);
  ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ASSERT_TRUE(spin_until([&] {
    return srv.connections >= 2 && srv.got("milk noted", 1);
  }));
  EXPECT_TRUE(srv.got("session.update", 1));
  EXPECT_TRUE(srv.got("remember the milk", 1));
  EXPECT_TRUE(srv.got("conversation.item.create", 1));
  EXPECT_GE(stat_u64(b, "errors_watchdog"), 1u);
  EXPECT_GE(stat_u64(b, "reconnects"), 1u);
  EXPECT_GT(mf::metrics::Registry::global().value("meshflow_llm_reconnects_total"), before);
  EXPECT_GE(mf::metrics::Registry::global().value("meshflow_llm_errors_total",
                                                 {{"kind", "watchdog"}}),
            1.0);
  GstState st;
  gst_element_get_state(p, &st, nullptr, GST_CLOCK_TIME_NONE);
  EXPECT_EQ(st, GST_STATE_PLAYING);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(b);
  gst_object_unref(p);
  g_unsetenv(kVar);
}

TEST(LlmOpenAiNet, DroppedConnectionIsReconnected) {
  g_setenv(kVar, "sk-net-test", TRUE);
  Server srv;
  srv.on_open = [](SoupWebsocketConnection *c, int index) {
    soup_websocket_connection_send_text(c, R"({"type":"session.created","session":{}})");
    if (index == 0) soup_websocket_connection_close(c, 1011, "going away");
  };
  GstElement *b = nullptr;
  GstElement *p = pipeline_with(std::string("provider=openai_realtime api-key-env=") + kVar +
                                    " reconnect-min-ms=10 url=" + srv.url("/v1/realtime"),
                                &b);
  ASSERT_TRUE(p);
  ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ASSERT_TRUE(spin_until([&] { return srv.got("session.update", 1); }));
  EXPECT_GE(stat_u64(b, "errors_network"), 1u);
  EXPECT_GE(stat_u64(b, "reconnects"), 1u);
  EXPECT_TRUE(spin_until([&] { return srv.got("input_audio_buffer.append", 1); }));
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(b);
  gst_object_unref(p);
  g_unsetenv(kVar);
}

// Not a threshold test: prints the bridge's own share of first-audio latency (speech_stopped
// arrival -> first assistant sample's play time; the server answers at once) and of barge-in
// reaction (speech_started arrival -> FLUSH_START pushed), over 20 rounds each, and checks only
// that every round was measured.
TEST(LlmOpenAiNet, MeasuresFirstAudioAndInterruption) {
  g_setenv(kVar, "sk-net-test", TRUE);
  Server srv;
  srv.on_open = [](SoupWebsocketConnection *c, int) {
    soup_websocket_connection_send_text(c, R"({"type":"session.created","session":{}})");
  };
  GstElement *b = nullptr;
  GstElement *p = pipeline_with(std::string("provider=openai_realtime api-key-env=") + kVar +
                                    " url=" + srv.url("/v1/realtime"),
                                &b, 24000);
  ASSERT_TRUE(p);
  ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ASSERT_TRUE(spin_until([&] { return srv.got("session.update"); }));
  auto get = [&](const char *f) {
    GstStructure *st = nullptr;
    g_object_get(b, "stats", &st, nullptr);
    double v = -1;
    gst_structure_get_double(st, f, &v);
    gst_structure_free(st);
    return v;
  };
  std::vector<double> first, intr;
  for (int i = 0; i < 20; i++) {
    std::string item = "item_" + std::to_string(i), resp = "resp_" + std::to_string(i);
    srv.send(R"({"type":"input_audio_buffer.speech_stopped"})");
    srv.send(R"({"type":"response.created","response":{"id":")" + resp + "\"}}");
    srv.send(audio_delta(item.c_str(), resp.c_str(), 24000));  // 1 s: still playing below
    ASSERT_TRUE(spin_until([&] { return stat_u64(b, "responses") >= guint64(i + 1); }));
    first.push_back(get("first_audio_ms_last"));
    ASSERT_TRUE(spin_until([&] { return stat_u64(b, "queued_ms") <= 950; }));
    srv.send(R"({"type":"input_audio_buffer.speech_started"})");
    ASSERT_TRUE(spin_until([&] { return stat_u64(b, "cancelled") >= guint64(i + 1); }));
    intr.push_back(get("interruption_ms_last"));
    srv.send(R"({"type":"response.done","response":{"id":")" + resp + "\"}}");
  }
  auto pct = [](std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, size_t(q * double(v.size())))];
  };
  printf("[llm] first audio (speech_stopped -> first sample play time) ms: p50 %.2f p95 %.2f max %.2f\n",
         pct(first, 0.5), pct(first, 0.95), pct(first, 1.0));
  printf("[llm] interruption (speech_started -> flush) ms: p50 %.3f p95 %.3f max %.3f\n",
         pct(intr, 0.5), pct(intr, 0.95), pct(intr, 1.0));
  EXPECT_EQ(first.size(), 20u);
  for (double v : first) EXPECT_GE(v, 0.0);
  for (double v : intr) EXPECT_GE(v, 0.0);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(b);
  gst_object_unref(p);
  g_unsetenv(kVar);
}

// first_audio is measured from the speech end the server reports (speech_stopped's audio_end_ms,
// mapped to the running time of that input sample), not from the event's arrival: the server
// says speech ended 200 ms into the session's input after more than 1 s of input was sent, so
// the measured first audio is at least 800 ms (it would be ~one output period from the arrival).
TEST(LlmOpenAiNet, FirstAudioCountsFromTheServersAudioEndMs) {
  g_setenv(kVar, "sk-net-test", TRUE);
  Server srv;
  srv.on_open = [](SoupWebsocketConnection *c, int) {
    soup_websocket_connection_send_text(c, R"({"type":"session.created","session":{}})");
  };
  GstElement *b = nullptr;
  GstElement *p = pipeline_with(std::string("provider=openai_realtime api-key-env=") + kVar +
                                    " url=" + srv.url("/v1/realtime"),
                                &b, 24000);
  ASSERT_TRUE(p);
  ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  auto appends = [&] {
    int n = 0;
    for (auto &r : srv.received) n += r.second.find("input_audio_buffer.append") != std::string::npos;
    return n;
  };
  ASSERT_TRUE(spin_until([&] { return appends() >= 55; }));  // 20 ms each: > 1 s of input
  srv.send(R"({"type":"input_audio_buffer.speech_stopped","audio_end_ms":200,"item_id":"u1"})");
  srv.send(R"({"type":"response.created","response":{"id":"resp_1"}})");
  srv.send(audio_delta("item_1", "resp_1", 2400));
  ASSERT_TRUE(spin_until([&] { return stat_u64(b, "responses") >= 1; }));
  GstStructure *st = nullptr;
  g_object_get(b, "stats", &st, nullptr);
  double first = -1;
  gst_structure_get_double(st, "first_audio_ms_last", &first);
  gst_structure_free(st);
  EXPECT_GE(first, 800.0);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(b);
  gst_object_unref(p);
  g_unsetenv(kVar);
}

// stats.connected is TRUE only once the session is acknowledged (session.created), not at the
// WebSocket upgrade: the server has received our session.update but not answered yet.
TEST(LlmOpenAiNet, ConnectedOnlyAfterTheSessionAck) {
  g_setenv(kVar, "sk-net-test", TRUE);
  Server srv;  // on_open says nothing
  GstElement *b = nullptr;
  GstElement *p = pipeline_with(std::string("provider=openai_realtime api-key-env=") + kVar +
                                    " url=" + srv.url("/v1/realtime"),
                                &b, 24000);
  ASSERT_TRUE(p);
  ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  auto connected = [&] {
    GstStructure *st = nullptr;
    g_object_get(b, "stats", &st, nullptr);
    gboolean c = TRUE;
    gst_structure_get_boolean(st, "connected", &c);
    gst_structure_free(st);
    return bool(c);
  };
  ASSERT_TRUE(spin_until([&] { return srv.got("session.update"); }));
  EXPECT_FALSE(connected());
  srv.send(R"({"type":"session.created","session":{}})");
  EXPECT_TRUE(spin_until(connected));
  gst_element_set_state(p, GST_STATE_NULL);
  EXPECT_FALSE(connected());
  gst_object_unref(b);
  gst_object_unref(p);
  g_unsetenv(kVar);
}
