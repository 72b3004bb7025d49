#include "process.h"

#include <gio/gio.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <ftw.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

namespace mf::test {

namespace {
struct Comm {
  bool done = false;
  gchar *out = nullptr, *err = nullptr;
};
}  // namespace

ProcessResult run_process(const std::vector<std::string> &argv,
                          const std::map<std::string, std::string> &env, int timeout_s,
                          double interrupt_after_s) {
  ProcessResult r;
  GMainContext *ctx = g_main_context_new();
  g_main_context_push_thread_default(ctx);
  GSubprocessLauncher *l = g_subprocess_launcher_new(
      GSubprocessFlags(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE));
  for (const auto &[k, v] : env) g_subprocess_launcher_setenv(l, k.c_str(), v.c_str(), TRUE);
  std::vector<const gchar *> args;
  for (const auto &a : argv) args.push_back(a.c_str());
  args.push_back(nullptr);
  GError *error = nullptr;
  GSubprocess *p = g_subprocess_launcher_spawnv(l, args.data(), &error);
  g_object_unref(l);
  if (!p) {
    r.err = error ? error->message : "spawn failed";
    g_clear_error(&error);
    g_main_context_pop_thread_default(ctx);
    g_main_context_unref(ctx);
    return r;
  }
  Comm c;
  g_subprocess_communicate_utf8_async(
      p, nullptr, nullptr,
      [](GObject *src, GAsyncResult *res, gpointer data) {
        auto *c = static_cast<Comm *>(data);
        g_subprocess_communicate_utf8_finish(G_SUBPROCESS(src), res, &c->out, &c->err, nullptr);
        c->done = true;
      },
      &c);
  gint64 start = g_get_monotonic_time();
  bool interrupted = false;
  while (!c.done) {
    gint64 elapsed = g_get_monotonic_time() - start;
    if (interrupt_after_s > 0 && !interrupted && elapsed > interrupt_after_s * G_TIME_SPAN_SECOND) {
      g_subprocess_send_signal(p, SIGINT);
      interrupted = true;
    }
    if (elapsed > (gint64)timeout_s * G_TIME_SPAN_SECOND && !r.timed_out) {
      r.timed_out = true;
      g_subprocess_force_exit(p);
    }
    g_main_context_iteration(ctx, FALSE);
    if (!c.done) g_usleep(2000);
  }
  g_subprocess_wait(p, nullptr, nullptr);
  if (g_subprocess_get_if_exited(p)) r.exit_status = g_subprocess_get_exit_status(p);
  r.out = c.out ? c.out : "";
  r.err = c.err ? c.err : "";
  g_free(c.out);
  g_free(c.err);
  g_object_unref(p);
  g_main_context_pop_thread_default(ctx);
  g_main_context_unref(ctx);
  return r;
}

Background::Background(const std::vector<std::string> &argv, const std::map<std::string, std::string> &env) {
  GSubprocessLauncher *l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_PIPE);
  for (const auto &[k, v] : env) g_subprocess_launcher_setenv(l, k.c_str(), v.c_str(), TRUE);
  std::vector<const gchar *> args;
  for (const auto &a : argv) args.push_back(a.c_str());
  args.push_back(nullptr);
  GError *error = nullptr;
  GSubprocess *p = g_subprocess_launcher_spawnv(l, args.data(), &error);
  g_object_unref(l);
  if (!p) {
    err_ = error ? error->message : "spawn failed";
    g_clear_error(&error);
    return;
  }
  proc_ = p;
  stream_ = g_data_input_stream_new(g_subprocess_get_stderr_pipe(p));
}

Background::~Background() {
  if (proc_) {
    g_subprocess_force_exit(G_SUBPROCESS(proc_));
    g_subprocess_wait(G_SUBPROCESS(proc_), nullptr, nullptr);
    g_object_unref(proc_);
  }
  if (stream_) g_object_unref(stream_);
}

std::string Background::wait_for_stderr(const std::string &needle, int timeout_s) {
  if (!proc_) return "";
  // Read on a helper thread so the deadline holds even if the process goes silent.
  struct Read {
    GDataInputStream *in;
    std::string needle, found, text;
    GCancellable *cancel = g_cancellable_new();
  } r{G_DATA_INPUT_STREAM(stream_), needle, "", ""};
  GThread *t = g_thread_new("stderr-reader", [](gpointer d) -> gpointer {
    auto *r = static_cast<Read *>(d);
    while (true) {
      gsize len = 0;
      gchar *line = g_data_input_stream_read_line_utf8(r->in, &len, r->cancel, nullptr);
      if (!line) break;
      std::string l(line, len);
      g_free(line);
      r->text += l + "\n";
      if (l.find(r->needle) != std::string::npos) {
        r->found = l;
        break;
      }
    }
    return nullptr;
  }, &r);
  gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_TIME_SPAN_SECOND;
  // Poll: the reader thread finishes when it finds the line or the stream ends.
  while (g_get_monotonic_time() < deadline) {
    g_usleep(10000);
    if (!r.found.empty()) break;
    if (g_subprocess_get_identifier(G_SUBPROCESS(proc_)) == nullptr) break;
  }
  g_cancellable_cancel(r.cancel);
  g_thread_join(t);
  g_object_unref(r.cancel);
  err_ += r.text;
  return r.found;
}

int Background::interrupt_and_wait(int timeout_s) {
  if (!proc_) return -1;
  GSubprocess *p = G_SUBPROCESS(proc_);
  g_subprocess_send_signal(p, SIGINT);
  gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_TIME_SPAN_SECOND;
  while (g_subprocess_get_identifier(p) && g_get_monotonic_time() < deadline) {
    g_main_context_iteration(nullptr, FALSE);
    g_usleep(10000);
  }
  if (g_subprocess_get_identifier(p)) {
    g_subprocess_force_exit(p);
    g_subprocess_wait(p, nullptr, nullptr);
    return -1;
  }
  g_subprocess_wait(p, nullptr, nullptr);
  return g_subprocess_get_if_exited(p) ? g_subprocess_get_exit_status(p) : -1;
}

int port_from_line(const std::string &line) {
  auto at = line.find("ws://127.0.0.1:");
  if (at == std::string::npos) return 0;
  return std::atoi(line.c_str() + at + std::strlen("ws://127.0.0.1:"));
}

std::string env_path(const char *name) {
  const char *v = g_getenv(name);
  EXPECT_NE(v, nullptr) << name << " is not set (run through meson test)";
  return v ? v : "";
}

namespace {
std::mutex g_temp_mu;
std::vector<std::string> *g_temp_dirs = nullptr;

void remove_temp_dirs() {
  std::lock_guard<std::mutex> l(g_temp_mu);
  if (!g_temp_dirs || g_getenv("MESHFLOW_KEEP_TEST_DIRS")) return;
  for (const auto &d : *g_temp_dirs)
    nftw(d.c_str(), +[](const char *path, const struct stat *, int, struct FTW *) { return std::remove(path); }, 16,
         FTW_DEPTH | FTW_PHYS);
}
}  // namespace

std::string make_temp_dir() {
  gchar *d = g_dir_make_tmp("meshflow-test-XXXXXX", nullptr);
  if (!d) return "/tmp";
  std::string s = d;
  g_free(d);
  std::lock_guard<std::mutex> l(g_temp_mu);
  if (!g_temp_dirs) {
    g_temp_dirs = new std::vector<std::string>;
    std::atexit(remove_temp_dirs);
  }
  g_temp_dirs->push_back(s);
  return s;
}

}  // namespace mf::test
