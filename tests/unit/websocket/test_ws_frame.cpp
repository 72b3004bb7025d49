// The WebSocket media protocol's pure parts (src/meshflow/transport/ws_frame.h): the 16-byte
// media header, payload checks, control message parsing and the builders.
#include <gtest/gtest.h>

#include <vector>

#include "meshflow/transport/ws_frame.h"

using namespace mf::transport;

namespace {
std::vector<uint8_t> frame(uint8_t version, uint8_t flags, uint16_t stream, uint32_t seq, uint64_t ts,
                           size_t payload) {
  std::vector<uint8_t> v(kMediaHeaderBytes + payload, 0xab);
  MediaHeader h;
  h.version = version;
  h.flags = flags;
  h.stream_id = stream;
  h.seq = seq;
  h.capture_ts_us = ts;
  write_media_header(h, v.data());
  return v;
}
}  // namespace

TEST(WsFrame, HeaderRoundTripIsLittleEndian) {
  auto v = frame(1, 1, 0x1234, 0xdeadbeef, 0x0102030405060708ull, 4);
  EXPECT_EQ(v[0], 1);
  EXPECT_EQ(v[1], 1);
  EXPECT_EQ(v[2], 0x34);
  EXPECT_EQ(v[3], 0x12);
  EXPECT_EQ(v[4], 0xef);
  EXPECT_EQ(v[7], 0xde);
  EXPECT_EQ(v[8], 0x08);
  EXPECT_EQ(v[15], 0x01);
  MediaFrame f = parse_media(v.data(), v.size());
  ASSERT_TRUE(f.ok) << f.message;
  EXPECT_EQ(f.header.stream_id, 0x1234);
  EXPECT_EQ(f.header.seq, 0xdeadbeefu);
  EXPECT_EQ(f.header.capture_ts_us, 0x0102030405060708ull);
  EXPECT_EQ(f.header.flags, kFlagDiscontinuity);
  EXPECT_EQ(f.payload_bytes, 4u);
  EXPECT_EQ(f.payload, v.data() + 16);
}

TEST(WsFrame, ShortHeaderIsABadFrame) {
  for (size_t n : {0, 1, 15}) {
    std::vector<uint8_t> v(n, 1);
    MediaFrame f = parse_media(v.data(), n);
    EXPECT_FALSE(f.ok);
    EXPECT_EQ(f.code, "bad_frame");
    EXPECT_NE(f.message.find("shorter than the 16-byte"), std::string::npos) << f.message;
  }
  EXPECT_FALSE(parse_media(nullptr, 20).ok);
}

TEST(WsFrame, HeaderOnlyParsesWithEmptyPayload) {
  auto v = frame(1, 0, 1, 0, 0, 0);
  MediaFrame f = parse_media(v.data(), v.size());
  ASSERT_TRUE(f.ok);
  EXPECT_EQ(f.payload_bytes, 0u);
}

TEST(WsFrame, BadVersionAndFlags) {
  auto v = frame(2, 0, 1, 0, 0, 2);
  MediaFrame f = parse_media(v.data(), v.size());
  EXPECT_FALSE(f.ok);
  EXPECT_NE(f.message.find("version 2"), std::string::npos);
  v = frame(1, 0x80, 1, 0, 0, 2);
  f = parse_media(v.data(), v.size());
  EXPECT_FALSE(f.ok);
  EXPECT_NE(f.message.find("flags"), std::string::npos);
}

TEST(WsFrame, PayloadChecks) {
  StreamFormat mono;  // 48 kHz, 1 channel
  StreamFormat stereo;
  stereo.channels = 2;
  std::string code, msg;
  EXPECT_TRUE(check_payload(mono, 1920, &code, &msg));
  EXPECT_TRUE(check_payload(mono, 19200, &code, &msg));  // exactly 200 ms
  EXPECT_FALSE(check_payload(mono, 19202, &code, &msg));
  EXPECT_EQ(code, "too_large");
  EXPECT_FALSE(check_payload(mono, 1921, &code, &msg));
  EXPECT_EQ(code, "bad_frame");
  EXPECT_FALSE(check_payload(mono, 0, &code, &msg));
  EXPECT_FALSE(check_payload(stereo, 1922, &code, &msg));  // not a multiple of 4
  EXPECT_EQ(code, "bad_frame");
  EXPECT_TRUE(check_payload(stereo, 38400, &code, &msg));
  EXPECT_FALSE(check_payload(stereo, 38404, &code, &msg));
}

TEST(WsControl, StreamStart) {
  Control c = parse_control(R"({"type":"stream.start","stream_id":3,"kind":"audio","format":"pcm16","rate":16000,"channels":2,"frame_ms":10})");
  ASSERT_TRUE(c.ok) << c.message;
  EXPECT_EQ(c.type, "stream.start");
  EXPECT_EQ(c.stream_id, 3);
  EXPECT_EQ(c.format.rate, 16000u);
  EXPECT_EQ(c.format.channels, 2u);
  EXPECT_EQ(c.format.frame_ms, 10u);
  // Defaults.
  c = parse_control(R"({"type":"stream.start","stream_id":0})");
  ASSERT_TRUE(c.ok);
  EXPECT_EQ(c.format.rate, 48000u);
  EXPECT_EQ(c.format.channels, 1u);
}

TEST(WsControl, StreamStartRejectsBadFields) {
  for (const char *t : {R"({"type":"stream.start"})", R"({"type":"stream.start","stream_id":65536})",
                        R"({"type":"stream.start","stream_id":-1})", R"({"type":"stream.start","stream_id":"1"})",
                        R"({"type":"stream.start","stream_id":1,"rate":44})",
                        R"({"type":"stream.start","stream_id":1,"channels":3})",
                        R"({"type":"stream.start","stream_id":1,"format":"opus"})",
                        R"({"type":"stream.start","stream_id":1,"kind":"video"})",
                        R"({"type":"stream.start","stream_id":1,"frame_ms":0})"}) {
    Control c = parse_control(t);
    EXPECT_FALSE(c.ok) << t;
    EXPECT_EQ(c.code, "bad_message") << t;
    EXPECT_EQ(c.message.rfind("stream.start: ", 0), 0u) << c.message;
  }
}

TEST(WsControl, BadJson) {
  for (const char *t : {"", "{", "[1]", "\"x\"", "{\"type\":\"ping\"} {}", "{\"type\":\"ping\",\"type\":\"pong\"}",
                        "{\"type\":\"ping\"\x00}", "\xef\xbb\xbf{\"type\":\"ping\"}"}) {
    Control c = parse_control(t);
    EXPECT_FALSE(c.ok) << t;
    EXPECT_EQ(c.code, "bad_json") << t;
  }
  std::string deep(100, '[');
  Control c = parse_control("{\"type\":" + deep);
  EXPECT_EQ(c.code, "bad_json");
}

TEST(WsControl, TypeChecks) {
  Control c = parse_control(R"({"type":"launch"})");
  EXPECT_EQ(c.code, "unknown_type");
  EXPECT_NE(c.message.find("'launch'"), std::string::npos);
  c = parse_control(R"({"kind":"ping"})");
  EXPECT_EQ(c.code, "bad_message");
  c = parse_control(R"({"type":7})");
  EXPECT_EQ(c.code, "bad_message");
  c = parse_control(std::string(20000, ' '));
  EXPECT_EQ(c.code, "too_large");
}

TEST(WsControl, PingPongKeepsT) {
  Control c = parse_control(R"({"type":"ping","t":123456789012})");
  ASSERT_TRUE(c.ok);
  EXPECT_EQ(make_pong(c), R"({"type":"pong","t":123456789012})");
  c = parse_control(R"({"type":"ping","t":1.5})");
  ASSERT_TRUE(c.ok);
  Control p = parse_control(make_pong(c));
  ASSERT_TRUE(p.ok);
  EXPECT_FALSE(p.t_is_int);
  EXPECT_DOUBLE_EQ(p.t_double, 1.5);
  EXPECT_EQ(parse_control(R"({"type":"ping","t":"x"})").code, "bad_message");
  // Doubles json-glib would write back as invalid JSON ("2e+46.0") are refused.
  EXPECT_EQ(parse_control(R"({"type":"ping","t":2e46})").code, "bad_message");
  EXPECT_EQ(parse_control(R"({"type":"ping","t":1e-9})").code, "bad_message");
  c = parse_control(R"({"type":"ping","t":-12345.678})");
  ASSERT_TRUE(c.ok);
  EXPECT_TRUE(parse_control(make_pong(c)).ok);
}

TEST(WsControl, BuildersParseBack) {
  StreamFormat f;
  f.rate = 16000;
  Control c = parse_control(make_stream_start(9, f));
  ASSERT_TRUE(c.ok);
  EXPECT_EQ(c.stream_id, 9);
  EXPECT_EQ(c.format.rate, 16000u);
  c = parse_control(make_status_connected("ws-1", "room", 5000, "s"));
  ASSERT_TRUE(c.ok);
  EXPECT_EQ(c.state, "connected");
  EXPECT_EQ(c.peer_id, "ws-1");
  EXPECT_EQ(c.heartbeat_ms, 5000);
  c = parse_control(make_status_disconnecting("bye"));
  EXPECT_EQ(c.state, "disconnecting");
  EXPECT_EQ(c.reason, "bye");
  EXPECT_TRUE(parse_control(make_error("bad_frame", "x \"quoted\"")).ok);
  EXPECT_TRUE(parse_control(make_stream_stop(2)).ok);
}

TEST(WsTranscript, FromJsonOrPlainText) {
  Transcript t;
  std::string err;
  ASSERT_TRUE(transcript_from_text(R"({"text":"hi","speaker":"bot","is_final":false,"confidence":0.5,"timestamp":7})", &t, &err));
  EXPECT_EQ(t.text, "hi");
  EXPECT_EQ(t.speaker, "bot");
  EXPECT_FALSE(t.is_final);
  EXPECT_DOUBLE_EQ(t.confidence, 0.5);
  EXPECT_EQ(t.timestamp_ms, 7);
  EXPECT_EQ(make_transcript(t),
            R"({"type":"transcript","text":"hi","speaker":"bot","is_final":false,"confidence":0.5,"timestamp":7})");
  ASSERT_TRUE(transcript_from_text(std::string("hello world\n\0", 13), &t, &err));
  EXPECT_EQ(t.text, "hello world");
  EXPECT_TRUE(t.is_final);
  EXPECT_FALSE(transcript_from_text(R"({"txt":"x"})", &t, &err));
  EXPECT_FALSE(transcript_from_text("{bad", &t, &err));
  EXPECT_FALSE(transcript_from_text("\xff\xfe", &t, &err));
  EXPECT_FALSE(transcript_from_text("", &t, &err));
  // A confidence json-glib reads as inf (found by the fuzzer: make_transcript then wrote invalid JSON).
  EXPECT_FALSE(transcript_from_text(R"({"text":"x","confidence":0.3571e02187})", &t, &err));
  EXPECT_NE(err.find("confidence"), std::string::npos) << err;
  EXPECT_FALSE(transcript_from_text(R"({"text":"x","confidence":1.5})", &t, &err));
}

TEST(WsControl, ControlCharactersNeverReachTheJsonOutput) {
  // json-glib 1.6 writes U+001F unescaped; what we build must always parse back.
  Transcript t;
  t.text = std::string("a\x1f b\x01");
  Control c = parse_control(make_transcript(t));
  EXPECT_TRUE(c.ok) << c.message;
  EXPECT_TRUE(parse_control(make_error("x", "type '\x1f'")).ok);
}
