// mfmixer kind=audio through GstHarness inputs and collector pads: exact sample math for `all`
// and `mix_minus` (S16 and F32, clipping at the limits), inputs joining and leaving while
// PLAYING, no drift between live inputs over 10 s of test-clock time, a missing live input
// counted as silence, peer ids and tags on the outputs, EOS, state changes, gst-launch-1.0.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "meshflow/sdk/ptr.h"
#include "mixer_test_util.h"
#include "process.h"

using namespace mixertest;

namespace {

mf::Ptr<GstElement> make_mixer(const char *mode) {
  auto m = mf::sink(gst_element_factory_make("mfmixer", nullptr));
  EXPECT_TRUE(m);
  if (m) gst_util_set_object_arg(G_OBJECT(m.get()), "mode", mode);
  return m;
}

std::string output_name(GstHarness *h) {
  std::string in = input_pad_name(h);  // sink_N -> src_N
  return "src_" + in.substr(in.find('_') + 1);
}

template <typename T> std::vector<T> test_signal(size_t n, unsigned seed);

template <> std::vector<int16_t> test_signal<int16_t>(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-32768, 32767);
  std::vector<int16_t> v(n);
  for (auto &s : v) s = int16_t(d(rng));
  // Full scale on every input at the start: the sums clip at both limits.
  v[0] = 32767;
  v[1] = -32768;
  v[2] = 20000;
  v[3] = -20000;
  return v;
}

template <> std::vector<float> test_signal<float>(size_t n, unsigned seed) {
  // Multiples of 1/1024: sums and differences are exact, so outputs can be compared exactly.
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-1024, 1024);
  std::vector<float> v(n);
  for (auto &s : v) s = float(d(rng)) / 1024.0f;
  v[0] = 1.0f;
  v[1] = -1.0f;
  return v;
}

template <typename T> T clip(double v);
template <> int16_t clip<int16_t>(double v) { return int16_t(v > 32767 ? 32767 : (v < -32768 ? -32768 : v)); }
template <> float clip<float>(double v) { return float(v > 1.0 ? 1.0 : (v < -1.0 ? -1.0 : v)); }

template <typename T> void run_exact_math(const char *format, bool mix_minus, bool decouple = true) {
  constexpr size_t kInputs = 3, kFrames = 4 * kBlock, kChunk = 960;  // 20 ms input buffers
  auto mixer = make_mixer(mix_minus ? "mix_minus" : "all");
  g_object_set(mixer.get(), "decouple-outputs", gboolean(decouple), nullptr);
  std::vector<HarnessPtr> in;
  for (size_t i = 0; i < kInputs; ++i) in.push_back(add_input(mixer.get(), audio_caps(format)));
  std::vector<std::unique_ptr<Collector>> out;
  if (mix_minus) {
    for (auto &h : in) {
      auto pad = pad_of(mixer.get(), output_name(h.get()));
      ASSERT_TRUE(pad) << output_name(h.get());
      out.push_back(std::make_unique<Collector>(pad.get()));
    }
  } else {
    EXPECT_FALSE(pad_of(mixer.get(), "src_0")) << "mode all has no per-input outputs";
    out.push_back(std::make_unique<Collector>(pad_of(mixer.get(), "src").get()));
  }

  std::vector<std::vector<T>> signal;
  for (size_t i = 0; i < kInputs; ++i) signal.push_back(test_signal<T>(kFrames, unsigned(i + 1)));
  for (size_t at = 0; at < kFrames; at += kChunk)
    for (size_t i = 0; i < kInputs; ++i) {
      std::vector<T> chunk(signal[i].begin() + long(at), signal[i].begin() + long(at + kChunk));
      ASSERT_EQ(gst_harness_push(in[i].get(), make_buffer(chunk, at)), GST_FLOW_OK);
    }
  for (auto &h : in) gst_harness_push_event(h.get(), gst_event_new_eos());

  for (size_t o = 0; o < out.size(); ++o) {
    SCOPED_TRACE("output " + std::to_string(o));
    ASSERT_TRUE(out[o]->wait_eos());
    auto got = out[o]->samples<T>();
    ASSERT_EQ(got.size(), kFrames);
    size_t clipped = 0;
    for (size_t k = 0; k < kFrames; ++k) {
      double sum = 0;
      for (size_t i = 0; i < kInputs; ++i)
        if (!mix_minus || i != o) sum += double(signal[i][k]);
      const T want = clip<T>(sum);
      clipped += (double(want) != sum);
      ASSERT_EQ(got[k], want) << "sample " << k;
    }
    EXPECT_GT(clipped, 0u) << "the data must exercise clipping";
    auto caps = out[o]->caps();
    ASSERT_TRUE(caps);
    EXPECT_STREQ(gst_structure_get_string(gst_caps_get_structure(caps.get(), 0), "format"), format);
  }
}

}  // namespace

TEST(MixerAudio, AllIsTheClippedSumS16) { run_exact_math<int16_t>("S16LE", false); }
TEST(MixerAudio, AllIsTheClippedSumF32) { run_exact_math<float>("F32LE", false); }
TEST(MixerAudio, MixMinusIsTotalMinusOwnS16) { run_exact_math<int16_t>("S16LE", true); }
TEST(MixerAudio, MixMinusIsTotalMinusOwnF32) { run_exact_math<float>("F32LE", true); }
TEST(MixerAudio, MixMinusWithoutOutputQueuesS16) { run_exact_math<int16_t>("S16LE", true, false); }

TEST(MixerAudio, MixMinusOutputsFollowInputsJoiningAndLeavingWhilePlaying) {
  // Constant inputs 1, 10, 100, 1000 make every output's content say exactly who is in it.
  auto mixer = make_mixer("mix_minus");
  std::map<int, HarnessPtr> in;  // by value
  std::map<int, std::unique_ptr<Collector>> out;
  auto join = [&](int value) {
    in[value] = add_input(mixer.get(), audio_caps("S16LE"));
    auto pad = pad_of(mixer.get(), output_name(in[value].get()));
    ASSERT_TRUE(pad);
    out[value] = std::make_unique<Collector>(pad.get());
  };
  uint64_t frame = 0;
  auto push_blocks = [&](int blocks) {
    for (int b = 0; b < blocks; ++b, frame += kBlock)
      for (auto &[value, h] : in)
        ASSERT_EQ(gst_harness_push(h.get(), make_buffer(std::vector<int16_t>(kBlock, int16_t(value)), frame)),
                  GST_FLOW_OK);
  };
  join(1);
  join(10);
  join(100);
  push_blocks(5);
  ASSERT_TRUE(out[1]->wait_bytes(5 * kBlock * 2));

  join(1000);  // a peer joins mid-stream: its first buffer starts at 50 ms
  const std::string joined_in = input_pad_name(in[1000].get());
  push_blocks(5);
  for (auto &[value, c] : out) ASSERT_TRUE(c->wait_bytes(size_t(value == 1000 ? 5 : 10) * kBlock * 2));

  // A peer leaves: the harness releases its request pad; its output goes away with it.
  const std::string left_in = input_pad_name(in[10].get()), left_out = output_name(in[10].get());
  in.erase(10);
  EXPECT_FALSE(pad_of(mixer.get(), left_in));
  EXPECT_FALSE(pad_of(mixer.get(), left_out));
  auto core = mf::adopt(gst_bin_get_by_name(GST_BIN(mixer.get()), "audio_mix"));
  ASSERT_TRUE(core);
  EXPECT_FALSE(pad_of(core.get(), left_in)) << "the core's request pad is released too";
  EXPECT_FALSE(pad_of(core.get(), left_out));
  EXPECT_EQ(GST_ELEMENT(core.get())->numsinkpads, 3u);
  push_blocks(5);
  for (auto &[value, h] : in) gst_harness_push_event(h.get(), gst_event_new_eos());

  auto expect_blocks = [](Collector &c, std::vector<int> per_block) {
    ASSERT_TRUE(c.wait_eos());
    auto s = c.samples<int16_t>();
    ASSERT_EQ(s.size(), per_block.size() * kBlock);
    for (size_t b = 0; b < per_block.size(); ++b)
      for (size_t k = 0; k < size_t(kBlock); ++k)
        ASSERT_EQ(s[b * kBlock + k], per_block[b]) << "block " << b << " sample " << k;
  };
  // Before the join: 1+10+100; with 1000: +1000; after 10 left: -10.
  std::vector<int> one, hundred, thousand;
  for (int b = 0; b < 15; ++b) {
    const int total = b < 5 ? 111 : (b < 10 ? 1111 : 1101);
    one.push_back(total - 1);
    hundred.push_back(total - 100);
    if (b >= 5) thousand.push_back(total - 1000);
  }
  expect_blocks(*out[1], one);
  expect_blocks(*out[100], hundred);
  expect_blocks(*out[1000], thousand);
  auto left = out[10]->samples<int16_t>();
  EXPECT_EQ(left.size(), size_t(10 * kBlock)) << "the leaver's output stops when it leaves";
  EXPECT_EQ(left.front(), 101);
  EXPECT_EQ(left.back(), 1101);
  EXPECT_FALSE(joined_in.empty());
}

TEST(MixerAudio, NoDriftBetweenLiveInputsOverTenSecondsOfTestClock) {
  // Two live inputs at the same rate with different, unaligned buffer sizes (441 and 960 frames).
  // Over 10 s the output has exactly 480000 samples, contiguous timestamps, and every sample is
  // the sum of both: neither input slid against the other by a single sample.
  constexpr uint64_t kTotal = 10 * kRate;
  auto mixer = make_mixer("all");
  Collector out(pad_of(mixer.get(), "src").get());
  HarnessPtr a = add_input(mixer.get(), audio_caps("S16LE"));
  HarnessPtr b = add_input(mixer.get(), audio_caps("S16LE"));
  auto clock = mf::adopt(gst_harness_get_testclock(a.get()));
  uint64_t at_a = 0, at_b = 0;
  const uint64_t size_a = 441, size_b = 960;
  while (at_a < kTotal || at_b < kTotal) {
    // Push whichever input is behind, so both stay within one buffer of each other.
    if (at_b >= kTotal || (at_a < kTotal && at_a <= at_b)) {
      const uint64_t n = std::min(size_a, kTotal - at_a);
      ASSERT_EQ(gst_harness_push(a.get(), make_buffer(std::vector<int16_t>(n, 1000), at_a)), GST_FLOW_OK);
      at_a += n;
    } else {
      const uint64_t n = std::min(size_b, kTotal - at_b);
      ASSERT_EQ(gst_harness_push(b.get(), make_buffer(std::vector<int16_t>(n, 234), at_b)), GST_FLOW_OK);
      at_b += n;
    }
    // Let the live clock run behind the data: every block whose deadline passes has both inputs.
    const GstClockTime have = frames_to_time(std::min(at_a, at_b));
    if (have > 30 * GST_MSECOND) {
      const GstClockTime t = have - 30 * GST_MSECOND;
      if (t > gst_clock_get_time(GST_CLOCK(clock.get()))) gst_test_clock_set_time(clock.get(), t);
    }
  }
  EXPECT_GE(gst_clock_get_time(GST_CLOCK(clock.get())), 9 * GST_SECOND);
  gst_harness_push_event(a.get(), gst_event_new_eos());
  gst_harness_push_event(b.get(), gst_event_new_eos());
  ASSERT_TRUE(out.wait_eos());
  auto s = out.samples<int16_t>();
  ASSERT_EQ(s.size(), kTotal);
  for (size_t k = 0; k < s.size(); ++k) ASSERT_EQ(s[k], 1234) << "sample " << k;
  uint64_t frames = 0;
  for (auto &buf : out.buffers()) {
    ASSERT_EQ(GST_BUFFER_PTS(buf.get()), frames_to_time(frames)) << "gap or overlap at " << frames;
    frames += gst_buffer_get_size(buf.get()) / 2;
  }
  EXPECT_EQ(frames, kTotal);
}

TEST(MixerAudio, LiveInputWithoutDataCountsAsSilenceAfterTheTimeout) {
  auto mixer = make_mixer("mix_minus");
  HarnessPtr a = add_input(mixer.get(), audio_caps("S16LE"));
  HarnessPtr b = add_input(mixer.get(), audio_caps("S16LE"));
  Collector out_a(pad_of(mixer.get(), output_name(a.get())).get());
  Collector out_b(pad_of(mixer.get(), output_name(b.get())).get());
  auto push = [](GstHarness *h, int16_t value, uint64_t blk) {
    ASSERT_EQ(gst_harness_push(h, make_buffer(std::vector<int16_t>(kBlock, value), blk * kBlock)), GST_FLOW_OK);
  };
  push(a.get(), 1000, 0);
  push(b.get(), 7, 0);
  push(a.get(), 1000, 1);
  push(b.get(), 7, 1);
  ASSERT_TRUE(out_b.wait_bytes(2 * kBlock * 2));
  // b stalls (no data, no EOS). The live deadline of block k is its start + the aggregator's
  // latency (one output duration): (k + 1) * 10 ms. With the test clock there, the aggregator's
  // clock wait is released, it times out and mixes block k without b. (Not counting cranks: a
  // wait that new data interrupts is re-armed, so a crank could release a stale one.)
  auto clock = mf::adopt(gst_harness_get_testclock(a.get()));
  for (uint64_t blk = 2; blk < 5; ++blk) {
    push(a.get(), 1000, blk);
    gst_test_clock_set_time(clock.get(), (blk + 1) * 10 * GST_MSECOND);
    const auto give_up = std::chrono::steady_clock::now() + kGuard;
    while (!out_a.has_bytes((blk + 1) * kBlock * 2) && std::chrono::steady_clock::now() < give_up) {
      GstClockID id = gst_test_clock_process_next_clock_id(clock.get());  // only waits due by now
      if (id) gst_clock_id_unref(id);
      else g_usleep(500);
    }
    ASSERT_TRUE(out_a.has_bytes((blk + 1) * kBlock * 2)) << "block " << blk;
  }
  ASSERT_TRUE(out_a.wait_bytes(5 * kBlock * 2));
  ASSERT_TRUE(out_b.wait_bytes(5 * kBlock * 2));
  auto sa = out_a.samples<int16_t>(), sb = out_b.samples<int16_t>();
  for (size_t k = 0; k < size_t(5 * kBlock); ++k) {
    ASSERT_EQ(sa[k], k < size_t(2 * kBlock) ? 7 : 0) << k;  // a hears b, then silence
    ASSERT_EQ(sb[k], 1000) << k;                            // b hears a throughout
  }
}

TEST(MixerAudio, OutputsCarryPeerIdTagsAndTheirOwnStream) {
  auto mixer = make_mixer("mix_minus");
  HarnessPtr a = add_input(mixer.get(), audio_caps("S16LE"));
  HarnessPtr b = add_input(mixer.get(), audio_caps("S16LE"));
  auto sink_a = pad_of(mixer.get(), input_pad_name(a.get()));
  auto src_a = pad_of(mixer.get(), output_name(a.get()));
  auto src_b = pad_of(mixer.get(), output_name(b.get()));
  ASSERT_TRUE(sink_a && src_a && src_b);

  // peer-id set by the application on sink_N shows on src_N.
  g_object_set(sink_a.get(), "peer-id", "alice", nullptr);
  gchar *id = nullptr;
  g_object_get(src_a.get(), "peer-id", &id, nullptr);
  EXPECT_STREQ(id, "alice");
  g_free(id);
  // ...or comes from a meshflow-peer-id stream tag, with the stream's tags forwarded on src_N.
  GstTagList *tags = gst_tag_list_new(GST_TAG_TITLE, "bob's mic", "meshflow-peer-id", "bob", nullptr);
  gst_tag_list_set_scope(tags, GST_TAG_SCOPE_STREAM);
  gst_harness_push_event(b.get(), gst_event_new_tag(tags));
  id = nullptr;
  g_object_get(src_b.get(), "peer-id", &id, nullptr);
  EXPECT_STREQ(id, "bob");
  g_free(id);

  Collector out_a(src_a.get()), out_b(src_b.get());
  for (auto *h : {a.get(), b.get()}) {
    ASSERT_EQ(gst_harness_push(h, make_buffer(std::vector<int16_t>(kBlock, 5), 0)), GST_FLOW_OK);
    gst_harness_push_event(h, gst_event_new_eos());
  }
  ASSERT_TRUE(out_a.wait_eos());
  ASSERT_TRUE(out_b.wait_eos());
  EXPECT_EQ(out_b.last_tag_title(), "bob's mic");
  EXPECT_EQ(out_a.last_tag_title(), "");
  EXPECT_TRUE(out_a.saw_segment());
  EXPECT_NE(out_a.stream_id(), out_b.stream_id()) << "each output is its own stream";
  EXPECT_FALSE(out_a.stream_id().empty());
}

TEST(MixerAudio, SurvivesStateChangesWithoutPads) {
  const GstState cycle[] = {GST_STATE_READY, GST_STATE_PAUSED, GST_STATE_PLAYING, GST_STATE_PAUSED,
                            GST_STATE_READY, GST_STATE_NULL,   GST_STATE_PAUSED,  GST_STATE_PLAYING,
                            GST_STATE_NULL};
  for (const char *kind : {"audio", "video"}) {
    for (const char *mode : {"all", "mix_minus"}) {
      SCOPED_TRACE(std::string(kind) + " " + mode);
      auto m = mf::sink(gst_element_factory_make("mfmixer", nullptr));
      gst_util_set_object_arg(G_OBJECT(m.get()), "kind", kind);
      gst_util_set_object_arg(G_OBJECT(m.get()), "mode", mode);
      for (GstState s : cycle) {
        auto r = gst_element_set_state(m.get(), s);
        EXPECT_NE(r, GST_STATE_CHANGE_FAILURE) << gst_element_state_get_name(s);
        if (r == GST_STATE_CHANGE_ASYNC) gst_element_get_state(m.get(), nullptr, nullptr, 0);
      }
      gst_element_set_state(m.get(), GST_STATE_NULL);
    }
  }
}

TEST(MixerAudio, RequestAndReleaseWithoutDataLeavesNoPads) {
  auto m = make_mixer("mix_minus");
  gst_element_set_state(m.get(), GST_STATE_PLAYING);
  std::vector<GstPad *> pads;
  for (int i = 0; i < 4; ++i) pads.push_back(gst_element_request_pad_simple(m.get(), "sink_%u"));
  EXPECT_EQ(GST_ELEMENT(m.get())->numsrcpads, 5u);  // src + src_0..3
  for (GstPad *p : pads) {
    gst_element_release_request_pad(m.get(), p);
    gst_object_unref(p);
  }
  EXPECT_EQ(GST_ELEMENT(m.get())->numsinkpads, 0u);
  EXPECT_EQ(GST_ELEMENT(m.get())->numsrcpads, 1u);
  gst_element_set_state(m.get(), GST_STATE_NULL);
}

TEST(MixerAudio, RunsFromGstLaunch) {
  const std::string plugin_dir = mf::test::env_path("MESHFLOW_PLUGIN_DIR");
  const std::string dir = mf::test::make_temp_dir();
  const std::map<std::string, std::string> env = {{"GST_PLUGIN_PATH", plugin_dir},
                                                   {"GST_REGISTRY", dir + "/registry.bin"}};
  const std::vector<std::vector<std::string>> lines = {
      {"gst-launch-1.0", "audiotestsrc", "num-buffers=50", "!", "mfmixer", "name=m", "!", "fakesink",
       "audiotestsrc", "num-buffers=50", "freq=880", "!", "m."},
      {"gst-launch-1.0", "mfmixer", "name=m", "mode=mix_minus", "m.src_0", "!", "fakesink", "m.src_1",
       "!", "fakesink", "audiotestsrc", "num-buffers=50", "!", "m.sink_0", "audiotestsrc",
       "num-buffers=50", "freq=880", "!", "m.sink_1"},
  };
  for (const auto &argv : lines) {
    auto r = mf::test::run_process(argv, env, 60);
    EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.err.find("ERROR"), std::string::npos) << r.err;
  }
}
