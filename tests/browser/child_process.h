// A long-running child process for the browser tests (a meshflow-launch server, a node script that
// talks to the test while it runs): its stdout and stderr are collected by reader threads so the
// test can wait for a line, send it signals, restart it, and read everything it printed.
// (tests/support/process.h's run_process() waits for the exit; this does not.)
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace mf::test {

class ChildProcess {
 public:
  enum class Stream { Out, Err };

  /// Spawns argv[0] (searched in PATH) with the test's environment plus `env`. The child is killed
  /// if the test process dies (PR_SET_PDEATHSIG).
  explicit ChildProcess(const std::vector<std::string> &argv,
                        const std::map<std::string, std::string> &env = {});
  ~ChildProcess();  // SIGKILL and reap if still running
  ChildProcess(const ChildProcess &) = delete;
  ChildProcess &operator=(const ChildProcess &) = delete;

  bool started() const { return pid_ > 0; }
  const std::string &spawn_error() const { return spawn_error_; }
  pid_t pid() const { return pid_; }

  /// Wait until `stream` holds a match of `re` (true, with the match and its groups in `*groups`),
  /// or the stream is closed (the process exited) or `timeout_s` passed (false).
  bool wait_for(Stream stream, const std::regex &re, double timeout_s,
                std::vector<std::string> *groups = nullptr);

  void signal(int sig);
  /// Wait for the exit; returns the exit status, 128+signal if killed by one, or -1 if it did not
  /// exit within `timeout_s` (then it is killed with SIGKILL).
  int wait(double timeout_s);

  std::string out() const;
  std::string err() const;

 private:
  void reader(int fd, std::string *buf, bool *closed);

  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = -1;
  std::string spawn_error_;
  mutable std::mutex mu_;  // protects out_, err_, out_closed_, err_closed_
  std::condition_variable cv_;
  std::string out_, err_;
  bool out_closed_ = false, err_closed_ = false;
  std::atomic<bool> stop_{false};  // readers give up (a grandchild keeps a pipe open)
  std::thread out_thread_, err_thread_;
};

}  // namespace mf::test
