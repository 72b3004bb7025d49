// suggest() / did_you_mean(): case-insensitive optimal-string-alignment distance.
#include <gtest/gtest.h>

#include "meshflow/manifest/suggest.h"

using mf::did_you_mean;
using mf::suggest;

TEST(Suggest, Typos) {
  const std::vector<std::string> keys = {"version", "name", "description", "session", "nodes", "links"};
  EXPECT_EQ(suggest("nodez", keys), "nodes");
  EXPECT_EQ(suggest("NODES", keys), "nodes");        // case-insensitive
  EXPECT_EQ(suggest("nodse", keys), "nodes");        // transposition costs 1
  EXPECT_EQ(suggest("verison", keys), "version");
  EXPECT_EQ(suggest("lnks", keys), "links");
  EXPECT_EQ(suggest("descriptoin", keys), "description");
  EXPECT_EQ(suggest("propertes", {"id", "type", "properties", "pipeline"}), "properties");
  EXPECT_EQ(suggest("zzzzz", keys), "");
  EXPECT_EQ(suggest("", keys), "");
  EXPECT_EQ(suggest("x", {}), "");
}

TEST(Suggest, ThresholdIsAThirdOfTheLength) {
  // "ab" -> limit 1: one edit accepted, two refused.
  EXPECT_EQ(suggest("ab", {"ax"}), "ax");
  EXPECT_EQ(suggest("ab", {"xy"}), "");
  // "abcdef" -> limit 2.
  EXPECT_EQ(suggest("abcdef", {"abcxyf"}), "abcxyf");
  EXPECT_EQ(suggest("abcdef", {"axyzef"}), "");
}

TEST(Suggest, PicksTheClosest) {
  EXPECT_EQ(suggest("webrtx", {"websocket", "webrtc", "auto"}), "webrtc");
  EXPECT_EQ(suggest("mixx", {"mix", "mixer"}), "mix");
}

TEST(Suggest, DidYouMean) {
  EXPECT_EQ(did_you_mean("nodez", {"nodes", "links"}), "did you mean 'nodes'?");
  EXPECT_EQ(did_you_mean("qqq", {"auto", "webrtc", "websocket"}), "valid: auto, webrtc, websocket");
  std::vector<std::string> many;
  for (int i = 0; i < 9; i++) many.push_back("candidate" + std::to_string(i) + "xx");
  EXPECT_EQ(did_you_mean("qqq", many), "");
  EXPECT_EQ(did_you_mean("qqq", {}), "");
}

TEST(Suggest, LongWordsAreCheap) {
  std::string huge(100000, 'a');
  EXPECT_EQ(suggest(huge, {"nodes"}), "");
}
