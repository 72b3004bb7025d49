// Table-driven: every tests/unit/manifest/bad/*.yaml starts with
//   # expect: LINE:COL: text
// and loading it must fail with a first error at exactly LINE:COL (0:0 = no position) whose
// formatted message contains `text`. Each file must also fail fast.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "meshflow/manifest/loader.h"
#include "test_helpers.h"

namespace fs = std::filesystem;
using namespace mf::manifest;

namespace {

std::vector<std::string> bad_files() {
  std::vector<std::string> out;
  for (const auto &e : fs::directory_iterator(mftest::dir("bad")))
    if (e.path().extension() == ".yaml") out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

struct Expect {
  int line = -1, column = -1;
  std::string text;
};

Expect read_expect(const std::string &path) {
  std::ifstream f(path);
  std::string first;
  std::getline(f, first);
  Expect e;
  const std::string tag = "# expect: ";
  if (first.rfind(tag, 0) != 0) return e;
  std::string rest = first.substr(tag.size());
  const std::size_t c1 = rest.find(':'), c2 = rest.find(':', c1 + 1);
  if (c1 == std::string::npos || c2 == std::string::npos) return e;
  e.line = std::stoi(rest.substr(0, c1));
  e.column = std::stoi(rest.substr(c1 + 1, c2 - c1 - 1));
  e.text = rest.substr(c2 + 1);
  if (!e.text.empty() && e.text[0] == ' ') e.text.erase(0, 1);
  return e;
}

class BadManifest : public testing::TestWithParam<std::string> {};

TEST_P(BadManifest, FailsAtTheExpectedPlace) {
  const std::string path = mftest::dir("bad") + "/" + GetParam();
  const Expect want = read_expect(path);
  ASSERT_GE(want.line, 0) << path << ": first line must be '# expect: LINE:COL: text'";
  // The corpus sees a fixed environment: only MESHFLOW_ROOM is set.
  LoadOptions opts = mftest::options({{"MESHFLOW_ROOM", "lobby"}});
  Manifest m;
  const auto t0 = std::chrono::steady_clock::now();
  mf::Diagnostics d = load_file(path, opts, m);
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(d.ok()) << path << " loaded without errors";
  const mf::Error &e = d.errors.front();
  EXPECT_EQ(e.loc.file, path);
  EXPECT_EQ(std::to_string(e.loc.line) + ":" + std::to_string(e.loc.column),
            std::to_string(want.line) + ":" + std::to_string(want.column))
      << d.format();
  EXPECT_NE(e.format().find(want.text), std::string::npos)
      << "expected '" << want.text << "' in:\n" << d.format();
  EXPECT_LT(elapsed, std::chrono::milliseconds(500)) << "too slow";
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadManifest, testing::ValuesIn(bad_files()),
                         [](const testing::TestParamInfo<std::string> &info) {
                           std::string n = info.param.substr(0, info.param.size() - 5);
                           for (char &c : n)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(BadManifestCorpus, IsBigEnough) { EXPECT_GE(bad_files().size(), 30u); }

}  // namespace
