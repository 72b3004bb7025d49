// meshflow-launch --serve: one session (pipeline) per room of the embedded signalling server.
// The launcher runs serve/echo-room.yaml (each peer's audio sent back to that peer); client peers
// are pipelines of our own webrtc_source/webrtc_sink in this process (tests/integration/webrtc/
// harness.h), all in this test's loopback-only netns. Checked through the launcher's log lines,
// GET /metrics and the audio each client decodes from the launcher's peer ("mf-server").
#include <gio/gio.h>
#include <gtest/gtest.h>
#include <libsoup/soup.h>

#include <memory>
#include <regex>

#include "harness.h"
#include "meshflow/signalling/client.h"
#include "process.h"

using namespace mf::test;
using namespace std::chrono_literals;

namespace {

int free_port() {
  GSocket *s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, nullptr);
  GInetAddress *lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  GSocketAddress *a = g_inet_socket_address_new(lo, 0);
  g_socket_bind(s, a, TRUE, nullptr);
  GSocketAddress *bound = g_socket_get_local_address(s, nullptr);
  int port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  g_object_unref(bound);
  g_object_unref(a);
  g_object_unref(lo);
  g_object_unref(s);
  return port;
}

std::string http_get(int port, const std::string &path) {
  SoupSession *s = soup_session_new();
  std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
  SoupMessage *m = soup_message_new("GET", url.c_str());
  GBytes *b = soup_session_send_and_read(s, m, nullptr, nullptr);
  std::string out;
  if (b) {
    gsize n = 0;
    const char *d = static_cast<const char *>(g_bytes_get_data(b, &n));
    out.assign(d ? d : "", n);
    g_bytes_unref(b);
  }
  g_object_unref(m);
  g_object_unref(s);
  return out;
}

size_t occurrences(const std::string &text, const std::string &needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) n++;
  return n;
}

class Serve : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = free_port();
    url_ = "ws://127.0.0.1:" + std::to_string(port_) + "/rpc";
    launcher_ = std::make_unique<Background>(
        std::vector<std::string>{env_path("MESHFLOW_LAUNCH"), "--serve", "--listen",
                                 "127.0.0.1:" + std::to_string(port_), "--ice-local-address", "127.0.0.1",
                                 env_path("MESHFLOW_SERVE_DIR") + "/echo-room.yaml"},
        std::map<std::string, std::string>{{"GST_PLUGIN_PATH", env_path("MESHFLOW_SERVE_PLUGIN_DIR")},
                                           {"GST_PLUGIN_PATH_1_0", env_path("MESHFLOW_SERVE_PLUGIN_DIR")}});
    ASSERT_FALSE(launcher_->wait_for_stderr("serving every room", 30).empty()) << launcher_->stderr_text();
  }
  void TearDown() override {
    clients_.clear();
    if (launcher_) {
      EXPECT_EQ(launcher_->interrupt_and_wait(20), 0) << launcher_->stderr_text();
    }
  }
  PeerPipeline &join(const std::string &room, const std::string &peer) {
    PeerOptions o;
    o.url = url_;
    o.room = room;
    o.peer_id = peer;
    o.video = false;
    clients_[peer] = std::make_unique<PeerPipeline>(o);
    EXPECT_TRUE(clients_[peer]->start());
    return *clients_[peer];
  }
  void leave(const std::string &peer) { clients_.erase(peer); }
  // A signalling-only peer (announces, sends no media).
  std::unique_ptr<mf::signalling::Client> announce_only(const std::string &room, const std::string &peer) {
    mf::signalling::ClientConfig c;
    c.url = url_;
    c.room = room;
    c.peer_id = peer;
    auto client = std::make_unique<mf::signalling::Client>(c, mf::signalling::ClientCallbacks{});
    EXPECT_TRUE(client->start());
    return client;
  }
  // Waits until `needle` has appeared `n` times in the launcher's stderr.
  bool log_count(const std::string &needle, size_t n, std::chrono::seconds timeout = 30s) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (occurrences(launcher_->stderr_text(), needle) < n) {
      auto left = std::chrono::duration_cast<std::chrono::seconds>(end - std::chrono::steady_clock::now()).count();
      if (left <= 0) return false;
      launcher_->wait_for_stderr(needle, (int)std::min<long>(left, 1));
    }
    return true;
  }
  // The client decodes more echoed audio from the launcher's peer than it had.
  bool receives(PeerPipeline &p, uint64_t more = 25) {
    uint64_t before = p.count("audio_mf-server");
    return wait_for([&] { return p.count("audio_mf-server") >= before + more; }, 30s);
  }
  std::string metrics() { return http_get(port_, "/metrics"); }

  int port_ = 0;
  std::string url_;
  std::unique_ptr<Background> launcher_;
  std::map<std::string, std::unique_ptr<PeerPipeline>> clients_;
};

TEST_F(Serve, OneSessionPerRoomCreatedAndDestroyedWithItsPeers) {
  PeerPipeline &a1 = join("alpha", "a1");
  PeerPipeline &b1 = join("beta", "b1");
  ASSERT_TRUE(log_count("room 'alpha': session started", 1)) << launcher_->stderr_text();
  ASSERT_TRUE(log_count("room 'beta': session started", 1)) << launcher_->stderr_text();
  EXPECT_TRUE(receives(a1)) << "a1 got " << a1.count("audio_mf-server") << "\n" << launcher_->stderr_text();
  EXPECT_TRUE(receives(b1)) << "b1 got " << b1.count("audio_mf-server");
  std::string m = metrics();
  EXPECT_NE(m.find("meshflow_serve_sessions 2"), std::string::npos) << m;
  EXPECT_NE(m.find("meshflow_serve_session_active{room=\"alpha\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("meshflow_serve_session_active{room=\"beta\"} 1"), std::string::npos) << m;
  // A second peer in alpha joins the same session: no second one. (It only announces: two media
  // clients of one room in this process would each free the other's webrtcbin when it leaves, and
  // that path leaves streaming threads behind that hang gst_deinit at exit; see the report.)
  auto a2 = announce_only("alpha", "a2");
  EXPECT_TRUE(wait_for([&] { return a2->state() == mf::signalling::ClientState::Announced; }, 10s));
  EXPECT_TRUE(receives(a1));
  EXPECT_EQ(occurrences(launcher_->stderr_text(), "room 'alpha': session started"), 1u);

  // Alpha empties (the launcher's own peer stays in it, but does not count): its session goes after
  // the grace period; beta keeps playing.
  leave("a1");
  a2->stop();
  ASSERT_TRUE(log_count("room 'alpha': session destroyed (no peers left)", 1)) << launcher_->stderr_text();
  EXPECT_TRUE(receives(b1)) << "beta must keep running";
  EXPECT_EQ(occurrences(launcher_->stderr_text(), "room 'beta': session destroyed"), 0u);
  EXPECT_TRUE(wait_for([&] { return metrics().find("meshflow_serve_sessions 1\n") != std::string::npos; }, 10s))
      << metrics();
  m = metrics();
  // The ended session's series are gone (a server serving many rooms must not keep them all).
  EXPECT_EQ(m.find("room=\"alpha\""), std::string::npos) << m;
  EXPECT_TRUE(wait_for([&] { return metrics().find("session=\"alpha\"") == std::string::npos; }, 10s)) << metrics();
  EXPECT_NE(metrics().find("session=\"beta\""), std::string::npos) << "beta's series must stay\n" << metrics();
  EXPECT_NE(m.find("meshflow_serve_sessions_destroyed_total 1"), std::string::npos) << m;

  // Alpha comes back: a new session, media flows again.
  PeerPipeline &a3 = join("alpha", "a3");
  ASSERT_TRUE(log_count("room 'alpha': session started", 2)) << launcher_->stderr_text();
  EXPECT_TRUE(receives(a3)) << launcher_->stderr_text();
  EXPECT_TRUE(receives(b1));
  for (auto &[peer, c] : clients_) {
    c->poll_bus();
    for (auto &e : c->errors) ADD_FAILURE() << peer << ": " << e;
  }
}

TEST_F(Serve, ABrokenSessionEndsThatRoomOnly) {
  PeerPipeline &b1 = join("beta", "b1");
  ASSERT_TRUE(log_count("room 'beta': session started", 1)) << launcher_->stderr_text();
  EXPECT_TRUE(receives(b1));
  // The broken room's peer only announces (no media): that is enough to create its session.
  auto x1 = announce_only("broken", "x1");
  ASSERT_TRUE(log_count("room 'broken': session failed", 1)) << launcher_->stderr_text();
  ASSERT_TRUE(log_count("room 'broken': session destroyed (error)", 1)) << launcher_->stderr_text();
  EXPECT_NE(launcher_->stderr_text().find("room guard: room 'broken' is set to fail"), std::string::npos)
      << launcher_->stderr_text();
  // The launcher and beta are unaffected.
  EXPECT_TRUE(receives(b1)) << launcher_->stderr_text();
  std::string m = metrics();
  EXPECT_NE(m.find("meshflow_serve_session_errors_total 1"), std::string::npos) << m;
  EXPECT_NE(m.find("meshflow_serve_session_active{room=\"beta\"} 1"), std::string::npos) << m;
  // No retry loop while the broken room's peer stays; once it has left, the room is forgotten.
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(occurrences(launcher_->stderr_text(), "room 'broken': session started"), 1u);
  x1->stop();
  x1.reset();
  EXPECT_TRUE(receives(b1));
}

}  // namespace

namespace {

// manifests/default.yaml served with --serve: two meshflow-launch participant processes (the
// WebRTC tests' peer.yaml: live test audio + video out, every peer decoded) join room "mesh". The
// launcher builds one session for the room, a blur chain and a mix-minus output per peer, and each
// participant decodes the launcher's audio (its own mix-minus) and video (its own blurred camera).
TEST(ServeDefault, EachPeerGetsItsBlurAndItsMixMinus) {
  int port = free_port();
  std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/rpc";
  Background launcher({env_path("MESHFLOW_LAUNCH"), "--serve", "--listen", "127.0.0.1:" + std::to_string(port),
                       "--ice-local-address", "127.0.0.1", env_path("MESHFLOW_TEST_MANIFESTS") + "/default.yaml"});
  std::string line = launcher.wait_for_stderr("serving every room", 30);
  ASSERT_FALSE(line.empty()) << launcher.stderr_text();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(line, m, std::regex("as peer '([^']+)'"))) << line;
  const std::string server_peer = m[1];
  std::string peer_yaml = env_path("MESHFLOW_SOURCE_ROOT") + "/tests/integration/webrtc/manifests/peer.yaml";
  std::vector<std::unique_ptr<Background>> peers;
  for (const char *id : {"m1", "m2"})
    peers.push_back(std::make_unique<Background>(
        std::vector<std::string>{env_path("MESHFLOW_LAUNCH"), "--no-server", peer_yaml},
        std::map<std::string, std::string>{{"MF_SIGNAL_URL", url}, {"MF_PEER_ID", id}, {"GST_DEBUG", "mfwebrtc:4"},
                                           {"GST_DEBUG_NO_COLOR", "1"}}));
  for (size_t i = 0; i < peers.size(); i++) {
    for (const char *kind : {"audio", "video"}) {
      std::string needle = std::string("first decoded ") + kind + " from peer " + server_peer;
      bool ok = peers[i]->stderr_text().find(needle) != std::string::npos ||
                !peers[i]->wait_for_stderr(needle, 60).empty();
      EXPECT_TRUE(ok) << "m" << i + 1 << " " << needle << "\n" << peers[i]->stderr_text() << "\nlauncher:\n"
                      << launcher.stderr_text();
    }
  }
  for (const char *id : {"m1", "m2"})
    for (const char *family : {"video", "audio", "src"}) {  // blur chain, mixer input, mix-minus output
      std::string needle = std::string("room 'mesh': peer '") + id + "' joined (" + family + ")";
      bool ok = launcher.stderr_text().find(needle) != std::string::npos || !launcher.wait_for_stderr(needle, 20).empty();
      EXPECT_TRUE(ok) << needle << "\n" << launcher.stderr_text();
    }
  EXPECT_EQ(occurrences(launcher.stderr_text(), "room 'mesh': session started"), 1u) << launcher.stderr_text();
  for (auto &p : peers) p->interrupt_and_wait(15);
  peers.clear();
  EXPECT_FALSE(launcher.wait_for_stderr("room 'mesh': session destroyed (no peers left)", 30).empty())
      << launcher.stderr_text();
  EXPECT_EQ(occurrences(launcher.stderr_text(), "session failed"), 0u) << launcher.stderr_text();
  EXPECT_EQ(launcher.interrupt_and_wait(20), 0) << launcher.stderr_text();
}

}  // namespace

TEST(ServeUsage, NeedsTheEmbeddedServer) {
  auto r = run_process({env_path("MESHFLOW_LAUNCH"), "--serve", "--no-server",
                        env_path("MESHFLOW_TEST_MANIFESTS") + "/default.yaml"});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_NE(r.err.find("--serve needs the embedded signalling server"), std::string::npos) << r.err;
  r = run_process({env_path("MESHFLOW_LAUNCH"), "--help"});
  EXPECT_EQ(r.exit_status, 0);
  EXPECT_NE(r.out.find("--serve"), std::string::npos) << r.out;
}
