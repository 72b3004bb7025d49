// remote-peers: a peer connects only to the peers its filter names, in a room where everyone else
// forms a full mesh; an offer from a peer outside the filter is ignored and counted.
#include <gtest/gtest.h>

#include <thread>

#include "harness.h"
#include "meshflow/metrics/registry.h"

using namespace mf::test;
using namespace std::chrono_literals;

namespace {

double ignored_offers() { return mf::metrics::Registry::global().value("meshflow_webrtc_offers_ignored_total"); }

}  // namespace

TEST(WebrtcFilter, RemotePeersLimitsWhoIsConnected) {
  ServerThread server;
  PeerOptions hub = peer_options(server.url(), "hub");
  hub.video = false;
  PeerOptions s1 = hub, s2 = hub, other = hub;
  s1.peer_id = "spoke-1";
  s2.peer_id = "spoke-2";
  s1.remote_peers = s2.remote_peers = {"hub", "nobody-*"};
  other.peer_id = "other";  // no filter: offers to everyone, the spokes ignore it
  PeerPipeline ph(hub), p1(s1), p2(s2), po(other);
  ASSERT_TRUE(ph.start());
  ASSERT_TRUE(wait_for([&] { return ph.has_event("announced:hub"); }, 10s));
  ASSERT_TRUE(p1.start());
  ASSERT_TRUE(wait_for([&] { return p1.has_event("announced:spoke-1"); }, 10s));
  ASSERT_TRUE(p2.start());
  ASSERT_TRUE(wait_for([&] { return p2.has_event("announced:spoke-2"); }, 10s));
  const double ignored0 = ignored_offers();
  ASSERT_TRUE(po.start());
  // The hub hears everyone; each spoke hears only the hub; "other" hears only the hub.
  ASSERT_TRUE(wait_for([&] {
    return ph.count("audio_spoke-1") > 20 && ph.count("audio_spoke-2") > 20 && ph.count("audio_other") > 20 &&
           p1.count("audio_hub") > 20 && p2.count("audio_hub") > 20 && po.count("audio_hub") > 20;
  }, 30s)) << "hub<-spoke-1 " << ph.count("audio_spoke-1") << ", hub<-spoke-2 " << ph.count("audio_spoke-2")
           << ", hub<-other " << ph.count("audio_other") << ", spoke-1<-hub " << p1.count("audio_hub")
           << ", spoke-2<-hub " << p2.count("audio_hub") << ", other<-hub " << po.count("audio_hub");
  // "other" offered to both spokes (it has no filter): both offers were ignored and counted.
  EXPECT_TRUE(wait_for([&] { return ignored_offers() >= ignored0 + 2; }, 10s))
      << "ignored offers: " << ignored_offers() - ignored0 << "\n" << mf::metrics::Registry::global().render();
  std::this_thread::sleep_for(1s);
  EXPECT_FALSE(p1.has_pad("audio_spoke-2"));
  EXPECT_FALSE(p2.has_pad("audio_spoke-1"));
  EXPECT_FALSE(p1.has_pad("audio_other"));
  EXPECT_FALSE(p2.has_pad("audio_other"));
  EXPECT_FALSE(p1.has_event("peer-joined:spoke-2"));
  EXPECT_FALSE(p2.has_event("peer-joined:spoke-1"));
  EXPECT_FALSE(p1.has_event("peer-joined:other"));
  for (auto *p : {&ph, &p1, &p2, &po}) {
    p->poll_bus();
    for (auto &e : p->errors) ADD_FAILURE() << e;
  }
}
