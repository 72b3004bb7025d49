// mfmixer's active speaker end to end: GstHarness inputs with known constant levels, 10 ms
// blocks (20 ms speaker windows), the property, the element message and the event on src.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <cmath>
#include <mutex>
#include <string>
#include <vector>

#include "mixer_test_util.h"

namespace {

using namespace mixertest;

struct Events {
  std::mutex m;
  std::vector<std::string> peers;  // peer-id of each meshflow-speaker event on src, in order
};

GstPadProbeReturn speaker_event(GstPad *, GstPadProbeInfo *info, gpointer data) {
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
  if (GST_EVENT_TYPE(ev) != GST_EVENT_CUSTOM_DOWNSTREAM) return GST_PAD_PROBE_OK;
  const GstStructure *s = gst_event_get_structure(ev);
  if (!s || !gst_structure_has_name(s, "meshflow-speaker")) return GST_PAD_PROBE_OK;
  auto *e = static_cast<Events *>(data);
  std::lock_guard<std::mutex> lock(e->m);
  const gchar *peer = gst_structure_get_string(s, "peer-id");
  e->peers.push_back(peer ? peer : "(null)");
  return GST_PAD_PROBE_OK;
}

void run(const char *mode) {
  auto mixer = mf::sink(gst_element_factory_make("mfmixer", nullptr));
  ASSERT_TRUE(mixer);
  gst_util_set_object_arg(G_OBJECT(mixer.get()), "mode", mode);
  auto bus = mf::adopt(gst_bus_new());
  gst_element_set_bus(mixer.get(), bus.get());
  auto src = pad_of(mixer.get(), "src");
  Events events;
  gst_pad_add_probe(src.get(), GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, speaker_event, &events, nullptr);
  Collector out(src.get());

  HarnessPtr alice = add_input(mixer.get(), audio_caps("S16LE"));
  HarnessPtr bob = add_input(mixer.get(), audio_caps("S16LE"));
  std::vector<std::unique_ptr<Collector>> outputs;  // mix_minus: consume src_N too
  for (GstHarness *h : {alice.get(), bob.get()}) {
    auto in = pad_of(mixer.get(), input_pad_name(h));
    ASSERT_TRUE(in);
    g_object_set(in.get(), "peer-id", h == alice.get() ? "alice" : "bob", nullptr);
    const std::string out_name = "src_" + input_pad_name(h).substr(5);
    if (auto o = pad_of(mixer.get(), out_name)) outputs.push_back(std::make_unique<Collector>(o.get()));
  }
  uint64_t frame = 0;
  auto talk = [&](int16_t a, int16_t b, int blocks) {
    for (int i = 0; i < blocks; ++i, frame += kBlock) {
      ASSERT_EQ(gst_harness_push(alice.get(), make_buffer(std::vector<int16_t>(kBlock, a), frame)), GST_FLOW_OK);
      ASSERT_EQ(gst_harness_push(bob.get(), make_buffer(std::vector<int16_t>(kBlock, b), frame)), GST_FLOW_OK);
    }
  };
  talk(8000, 0, 10);      // alice at -12 dBFS, bob silent: alice
  talk(8000, 9000, 20);   // bob 1 dB louder: hysteresis keeps alice
  talk(8000, 32000, 20);  // bob 12 dB louder for 200 ms: bob
  talk(0, 0, 40);         // 400 ms of silence: nobody
  gst_harness_push_event(alice.get(), gst_event_new_eos());
  gst_harness_push_event(bob.get(), gst_event_new_eos());
  ASSERT_TRUE(out.wait_eos());

  std::vector<std::string> messages;
  std::vector<double> levels;
  while (GstMessage *m = gst_bus_pop_filtered(bus.get(), GST_MESSAGE_ELEMENT)) {
    const GstStructure *s = gst_message_get_structure(m);
    if (s && gst_structure_has_name(s, "meshflow-active-speaker")) {
      messages.push_back(gst_structure_get_string(s, "peer-id"));
      double db = 0;
      EXPECT_TRUE(gst_structure_get_double(s, "level-db", &db));
      levels.push_back(db);
    }
    gst_message_unref(m);
  }
  const std::vector<std::string> expected{"alice", "bob", ""};
  EXPECT_EQ(messages, expected);
  ASSERT_EQ(levels.size(), 3u);
  EXPECT_NEAR(levels[0], 20 * std::log10(8000.0 / 32768.0), 0.01);
  EXPECT_NEAR(levels[1], 20 * std::log10(32000.0 / 32768.0), 0.01);
  {
    std::lock_guard<std::mutex> lock(events.m);
    EXPECT_EQ(events.peers, expected);
  }
  gchar *active = nullptr;
  g_object_get(mixer.get(), "active-speaker", &active, nullptr);
  EXPECT_STREQ(active, "");
  g_free(active);
  alice.reset();
  bob.reset();
  gst_element_set_bus(mixer.get(), nullptr);
}

TEST(MixerSpeaker, LoudestTalkerWithHysteresisThenSilenceModeAll) { run("all"); }
TEST(MixerSpeaker, LoudestTalkerWithHysteresisThenSilenceMixMinus) { run("mix_minus"); }

TEST(MixerSpeaker, PropertyNamesTheTalkerWhilePlaying) {
  auto mixer = mf::sink(gst_element_factory_make("mfmixer", nullptr));
  ASSERT_TRUE(mixer);
  auto src = pad_of(mixer.get(), "src");
  Collector out(src.get());
  HarnessPtr h = add_input(mixer.get(), audio_caps("F32LE"));  // no peer-id: the pad name
  const std::string name = input_pad_name(h.get());
  for (int i = 0; i < 6; ++i)
    ASSERT_EQ(gst_harness_push(h.get(), make_buffer(std::vector<float>(kBlock, 0.5f), uint64_t(i) * kBlock)),
              GST_FLOW_OK);
  gst_harness_push_event(h.get(), gst_event_new_eos());
  ASSERT_TRUE(out.wait_eos());
  gchar *active = nullptr;
  g_object_get(mixer.get(), "active-speaker", &active, nullptr);
  EXPECT_EQ(std::string(active ? active : ""), name);
  g_free(active);
}

}  // namespace
