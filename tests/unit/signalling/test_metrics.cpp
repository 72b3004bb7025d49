#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "meshflow/metrics/registry.h"

using mf::metrics::Registry;

TEST(Metrics, CountersGaugesHistogramsRender) {
  Registry r;
  r.counter("meshflow_signalling_errors_total", "JSON-RPC errors by code", {{"code", "-32004"}})
      .inc();
  r.counter("meshflow_signalling_errors_total", "JSON-RPC errors by code", {{"code", "-32004"}})
      .inc(2);
  r.counter("meshflow_signalling_errors_total", "", {{"code", "-32700"}}).inc();
  r.gauge("meshflow_rooms", "Rooms").set(3);
  auto &h = r.histogram("meshflow_rtt_seconds", "RTT", {}, {0.01, 0.1});
  h.observe(0.005);
  h.observe(0.05);
  h.observe(5);
  std::string text = r.render();
  EXPECT_NE(text.find("# TYPE meshflow_signalling_errors_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("meshflow_signalling_errors_total{code=\"-32004\"} 3\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("meshflow_signalling_errors_total{code=\"-32700\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("meshflow_rooms 3\n"), std::string::npos);
  EXPECT_NE(text.find("meshflow_rtt_seconds_bucket{le=\"0.01\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("meshflow_rtt_seconds_bucket{le=\"0.1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("meshflow_rtt_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("meshflow_rtt_seconds_count 3\n"), std::string::npos);
  EXPECT_EQ(r.value("meshflow_signalling_errors_total", {{"code", "-32004"}}), 3);
  EXPECT_EQ(r.value("nope"), 0);
}

TEST(Metrics, EscapingAndInvalidNames) {
  Registry r;
  r.counter("x_total", "help with \\ and\nnewline", {{"path", "a\"b\\c\nd"}}).inc();
  std::string text = r.render();
  EXPECT_NE(text.find("x_total{path=\"a\\\"b\\\\c\\nd\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("# HELP x_total help with \\\\ and\\nnewline"), std::string::npos);
  r.counter("bad name", "").inc();             // detached, not rendered
  r.gauge("x_total", "").set(1);               // type clash: detached
  r.counter("y_total", "", {{"le", "1"}}).inc();  // reserved label
  text = r.render();
  EXPECT_EQ(text.find("bad name"), std::string::npos);
  EXPECT_EQ(text.find("y_total"), std::string::npos);
}

TEST(Metrics, ThreadSafe) {
  Registry r;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; i++) {
        r.counter("c_total", "c", {{"k", std::to_string(i % 3)}}).inc();
        r.histogram("h_seconds", "h").observe(0.001);
      }
    });
  for (auto &t : threads) t.join();
  double sum = 0;
  for (int k = 0; k < 3; k++) sum += r.value("c_total", {{"k", std::to_string(k)}});
  EXPECT_EQ(sum, 40000);
  EXPECT_EQ(r.value("h_seconds"), 40000);
}
