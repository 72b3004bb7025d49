// Wire protocols of the LLM bridge (elements/llm/protocol.h): OpenAI Realtime client events
// built and server events parsed, Gemini Live setup/audio/history and serverContent parsing,
// base64 PCM16 round trips and rejection of malformed input, URL helpers.
#include <json-glib/json-glib.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "llm/protocol.h"

using namespace mf::llm;

namespace {

// Parses JSON and returns a node at a dotted path ("session.turn_detection.type") as a string.
struct Json {
  JsonParser *p = json_parser_new();
  JsonNode *root = nullptr;
  explicit Json(const std::string &s) {
    EXPECT_TRUE(json_parser_load_from_data(p, s.c_str(), -1, nullptr)) << s;
    root = json_parser_get_root(p);
  }
  ~Json() { g_object_unref(p); }
  JsonNode *at(const std::string &path) {
    JsonNode *n = root;
    gchar **parts = g_strsplit(path.c_str(), ".", -1);
    for (gchar **q = parts; *q && n; q++) {
      if (JSON_NODE_HOLDS_ARRAY(n)) {
        JsonArray *a = json_node_get_array(n);
        guint i = guint(atoi(*q));
        n = i < json_array_get_length(a) ? json_array_get_element(a, i) : nullptr;
      } else if (JSON_NODE_HOLDS_OBJECT(n)) {
        JsonObject *o = json_node_get_object(n);
        n = json_object_has_member(o, *q) ? json_object_get_member(o, *q) : nullptr;
      } else {
        n = nullptr;
      }
    }
    g_strfreev(parts);
    return n;
  }
  std::string str(const std::string &path) {
    JsonNode *n = at(path);
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n) : "<missing " + path + ">";
  }
  int64_t num(const std::string &path) {
    JsonNode *n = at(path);
    return n && JSON_NODE_HOLDS_VALUE(n) ? json_node_get_int(n) : -999;
  }
};

}  // namespace

TEST(LlmProtocol, Base64RoundTrip) {
  std::vector<int16_t> in = {0, 1, -1, 32767, -32768, 12345, -4321};
  std::string b64 = base64_encode_pcm16(in.data(), in.size());
  std::vector<int16_t> out;
  ASSERT_TRUE(base64_decode_pcm16(b64, &out));
  EXPECT_EQ(in, out);
  // Little-endian on the wire: 1 -> 01 00, -1 -> ff ff.
  std::vector<int16_t> one = {1};
  EXPECT_EQ(base64_encode_pcm16(one.data(), 1), "AQA=");
  EXPECT_TRUE(base64_decode_pcm16("", &out));
  EXPECT_TRUE(out.empty());
}

TEST(LlmProtocol, Base64RejectsMalformed) {
  std::vector<int16_t> out = {7};
  EXPECT_FALSE(base64_decode_pcm16("AQ==", &out));     // one byte: odd
  EXPECT_FALSE(base64_decode_pcm16("AQA", &out));      // not a multiple of 4
  EXPECT_FALSE(base64_decode_pcm16("A!A=", &out));     // bad alphabet
  EXPECT_FALSE(base64_decode_pcm16("AQ=A", &out));     // data after padding
  EXPECT_EQ(out, std::vector<int16_t>{7});
}

TEST(LlmProtocol, OpenAiSessionUpdate) {
  Json j(openai_session_update({"", "verse", "Be brief."}));
  EXPECT_EQ(j.str("type"), "session.update");
  EXPECT_EQ(j.str("session.voice"), "verse");
  EXPECT_EQ(j.str("session.instructions"), "Be brief.");
  EXPECT_EQ(j.str("session.input_audio_format"), "pcm16");
  EXPECT_EQ(j.str("session.output_audio_format"), "pcm16");
  EXPECT_EQ(j.str("session.turn_detection.type"), "server_vad");
  EXPECT_EQ(j.str("session.input_audio_transcription.model"), "whisper-1");
  EXPECT_EQ(j.str("session.modalities.0"), "audio");
  Json d(openai_session_update({}));
  EXPECT_EQ(d.str("session.voice"), "alloy");
  EXPECT_EQ(d.at("session.instructions"), nullptr);
}

TEST(LlmProtocol, OpenAiClientEvents) {
  std::vector<int16_t> pcm = {100, -100, 200};
  Json a(openai_audio_append(pcm.data(), pcm.size()));
  EXPECT_EQ(a.str("type"), "input_audio_buffer.append");
  std::vector<int16_t> back;
  ASSERT_TRUE(base64_decode_pcm16(a.str("audio"), &back));
  EXPECT_EQ(back, pcm);
  Json c(openai_response_cancel());
  EXPECT_EQ(c.str("type"), "response.cancel");
  Json t(openai_truncate("item_42", 1234));
  EXPECT_EQ(t.str("type"), "conversation.item.truncate");
  EXPECT_EQ(t.str("item_id"), "item_42");
  EXPECT_EQ(t.num("content_index"), 0);
  EXPECT_EQ(t.num("audio_end_ms"), 1234);
  Json u(openai_history_item({true, "hello"}));
  EXPECT_EQ(u.str("type"), "conversation.item.create");
  EXPECT_EQ(u.str("item.role"), "user");
  EXPECT_EQ(u.str("item.content.0.type"), "input_text");
  EXPECT_EQ(u.str("item.content.0.text"), "hello");
  Json as(openai_history_item({false, "hi there"}));
  EXPECT_EQ(as.str("item.role"), "assistant");
  EXPECT_EQ(as.str("item.content.0.type"), "text");
}

static ServerEvent parse_ok(const std::string &s) {
  ServerEvent ev;
  std::string err;
  EXPECT_TRUE(openai_parse(s.data(), s.size(), &ev, &err)) << err;
  return ev;
}

TEST(LlmProtocol, OpenAiServerEvents) {
  EXPECT_EQ(parse_ok(R"({"type":"session.created","session":{}})").kind, EventKind::SessionReady);
  EXPECT_EQ(parse_ok(R"({"type":"input_audio_buffer.speech_started","audio_start_ms":10,"item_id":"i1"})").kind,
            EventKind::SpeechStarted);
  EXPECT_EQ(parse_ok(R"({"type":"input_audio_buffer.speech_stopped","audio_end_ms":900})").kind,
            EventKind::SpeechStopped);
  auto rc = parse_ok(R"({"type":"response.created","response":{"id":"resp_1"}})");
  EXPECT_EQ(rc.kind, EventKind::ResponseCreated);
  EXPECT_EQ(rc.response_id, "resp_1");
  std::vector<int16_t> pcm = {1, 2, 3, -3};
  auto d = parse_ok(R"({"type":"response.audio.delta","response_id":"resp_1","item_id":"item_9","output_index":0,"content_index":0,"delta":")" +
                    base64_encode_pcm16(pcm.data(), pcm.size()) + "\"}");
  EXPECT_EQ(d.kind, EventKind::AudioDelta);
  EXPECT_EQ(d.item_id, "item_9");
  EXPECT_EQ(d.response_id, "resp_1");
  EXPECT_EQ(d.audio, pcm);
  EXPECT_EQ(parse_ok(R"({"type":"response.audio.done","item_id":"item_9"})").kind, EventKind::AudioDone);
  auto td = parse_ok(R"({"type":"response.audio_transcript.delta","item_id":"item_9","delta":"Hel"})");
  EXPECT_EQ(td.kind, EventKind::AssistantTextDelta);
  EXPECT_EQ(td.text, "Hel");
  auto tf = parse_ok(R"({"type":"response.audio_transcript.done","item_id":"item_9","transcript":"Hello."})");
  EXPECT_EQ(tf.kind, EventKind::AssistantTextDone);
  EXPECT_EQ(tf.text, "Hello.");
  auto ut = parse_ok(R"({"type":"conversation.item.input_audio_transcription.completed","item_id":"u1","transcript":"hi"})");
  EXPECT_EQ(ut.kind, EventKind::UserText);
  EXPECT_EQ(ut.text, "hi");
  EXPECT_EQ(parse_ok(R"({"type":"response.done","response":{"id":"resp_1","status":"completed"}})").kind,
            EventKind::ResponseDone);
  auto e = parse_ok(R"({"type":"error","error":{"type":"invalid_request_error","code":"session_expired","message":"too long"}})");
  EXPECT_EQ(e.kind, EventKind::Error);
  EXPECT_EQ(e.error_code, "session_expired");
  EXPECT_EQ(e.error_message, "too long");
  EXPECT_EQ(parse_ok(R"({"type":"rate_limits.updated","rate_limits":[]})").kind, EventKind::RateLimits);
  EXPECT_EQ(parse_ok(R"({"type":"conversation.item.created","item":{}})").kind, EventKind::Ignored);
  EXPECT_EQ(parse_ok(R"({"type":"brand.new.thing"})").kind, EventKind::Unknown);
}

TEST(LlmProtocol, OpenAiMalformedEvents) {
  const char *bad[] = {"", "{", "[1,2]", "\"str\"", R"({"no_type":1})", R"({"type":5})",
                       R"({"type":"response.audio.delta","delta":"@@@@"})",
                       R"({"type":"response.audio.delta"})"};
  for (const char *b : bad) {
    ServerEvent ev;
    std::string err;
    EXPECT_FALSE(openai_parse(b, strlen(b), &ev, &err)) << b;
    EXPECT_FALSE(err.empty()) << b;
  }
}

TEST(LlmProtocol, GeminiSetupAndAudio) {
  Json s(gemini_setup({"gemini-2.0-flash-live-001", "Kore", "Be kind."}));
  EXPECT_EQ(s.str("setup.model"), "models/gemini-2.0-flash-live-001");
  EXPECT_EQ(s.str("setup.generationConfig.responseModalities.0"), "AUDIO");
  EXPECT_EQ(s.str("setup.generationConfig.speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName"), "Kore");
  EXPECT_EQ(s.str("setup.systemInstruction.parts.0.text"), "Be kind.");
  EXPECT_NE(s.at("setup.inputAudioTranscription"), nullptr);
  EXPECT_NE(s.at("setup.outputAudioTranscription"), nullptr);
  std::vector<int16_t> pcm = {5, -5};
  Json a(gemini_audio(pcm.data(), pcm.size(), 16000));
  EXPECT_EQ(a.str("realtimeInput.audio.mimeType"), "audio/pcm;rate=16000");
  std::vector<int16_t> back;
  ASSERT_TRUE(base64_decode_pcm16(a.str("realtimeInput.audio.data"), &back));
  EXPECT_EQ(back, pcm);
  Json h(gemini_history({{true, "q"}, {false, "a"}}));
  EXPECT_EQ(h.str("clientContent.turns.0.role"), "user");
  EXPECT_EQ(h.str("clientContent.turns.1.role"), "model");
  EXPECT_EQ(h.str("clientContent.turns.1.parts.0.text"), "a");
}

TEST(LlmProtocol, GeminiServerContent) {
  std::vector<int16_t> pcm = {10, 20, 30};
  std::string b64 = base64_encode_pcm16(pcm.data(), pcm.size());
  std::string msg = R"({"serverContent":{"inputTranscription":{"text":"hey"},"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm;rate=24000","data":")" +
                    b64 + R"("}}]},"outputTranscription":{"text":"Hi"},"turnComplete":true}})";
  std::vector<ServerEvent> evs;
  std::string err;
  ASSERT_TRUE(gemini_parse(msg.data(), msg.size(), &evs, &err)) << err;
  ASSERT_EQ(evs.size(), 4u);
  EXPECT_EQ(evs[0].kind, EventKind::UserText);
  EXPECT_EQ(evs[0].text, "hey");
  EXPECT_EQ(evs[1].kind, EventKind::AudioDelta);
  EXPECT_EQ(evs[1].audio, pcm);
  EXPECT_EQ(evs[2].kind, EventKind::AssistantTextDelta);
  EXPECT_EQ(evs[3].kind, EventKind::ResponseDone);
  evs.clear();
  std::string intr = R"({"serverContent":{"interrupted":true}})";
  ASSERT_TRUE(gemini_parse(intr.data(), intr.size(), &evs, &err));
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].kind, EventKind::Interrupted);
  evs.clear();
  std::string ga = R"({"goAway":{"timeLeft":"10s"}})";
  ASSERT_TRUE(gemini_parse(ga.data(), ga.size(), &evs, &err));
  EXPECT_EQ(evs.at(0).kind, EventKind::GoAway);
  evs.clear();
  std::string sc = R"({"setupComplete":{}})";
  ASSERT_TRUE(gemini_parse(sc.data(), sc.size(), &evs, &err));
  EXPECT_EQ(evs.at(0).kind, EventKind::SessionReady);
  evs.clear();
  std::string bad = R"({"serverContent":{"modelTurn":{"parts":[{"inlineData":{"data":"%%"}}]}}})";
  EXPECT_FALSE(gemini_parse(bad.data(), bad.size(), &evs, &err));
  EXPECT_FALSE(gemini_parse("nope", 4, &evs, &err));
}

TEST(LlmProtocol, Urls) {
  EXPECT_EQ(default_url(Provider::OpenAI, "gpt-x"), "wss://api.openai.com/v1/realtime?model=gpt-x");
  EXPECT_NE(default_url(Provider::Gemini, "").find("BidiGenerateContent"), std::string::npos);
  EXPECT_EQ(with_query_param("ws://h/p?a=1", "key", "a b&c"), "ws://h/p?a=1&key=a%20b%26c");
  EXPECT_TRUE(url_is_azure("wss://my.openai.azure.com/openai/realtime?api-version=1"));
  EXPECT_FALSE(url_is_azure("wss://api.openai.com/v1/realtime"));
  EXPECT_FALSE(url_is_azure("wss://azure.com.evil.org/x"));
  EXPECT_EQ(redact_url("wss://h.example:8443/ws/x?key=SECRET"), "wss://h.example:8443/ws/x");
  EXPECT_EQ(redact_url("ws://user:pw@127.0.0.1:9/a?x=1"), "ws://127.0.0.1:9/a");
}

TEST(LlmProtocol, TranscriptJson) {
  Json j(transcript_json("hello \"you\"", "assistant", true, -1, 1700000000123));
  EXPECT_EQ(j.str("type"), "transcript");
  EXPECT_EQ(j.str("text"), "hello \"you\"");
  EXPECT_EQ(j.str("speaker"), "assistant");
  EXPECT_TRUE(json_node_get_boolean(j.at("is_final")));
  EXPECT_TRUE(JSON_NODE_HOLDS_NULL(j.at("confidence")));
  EXPECT_EQ(j.num("timestamp"), 1700000000123);
  Json k(transcript_json("x", "user", false, 0.5, 1));
  EXPECT_DOUBLE_EQ(json_node_get_double(k.at("confidence")), 0.5);
}
