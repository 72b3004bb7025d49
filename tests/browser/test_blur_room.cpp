// The headline demo, as `./dev run` starts it: meshflow-launch runs manifests/default.yaml with its
// default properties and default listen address (the test process is in its own loopback-only
// network namespace, so 127.0.0.1:8080 is free; ICE is given 127.0.0.1 explicitly). Two headless
// Chromium participants open the printed /client URL (blur_room.mjs): each sees the other, sees
// itself blurred (measured on canvas frames: sharpness ratio and low-pass layout correlation), hears
// the launcher's mix-minus (AnalyserNode level), and /metrics show the launcher decoding both.
#include <gtest/gtest.h>
#include <signal.h>

#include <glib.h>

#include <iostream>
#include <memory>
#include <regex>
#include <string>

#include "child_process.h"
#include "process.h"

using mf::test::ChildProcess;
using Stream = mf::test::ChildProcess::Stream;

namespace {

std::string source_root() { return mf::test::env_path("MESHFLOW_SOURCE_ROOT"); }

std::string read_text(const std::string &path) {
  gchar *text = nullptr;
  if (!g_file_get_contents(path.c_str(), &text, nullptr, nullptr)) return "";
  std::string s = text;
  g_free(text);
  return s;
}

std::string node_path() {
  gchar *p = g_find_program_in_path("node");
  std::string s = p ? p : "";
  g_free(p);
  return s;
}

std::string tail(const std::string &s, size_t n = 6000) { return s.size() > n ? "..." + s.substr(s.size() - n) : s; }

}  // namespace

// The headline demo (issue 4's "done when"). It used to fail: each page decoded the launcher's
// blurred video but never showed it, because the SDP advertised an SSRC the packets did not carry
// (see elements/webrtc/ssrc_rewrite.h).
TEST(BrowserDemo, TwoTabsSeeEachOtherAndThemselvesBlurred) {
  std::string chromium = g_getenv("MESHFLOW_CHROMIUM") ? g_getenv("MESHFLOW_CHROMIUM") : "/usr/bin/chromium";
  ASSERT_TRUE(g_file_test(chromium.c_str(), G_FILE_TEST_IS_EXECUTABLE)) << chromium << " missing (./dev setup)";
  ASSERT_FALSE(node_path().empty()) << "node not in PATH (./dev setup)";
  ASSERT_TRUE(g_file_test((source_root() + "/node_modules/playwright-core/package.json").c_str(), G_FILE_TEST_EXISTS))
      << "playwright-core missing: npm ci (./dev setup)";

  // What `./dev run` runs (read from the script, not executed): build/src/tools/meshflow-launch
  // "$manifest" with manifest=manifests/default.yaml and no other arguments.
  std::string dev = read_text(source_root() + "/dev");
  ASSERT_NE(dev.find("local manifest=manifests/default.yaml"), std::string::npos) << "dev's default manifest changed";
  ASSERT_NE(dev.find("meshflow-launch \"$manifest\" \"$@\""), std::string::npos) << "dev's launch line changed";
  // The URL the README tells the user to open.
  std::smatch readme_url;
  std::string readme = read_text(source_root() + "/README.md");
  ASSERT_TRUE(std::regex_search(readme, readme_url, std::regex(R"(`\./dev run` serves `(http://[^`]+)`)")))
      << "README.md does not say which URL `./dev run` serves";

  ChildProcess launcher({mf::test::env_path("MESHFLOW_LAUNCH"), "--ice-local-address", "127.0.0.1",
                         source_root() + "/manifests/default.yaml"});
  ASSERT_TRUE(launcher.started()) << launcher.spawn_error();
  std::vector<std::string> g;
  ASSERT_TRUE(launcher.wait_for(Stream::Err, std::regex(R"(meshflow-launch: open (http://\S+/client\?room=(\S+)))"), 60, &g))
      << "meshflow-launch printed no `open URL` line; stderr:\n" << tail(launcher.err());
  EXPECT_EQ(g[1], readme_url[1].str()) << "the printed URL differs from README.md's";
  std::string url = g[1], room = g[2];
  std::string base = url.substr(0, url.find("/client"));
  ASSERT_TRUE(launcher.wait_for(Stream::Err, std::regex("running '"), 60))
      << "meshflow-launch did not start its session; stderr:\n" << tail(launcher.err());

  auto r = mf::test::run_process({node_path(), source_root() + "/tests/browser/blur_room.mjs", "--launcher", base,
                                  "--room", room},
                                 {{"MESHFLOW_BROWSER_SCRIPT_TIMEOUT_S", "420"}}, 450);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_status, 0) << "blur_room failed\n--- stdout:\n" << r.out << "\n--- stderr:\n" << tail(r.err)
                              << "\n--- launcher stderr:\n" << tail(launcher.err(), 4000);
  EXPECT_NE(r.out.find("PASS blur_room"), std::string::npos) << r.out;
  std::cout << r.out;  // the RESULT line: sharpness, correlations, audio levels per page
  launcher.signal(SIGTERM);
  EXPECT_EQ(launcher.wait(20), 0) << tail(launcher.err());
}
