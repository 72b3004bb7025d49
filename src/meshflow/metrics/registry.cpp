#include "meshflow/metrics/registry.h"

#include <glib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace mf::metrics {

namespace {
enum Type { kCounter = 0, kGauge = 1, kHistogram = 2 };
const char *type_name(int t) {
  switch (t) {
    case kCounter: return "counter";
    case kGauge: return "gauge";
    default: return "histogram";
  }
}

void atomic_add(std::atomic<double> &a, double v) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  // Shortest representation that reads back exactly ("0.1", not "0.10000000000000001").
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  for (int prec = 15; prec <= 17; prec++) {
    char fmt[8];
    std::snprintf(fmt, sizeof fmt, "%%.%dg", prec);
    g_ascii_formatd(buf, sizeof buf, fmt, v);
    if (g_ascii_strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string escape_help(std::string_view h) {
  std::string out;
  for (char c : h) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string labels_key(const Labels &labels) {
  Labels sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  std::string key;
  for (auto &[k, v] : sorted) {
    if (!key.empty()) key += ',';
    key += k + "=\"" + Registry::escape_label_value(v) + "\"";
  }
  return key;
}
}  // namespace

void Counter::inc(double v) {
  if (!(v > 0)) return;
  atomic_add(value_, v);
}

void Gauge::inc(double v) { atomic_add(value_, v); }

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  while (!bounds_.empty() && std::isinf(bounds_.back())) bounds_.pop_back();
  counts_.assign(bounds_.size() + 1, 0);
}

void Histogram::observe(double v) {
  if (std::isnan(v)) return;
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  std::lock_guard<std::mutex> lk(mu_);
  counts_[i]++;
  sum_ += v;
  count_++;
}

void Histogram::snapshot(std::vector<uint64_t> *cumulative, double *sum, uint64_t *count) const {
  std::lock_guard<std::mutex> lk(mu_);
  cumulative->resize(counts_.size());
  uint64_t acc = 0;
  for (size_t i = 0; i < counts_.size(); i++) {
    acc += counts_[i];
    (*cumulative)[i] = acc;
  }
  *sum = sum_;
  *count = count_;
}

std::vector<double> default_latency_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
          2.5,    5,       10};
}

struct Registry::Family {
  std::string name, help;
  int type;
  struct Series {
    Labels labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  std::map<std::string, Series> series;  // by labels_key
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry &Registry::global() {
  static Registry *r = new Registry();  // never destroyed: metrics may be touched at exit
  return *r;
}

bool Registry::valid_metric_name(std::string_view n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); i++) {
    char c = n[i];
    bool ok = g_ascii_isalpha(c) || c == '_' || c == ':' || (i > 0 && g_ascii_isdigit(c));
    if (!ok) return false;
  }
  return true;
}

bool Registry::valid_label_name(std::string_view n) {
  if (n.empty() || (n.size() >= 2 && n[0] == '_' && n[1] == '_')) return false;
  for (size_t i = 0; i < n.size(); i++) {
    char c = n[i];
    bool ok = g_ascii_isalpha(c) || c == '_' || (i > 0 && g_ascii_isdigit(c));
    if (!ok) return false;
  }
  return true;
}

std::string Registry::escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

Registry::Family *Registry::family(std::string_view name, std::string_view help, int type) {
  auto it = families_.find(name);
  if (it != families_.end()) return it->second->type == type ? it->second.get() : nullptr;
  if (!valid_metric_name(name)) return nullptr;
  auto f = std::make_unique<Family>();
  f->name = std::string(name);
  f->help = std::string(help);
  f->type = type;
  Family *raw = f.get();
  families_.emplace(std::string(name), std::move(f));
  return raw;
}

static bool labels_valid(const Labels &labels) {
  for (auto &l : labels)
    if (!Registry::valid_label_name(l.first) || l.first == "le") return false;
  return true;
}

Counter &Registry::counter(std::string_view name, std::string_view help, const Labels &labels) {
  std::lock_guard<std::mutex> lk(mu_);
  Family *f = labels_valid(labels) ? family(name, help, kCounter) : nullptr;
  if (!f) {
    g_warning("metrics: cannot register counter '%.*s'", (int)name.size(), name.data());
    detached_counters_.push_back(std::make_unique<Counter>());
    return *detached_counters_.back();
  }
  auto &s = f->series[labels_key(labels)];
  if (!s.counter) {
    s.labels = labels;
    s.counter = std::make_unique<Counter>();
  }
  return *s.counter;
}

Gauge &Registry::gauge(std::string_view name, std::string_view help, const Labels &labels) {
  std::lock_guard<std::mutex> lk(mu_);
  Family *f = labels_valid(labels) ? family(name, help, kGauge) : nullptr;
  if (!f) {
    g_warning("metrics: cannot register gauge '%.*s'", (int)name.size(), name.data());
    detached_gauges_.push_back(std::make_unique<Gauge>());
    return *detached_gauges_.back();
  }
  auto &s = f->series[labels_key(labels)];
  if (!s.gauge) {
    s.labels = labels;
    s.gauge = std::make_unique<Gauge>();
  }
  return *s.gauge;
}

Histogram &Registry::histogram(std::string_view name, std::string_view help, const Labels &labels,
                               std::vector<double> buckets) {
  std::lock_guard<std::mutex> lk(mu_);
  Family *f = labels_valid(labels) ? family(name, help, kHistogram) : nullptr;
  if (!f) {
    g_warning("metrics: cannot register histogram '%.*s'", (int)name.size(), name.data());
    detached_histograms_.push_back(std::make_unique<Histogram>(std::move(buckets)));
    return *detached_histograms_.back();
  }
  auto &s = f->series[labels_key(labels)];
  if (!s.histogram) {
    s.labels = labels;
    s.histogram = std::make_unique<Histogram>(std::move(buckets));
  }
  return *s.histogram;
}

double Registry::value(std::string_view name, const Labels &labels) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  auto s = it->second->series.find(labels_key(labels));
  if (s == it->second->series.end()) return 0;
  if (s->second.counter) return s->second.counter->value();
  if (s->second.gauge) return s->second.gauge->value();
  if (s->second.histogram) {
    std::vector<uint64_t> c;
    double sum;
    uint64_t n;
    s->second.histogram->snapshot(&c, &sum, &n);
    return double(n);
  }
  return 0;
}

size_t Registry::remove_series(std::string_view name_prefix, const Labels &match) {
  if (match.empty()) return 0;
  std::lock_guard<std::mutex> lk(mu_);
  size_t removed = 0;
  for (auto &[name, f] : families_) {
    if (name.compare(0, name_prefix.size(), name_prefix) != 0) continue;
    for (auto it = f->series.begin(); it != f->series.end();) {
      const Labels &have = it->second.labels;
      bool all = true;
      for (const auto &m : match)
        if (std::find(have.begin(), have.end(), m) == have.end()) all = false;
      if (all) {
        it = f->series.erase(it);
        removed++;
      } else {
        ++it;
      }
    }
  }
  return removed;
}

static std::string render_labels(const std::string &key, const std::string &extra) {
  if (key.empty() && extra.empty()) return {};
  std::string s = "{" + key;
  if (!extra.empty()) s += (key.empty() ? "" : ",") + extra;
  return s + "}";
}

std::string Registry::render() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::string out;
  for (auto &[name, f] : families_) {
    out += "# HELP " + name + " " + escape_help(f->help) + "\n";
    out += "# TYPE " + name + " " + type_name(f->type) + "\n";
    for (auto &[key, s] : f->series) {
      if (s.counter) {
        out += name + render_labels(key, {}) + " " + format_value(s.counter->value()) + "\n";
      } else if (s.gauge) {
        out += name + render_labels(key, {}) + " " + format_value(s.gauge->value()) + "\n";
      } else if (s.histogram) {
        std::vector<uint64_t> cum;
        double sum;
        uint64_t count;
        s.histogram->snapshot(&cum, &sum, &count);
        const auto &b = s.histogram->bounds();
        for (size_t i = 0; i < cum.size(); i++) {
          std::string le = i < b.size() ? format_value(b[i]) : "+Inf";
          out += name + "_bucket" + render_labels(key, "le=\"" + le + "\"") + " " +
                 format_value(double(cum[i])) + "\n";
        }
        out += name + "_sum" + render_labels(key, {}) + " " + format_value(sum) + "\n";
        out += name + "_count" + render_labels(key, {}) + " " + format_value(double(count)) + "\n";
      }
    }
  }
  return out;
}

}  // namespace mf::metrics
