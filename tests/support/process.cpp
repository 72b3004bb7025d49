#include "process.h"

#include <gio/gio.h>
#include <gtest/gtest.h>
#include <signal.h>

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

std::string env_path(const char *name) {
  const char *v = g_getenv(name);
  EXPECT_NE(v, nullptr) << name << " is not set (run through meson test)";
  return v ? v : "";
}

std::string make_temp_dir() {
  gchar *d = g_dir_make_tmp("meshflow-test-XXXXXX", nullptr);
  std::string s = d ? d : "/tmp";
  g_free(d);
  return s;
}

}  // namespace mf::test
