// Pure pieces of the LLM bridge: the output queue's per-item accounting and the truncate point,
// the mock VAD, the resampler and the mock reply tones.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "llm/dsp.h"
#include "llm/out_queue.h"
#include "llm/protocol.h"

using namespace mf::llm;

TEST(LlmPieces, QueueAccountsPerItem) {
  OutQueue q(1000);
  std::vector<int16_t> a(300, 1), b(200, 2);
  EXPECT_EQ(q.push("A", a.data(), a.size()), 0u);
  EXPECT_EQ(q.push("B", b.data(), b.size()), 0u);
  EXPECT_EQ(q.queued(), 500u);
  std::vector<int16_t> out(240);
  auto r = q.pull(out.data(), out.size(), 40);  // 40 lead silence + 200 of A
  EXPECT_EQ(r.audio, 200u);
  EXPECT_EQ(r.first_offset, 40u);
  EXPECT_TRUE(r.item_started);
  EXPECT_EQ(out[39], 0);
  EXPECT_EQ(out[40], 1);
  EXPECT_EQ(q.pulled_of("A"), 200);
  r = q.pull(out.data(), out.size());  // 100 of A, 140 of B
  EXPECT_EQ(r.audio, 240u);
  EXPECT_EQ(r.item, "B");
  EXPECT_TRUE(r.item_started);
  EXPECT_EQ(q.pulled_of("B"), 140);
  EXPECT_EQ(q.pulled_of("A"), 0);  // no longer current
  EXPECT_EQ(q.front_item(), "B");
  EXPECT_EQ(q.clear(), 60u);
  r = q.pull(out.data(), out.size());
  EXPECT_EQ(r.audio, 0u);
  for (int16_t v : out) ASSERT_EQ(v, 0);
}

TEST(LlmPieces, QueueIsBounded) {
  OutQueue q(100);
  std::vector<int16_t> a(80, 1);
  EXPECT_EQ(q.push("A", a.data(), a.size()), 0u);
  EXPECT_EQ(q.push("A", a.data(), a.size()), 60u);
  EXPECT_EQ(q.queued(), 100u);
}

TEST(LlmPieces, TruncatePointCountsOnlyPlayedSamples) {
  const uint64_t ms = 1000000;
  // 1000 samples of the item handed out, the last buffer (pts 100 ms) held 480 of them from
  // offset 0. At 100 ms nothing of it has played: 520 samples.
  EXPECT_EQ(played_samples_at(1000, 100 * ms, 0, 480, 100 * ms, 24000), 520);
  // 10 ms later 240 more have played.
  EXPECT_EQ(played_samples_at(1000, 100 * ms, 0, 480, 110 * ms, 24000), 760);
  // After the buffer's end: all of it.
  EXPECT_EQ(played_samples_at(1000, 100 * ms, 0, 480, 200 * ms, 24000), 1000);
  // Leading silence of 240 samples in the buffer: at +15 ms only 120 item samples played.
  EXPECT_EQ(played_samples_at(240, 100 * ms, 240, 240, 115 * ms, 24000), 120);
  EXPECT_EQ(played_ms(760, 24000), 31);
  EXPECT_EQ(played_ms(-5, 24000), 0);
}

TEST(LlmPieces, VadStartsAndEnds) {
  EnergyVad v;
  v.configure(16000, 800, 100);  // 10 frames of silence end speech
  std::vector<int16_t> loud(160 * 5), quiet(160 * 12, 0);
  for (size_t i = 0; i < loud.size(); i++) loud[i] = (i % 2) ? 3000 : -3000;
  auto e = v.feed(loud.data(), loud.size());
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], EnergyVad::Event::SpeechStart);
  EXPECT_TRUE(v.in_speech());
  e = v.feed(quiet.data(), 160 * 9);
  EXPECT_TRUE(e.empty());
  e = v.feed(quiet.data(), 160 * 1);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], EnergyVad::Event::SpeechEnd);
  // A single loud frame (a click) is not speech.
  e = v.feed(loud.data(), 160);
  e = v.feed(quiet.data(), 160);
  EXPECT_TRUE(e.empty());
}

TEST(LlmPieces, ResamplerRatesAndPassthrough) {
  std::vector<int16_t> in(1600);
  for (size_t i = 0; i < in.size(); i++) in[i] = int16_t(10000 * std::sin(2 * M_PI * 300 * i / 16000.0));
  LinearResampler same;
  same.configure(16000, 16000);
  std::vector<int16_t> out;
  same.process(in.data(), in.size(), &out);
  EXPECT_EQ(out, in);
  LinearResampler up;
  up.configure(16000, 24000);
  out.clear();
  for (size_t off = 0; off < in.size(); off += 160) up.process(in.data() + off, 160, &out);
  EXPECT_NEAR(double(out.size()), 2400.0, 2.0);
  // The sine is preserved (compare with the ideal at 24 kHz, allowing for the 1-sample delay).
  double err = 0;
  for (size_t i = 10; i < 2300; i++) {
    double ideal = 10000 * std::sin(2 * M_PI * 300 * (double(i) * 16000.0 / 24000.0 - 1) / 16000.0);
    err = std::max(err, std::fabs(out[i] - ideal));
  }
  EXPECT_LT(err, 300.0);
  LinearResampler down;
  down.configure(48000, 16000);
  out.clear();
  std::vector<int16_t> in48(4800, 100);
  down.process(in48.data(), in48.size(), &out);
  EXPECT_NEAR(double(out.size()), 1600.0, 2.0);
}

TEST(LlmPieces, MockReplyTone) {
  auto t = mock_reply_tone(24000, 200, 1);
  ASSERT_EQ(t.size(), 4800u);
  EXPECT_NE(t[0], 0);
  double e = 0;
  for (int16_t v : t) e += double(v) * v;
  EXPECT_GT(std::sqrt(e / t.size()), 2000.0);
}
