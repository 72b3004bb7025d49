// Test/benchmark rig for mfjittersync: GstHarness per stream, one GstTestClock, and a
// deterministic event loop that interleaves scheduled arrivals with the element's clock waits.
//
// The element's output tasks always wait on the element clock (one pending clock id per active
// stream). The loop waits until every active stream has its wait registered, then either
// advances the test clock to the next scheduled arrival and pushes it (arrivals at or before the
// earliest pending wait go first), or advances to the earliest wait and releases it. Nothing
// depends on wall-clock time, so every run is identical.
#pragma once

#include <gst/check/gstharness.h>
#include <gst/check/gsttestclock.h>
#include <gst/gst.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "sync/media_meta.h"

namespace mfsync_test {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSec = 1'000'000'000;

struct OutBuf {
  GstClockTime pts = GST_CLOCK_TIME_NONE;
  GstClockTime duration = GST_CLOCK_TIME_NONE;
  bool has_meta = false;
  guint32 seq = 0;
  int64_t capture = 0;
  size_t size = 0;
  std::vector<int16_t> pcm;  // only when Rig::keep_pcm
};

class Rig {
 public:
  /// props: gst-launch style "min-delay=100 max-delay=100" applied before any caps.
  explicit Rig(int n_streams, const std::string &props = "") {
    h_.push_back(gst_harness_new_with_padnames("mfjittersync", "sink_0", "src_0"));
    element_ = h_[0]->element;
    apply_props(props);
    for (int i = 1; i < n_streams; ++i) {
      std::string sink = "sink_" + std::to_string(i), src = "src_" + std::to_string(i);
      h_.push_back(gst_harness_new_with_element(element_, sink.c_str(), src.c_str()));
    }
    gst_harness_use_testclock(h_[0]);
    tc_ = GST_TEST_CLOCK(gst_harness_get_testclock(h_[0]));
    gst_element_set_clock(element_, GST_CLOCK(tc_));
    out_.resize(size_t(n_streams));
    pushed_.assign(size_t(n_streams), 0);
  }
  ~Rig() {
    for (auto &e : arrivals_) gst_buffer_unref(e.second.second);
    for (size_t i = h_.size(); i-- > 0;) gst_harness_teardown(h_[i]);
    gst_object_unref(tc_);
  }
  Rig(const Rig &) = delete;
  Rig &operator=(const Rig &) = delete;

  GstElement *element() const { return element_; }
  GstHarness *harness(int i) const { return h_[size_t(i)]; }
  GstTestClock *clock() const { return tc_; }
  void set_caps(int stream, const std::string &caps) {
    gst_harness_set_src_caps_str(h_[size_t(stream)], caps.c_str());
  }

  /// Schedules `buf` (owned) to reach stream's sink pad at running time t.
  void schedule(int stream, int64_t t, GstBuffer *buf) {
    arrivals_.emplace(t, std::make_pair(stream, buf));
  }

  void run_until(int64_t t_end) {
    for (;;) {
      int active = 0;
      for (auto p : pushed_) active += p > 0 ? 1 : 0;
      GList *ids = nullptr;
      GstClockTime pending = GST_CLOCK_TIME_NONE;
      if (active > 0) {
        gst_test_clock_wait_for_multiple_pending_ids(tc_, guint(active), &ids);
        for (GList *l = ids; l; l = l->next) {
          const GstClockTime t = gst_clock_id_get_time(static_cast<GstClockID>(l->data));
          if (!GST_CLOCK_TIME_IS_VALID(pending) || t < pending) pending = t;
        }
      }
      drain();
      const bool have_arrival = !arrivals_.empty();
      const int64_t next_arrival = have_arrival ? arrivals_.begin()->first : INT64_MAX;
      if (have_arrival && next_arrival <= t_end &&
          (!GST_CLOCK_TIME_IS_VALID(pending) || next_arrival <= int64_t(pending))) {
        advance(next_arrival);
        auto it = arrivals_.begin();
        const int s = it->second.first;
        GstBuffer *b = it->second.second;
        arrivals_.erase(it);
        gst_harness_push(h_[size_t(s)], b);
        ++pushed_[size_t(s)];
        free_ids(ids);
        continue;
      }
      if (!GST_CLOCK_TIME_IS_VALID(pending) || int64_t(pending) > t_end) {
        free_ids(ids);
        if (!GST_CLOCK_TIME_IS_VALID(pending)) advance(t_end);
        break;
      }
      advance(int64_t(pending));
      GList *due = nullptr;  // borrowed ids (process_id_list is transfer none)
      for (GList *l = ids; l; l = l->next)
        if (gst_clock_id_get_time(static_cast<GstClockID>(l->data)) == pending)
          due = g_list_append(due, l->data);
      gst_test_clock_process_id_list(tc_, due);
      g_list_free(due);
      free_ids(ids);
    }
    drain();
  }

  std::vector<OutBuf> &out(int stream) { return out_[size_t(stream)]; }

  GstStructure *stats(int stream) const {
    std::string name = "sink_" + std::to_string(stream);
    GstPad *pad = gst_element_get_static_pad(element_, name.c_str());
    GstStructure *st = nullptr;
    g_object_get(pad, "stats", &st, nullptr);
    gst_object_unref(pad);
    return st;
  }
  static uint64_t u64(const GstStructure *st, const char *f) {
    guint64 v = 0;
    gst_structure_get_uint64(st, f, &v);
    return v;
  }
  static double dbl(const GstStructure *st, const char *f) {
    double v = 0;
    gst_structure_get_double(st, f, &v);
    return v;
  }

  bool keep_pcm = false;

 private:
  void apply_props(const std::string &props) {
    gchar **kv = g_strsplit(props.c_str(), " ", -1);
    for (gchar **p = kv; *p; ++p) {
      if (!**p) continue;
      gchar **pair = g_strsplit(*p, "=", 2);
      if (pair[0] && pair[1]) gst_util_set_object_arg(G_OBJECT(element_), pair[0], pair[1]);
      g_strfreev(pair);
    }
    g_strfreev(kv);
  }
  void advance(int64_t t) {
    if (GstClockTime(t) > gst_clock_get_time(GST_CLOCK(tc_))) gst_test_clock_set_time(tc_, GstClockTime(t));
  }
  static void free_ids(GList *ids) { g_list_free_full(ids, (GDestroyNotify)gst_clock_id_unref); }
  void drain() {
    for (size_t i = 0; i < h_.size(); ++i) {
      while (GstBuffer *b = gst_harness_try_pull(h_[i])) {
        OutBuf o;
        o.pts = GST_BUFFER_PTS(b);
        o.duration = GST_BUFFER_DURATION(b);
        o.size = gst_buffer_get_size(b);
        if (GstMfMediaMeta *m = gst_buffer_get_mf_media_meta(b)) {
          o.has_meta = true;
          o.seq = m->seq;
          o.capture = int64_t(m->capture_ts_ns);
        }
        if (keep_pcm) {
          o.pcm.resize(o.size / 2);
          gst_buffer_extract(b, 0, o.pcm.data(), o.size);
        }
        out_[i].push_back(std::move(o));
        gst_buffer_unref(b);
      }
    }
  }

  std::vector<GstHarness *> h_;
  GstElement *element_ = nullptr;
  GstTestClock *tc_ = nullptr;
  std::multimap<int64_t, std::pair<int, GstBuffer *>> arrivals_;
  std::vector<int> pushed_;
  std::vector<std::vector<OutBuf>> out_;
};

/// A talking peer: PCM16 mono sine in fixed-size packets, capture times on the sender's clock,
/// which runs (1 + drift) times as fast as the local clock.
struct AudioSender {
  int rate = 48000;
  int64_t packet_ns = 20 * kMs;
  double drift = 0.0;                      // e.g. +0.001 = sender clock 0.1% fast
  int64_t epoch = 7'000'000'000'000;       // sender clock at packet 0 (any epoch works)
  double freq = 440.0;

  size_t frames() const { return size_t(int64_t(rate) * packet_ns / kSec); }
  std::string caps() const {
    return "audio/x-raw,format=S16LE,layout=interleaved,channels=1,rate=" + std::to_string(rate);
  }
  int64_t capture(int64_t k) const { return epoch + k * packet_ns; }
  /// Local time at which packet k is complete and sent (before any network delay).
  int64_t sent(int64_t k) const {
    return int64_t(std::llround(double((k + 1) * packet_ns) / (1.0 + drift)));
  }
  GstBuffer *packet(int64_t k) const {
    const size_t n = frames();
    GstBuffer *b = gst_buffer_new_allocate(nullptr, n * 2, nullptr);
    GstMapInfo map;
    gst_buffer_map(b, &map, GST_MAP_WRITE);
    auto *d = reinterpret_cast<int16_t *>(map.data);
    for (size_t i = 0; i < n; ++i) {
      const double idx = double(k) * double(n) + double(i);
      d[i] = int16_t(std::lrint(8000.0 * std::sin(2.0 * M_PI * freq * idx / double(rate))));
    }
    gst_buffer_unmap(b, &map);
    gst_buffer_add_mf_media_meta(b, guint32(k), guint64(capture(k)));
    return b;
  }
};

/// Arrival times of packets 0..n-1: sent + transit + jitter, delivered in order (TCP).
/// jitter(rng) returns the extra delay of one packet in ns.
template <class Jitter>
std::vector<int64_t> tcp_arrivals(const AudioSender &s, int64_t n, int64_t transit, Jitter jitter) {
  std::vector<int64_t> a(static_cast<size_t>(n));
  int64_t prev = 0;
  for (int64_t k = 0; k < n; ++k) {
    int64_t t = s.sent(k) + transit + jitter(k);
    t = std::max(t, prev);
    a[size_t(k)] = prev = t;
  }
  return a;
}

/// Added delay, per output chunk: how long the input packet holding the chunk's first sample
/// waited in the buffer, i.e. the time its first sample was played minus the time the packet
/// arrived. The play time of the packet's first sample is the chunk's PTS minus the sender
/// time between it and the chunk's first sample (converted to local time). Chunks whose packet
/// never arrived (concealment) are skipped.
inline std::vector<std::pair<int64_t, double>> added_delays(const std::vector<OutBuf> &out,
                                                           const AudioSender &s,
                                                           const std::vector<int64_t> &arrival) {
  std::vector<std::pair<int64_t, double>> r;
  for (const auto &o : out) {
    if (!o.has_meta || o.capture < s.epoch) continue;
    const int64_t k = (o.capture - s.epoch) / s.packet_ns;
    if (k >= int64_t(arrival.size()) || arrival[size_t(k)] < 0) continue;
    const double into = double(o.capture - s.capture(k)) / (1.0 + s.drift);
    const double start = double(o.pts) - into;
    r.emplace_back(int64_t(o.pts), (start - double(arrival[size_t(k)])) / 1e6);
  }
  return r;
}

struct Summary {
  double mean = 0, p95 = 0, max = 0;
  size_t n = 0;
};
inline Summary summarize(const std::vector<std::pair<int64_t, double>> &v, int64_t from,
                         int64_t to) {
  std::vector<double> x;
  for (const auto &e : v)
    if (e.first >= from && e.first < to) x.push_back(e.second);
  Summary s;
  s.n = x.size();
  if (x.empty()) return s;
  double sum = 0;
  for (double d : x) sum += d;
  s.mean = sum / double(x.size());
  std::sort(x.begin(), x.end());
  s.p95 = x[std::min(x.size() - 1, size_t(0.95 * double(x.size())))];
  s.max = x.back();
  return s;
}

}  // namespace mfsync_test
