// Foreign clients: Node's `ws` package (node_modules from ./dev setup) against the real server.
#include <atomic>
#include <cstdio>
#include <thread>
#include <cstdlib>
#include <string>

#include "harness.h"

using namespace sigtest;

namespace {

std::string node() {
  const char *n = g_getenv("MESHFLOW_NODE");
  return n ? n : "";
}
std::string script(const char *name) {
  const char *root = g_getenv("MESHFLOW_SOURCE_ROOT");
  return std::string(root ? root : ".") + "/tests/integration/signalling/" + name;
}
bool have_ws() {
  const char *root = g_getenv("MESHFLOW_SOURCE_ROOT");
  return g_file_test((std::string(root ? root : ".") + "/node_modules/ws/package.json").c_str(),
                     G_FILE_TEST_EXISTS);
}

TEST_F(ServerTest, NodeWsClientSpeaksTheProtocol) {
  if (node().empty() || !have_ws()) GTEST_SKIP() << "node or node_modules/ws missing: ./dev setup";
  start();
  std::string out;
  int rc = run_process({node(), script("foreign_client.mjs"), url()}, &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("all checks passed"), std::string::npos) << out;
  EXPECT_EQ(server_->connection_count(), 0u);
}

TEST_F(ServerTest, FragmentedOversizeMessageIsClosedAndRssStaysBounded) {
  if (node().empty() || !have_ws()) GTEST_SKIP() << "node or node_modules/ws missing: ./dev setup";
  start();
  WsClient &bystander = peer("r", "b");
  ASSERT_TRUE(reset_peak_rss()) << "cannot reset VmHWM (/proc/self/clear_refs)";
  long before = vm_rss_kb();
  std::string out;
  // 50 MiB in 1 KiB continuation frames: every frame is far below max-incoming-payload-size.
  int rc = run_process({node(), script("fragment_flood.mjs"), url(), "52428800", "1024"}, &out);
  long peak = vm_hwm_kb();
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("closed 1009"), std::string::npos) << out;
  // The server read at most its budget (64 KiB + slack) of the message before closing: the peak
  // RSS of this process (server and test) must not grow by anything near the 50 MiB offered.
  EXPECT_LT(peak - before, 16 * 1024) << "VmRSS before " << before << " kB, peak " << peak << " kB";
  std::printf("fragmented 50 MiB: %sVmRSS before %ld kB, peak during %ld kB\n", out.c_str(),
              before, peak);
  EXPECT_GE(reg_.value("meshflow_signalling_limit_total", {{"limit", "message_bytes_fragmented"}}),
            1);
  EXPECT_TRUE(bystander.request("peer.ping").result());
}

}  // namespace

namespace {

TEST_F(ServerTest, SlowConsumerIsClosedOthersUnaffected) {
  cfg_.max_outbound_bytes = 256 * 1024;
  cfg_.messages_per_second = 0;  // unlimited: the sender floods on purpose
  cfg_.heartbeat_ms = 60000;
  start();
  WsClient &sender = peer("slow", "sender");
  WsClient &other = peer("slow", "other");
  // The lazy client runs on a thread and context of its own; once announced, that thread stops
  // iterating its context, so the client never reads its socket again.
  std::atomic<int> lazy_state{0};  // 1 announced, -1 failed
  std::atomic<bool> release{false};
  std::thread lazy_thread([&] {
    GMainContext *lctx = g_main_context_new();
    g_main_context_push_thread_default(lctx);
    {
      WsClient lazy(lctx);
      bool ok = lazy.connect(url()) &&
                lazy.request("peer.announce", R"({"room":"slow","peer_id":"lazy"})").result();
      lazy_state = ok ? 1 : -1;
      while (!release) g_usleep(1000);
    }
    while (g_main_context_iteration(lctx, FALSE)) {
    }
    g_main_context_pop_thread_default(lctx);
    g_main_context_unref(lctx);
  });
  ASSERT_TRUE(spin([&] { return lazy_state != 0; }));
  ASSERT_EQ(lazy_state, 1);
  ASSERT_TRUE(sender.wait_notification("peer.joined").params());
  other.wait_notification("peer.joined");

  // Flood the lazy peer with offers until the server gives up on it (bounded: 75 MB offered).
  std::string params = std::string("{\"to\":\"lazy\",\"sdp\":\"v=0\\r\\no=- 1 2 IN IP4 127.0.0.1\\r\\n"
      "s=-\\r\\nt=0 0\\r\\na=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:"
      "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99\\r\\na=ice-ufrag:abcd\\r\\n"
      "a=ice-pwd:abcdefghijklmnopqrstuvwx\\r\\na=setup:actpass\\r\\nm=audio 9 UDP/TLS/RTP/SAVPF 111"
      "\\r\\nc=IN IP4 0.0.0.0\\r\\na=mid:0\\r\\na=rtpmap:111 opus/48000/2\\r\\n") +
      [] {
        std::string pad;  // valid SDP lines, to make each offer ~12 KB
        for (int i = 0; i < 12; i++) pad += "a=x-pad:" + std::string(990, 'p') + "\\r\\n";
        return pad;
      }() + "\"}";
  bool closed = false;
  for (int i = 0; i < 6000 && !closed; i++) {
    Json r = sender.request("peer.offer", params);
    ASSERT_TRUE(r.result() || r.error_code() == mf::signalling::kUnknownPeer)
        << "offer " << i << " refused: " << r.error_code() << " " << r.error_reason();
    closed = r.error_code() == mf::signalling::kUnknownPeer;
  }
  EXPECT_TRUE(closed) << "the slow consumer was never closed";
  Json left = sender.wait_notification("peer.left");
  ASSERT_TRUE(left.params());
  EXPECT_EQ(std::string(json_object_get_string_member(left.params(), "peer_id")), "lazy");
  EXPECT_EQ(std::string(json_object_get_string_member(left.params(), "reason")), "slow_consumer");
  EXPECT_EQ(reg_.value("meshflow_signalling_closed_total", {{"reason", "slow_consumer"}}), 1);
  EXPECT_TRUE(other.request("peer.ping").result());
  release = true;
  lazy_thread.join();
}

}  // namespace
