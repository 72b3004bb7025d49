// meshflow-signal, the standalone server: prints its URL, serves, and on SIGTERM closes every
// client with 1001 and exits 0.
#include <csignal>
#include <string>

#include "harness.h"

using namespace sigtest;

namespace {

TEST_F(ServerTest, MeshflowSignalServesAndShutsDownGracefully) {
  const char *bin = g_getenv("MESHFLOW_SIGNAL");
  if (!bin) GTEST_SKIP() << "MESHFLOW_SIGNAL not set";
  GError *err = nullptr;
  GSubprocess *p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE, &err, bin, "--listen",
                                    "127.0.0.1:0", "--heartbeat-ms", "60000", nullptr);
  ASSERT_TRUE(p) << err->message;
  GDataInputStream *in = g_data_input_stream_new(g_subprocess_get_stdout_pipe(p));
  struct St {
    bool done = false;
    std::string line;
  } st;
  g_data_input_stream_read_line_async(
      in, G_PRIORITY_DEFAULT, nullptr,
      [](GObject *src, GAsyncResult *res, gpointer d) {
        auto *s = static_cast<St *>(d);
        gchar *l = g_data_input_stream_read_line_finish(G_DATA_INPUT_STREAM(src), res, nullptr,
                                                        nullptr);
        if (l) s->line = l;
        g_free(l);
        s->done = true;
      },
      &st);
  ASSERT_TRUE(spin([&] { return st.done; }));
  ASSERT_EQ(st.line.rfind("ws://127.0.0.1:", 0), 0u) << st.line;

  WsClient a(ctx_), b(ctx_);
  ASSERT_TRUE(a.connect(st.line));
  ASSERT_TRUE(b.connect(st.line));
  EXPECT_TRUE(a.request("peer.announce", R"({"room":"t","peer_id":"a"})").result());
  EXPECT_TRUE(b.request("peer.announce", R"({"room":"t","peer_id":"b"})").result());
  EXPECT_TRUE(a.wait_notification("peer.joined").params());

  g_subprocess_send_signal(p, SIGTERM);
  EXPECT_TRUE(a.wait_closed());
  EXPECT_TRUE(b.wait_closed());
  EXPECT_EQ(a.close_code, 1001);
  EXPECT_EQ(b.close_code, 1001);
  bool exited = false;
  g_subprocess_wait_async(
      p, nullptr, [](GObject *, GAsyncResult *, gpointer d) { *static_cast<bool *>(d) = true; },
      &exited);
  ASSERT_TRUE(spin([&] { return exited; }));
  EXPECT_TRUE(g_subprocess_get_if_exited(p));
  EXPECT_EQ(g_subprocess_get_exit_status(p), 0);
  g_object_unref(in);
  g_object_unref(p);
}

TEST_F(ServerTest, MeshflowSignalRefusesPublicAddressWithoutSecret) {
  const char *bin = g_getenv("MESHFLOW_SIGNAL");
  if (!bin) GTEST_SKIP() << "MESHFLOW_SIGNAL not set";
  std::string out;
  int rc = run_process({bin, "--listen", "0.0.0.0:0"}, &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("MESHFLOW_SECRET"), std::string::npos) << out;
}

}  // namespace
