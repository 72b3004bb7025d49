#include "child_process.h"

#include <glib.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

namespace mf::test {

namespace {
void child_setup(gpointer) { prctl(PR_SET_PDEATHSIG, SIGKILL); }
}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string> &argv,
                           const std::map<std::string, std::string> &env) {
  std::vector<gchar *> args;
  for (const auto &a : argv) args.push_back(const_cast<gchar *>(a.c_str()));
  args.push_back(nullptr);
  gchar **envp = g_get_environ();
  for (const auto &[k, v] : env) envp = g_environ_setenv(envp, k.c_str(), v.c_str(), TRUE);
  GPid pid = 0;
  gint out_fd = -1, err_fd = -1;
  GError *error = nullptr;
  gboolean ok = g_spawn_async_with_pipes(
      nullptr, args.data(), envp,
      GSpawnFlags(G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL),
      child_setup, nullptr, &pid, nullptr, &out_fd, &err_fd, &error);
  g_strfreev(envp);
  if (!ok) {
    spawn_error_ = error ? error->message : "spawn failed";
    g_clear_error(&error);
    return;
  }
  pid_ = pid;
  out_thread_ = std::thread(&ChildProcess::reader, this, out_fd, &out_, &out_closed_);
  err_thread_ = std::thread(&ChildProcess::reader, this, err_fd, &err_, &err_closed_);
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    wait(10);
  }
  stop_ = true;
  if (out_thread_.joinable()) out_thread_.join();
  if (err_thread_.joinable()) err_thread_.join();
}

void ChildProcess::reader(int fd, std::string *buf, bool *closed) {
  char chunk[4096];
  for (;;) {
    struct pollfd pfd = {fd, POLLIN, 0};
    int pr = poll(&pfd, 1, 100);
    if (stop_) break;
    if (pr == 0 || (pr < 0 && errno == EINTR)) continue;
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::lock_guard<std::mutex> lock(mu_);
    buf->append(chunk, (size_t)n);
    cv_.notify_all();
  }
  close(fd);
  std::lock_guard<std::mutex> lock(mu_);
  *closed = true;
  cv_.notify_all();
}

bool ChildProcess::wait_for(Stream stream, const std::regex &re, double timeout_s,
                            std::vector<std::string> *groups) {
  if (pid_ <= 0) return false;
  const std::string &buf = stream == Stream::Out ? out_ : err_;
  const bool &closed = stream == Stream::Out ? out_closed_ : err_closed_;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    std::smatch m;
    if (std::regex_search(buf, m, re)) {
      if (groups) {
        groups->clear();
        for (const auto &g : m) groups->push_back(g.str());
      }
      return true;
    }
    if (closed || std::chrono::steady_clock::now() >= deadline) return false;
    cv_.wait_until(lock, deadline);
  }
}

void ChildProcess::signal(int sig) {
  if (pid_ > 0 && !reaped_) kill(pid_, sig);
}

int ChildProcess::wait(double timeout_s) {
  if (pid_ <= 0) return -1;
  if (reaped_) return status_;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
      break;
    }
    if (r < 0 && errno != EINTR) {
      reaped_ = true;
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &st, 0);
      reaped_ = true;
      status_ = -1;
      break;
    }
    g_usleep(10000);
  }
  // The pipes close at exit, unless a grandchild keeps them open: collect the last output, for at
  // most 2 s.
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(2), [this] { return out_closed_ && err_closed_; });
  }
  stop_ = true;
  if (out_thread_.joinable()) out_thread_.join();
  if (err_thread_.joinable()) err_thread_.join();
  return status_;
}

std::string ChildProcess::out() const {
  std::lock_guard<std::mutex> lock(mu_);
  return out_;
}

std::string ChildProcess::err() const {
  std::lock_guard<std::mutex> lock(mu_);
  return err_;
}

}  // namespace mf::test
