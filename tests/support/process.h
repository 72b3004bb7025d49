// Run a real process (our tools, node, gst-launch-1.0) from a test, with a deadline.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace mf::test {

struct ProcessResult {
  int exit_status = -1;    // exit code, or -1 if killed / did not exit
  bool timed_out = false;
  std::string out, err;
};

/// Run argv with extra environment variables; kill it after `timeout_s` seconds.
/// If `interrupt_after_s` > 0, send SIGINT after that many seconds.
ProcessResult run_process(const std::vector<std::string> &argv,
                          const std::map<std::string, std::string> &env = {}, int timeout_s = 60,
                          double interrupt_after_s = 0);

/// Value of an environment variable the meson test setup provides (fails the test if missing).
std::string env_path(const char *name);

/// A fresh temporary directory (removed by the OS eventually; tests keep what they write small).
std::string make_temp_dir();

}  // namespace mf::test
