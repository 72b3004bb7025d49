// mfllmbridge against a loopback WebSocket server: gemini_live (setup, model audio plays,
// serverContent.interrupted flushes it without any OpenAI cancel message, transcripts), an
// ephemeral token fetched from token-url used instead of the key, and the session rolled over
// after max-session-s with the setup sent again.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "llm/protocol.h"
#include "llm_test_server.h"

using namespace llmtest;

namespace {
std::string model_audio(size_t samples) {
  std::vector<int16_t> pcm(samples);
  for (size_t i = 0; i < samples; i++) pcm[i] = int16_t(6000 * std::sin(0.05 * double(i)));
  return R"({"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm;rate=24000","data":")" +
         mf::llm::base64_encode_pcm16(pcm.data(), pcm.size()) + "\"}}]}}}";
}
}  // namespace

TEST(LlmGeminiNet, InterruptedFlushesModelAudio) {
  g_setenv("MF_TEST_LLM_GEMINI_KEY", "gm-key", TRUE);
  Server srv;
  srv.on_open = [](SoupWebsocketConnection *c, int) {
    soup_websocket_connection_send_text(c, R"({"setupComplete":{}})");
  };
  GstElement *b = nullptr;
  GstElement *p = pipeline_with("provider=gemini_live api-key-env=MF_TEST_LLM_GEMINI_KEY url=" +
                                    srv.url("/gemini"),
                                &b);
  ASSERT_TRUE(p);
  GstBus *bus = gst_element_get_bus(p);
  ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ASSERT_TRUE(spin_until([&] { return srv.got("\"setup\""); }));
  srv.send(R"({"serverContent":{"inputTranscription":{"text":"what time is it"}}})");
  srv.send(model_audio(48000));
  srv.send(R"({"serverContent":{"outputTranscription":{"text":"It is"}}})");
  ASSERT_TRUE(spin_until([&] {
    return stat_u64(b, "responses") >= 1 && stat_u64(b, "queued_ms") <= 1900;
  }));
  srv.send(R"({"serverContent":{"interrupted":true}})");
  ASSERT_TRUE(spin_until([&] { return stat_u64(b, "cancelled") >= 1; }));
  EXPECT_EQ(stat_u64(b, "queued_ms"), 0u);
  EXPECT_FALSE(srv.got("response.cancel"));
  srv.send(R"({"serverContent":{"turnComplete":true}})");
  // Transcripts: the user's, then the assistant's partial.
  std::vector<std::string> seen;
  ASSERT_TRUE(spin_until([&] {
    while (GstMessage *m = gst_bus_pop_filtered(bus, GST_MESSAGE_ELEMENT)) {
      if (gst_message_has_name(m, "meshflow-transcript")) {
        const GstStructure *s = gst_message_get_structure(m);
        seen.push_back(std::string(gst_structure_get_string(s, "speaker")) + ":" +
                       gst_structure_get_string(s, "text"));
      }
      gst_message_unref(m);
    }
    return seen.size() >= 2;
  }));
  EXPECT_EQ(seen[0], "user:what time is it");
  EXPECT_EQ(seen[1], "assistant:It is");
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(b);
  gst_object_unref(p);
  g_unsetenv("MF_TEST_LLM_GEMINI_KEY");
}

TEST(LlmNet, EphemeralTokenFromTokenUrl) {
  Server srv;
  int token_requests = 0;
  soup_server_add_handler(
      srv.server, "/token",
      [](SoupServer *, SoupServerMessage *msg, const char *, GHashTable *, gpointer n) {
        (*static_cast<int *>(n))++;
        const char *body = R"({"client_secret":{"value":"ek_ephemeral_1","expires_at":0}})";
        soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
        soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, body,
                                         strlen(body));
      },
      &token_requests, nullptr);
  srv.on_open = [](SoupWebsocketConnection *c, int) {
    soup_websocket_connection_send_text(c, R"({"type":"session.created","session":{}})");
  };
  g_unsetenv("MF_TEST_LLM_UNSET_KEY");
  GstElement *b = nullptr;
  std::string token_url = "http://127.0.0.1:" + std::to_string(srv.port) + "/token";
  GstElement *p = pipeline_with("provider=openai_realtime api-key-env=MF_TEST_LLM_UNSET_KEY "
                                "token-url=" + token_url + " url=" + srv.url("/v1/realtime"),
                                &b);
  ASSERT_TRUE(p);
  ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ASSERT_TRUE(spin_until([&] { return srv.got("session.update"); }));
  EXPECT_EQ(srv.auth, "Bearer ek_ephemeral_1");
  EXPECT_EQ(token_requests, 1);
  EXPECT_EQ(stat_u64(b, "errors_auth"), 0u);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(b);
  gst_object_unref(p);
}

TEST(LlmNet, SessionIsRolledOverAfterMaxSessionS) {
  g_setenv("MF_TEST_LLM_ROLL_KEY", "k", TRUE);
  Server srv;
  srv.on_open = [](SoupWebsocketConnection *c, int) {
    soup_websocket_connection_send_text(c, R"({"type":"session.created","session":{}})");
  };
  GstElement *b = nullptr;
  GstElement *p = pipeline_with("provider=openai_realtime api-key-env=MF_TEST_LLM_ROLL_KEY "
                                "max-session-s=1 url=" + srv.url("/v1/realtime"),
                                &b);
  ASSERT_TRUE(p);
  ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ASSERT_TRUE(spin_until([&] { return srv.got("session.update", 1); }));
  EXPECT_GE(stat_u64(b, "session_rollovers"), 1u);
  EXPECT_EQ(stat_u64(b, "reconnects"), 0u);  // planned, not a failure
  EXPECT_EQ(stat_u64(b, "errors"), 0u);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(b);
  gst_object_unref(p);
  g_unsetenv("MF_TEST_LLM_ROLL_KEY");
}
