// SDP validator and ICE candidate parser: what webrtcbin 1.22 would accept but must never see.
#include <gtest/gtest.h>

#include <string>

#include "chrome_offer.h"
#include "meshflow/signalling/sdp.h"

using namespace mf::signalling;

namespace {

std::string replace(std::string s, const std::string &from, const std::string &to) {
  size_t p = 0;
  while ((p = s.find(from, p)) != std::string::npos) {
    s.replace(p, from.size(), to);
    p += to.size();
  }
  return s;
}

const char *kMinimal =
    "v=0\r\n"
    "o=- 1 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE a\r\n"
    "a=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99\r\n"
    "a=ice-ufrag:abcd\r\n"
    "a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    "a=setup:actpass\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=mid:a\r\n"
    "a=rtpmap:111 opus/48000/2\r\n";

std::string mline(int i) {
  return "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:m" + std::to_string(i) +
         "\r\na=rtpmap:111 opus/48000/2\r\n";
}

TEST(Sdp, RealChromeOfferPasses) {
  SdpReport r = validate_sdp(kChromeOffer);
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.mlines, 3u);
  ASSERT_EQ(r.mids.size(), 3u);
  EXPECT_EQ(r.mids[2], "2");
}

TEST(Sdp, MinimalPasses) {
  SdpReport r = validate_sdp(kMinimal);
  EXPECT_TRUE(r.ok) << r.reason;
}

TEST(Sdp, LfLineEndingsPass) {
  SdpReport r = validate_sdp(replace(kMinimal, "\r\n", "\n"));
  EXPECT_TRUE(r.ok) << r.reason;
}

struct BadCase {
  const char *name;
  std::string sdp;
  const char *reason_contains;
};

TEST(Sdp, Rejects) {
  std::string bomb = kMinimal;
  for (int i = 0; i < 1000; i++) bomb += mline(i);
  std::string seventeen = kMinimal;
  for (int i = 0; i < 16; i++) seventeen += mline(i);
  std::string junk;
  for (int i = 0; i < 4000; i++) junk.push_back(char((i * 7919) % 256));
  std::string big = kMinimal;
  while (big.size() <= 16 * 1024) big += "a=x-filler:0123456789012345678901234567890123456789\r\n";
  const BadCase cases[] = {
      {"empty", "", "empty"},
      {"bare_v0", "v=0\r\n", "no m-line"},
      {"junk", junk, ""},
      {"truncated", std::string(kChromeOffer).substr(0, 500), ""},
      {"truncated_mid_line", std::string(kMinimal).substr(0, std::string(kMinimal).size() - 10),
       ""},
      {"mline_bomb", bomb, "too"},
      {"seventeen_mlines", seventeen, "too many m-lines"},
      {"too_large", big, "too large"},
      {"missing_fingerprint",
       replace(kMinimal,
               "a=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99\r\n",
               ""),
       "fingerprint"},
      {"bad_fingerprint", replace(kMinimal, "sha-256 AA:BB", "md5 AA:BB"), "fingerprint"},
      {"missing_ufrag", replace(kMinimal, "a=ice-ufrag:abcd\r\n", ""), "ice-ufrag"},
      {"missing_pwd", replace(kMinimal, "a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n", ""), "ice-pwd"},
      {"missing_setup", replace(kMinimal, "a=setup:actpass\r\n", ""), "setup"},
      {"bad_setup", replace(kMinimal, "a=setup:actpass", "a=setup:sideways"), "setup"},
      {"missing_mid", replace(kMinimal, "a=mid:a\r\n", ""), "mid"},
      {"bad_bundle", replace(kMinimal, "BUNDLE a", "BUNDLE a zz"), "group"},
      {"mid_10000", replace(kMinimal, "a=mid:a", "a=mid:" + std::string(10000, 'x')), ""},
      {"mid_33", replace(replace(kMinimal, "a=mid:a", "a=mid:" + std::string(33, 'x')),
                         "BUNDLE a", "BUNDLE " + std::string(33, 'x')),
       "invalid mid"},
      {"pt_4294967296",
       replace(replace(kMinimal, "SAVPF 111", "SAVPF 4294967296"), "rtpmap:111", "rtpmap:4294967296"),
       "payload type"},
      {"pt_128", replace(replace(kMinimal, "SAVPF 111", "SAVPF 128"), "rtpmap:111", "rtpmap:128"),
       "payload type"},
      {"codec_not_allowed", replace(kMinimal, "opus/48000/2", "speex/16000"), "codec not allowed"},
      {"rtpmap_unknown_pt", replace(kMinimal, "rtpmap:111", "rtpmap:112"), "rtpmap"},
      {"duplicate_mid", std::string(kMinimal) + mline(0) + mline(0), "duplicate mid"},
      {"not_v0_first", replace(kMinimal, "v=0\r\n", "") + "v=0\r\n", "v=0"},
      {"nul_byte", replace(kMinimal, "s=-", std::string("s=\0-", 4)), "control"},
      {"bad_line", replace(kMinimal, "s=-", "hello"), "malformed line"},
      {"no_formats", replace(kMinimal, "SAVPF 111", "SAVPF"), ""},
  };
  for (auto &c : cases) {
    SdpReport r = validate_sdp(c.sdp);
    EXPECT_FALSE(r.ok) << c.name;
    EXPECT_NE(r.reason.find(c.reason_contains), std::string::npos)
        << c.name << ": reason was '" << r.reason << "'";
  }
}

TEST(Sdp, RejectedMlineNeedsNoCredentials) {
  std::string s = std::string(kMinimal) +
                  "m=video 0 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:v\r\n"
                  "a=rtpmap:96 VP8/90000\r\n";
  EXPECT_TRUE(validate_sdp(s).ok) << validate_sdp(s).reason;
}

// ---- candidates ---------------------------------------------------------------------------------

TEST(Candidate, Valid) {
  const char *good[] = {
      "candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 10.0.0.2 rport "
      "46154 generation 0 ufrag 7sFv network-cost 999",
      "candidate:1 1 UDP 2122252543 192.168.1.20 50000 typ host",
      "a=candidate:1 1 udp 2122252543 ::1 50000 typ host",
      "candidate:3 1 tcp 1518280447 10.0.0.2 9 typ host tcptype active generation 0",
      "candidate:4 2 udp 41885439 198.51.100.1 3478 typ relay raddr 203.0.113.7 rport 46154",
      "candidate:abc+/ 256 udp 4294967295 127.0.0.1 65535 typ prflx",
  };
  for (const char *g : good) {
    CandidateResult r = parse_candidate(g);
    EXPECT_TRUE(r.ok) << g << ": " << r.reason;
    EXPECT_FALSE(r.candidate.mdns);
  }
  CandidateResult r = parse_candidate(good[0]);
  EXPECT_EQ(r.candidate.type, "srflx");
  EXPECT_EQ(r.candidate.port, 46154);
  EXPECT_EQ(r.candidate.related_address, "10.0.0.2");
  EXPECT_EQ(r.candidate.related_port, 46154);
  EXPECT_EQ(r.candidate.extensions.size(), 3u);
}

TEST(Candidate, EmptyIsEndOfCandidates) {
  CandidateResult r = parse_candidate("");
  EXPECT_TRUE(r.ok);
  EXPECT_TRUE(r.candidate.end_of_candidates);
}

TEST(Candidate, MdnsIsAcceptedButFlaggedNeverResolved) {
  CandidateResult r = parse_candidate(
      "candidate:1 1 udp 2122262783 1f4712db-ea17-4bcf-a596-105139dfd8bf.local 54321 typ host");
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_TRUE(r.candidate.mdns);
}

TEST(Candidate, Invalid) {
  const std::string cases[] = {
      "candidate:1 1 udp 1 example.com 1 typ host",             // hostname: would need DNS
      "candidate:1 0 udp 1 1.2.3.4 1 typ host",                 // component 0
      "candidate:1 257 udp 1 1.2.3.4 1 typ host",               // component > 256
      "candidate:1 1 sctp 1 1.2.3.4 1 typ host",                // transport
      "candidate:1 1 udp 4294967296 1.2.3.4 1 typ host",        // priority > 2^32-1
      "candidate:1 1 udp 1 1.2.3.4 65536 typ host",             // port
      "candidate:1 1 udp 1 1.2.3.4 1 typ bogus",                // type
      "candidate:1 1 udp 1 1.2.3.4 1 host",                     // missing typ
      "candidate:1 1 udp 1 1.2.3.4",                            // truncated
      "candidate:" + std::string(33, 'f') + " 1 udp 1 1.2.3.4 1 typ host",  // foundation length
      "candidate:1  1 udp 1 1.2.3.4 1 typ host",                // double space
      "candidate:1 1 udp 1 1.2.3.4 1 typ host generation",      // extension without value
      "candidate:1 1 udp 1 1.2.3.4 1 typ host\r\na=evil:1",     // line injection
      "1 1 udp 1 1.2.3.4 1 typ host",                           // no prefix
      "candidate:1 1 udp 1 999.2.3.4 1 typ host",               // bad IPv4
      "candidate:1 1 udp 1 1.2.3.4 1 typ host " + std::string(600, 'x'),  // too long
      "candidate:1 1 udp 1 1.2.3.4 1 typ srflx raddr nothost rport 1",
      "candidate:1 1 udp 1 1.2.3.4 1 typ host raddr 1.2.3.4 x",
  };
  for (auto &c : cases) EXPECT_FALSE(parse_candidate(c).ok) << c;
}

TEST(Mid, Valid) {
  EXPECT_TRUE(valid_mid("0"));
  EXPECT_TRUE(valid_mid("audio-1"));
  EXPECT_FALSE(valid_mid(""));
  EXPECT_FALSE(valid_mid(std::string(33, 'a')));
  EXPECT_FALSE(valid_mid("a b"));
}

}  // namespace
