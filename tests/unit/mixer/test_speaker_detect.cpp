// Active-speaker detection (speaker_detect.h): the rules on known level sequences, one update per
// 20 ms window.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mixer/speaker_detect.h"

namespace {

using mf::mixer::SpeakerDetector;
using mf::mixer::SpeakerLevel;

// Feeds `windows` identical windows; returns the active speaker after each.
std::vector<std::string> feed(SpeakerDetector &d, const std::vector<SpeakerLevel> &levels, int windows) {
  std::vector<std::string> out;
  for (int i = 0; i < windows; ++i) {
    d.update(levels);
    out.push_back(d.active());
  }
  return out;
}

TEST(SpeakerDetect, RmsLevelIsInDbfs) {
  EXPECT_NEAR(mf::mixer::rms_db(100.0, 100.0), 0.0, 1e-9);  // full scale
  EXPECT_NEAR(mf::mixer::rms_db(1.0, 100.0), -20.0, 1e-9);  // amplitude 0.1
  EXPECT_EQ(mf::mixer::rms_db(0.0, 100.0), mf::mixer::kSilenceDb);
  EXPECT_EQ(mf::mixer::rms_db(1.0, 0.0), mf::mixer::kSilenceDb);
}

TEST(SpeakerDetect, LoudestTalkingInputBecomesActiveAfterTheOnset) {
  SpeakerDetector d;
  auto seq = feed(d, {{"a", -20}, {"b", -30}, {"c", -90}}, 3);
  EXPECT_EQ(seq, (std::vector<std::string>{"", "a", "a"}));
  EXPECT_DOUBLE_EQ(d.active_db(), -20);
}

TEST(SpeakerDetect, BelowTheThresholdNobodyTalks) {
  SpeakerDetector d;
  auto seq = feed(d, {{"a", -50}, {"b", -60}}, 10);
  for (auto &s : seq) EXPECT_EQ(s, "");
}

TEST(SpeakerDetect, HysteresisKeepsTheActiveSpeakerAgainstASlightlyLouderOne) {
  SpeakerDetector d;
  feed(d, {{"a", -20}, {"b", -30}}, 3);
  ASSERT_EQ(d.active(), "a");
  // b is 3 dB louder (less than the 6 dB margin) for a long time: no flapping.
  for (auto &s : feed(d, {{"a", -20}, {"b", -17}}, 50)) EXPECT_EQ(s, "a");
  // b is 10 dB louder but only for 4 windows (80 ms): an interjection.
  for (auto &s : feed(d, {{"a", -20}, {"b", -10}}, 4)) EXPECT_EQ(s, "a");
  feed(d, {{"a", -20}, {"b", -30}}, 1);
  // b is 10 dB louder for 5 windows (100 ms): takes over on the 5th.
  auto seq = feed(d, {{"a", -20}, {"b", -10}}, 5);
  EXPECT_EQ(seq, (std::vector<std::string>{"a", "a", "a", "a", "b"}));
}

TEST(SpeakerDetect, PausesAreHeldAndSilenceEndsTheTurn) {
  SpeakerDetector d;
  feed(d, {{"a", -20}}, 2);
  ASSERT_EQ(d.active(), "a");
  for (auto &s : feed(d, {{"a", -90}}, 14)) EXPECT_EQ(s, "a");  // 280 ms pause: still a's turn
  feed(d, {{"a", -20}}, 1);
  auto seq = feed(d, {{"a", -90}}, 15);  // 300 ms of silence
  EXPECT_EQ(seq[13], "a");
  EXPECT_EQ(seq[14], "");
}

TEST(SpeakerDetect, AQuietActiveSpeakerIsReplacedByAnyoneTalking) {
  SpeakerDetector d;
  feed(d, {{"a", -20}, {"b", -90}}, 2);
  ASSERT_EQ(d.active(), "a");
  auto seq = feed(d, {{"a", -60}, {"b", -40}}, 5);  // b talks softly, a is quiet
  EXPECT_EQ(seq.back(), "b");
}

TEST(SpeakerDetect, AnInputThatGoesAwayStopsBeingActive) {
  SpeakerDetector d;
  feed(d, {{"a", -20}, {"b", -25}}, 2);
  ASSERT_EQ(d.active(), "a");
  EXPECT_TRUE(d.update({{"b", -25}}));
  EXPECT_EQ(d.active(), "");  // onset for b starts now
  feed(d, {{"b", -25}}, 1);
  EXPECT_EQ(d.active(), "b");
}

TEST(SpeakerDetect, UpdateReportsOnlyChanges) {
  SpeakerDetector d;
  EXPECT_FALSE(d.update({{"a", -20}}));
  EXPECT_TRUE(d.update({{"a", -20}}));
  EXPECT_FALSE(d.update({{"a", -20}}));
}

}  // namespace
