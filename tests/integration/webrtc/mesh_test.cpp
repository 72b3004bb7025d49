// Meshes of separate meshflow-launch processes on loopback (this test's netns): the first runs the
// embedded signalling server (--listen 127.0.0.1:0), the others join it with --no-server. Each runs
// manifests/peer.yaml (test audio + video -> webrtc_sink; webrtc_source decodes every other peer).
// Proof of decoding: with GST_DEBUG=mfwebrtc:4 the peer manager logs
//   "first decoded <audio|video> from peer <id>"
// when the first DECODED buffer of that peer leaves the decoder (webrtc_source's pad probe) — a
// statement about decoded media, independent of how (or whether) the launcher links the pads.
#include <gio/gio.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <memory>

#include "harness.h"
#include "process.h"

using namespace mf::test;
using namespace std::chrono_literals;

namespace {

std::string manifest() { return env_path("MESHFLOW_WEBRTC_MANIFESTS") + "/peer.yaml"; }

std::map<std::string, std::string> peer_env(const std::string &url, const std::string &id) {
  return {{"MF_SIGNAL_URL", url}, {"MF_PEER_ID", id}, {"GST_DEBUG", "mfwebrtc:4"}, {"GST_DEBUG_NO_COLOR", "1"}};
}

bool all_in(const std::string &text, const std::vector<std::string> &needles) {
  for (auto &n : needles)
    if (text.find(n) == std::string::npos) return false;
  return true;
}

/// Read `b`'s stderr until every needle has appeared or `timeout` passes.
bool wait_all(Background &b, const std::vector<std::string> &needles, std::chrono::seconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (!all_in(b.stderr_text(), needles)) {
    auto left = std::chrono::duration_cast<std::chrono::seconds>(end - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    b.wait_for_stderr("first decoded", (int)left);
  }
  return true;
}

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

void run_mesh(int n) {
  std::string launch = env_path("MESHFLOW_LAUNCH");
  // m1 runs the embedded server on a port chosen here (this netns is private: no race with others).
  int port = free_port();
  std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/rpc";
  std::vector<std::unique_ptr<Background>> peers;
  peers.push_back(std::make_unique<Background>(
      std::vector<std::string>{launch, "--listen", "127.0.0.1:" + std::to_string(port), manifest()},
      peer_env(url, "m1")));
  ASSERT_FALSE(peers[0]->wait_for_stderr("signalling on", 20).empty()) << peers[0]->stderr_text();
  for (int i = 1; i < n; i++)
    peers.push_back(std::make_unique<Background>(std::vector<std::string>{launch, "--no-server", manifest()},
                                                 peer_env(url, "m" + std::to_string(i + 1))));
  for (int i = 0; i < n; i++) {
    std::vector<std::string> needles;
    for (int j = 0; j < n; j++) {
      if (i == j) continue;
      needles.push_back("first decoded audio from peer m" + std::to_string(j + 1));
      needles.push_back("first decoded video from peer m" + std::to_string(j + 1));
    }
    EXPECT_TRUE(wait_all(*peers[i], needles, 60s)) << "peer m" << i + 1 << ":\n" << peers[i]->stderr_text();
  }
  for (int i = n - 1; i >= 0; i--) peers[i]->interrupt_and_wait(15);
}

}  // namespace

TEST(WebrtcMesh, TwoLaunchProcesses) { run_mesh(2); }

TEST(WebrtcMesh, FourLaunchProcesses) { run_mesh(4); }

// A peer that vanishes (SIGKILL) right after it started offering: the in-process peer notices (the
// server's peer.left when the socket dies, else the setup timeout) within 10 s and frees it.
TEST(WebrtcFailure, PeerVanishesMidOffer) {
  ServerThread server;
  PeerOptions a = peer_options(server.url(), "alice");
  a.room = "mesh";  // the room of manifests/peer.yaml
  PeerPipeline pa(a);
  ASSERT_TRUE(pa.start());
  ASSERT_TRUE(wait_for([&] { return pa.has_event("announced:alice"); }, 10s));
  GSubprocessLauncher *l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  for (auto &[k, v] : peer_env(server.url(), "ghost")) g_subprocess_launcher_setenv(l, k.c_str(), v.c_str(), TRUE);
  std::string launch = env_path("MESHFLOW_LAUNCH"), m = manifest();
  GSubprocess *ghost = g_subprocess_launcher_spawn(l, nullptr, launch.c_str(), "--no-server", m.c_str(), nullptr);
  g_object_unref(l);
  ASSERT_TRUE(ghost);
  // Its offer reached alice: alice created a peer for it. Kill it now, mid-negotiation.
  bool joined = wait_for([&] { return pa.has_event("peer-joined:ghost"); }, 20s);
  g_subprocess_send_signal(ghost, SIGKILL);
  g_subprocess_wait(ghost, nullptr, nullptr);
  g_object_unref(ghost);
  ASSERT_TRUE(joined);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(wait_for([&] { return pa.has_event("peer-left:ghost"); }, 10s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  EXPECT_FALSE(pa.has_pad("audio_ghost"));
  EXPECT_FALSE(pa.has_pad("video_ghost"));
  GstStructure *st = nullptr;
  g_object_get(pa.source(), "stats", &st, nullptr);
  int peers = -1;
  gst_structure_get_int(st, "peers", &peers);
  EXPECT_EQ(peers, 0) << gst_structure_to_string(st);
  gst_structure_free(st);
  pa.poll_bus();
  for (auto &e : pa.errors) ADD_FAILURE() << e;
}
