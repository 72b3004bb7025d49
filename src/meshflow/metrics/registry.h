// A small thread-safe metrics registry (counters, gauges, histograms with labels) and the
// Prometheus text exposition format (version 0.0.4), as served by `GET /metrics`.
//
//   auto &reg = mf::metrics::Registry::global();
//   reg.counter("meshflow_signalling_errors_total", "JSON-RPC errors sent, by code",
//               {{"code", "-32004"}}).inc();
//   std::string text = reg.render();
//
// Metric objects live as long as their registry; the references returned stay valid. Values are
// atomics, so hot paths never take the registry lock (only lookups and render() do).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mf::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(double v = 1.0);  // negative values are ignored (counters only go up)
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void inc(double v = 1.0);
  void dec(double v = 1.0) { inc(-v); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);  // sorted, +Inf implicit
  void observe(double v);
  const std::vector<double> &bounds() const { return bounds_; }
  /// Cumulative counts per bound (last = +Inf), the sum and the count, read consistently.
  void snapshot(std::vector<uint64_t> *cumulative, double *sum, uint64_t *count) const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mu_;  // protects counts_, sum_, count_
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

/// Default histogram buckets for latencies in seconds (100 us .. 10 s).
std::vector<double> default_latency_buckets();

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry &) = delete;
  Registry &operator=(const Registry &) = delete;

  /// The process-wide registry (what `GET /metrics` renders by default).
  static Registry &global();

  /// Get or create. A name registered with another type, or an invalid metric/label name, logs a
  /// g_warning and returns a detached metric that is never rendered.
  Counter &counter(std::string_view name, std::string_view help, const Labels &labels = {});
  Gauge &gauge(std::string_view name, std::string_view help, const Labels &labels = {});
  Histogram &histogram(std::string_view name, std::string_view help, const Labels &labels = {},
                       std::vector<double> buckets = default_latency_buckets());

  /// Current value of a counter or gauge (0 when it does not exist). For tests and dashboards.
  double value(std::string_view name, const Labels &labels = {}) const;

  /// Remove every series whose labels include ALL of `match` (e.g. {{"session", room}, {"peer",
  /// id}} when a peer leaves) from the families whose name starts with `name_prefix` (e.g.
  /// "meshflow_webrtc_"). An empty `match` removes nothing. Returns how many series were removed;
  /// the families stay (HELP/TYPE only until a series is added again). References to a removed
  /// series become INVALID: use this only for series that are looked up on each update, never for
  /// ones whose reference is kept.
  size_t remove_series(std::string_view name_prefix, const Labels &match);

  /// Prometheus text exposition (families sorted by name, series by labels).
  std::string render() const;

  static bool valid_metric_name(std::string_view name);
  static bool valid_label_name(std::string_view name);
  static std::string escape_label_value(std::string_view v);

 private:
  struct Family;
  Family *family(std::string_view name, std::string_view help, int type);
  mutable std::mutex mu_;  // protects families_ and detached_
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;
  std::vector<std::unique_ptr<Counter>> detached_counters_;
  std::vector<std::unique_ptr<Gauge>> detached_gauges_;
  std::vector<std::unique_ptr<Histogram>> detached_histograms_;
};

}  // namespace mf::metrics
