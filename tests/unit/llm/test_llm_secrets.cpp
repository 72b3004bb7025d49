// Keys and the network side of mfllmbridge against a WebSocket server on loopback inside the test
// process (libsoup 3): the key from the environment variable named by api-key-env reaches the
// server (OpenAI: `Authorization: Bearer`, `OpenAI-Beta: realtime=v1`; Gemini: `?key=`), the
// session setup and user audio are sent, and the key never appears in the GStreamer debug log
// (every category at DEBUG, the bridge at TRACE) nor in bus messages. A missing key is an
// `auth` error without any connection attempt.
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <libsoup/soup.h>

#include <mutex>
#include <string>
#include <vector>

#include "llm_test_server.h"

using namespace llmtest;

namespace {

const char *kKeyVar = "MF_TEST_LLM_SECRET_KEY";
const char *kKey = "sk-test-Zq7uniqueSECRET-93f1";

std::mutex log_mu;
std::string captured;  // guarded by log_mu

void capture(GstDebugCategory *cat, GstDebugLevel, const gchar *file, const gchar *func, gint,
             GObject *, GstDebugMessage *message, gpointer) {
  // Format first: formatting may log again (object printing), which must not deadlock.
  const gchar *m = gst_debug_message_get(message);
  std::string line = std::string(gst_debug_category_get_name(cat)) + ' ' + (file ? file : "") +
                     ' ' + (func ? func : "") + ' ' + (m ? m : "") + '\n';
  std::lock_guard<std::mutex> lk(log_mu);
  captured += line;
}

struct LogCapture {
  GstDebugLevel old_default = gst_debug_get_default_threshold();
  LogCapture() {
    std::lock_guard<std::mutex> lk(log_mu);
    captured.clear();
    gst_debug_remove_log_function(gst_debug_log_default);
    gst_debug_add_log_function(capture, nullptr, nullptr);
    gst_debug_set_active(TRUE);
    gst_debug_set_default_threshold(GST_LEVEL_DEBUG);
    gst_debug_set_threshold_for_name("mfllmbridge", GST_LEVEL_TRACE);
  }
  ~LogCapture() {
    gst_debug_set_default_threshold(old_default);
    gst_debug_unset_threshold_for_name("mfllmbridge");
    gst_debug_remove_log_function(capture);
    gst_debug_add_log_function(gst_debug_log_default, nullptr, nullptr);
  }
  std::string text() {
    std::lock_guard<std::mutex> lk(log_mu);
    return captured;
  }
};

std::string bus_text(GstElement *pipeline) {
  std::string all;
  GstBus *bus = gst_element_get_bus(pipeline);
  while (GstMessage *m = gst_bus_pop(bus)) {
    if (const GstStructure *s = gst_message_get_structure(m)) {
      gchar *t = gst_structure_to_string(s);
      all += t;
      g_free(t);
    }
    GError *e = nullptr;
    gchar *dbg = nullptr;
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING) gst_message_parse_warning(m, &e, &dbg);
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) gst_message_parse_error(m, &e, &dbg);
    if (e) all += e->message;
    if (dbg) all += dbg;
    g_clear_error(&e);
    g_free(dbg);
    all += '\n';
    gst_message_unref(m);
  }
  gst_object_unref(bus);
  return all;
}

}  // namespace

TEST(LlmSecrets, OpenAiKeyIsSentButNeverLogged) {
  g_setenv(kKeyVar, kKey, TRUE);
  Server srv;
  srv.on_open = [](SoupWebsocketConnection *c, int) {
    soup_websocket_connection_send_text(c, R"({"type":"session.created","session":{}})");
  };
  LogCapture logs;
  GstElement *b = nullptr;
  GstElement *p = pipeline_with("provider=openai_realtime api-key-env=" + std::string(kKeyVar) +
                                    " url=" + srv.url("/v1/realtime") + " instructions=Hi",
                                &b);
  ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  EXPECT_TRUE(spin_until([&] {
    return srv.got("session.update") && srv.got("input_audio_buffer.append");
  }));
  gst_element_set_state(p, GST_STATE_NULL);
  EXPECT_EQ(srv.auth, std::string("Bearer ") + kKey);
  EXPECT_EQ(srv.beta, "realtime=v1");
  EXPECT_NE(srv.received.at(0).second.find("session.update"), std::string::npos);
  std::string log = logs.text();
  EXPECT_GT(log.size(), 1000u) << "the debug log was not captured";
  EXPECT_NE(log.find("connecting to ws://127.0.0.1"), std::string::npos);
  EXPECT_EQ(log.find(kKey), std::string::npos) << "key leaked into the debug log";
  EXPECT_EQ(log.find("Zq7unique"), std::string::npos);
  EXPECT_EQ(bus_text(p).find("Zq7unique"), std::string::npos);
  gst_object_unref(b);
  gst_object_unref(p);
  g_unsetenv(kKeyVar);
}

TEST(LlmSecrets, GeminiKeyGoesInTheQueryButNeverLogged) {
  g_setenv(kKeyVar, kKey, TRUE);
  Server srv;
  srv.on_open = [](SoupWebsocketConnection *c, int) {
    soup_websocket_connection_send_text(c, R"({"setupComplete":{}})");
  };
  LogCapture logs;
  GstElement *b = nullptr;
  GstElement *p = pipeline_with("provider=gemini_live api-key-env=" + std::string(kKeyVar) +
                                    " url=" + srv.url("/gemini"),
                                &b);
  ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  EXPECT_TRUE(spin_until([&] { return srv.got("\"setup\"") && srv.got("realtimeInput"); }));
  gst_element_set_state(p, GST_STATE_NULL);
  EXPECT_EQ(srv.query, std::string("key=") + kKey);
  EXPECT_TRUE(srv.auth.empty());
  EXPECT_TRUE(srv.got("audio/pcm;rate=16000"));
  std::string log = logs.text();
  EXPECT_EQ(log.find("Zq7unique"), std::string::npos) << "key leaked into the debug log";
  EXPECT_EQ(bus_text(p).find("Zq7unique"), std::string::npos);
  gst_object_unref(b);
  gst_object_unref(p);
  g_unsetenv(kKeyVar);
}

TEST(LlmSecrets, MissingKeyIsAnAuthErrorWithoutConnecting) {
  g_unsetenv("MF_TEST_LLM_NO_SUCH_KEY");
  Server srv;
  GstElement *b = nullptr;
  GstElement *p = pipeline_with("provider=openai_realtime api-key-env=MF_TEST_LLM_NO_SUCH_KEY "
                                "url=ws://127.0.0.1:" + std::to_string(srv.port) + "/v1/realtime",
                                &b);
  ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  EXPECT_TRUE(spin_until([&] { return stat_u64(b, "errors_auth") >= 1; }));
  // The pipeline keeps running: output buffers keep flowing (silence).
  GstState st;
  gst_element_get_state(p, &st, nullptr, GST_CLOCK_TIME_NONE);
  EXPECT_EQ(st, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus(p);
  GstMessage *w = gst_bus_timed_pop_filtered(bus, 10 * GST_SECOND, GST_MESSAGE_WARNING);
  ASSERT_TRUE(w);
  GError *e = nullptr;
  gchar *dbg = nullptr;
  gst_message_parse_warning(w, &e, &dbg);
  EXPECT_NE(std::string(dbg).find("MF_TEST_LLM_NO_SUCH_KEY"), std::string::npos) << dbg;
  EXPECT_NE(std::string(e->message).find("auth"), std::string::npos) << e->message;
  g_error_free(e);
  g_free(dbg);
  gst_message_unref(w);
  gst_object_unref(bus);
  gst_element_set_state(p, GST_STATE_NULL);
  EXPECT_EQ(srv.connections, 0);
  gst_object_unref(b);
  gst_object_unref(p);
}
