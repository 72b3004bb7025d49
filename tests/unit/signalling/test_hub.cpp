// The signalling state machine without sockets: fake links, a fake clock.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "chrome_offer.h"
#include "json_util.h"
#include "meshflow/signalling/hub.h"

using namespace mf::signalling;

namespace {

struct FakeLink : Link {
  std::vector<std::string> sent;
  int close_code = 0;
  bool refuse = false;
  bool send(const std::string &t) override {
    if (refuse) return false;
    sent.push_back(t);
    return true;
  }
  void close(unsigned short code, const std::string &) override { close_code = code; }
  // Last message as a JsonObject accessor.
  std::string last() const { return sent.empty() ? "" : sent.back(); }
  bool saw(const std::string &needle) const {
    for (auto &s : sent)
      if (s.find(needle) != std::string::npos) return true;
    return false;
  }
};

struct HubTest : ::testing::Test {
  ServerConfig cfg;
  mf::metrics::Registry reg;
  int64_t now_us = 1'000'000;
  std::unique_ptr<Hub> hub;
  std::vector<std::unique_ptr<FakeLink>> links;
  std::vector<uint64_t> ids;

  void make() {
    hub = std::make_unique<Hub>(cfg, reg, [this] { return now_us; });
  }
  size_t add() {
    links.push_back(std::make_unique<FakeLink>());
    ids.push_back(hub->connect(links.back().get()));
    return links.size() - 1;
  }
  void rx(size_t i, const std::string &text) { hub->receive(ids[i], text); }
  std::string announce(size_t i, const std::string &room, const std::string &peer = "") {
    std::string p = "\"room\":\"" + room + "\"";
    if (!peer.empty()) p += ",\"peer_id\":\"" + peer + "\"";
    rx(i, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"peer.announce\",\"params\":{" + p + "}}");
    return links[i]->last();
  }
  double errors(int code) {
    return reg.value("meshflow_signalling_errors_total", {{"code", std::to_string(code)}});
  }
};

TEST_F(HubTest, JoinForwardLeave) {
  make();
  size_t a = add(), b = add();
  std::string ra = announce(a, "r", "alice");
  EXPECT_NE(ra.find("\"peer_id\":\"alice\""), std::string::npos) << ra;
  EXPECT_NE(ra.find("\"peers\":[]"), std::string::npos) << ra;
  std::string rb = announce(b, "r");  // server-assigned id
  EXPECT_NE(rb.find("\"peer_id\":\"p-"), std::string::npos) << rb;
  EXPECT_NE(rb.find("\"peer_id\":\"alice\""), std::string::npos) << rb;  // in peers
  EXPECT_TRUE(links[a]->saw("\"method\":\"peer.joined\""));
  std::string bob = hub->peers("r")[1];

  // offer a -> b; a spoofed "from" is ignored
  rx(a, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"peer.offer\",\"params\":{\"to\":\"" + bob +
            "\",\"from\":\"mallory\",\"sdp\":" + "\"" +
            std::string(g_strescape(kChromeOffer, nullptr)) + "\"}}");
  EXPECT_TRUE(json_equal(links[a]->last(), R"({"jsonrpc":"2.0","result":{},"id":2})"))
      << links[a]->last();
  EXPECT_TRUE(links[b]->saw("\"method\":\"peer.offer\""));
  EXPECT_TRUE(links[b]->saw("\"from\":\"alice\""));
  EXPECT_FALSE(links[b]->saw("mallory"));

  rx(a, R"({"jsonrpc":"2.0","id":3,"method":"peer.disconnect"})");
  EXPECT_TRUE(links[b]->saw(R"("method":"peer.left","params":{"peer_id":"alice","reason":"disconnect"})"))
      << links[b]->last();
  hub->disconnect(ids[b], "disconnect");
  EXPECT_EQ(hub->room_count(), 0u);
}

TEST_F(HubTest, RoomsAreIsolated) {
  make();
  size_t a = add(), b = add();
  announce(a, "one", "a");
  announce(b, "two", "b");
  EXPECT_FALSE(links[a]->saw("peer.joined"));
  rx(a, R"({"jsonrpc":"2.0","id":5,"method":"peer.ice_candidate","params":{"to":"b","candidate":"","sdp_mid":"0"}})");
  EXPECT_NE(links[a]->last().find("-32003"), std::string::npos) << links[a]->last();
  EXPECT_FALSE(links[b]->saw("peer.ice_candidate"));
}

TEST_F(HubTest, RoomFullAndDuplicateAndNotAnnounced) {
  make();
  for (int i = 0; i < 10; i++) announce(add(), "r", "p" + std::to_string(i));
  size_t eleventh = add();
  EXPECT_NE(announce(eleventh, "r", "p10").find("-32002"), std::string::npos);
  size_t dup = add();
  hub->disconnect(ids[0], "disconnect");
  EXPECT_NE(announce(dup, "r", "p1").find("-32007"), std::string::npos);
  EXPECT_EQ(errors(kRoomFull), 1);
  EXPECT_EQ(errors(kDuplicatePeer), 1);
  size_t lurker = add();
  rx(lurker, R"({"jsonrpc":"2.0","id":1,"method":"peer.offer","params":{"to":"p1","sdp":"v=0"}})");
  EXPECT_NE(links[lurker]->last().find("-32006"), std::string::npos);
}

TEST_F(HubTest, RoomLimit) {
  cfg.max_rooms = 2;
  make();
  announce(add(), "a");
  announce(add(), "b");
  std::string r = announce(add(), "c");
  EXPECT_NE(r.find("-32008"), std::string::npos) << r;
  EXPECT_NE(r.find("rooms"), std::string::npos) << r;
}

TEST_F(HubTest, EnvelopeMismatch) {
  make();
  size_t a = add(), b = add();
  rx(a, R"({"jsonrpc":"2.0","id":1,"method":"peer.announce","params":{"room":"r","peer_id":"a","envelope":{"user_id":"u1","session_id":"S1","run_id":"R1"}}})");
  EXPECT_NE(links[a]->last().find("\"session_id\":\"S1\""), std::string::npos) << links[a]->last();
  rx(b, R"({"jsonrpc":"2.0","id":1,"method":"peer.announce","params":{"room":"r","peer_id":"b","envelope":{"session_id":"S2"}}})");
  EXPECT_NE(links[b]->last().find("-32005"), std::string::npos) << links[b]->last();
  announce(b, "r", "b");
  rx(a, R"({"jsonrpc":"2.0","id":2,"method":"peer.ice_candidate","params":{"to":"b","candidate":"","sdp_mid":"0","envelope":{"session_id":"OTHER"}}})");
  EXPECT_NE(links[a]->last().find("-32005"), std::string::npos) << links[a]->last();
  EXPECT_EQ(reg.value("meshflow_signalling_session_mismatch_total"), 2);
  rx(a, R"({"jsonrpc":"2.0","id":3,"method":"peer.ice_candidate","params":{"to":"b","candidate":"","sdp_mid":"0","envelope":{"session_id":"S1"}}})");
  EXPECT_TRUE(json_equal(links[a]->last(), R"({"jsonrpc":"2.0","result":{},"id":3})"));
}

TEST_F(HubTest, RateLimitAffectsOnlyTheFlooder) {
  cfg.messages_per_second = 10;
  cfg.message_burst = 10;
  make();
  size_t flooder = add(), calm = add();
  for (int i = 0; i < 100; i++) rx(flooder, R"({"jsonrpc":"2.0","id":1,"method":"peer.ping"})");
  EXPECT_NE(links[flooder]->last().find("-32004"), std::string::npos);
  EXPECT_EQ(errors(kRateLimited), 90);
  rx(calm, R"({"jsonrpc":"2.0","id":1,"method":"peer.ping"})");
  EXPECT_NE(links[calm]->last().find("\"pong\":true"), std::string::npos);
  now_us += 1'000'000;  // a second later the flooder may speak again
  rx(flooder, R"({"jsonrpc":"2.0","id":1,"method":"peer.ping"})");
  EXPECT_NE(links[flooder]->last().find("\"pong\":true"), std::string::npos);
}

TEST_F(HubTest, PersistentFloodIsClosed) {
  cfg.messages_per_second = 1;
  cfg.message_burst = 1;
  cfg.rate_limit_close_after = 5;
  make();
  size_t f = add();
  for (int i = 0; i < 10; i++) rx(f, R"({"jsonrpc":"2.0","id":1,"method":"peer.ping"})");
  EXPECT_EQ(links[f]->close_code, kClosePolicy);
  EXPECT_EQ(hub->connection_count(), 0u);
}

TEST_F(HubTest, HeartbeatTimeout) {
  cfg.heartbeat_ms = 100;
  make();
  size_t a = add(), b = add();
  announce(a, "r", "a");
  announce(b, "r", "b");
  for (int i = 0; i < 5; i++) {
    now_us += 100'000;
    rx(a, R"({"jsonrpc":"2.0","id":1,"method":"peer.ping"})");
    hub->sweep();
  }
  EXPECT_EQ(links[b]->close_code, kCloseHeartbeat);
  EXPECT_TRUE(links[a]->saw(R"("params":{"peer_id":"b","reason":"timeout"})"));
  EXPECT_EQ(links[a]->close_code, 0);
}

TEST_F(HubTest, SlowConsumerIsClosed) {
  make();
  size_t a = add(), b = add();
  announce(a, "r", "a");
  announce(b, "r", "b");
  links[b]->refuse = true;
  rx(a, R"({"jsonrpc":"2.0","id":1,"method":"peer.ice_candidate","params":{"to":"b","candidate":"","sdp_mid":"0"}})");
  EXPECT_EQ(links[b]->close_code, kClosePolicy);
  EXPECT_EQ(reg.value("meshflow_signalling_closed_total", {{"reason", "slow_consumer"}}), 1);
  EXPECT_TRUE(links[a]->saw(R"("reason":"slow_consumer")"));
}

TEST_F(HubTest, CandidateLimits) {
  cfg.max_candidates_per_peer = 3;
  make();
  size_t a = add(), b = add();
  announce(a, "r", "a");
  announce(b, "r", "b");
  const std::string c =
      R"({"jsonrpc":"2.0","id":1,"method":"peer.ice_candidate","params":{"to":"b","sdp_mid":"0","candidate":"candidate:1 1 udp 2122252543 192.168.1.20 50000 typ host"}})";
  for (int i = 0; i < 3; i++) rx(a, c);
  EXPECT_TRUE(json_equal(links[a]->last(), R"({"jsonrpc":"2.0","result":{},"id":1})"));
  rx(a, c);
  EXPECT_NE(links[a]->last().find("-32008"), std::string::npos);
  rx(a, R"({"jsonrpc":"2.0","id":1,"method":"peer.ice_candidate","params":{"to":"b","sdp_mid":"0","candidate":"candidate:1 1 udp 1 example.com 1 typ host"}})");
}

TEST_F(HubTest, CandidateRate) {
  cfg.candidates_per_second = 5;
  cfg.candidate_burst = 5;
  make();
  size_t a = add(), b = add();
  announce(a, "r", "a");
  announce(b, "r", "b");
  for (int i = 0; i < 6; i++)
    rx(a, R"({"jsonrpc":"2.0","id":1,"method":"peer.ice_candidate","params":{"to":"b","sdp_mid":"0","candidate":""}})");
  EXPECT_NE(links[a]->last().find("-32004"), std::string::npos) << links[a]->last();
}

TEST_F(HubTest, InvalidSdpAndCandidate) {
  make();
  size_t a = add(), b = add();
  announce(a, "r", "a");
  announce(b, "r", "b");
  rx(a, R"({"jsonrpc":"2.0","id":1,"method":"peer.offer","params":{"to":"b","sdp":"v=0"}})");
  EXPECT_NE(links[a]->last().find("-32009"), std::string::npos) << links[a]->last();
  rx(a, R"({"jsonrpc":"2.0","id":1,"method":"peer.ice_candidate","params":{"to":"b","sdp_mid":"0","candidate":"candidate:x"}})");
  EXPECT_NE(links[a]->last().find("-32010"), std::string::npos) << links[a]->last();
  EXPECT_FALSE(links[b]->saw("peer.offer"));
  EXPECT_FALSE(links[b]->saw("peer.ice_candidate"));
  rx(a, R"({"jsonrpc":"2.0","id":1,"method":"peer.offer","params":{"to":"a","sdp":"v=0"}})");
  EXPECT_NE(links[a]->last().find("-32003"), std::string::npos) << "offer to self";
}

TEST_F(HubTest, TokensRequiredWithSecret) {
  cfg.secret = "k";
  make();
  size_t a = add();
  std::string r = announce(a, "r");
  EXPECT_NE(r.find("-32001"), std::string::npos);
  EXPECT_NE(r.find("missing"), std::string::npos);
  std::string t = issue_token("k", "r", "alice", 60);
  rx(a, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"peer.announce\",\"params\":{\"room\":\"r\",\"token\":\"" + t + "\"}}");
  EXPECT_NE(links[a]->last().find("\"user_id\":\"alice\""), std::string::npos) << links[a]->last();
  size_t b = add();
  rx(b, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"peer.announce\",\"params\":{\"room\":\"other\",\"token\":\"" + t + "\"}}");
  EXPECT_NE(links[b]->last().find("wrong_room"), std::string::npos) << links[b]->last();
}

TEST_F(HubTest, AnnounceParamsValidated) {
  make();
  size_t a = add();
  for (const char *bad :
       {R"({"jsonrpc":"2.0","id":1,"method":"peer.announce"})",
        R"({"jsonrpc":"2.0","id":1,"method":"peer.announce","params":[1]})",
        R"({"jsonrpc":"2.0","id":1,"method":"peer.announce","params":{"room":5}})",
        R"({"jsonrpc":"2.0","id":1,"method":"peer.announce","params":{"room":"a b"}})",
        R"({"jsonrpc":"2.0","id":1,"method":"peer.announce","params":{"room":"r","peer_id":""}})",
        R"({"jsonrpc":"2.0","id":1,"method":"peer.announce","params":{"room":"r","media":{"audio":1}}})"}) {
    rx(a, bad);
    EXPECT_NE(links[a]->last().find("-32602"), std::string::npos) << bad << " -> " << links[a]->last();
  }
  announce(a, "r");
  EXPECT_NE(announce(a, "r").find("-32011"), std::string::npos);
}

}  // namespace
