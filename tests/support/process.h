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

/// A process running in the background while the test talks to it (a launcher serving HTTP).
/// Its stderr is read line by line; the destructor kills it if it is still running.
class Background {
 public:
  Background(const std::vector<std::string> &argv, const std::map<std::string, std::string> &env = {});
  ~Background();
  Background(const Background &) = delete;
  Background &operator=(const Background &) = delete;
  bool running() const { return proc_ != nullptr; }
  /// Wait until a stderr line contains `needle`; returns that line ("" on timeout or exit).
  std::string wait_for_stderr(const std::string &needle, int timeout_s = 30);
  /// SIGINT, then wait for exit; returns the exit status (-1 if killed or timed out).
  int interrupt_and_wait(int timeout_s = 20);
  /// Everything read from stderr so far.
  const std::string &stderr_text() const { return err_; }

 private:
  void *proc_ = nullptr;  // GSubprocess
  void *stream_ = nullptr;  // GDataInputStream on stderr
  std::string err_;
};

/// The port of a "ws://127.0.0.1:PORT/rpc" URL in a launcher's stderr line (0 if none).
int port_from_line(const std::string &line);

/// Value of an environment variable the meson test setup provides (fails the test if missing).
std::string env_path(const char *name);

/// A fresh temporary directory, removed with its contents when the test process exits
/// (kept when MESHFLOW_KEEP_TEST_DIRS is set, to look at what a failed test wrote).
std::string make_temp_dir();

}  // namespace mf::test
