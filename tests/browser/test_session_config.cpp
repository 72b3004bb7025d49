// GET /session-config on a real meshflow-launch (no browser): the transport each fixed user id gets
// for session.webrtc_rollout_percent 0 / 100 / 37 and for the forced modes, the JSON fields of
// docs/protocols.md, the refusal of bad queries, and the decision counters in /metrics.
//
// The expected buckets were computed outside Meshflow (Python hashlib: first 4 bytes of SHA-256,
// big-endian, mod 100): alice 1, bob 12, carol 43, dave 27, grace 56, oscar 0.
#include <gtest/gtest.h>

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include <map>
#include <memory>
#include <regex>
#include <string>

#include "child_process.h"
#include "process.h"

using mf::test::ChildProcess;

namespace {

struct Reply {
  guint status = 0;
  std::string body;
};

Reply http_request(const char *method, const std::string &url) {
  SoupSession *s = soup_session_new();
  SoupMessage *msg = soup_message_new(method, url.c_str());
  Reply r;
  GError *err = nullptr;
  GBytes *bytes = msg ? soup_session_send_and_read(s, msg, nullptr, &err) : nullptr;
  if (bytes) {
    gsize n = 0;
    const char *d = static_cast<const char *>(g_bytes_get_data(bytes, &n));
    r.body.assign(d ? d : "", n);
    r.status = soup_message_get_status(msg);
    g_bytes_unref(bytes);
  } else {
    r.body = err ? err->message : "bad url";
  }
  g_clear_error(&err);
  if (msg) g_object_unref(msg);
  g_object_unref(s);
  return r;
}

Reply http_get(const std::string &url) { return http_request("GET", url); }

// A JSON object reply -> member values as strings ("webrtc", "37", "true").
std::map<std::string, std::string> parse(const std::string &body) {
  std::map<std::string, std::string> out;
  JsonParser *p = json_parser_new();
  if (json_parser_load_from_data(p, body.c_str(), -1, nullptr) && JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
    JsonObject *o = json_node_get_object(json_parser_get_root(p));
    GList *members = json_object_get_members(o);
    for (GList *l = members; l; l = l->next) {
      JsonNode *n = json_object_get_member(o, static_cast<const char *>(l->data));
      std::string v;
      if (JSON_NODE_HOLDS_VALUE(n)) {
        GType t = json_node_get_value_type(n);
        if (t == G_TYPE_STRING) v = json_node_get_string(n);
        else if (t == G_TYPE_INT64) v = std::to_string(json_node_get_int(n));
        else if (t == G_TYPE_BOOLEAN) v = json_node_get_boolean(n) ? "true" : "false";
      }
      out[static_cast<const char *>(l->data)] = v;
    }
    g_list_free(members);
  }
  g_object_unref(p);
  return out;
}

class Launcher {
 public:
  ::testing::AssertionResult start(const std::string &transport, int percent) {
    std::string manifest = mf::test::env_path("MESHFLOW_SOURCE_ROOT") + "/tests/browser/manifests/rollout.yaml";
    proc_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{mf::test::env_path("MESHFLOW_LAUNCH"), "--listen", "127.0.0.1:0", manifest},
        std::map<std::string, std::string>{{"MF_TEST_TRANSPORT", transport},
                                           {"MF_TEST_ROLLOUT", std::to_string(percent)}});
    if (!proc_->started()) return ::testing::AssertionFailure() << proc_->spawn_error();
    std::vector<std::string> g;
    if (!proc_->wait_for(ChildProcess::Stream::Err, std::regex(R"(signalling on ws://127\.0\.0\.1:(\d+)/rpc)"), 30, &g))
      return ::testing::AssertionFailure() << "meshflow-launch did not start; stderr:\n" << proc_->err();
    base_ = "http://127.0.0.1:" + g[1];
    return ::testing::AssertionSuccess();
  }
  ~Launcher() {
    if (proc_) {
      proc_->signal(SIGTERM);
      proc_->wait(15);
    }
  }
  std::map<std::string, std::string> config(const std::string &user) {
    Reply r = http_get(base_ + "/session-config?room=rollout&user=" + user);
    EXPECT_EQ(r.status, 200u) << r.body;
    return parse(r.body);
  }
  std::string transport(const std::string &user) { return config(user)["transport"]; }
  const std::string &base() const { return base_; }

 private:
  std::unique_ptr<ChildProcess> proc_;
  std::string base_;
};

const char *kUsers[] = {"alice", "bob", "carol", "dave", "grace", "oscar"};

}  // namespace

TEST(SessionConfig, ZeroPercentSendsEveryoneToWebSocket) {
  Launcher l;
  ASSERT_TRUE(l.start("auto", 0));
  for (const char *u : kUsers) EXPECT_EQ(l.transport(u), "websocket") << u;
}

TEST(SessionConfig, HundredPercentSendsEveryoneToWebRtc) {
  Launcher l;
  ASSERT_TRUE(l.start("auto", 100));
  for (const char *u : kUsers) EXPECT_EQ(l.transport(u), "webrtc") << u;
}

TEST(SessionConfig, ThirtySevenPercentSplitsByBucket) {
  Launcher l;
  ASSERT_TRUE(l.start("auto", 37));
  const std::map<std::string, std::pair<int, std::string>> expect = {
      {"alice", {1, "webrtc"}},     {"bob", {12, "webrtc"}},     {"carol", {43, "websocket"}},
      {"dave", {27, "webrtc"}},     {"grace", {56, "websocket"}}, {"oscar", {0, "webrtc"}}};
  for (const auto &[user, want] : expect) {
    auto c = l.config(user);
    EXPECT_EQ(c["bucket"], std::to_string(want.first)) << user;
    EXPECT_EQ(c["transport"], want.second) << user;
    EXPECT_EQ(c["rollout_percent"], "37");
    EXPECT_EQ(c["mode"], "auto");
    EXPECT_EQ(c["room"], "rollout");
    EXPECT_EQ(c["user"], user);
    EXPECT_GT(std::stoi(c["ice_timeout_ms"]), 0);
    // Asking again gives the same answer.
    EXPECT_EQ(l.transport(user), want.second) << user;
  }
  // Each decision is counted by transport (4 webrtc users and 2 websocket users, asked twice).
  Reply m = http_get(l.base() + "/metrics");
  EXPECT_NE(m.body.find("meshflow_session_config_total{mode=\"auto\",transport=\"webrtc\"} 8"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("meshflow_session_config_total{mode=\"auto\",transport=\"websocket\"} 4"), std::string::npos) << m.body;
}

TEST(SessionConfig, ForcedModesIgnoreTheRollout) {
  {
    Launcher l;
    ASSERT_TRUE(l.start("websocket", 100));
    for (const char *u : kUsers) EXPECT_EQ(l.transport(u), "websocket") << u;
    EXPECT_EQ(l.config("alice")["mode"], "websocket");
  }
  {
    Launcher l;
    ASSERT_TRUE(l.start("webrtc", 0));
    for (const char *u : kUsers) EXPECT_EQ(l.transport(u), "webrtc") << u;
  }
}

TEST(SessionConfig, BadQueriesAreRefusedWithAReason) {
  Launcher l;
  ASSERT_TRUE(l.start("auto", 50));
  Reply r = http_get(l.base() + "/session-config?room=rollout");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(parse(r.body)["error"], "missing_user");
  EXPECT_NE(parse(r.body)["message"].find("'user'"), std::string::npos) << r.body;
  r = http_get(l.base() + "/session-config?room=rollout&user=" + std::string(200, 'x'));
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(parse(r.body)["error"], "bad_user");
  r = http_get(l.base() + "/session-config/x?user=a");
  EXPECT_EQ(r.status, 404u);
  // Another room (meshflow-launch --serve runs one session per room with the same settings).
  auto c = parse(http_get(l.base() + "/session-config?room=elsewhere&user=alice").body);
  EXPECT_EQ(c["room"], "elsewhere");
  EXPECT_EQ(c["transport"], "webrtc");  // bucket 1 < 50
  Reply m = http_get(l.base() + "/metrics");
  EXPECT_NE(m.body.find("meshflow_session_config_errors_total{reason=\"missing_user\"} 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("meshflow_session_config_errors_total{reason=\"bad_user\"} 1"), std::string::npos) << m.body;
}

// Clients report their fallbacks (WebRTC missing, ICE timeout): counted by reason; bad reasons
// are refused.
TEST(SessionConfig, FallbackReportsAreCountedByReason) {
  Launcher l;
  ASSERT_TRUE(l.start("auto", 100));
  const std::string q = l.base() + "/session-config?room=rollout&user=alice&fallback=";
  EXPECT_EQ(http_request("POST", q + "ice_timeout").status, 204u);
  EXPECT_EQ(http_request("POST", q + "ice_timeout").status, 204u);
  EXPECT_EQ(http_request("POST", q + "no_webrtc").status, 204u);
  Reply bad = http_request("POST", q + "boredom");
  EXPECT_EQ(bad.status, 400u);
  EXPECT_EQ(parse(bad.body)["error"], "bad_fallback");
  EXPECT_EQ(http_request("DELETE", q + "ice_timeout").status, 405u);
  Reply m = http_get(l.base() + "/metrics");
  EXPECT_NE(m.body.find("meshflow_transport_fallbacks_total{reason=\"ice_timeout\"} 2"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("meshflow_transport_fallbacks_total{reason=\"no_webrtc\"} 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("meshflow_session_config_errors_total{reason=\"bad_fallback\"} 1"), std::string::npos) << m.body;
}

