// manifests/voice-agent-party-reply.yaml end to end: meshflow-launch runs it (mock provider) with
// its embedded signalling server; alice and bob are in-process peers whose microphones are live
// tones muted except when they "talk". The agent hears the mix, and each answer goes to whoever
// spoke the turn: while the answer to alice plays only alice receives the agent's audio, while the
// answer to bob only bob (before the first answer the agent's silence goes to both).
#include <gtest/gtest.h>

#include <regex>

#include "harness.h"
#include "process.h"

using namespace mf::test;
using namespace std::chrono_literals;

namespace {

// A peer whose microphone is a live tone behind a `volume` muted until talk().
struct Talker {
  std::unique_ptr<PeerPipeline> peer;
  GstElement *vol = nullptr;  // borrowed (the pipeline holds it)

  Talker(const std::string &url, const std::string &id) {
    PeerOptions o = peer_options(url, id);
    o.room = "party";
    o.audio = o.video = false;
    peer = std::make_unique<PeerPipeline>(o);
    GstElement *mic = gst_parse_bin_from_description(
        "audiotestsrc is-live=true wave=sine freq=300 volume=0.4 samplesperbuffer=480 ! "
        "audio/x-raw,rate=48000,channels=1 ! volume name=vol mute=true",
        TRUE, nullptr);
    vol = gst_bin_get_by_name(GST_BIN(mic), "vol");
    gst_object_unref(vol);
    gst_bin_add(GST_BIN(peer->pipeline()), mic);
    gst_element_link_pads(mic, nullptr, peer->sink(), "audio_%u");
  }
  void talk(bool on) { g_object_set(vol, "mute", !on, nullptr); }
};

// The agent's (the launcher's) audio pad on a peer's webrtc_source: audio_<launcher peer id>.
std::string agent_pad(PeerPipeline &p, const std::string &self, const std::string &other) {
  p.poll_bus();
  for (auto &e : p.events)
    if (e.rfind("peer-joined:", 0) == 0) {
      std::string id = e.substr(12);
      if (id != self && id != other) return "audio_" + id;
    }
  return "";
}

}  // namespace

TEST(WebrtcPartyReply, TheAgentAnswersWhoeverSpoke) {
  Background launcher({env_path("MESHFLOW_LAUNCH"), "--listen", "127.0.0.1:0", "--ice-local-address", "127.0.0.1",
                       env_path("MESHFLOW_SOURCE_ROOT") + "/manifests/voice-agent-party-reply.yaml"},
                      {{"MESHFLOW_ROOM", "party"}});
  std::string line = launcher.wait_for_stderr("signalling on ws://", 30);
  ASSERT_FALSE(line.empty()) << launcher.stderr_text();
  const std::string url = "ws://127.0.0.1:" + std::to_string(port_from_line(line)) + "/rpc";
  ASSERT_FALSE(launcher.wait_for_stderr("running", 30).empty()) << launcher.stderr_text();
  Talker alice(url, "alice"), bob(url, "bob");
  ASSERT_TRUE(alice.peer->start());
  ASSERT_TRUE(bob.peer->start());
  std::string pa, pb;
  ASSERT_TRUE(wait_for([&] {
    if (pa.empty()) pa = agent_pad(*alice.peer, "alice", "bob");
    if (pb.empty()) pb = agent_pad(*bob.peer, "bob", "alice");
    return !pa.empty() && !pb.empty() && alice.peer->count(pa) > 25 && bob.peer->count(pb) > 25;
  }, 30s)) << "before any answer both hear the agent (silence); alice " << pa << " bob " << pb << "\n"
           << launcher.stderr_text();

  // One turn: `who` talks for 1 s and stops; the mock VAD ends the turn 400 ms later and answers
  // 300 ms after that for 1.5 s. Counted: 1.3 s .. 2.3 s after the end of speech (the answer plays).
  auto turn = [&](Talker &who) {
    who.talk(true);
    std::this_thread::sleep_for(1000ms);
    who.talk(false);
    std::this_thread::sleep_for(1300ms);
    uint64_t a0 = alice.peer->count(pa), b0 = bob.peer->count(pb);
    std::this_thread::sleep_for(1000ms);
    auto r = std::make_pair(alice.peer->count(pa) - a0, bob.peer->count(pb) - b0);
    std::this_thread::sleep_for(1000ms);  // the answer ends before the next turn (no barge-in)
    return r;
  };
  auto [a1, b1] = turn(alice);
  EXPECT_GT(a1, 25u) << "alice's answer: alice hears it";
  EXPECT_EQ(b1, 0u) << "alice's answer: bob must not hear it";
  auto [a2, b2] = turn(bob);
  EXPECT_EQ(a2, 0u) << "bob's answer: alice must not hear it";
  EXPECT_GT(b2, 25u) << "bob's answer: bob hears it";

  for (auto &e : alice.peer->errors) ADD_FAILURE() << "alice: " << e;
  for (auto &e : bob.peer->errors) ADD_FAILURE() << "bob: " << e;
  EXPECT_EQ(launcher.interrupt_and_wait(), 0) << launcher.stderr_text();
}
