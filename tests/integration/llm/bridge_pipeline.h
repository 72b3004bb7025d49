// The llm_bridge in a live pipeline of the test (or benchmark) process:
//   appsrc (live, 20 ms buffers of S16LE mono 24 kHz, paced in real time by a feeder thread)
//     ! mfllmbridge ! appsink (src: assistant audio)      bridge.text ! appsink (transcripts)
// The feeder plays silence unless told to `say()` something. The output side counts samples,
// tone (non-silent) samples, flushes, and when the first tone sample of an answer arrived.
// Header-only and free of gtest so bench/llm uses it too.
#pragma once

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mf::test {

class BridgePipeline {
 public:
  static constexpr int kRate = 24000;
  static constexpr int kBlock = kRate / 50;  // 20 ms
  static constexpr int kLoud = 1000;         // |sample| above this is tone, not silence

  /// `props`: extra "name=value" properties of mfllmbridge (gst-launch syntax).
  explicit BridgePipeline(const std::string &props) {
    std::string desc =
        "appsrc name=in is-live=true do-timestamp=true format=time "
        "caps=audio/x-raw,format=S16LE,layout=interleaved,channels=1,rate=24000 "
        "! mfllmbridge name=bridge " + props +
        " ! appsink name=out sync=false async=false "
        "bridge.text ! appsink name=text sync=false async=false";
    GError *err = nullptr;
    pipeline_ = gst_parse_launch(desc.c_str(), &err);
    if (err) {
      error_ = err->message;
      g_error_free(err);
    }
    if (!pipeline_) return;
    bridge_ = gst_bin_get_by_name(GST_BIN(pipeline_), "bridge");
    src_ = gst_bin_get_by_name(GST_BIN(pipeline_), "in");
    GstElement *out = gst_bin_get_by_name(GST_BIN(pipeline_), "out");
    GstAppSinkCallbacks cbs{};
    cbs.new_sample = [](GstAppSink *s, gpointer self) -> GstFlowReturn {
      static_cast<BridgePipeline *>(self)->on_sample(s);
      return GST_FLOW_OK;
    };
    gst_app_sink_set_callbacks(GST_APP_SINK(out), &cbs, this, nullptr);
    GstPad *pad = gst_element_get_static_pad(out, "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_EVENT_FLUSH, [](GstPad *, GstPadProbeInfo *info, gpointer self) {
      if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_FLUSH_START)
        static_cast<BridgePipeline *>(self)->on_flush();
      return GST_PAD_PROBE_OK;
    }, this, nullptr);
    gst_object_unref(pad);
    gst_object_unref(out);
    GstElement *text = gst_bin_get_by_name(GST_BIN(pipeline_), "text");
    GstAppSinkCallbacks tcbs{};
    tcbs.new_sample = [](GstAppSink *s, gpointer self) -> GstFlowReturn {
      GstSample *sample = gst_app_sink_pull_sample(s);
      if (!sample) return GST_FLOW_OK;
      GstMapInfo map;
      GstBuffer *b = gst_sample_get_buffer(sample);
      if (b && gst_buffer_map(b, &map, GST_MAP_READ)) {
        auto *p = static_cast<BridgePipeline *>(self);
        std::lock_guard<std::mutex> lock(p->mu_);
        p->transcripts_.emplace_back(reinterpret_cast<const char *>(map.data), map.size);
        gst_buffer_unmap(b, &map);
      }
      gst_sample_unref(sample);
      return GST_FLOW_OK;
    };
    gst_app_sink_set_callbacks(GST_APP_SINK(text), &tcbs, this, nullptr);
    gst_object_unref(text);
    GstBus *bus = gst_element_get_bus(pipeline_);
    gst_bus_set_sync_handler(bus, [](GstBus *, GstMessage *m, gpointer self) {
      auto *p = static_cast<BridgePipeline *>(self);
      if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
        GError *e = nullptr;
        gst_message_parse_error(m, &e, nullptr);
        std::lock_guard<std::mutex> lock(p->mu_);
        p->bus_errors_.push_back(e ? e->message : "?");
        if (e) g_error_free(e);
      }
      return GST_BUS_DROP;
    }, this, nullptr);
    gst_object_unref(bus);
  }

  ~BridgePipeline() {
    stop_ = true;
    if (feeder_.joinable()) feeder_.join();
    if (pipeline_) {
      gst_element_set_state(pipeline_, GST_STATE_NULL);
      gst_object_unref(bridge_);
      gst_object_unref(src_);
      gst_object_unref(pipeline_);
    }
  }

  bool ok() const { return pipeline_ && bridge_; }
  const std::string &parse_error() const { return error_; }
  GstElement *bridge() const { return bridge_; }

  bool play() {
    if (gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) return false;
    feeder_ = std::thread([this] { feed(); });
    return true;
  }

  /// Queues `speech_ms` of a loud 300 Hz tone (then silence again). Returns at once.
  void say(int speech_ms, double hz = 300.0) {
    std::lock_guard<std::mutex> lock(mu_);
    const size_t n = size_t(kRate) * size_t(speech_ms) / 1000;
    for (size_t i = 0; i < n; ++i) pending_.push_back(int16_t(6000 * std::sin(2 * M_PI * hz * double(i) / kRate)));
  }
  /// Monotonic time (g_get_monotonic_time, us) the first / last block of the last `say()` was pushed.
  gint64 speech_start_us() const { return speech_start_us_.load(); }
  gint64 speech_end_us() const { return speech_end_us_.load(); }
  bool speaking() {
    std::lock_guard<std::mutex> lock(mu_);
    return !pending_.empty();
  }

  // Output side.
  uint64_t samples_out() const { return samples_.load(); }
  uint64_t tone_samples_out() const { return tone_samples_.load(); }
  /// Samples of the tone since the last flush (what was played of the current answer).
  uint64_t tone_since_flush() const { return tone_since_flush_.load(); }
  /// Monotonic us of the first tone sample after `arm_first_tone()` (0 = none yet).
  void arm_first_tone() {
    first_tone_us_ = 0;
    armed_ = true;
  }
  gint64 first_tone_us() const { return first_tone_us_.load(); }
  int flushes() const { return flushes_.load(); }
  /// Tone samples that had come out between the flush before and the last flush.
  uint64_t tone_at_last_flush() const { return tone_at_last_flush_.load(); }
  gint64 last_flush_us() const { return last_flush_us_.load(); }
  std::vector<std::string> bus_errors() {
    std::lock_guard<std::mutex> lock(mu_);
    return bus_errors_;
  }
  std::vector<std::string> transcripts() {
    std::lock_guard<std::mutex> lock(mu_);
    return transcripts_;
  }

  /// The bridge's `stats` structure (owned by the caller).
  GstStructure *stats() const {
    GstStructure *s = nullptr;
    g_object_get(bridge_, "stats", &s, nullptr);
    return s;
  }
  double stat_double(const char *field) const {
    GstStructure *s = stats();
    double v = -1;
    if (s) gst_structure_get_double(s, field, &v);
    if (s) gst_structure_free(s);
    return v;
  }
  guint64 stat_u64(const char *field) const {
    GstStructure *s = stats();
    guint64 v = 0;
    if (s) gst_structure_get_uint64(s, field, &v);
    if (s) gst_structure_free(s);
    return v;
  }
  gint64 stat_i64(const char *field) const {
    GstStructure *s = stats();
    gint64 v = -1;
    if (s) gst_structure_get_int64(s, field, &v);
    if (s) gst_structure_free(s);
    return v;
  }
  bool stat_bool(const char *field) const {
    GstStructure *s = stats();
    gboolean v = FALSE;
    if (s) gst_structure_get_boolean(s, field, &v);
    if (s) gst_structure_free(s);
    return v;
  }

 private:
  void feed() {
    auto next = std::chrono::steady_clock::now();
    bool was_speaking = false;
    while (!stop_) {
      std::vector<int16_t> block(kBlock, 0);
      bool speech = false, last = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (int i = 0; i < kBlock && !pending_.empty(); ++i) {
          block[size_t(i)] = pending_.front();
          pending_.pop_front();
          speech = true;
        }
        last = speech && pending_.empty();
      }
      GstBuffer *buf = gst_buffer_new_memdup(block.data(), block.size() * 2);
      if (gst_app_src_push_buffer(GST_APP_SRC(src_), buf) != GST_FLOW_OK) break;
      const gint64 now = g_get_monotonic_time();
      if (speech && !was_speaking) speech_start_us_ = now;
      if (last) speech_end_us_ = now;
      was_speaking = speech && !last;
      next += std::chrono::milliseconds(20);
      std::this_thread::sleep_until(next);
    }
  }

  void on_sample(GstAppSink *sink) {
    GstSample *sample = gst_app_sink_pull_sample(sink);
    if (!sample) return;
    const gint64 now = g_get_monotonic_time();
    GstBuffer *b = gst_sample_get_buffer(sample);
    GstMapInfo map;
    if (b && gst_buffer_map(b, &map, GST_MAP_READ)) {
      const auto *s = reinterpret_cast<const int16_t *>(map.data);
      const size_t n = map.size / 2;
      size_t first_loud = n, loud = 0;
      for (size_t i = 0; i < n; ++i)
        if (std::abs(int(s[i])) > kLoud) {
          if (first_loud == n) first_loud = i;
          ++loud;
        }
      samples_ += n;
      if (first_loud < n) {
        // The tone's zero crossings are quiet samples too: count from the first loud one.
        tone_samples_ += n - first_loud;
        tone_since_flush_ += n - first_loud;
        if (armed_.exchange(false)) first_tone_us_ = now + gint64(first_loud) * 1000000 / kRate;
      }
      gst_buffer_unmap(b, &map);
    }
    gst_sample_unref(sample);
  }
  void on_flush() {
    ++flushes_;
    last_flush_us_ = g_get_monotonic_time();
    tone_at_last_flush_ = tone_since_flush_.exchange(0);
  }

  GstElement *pipeline_ = nullptr, *bridge_ = nullptr, *src_ = nullptr;
  std::string error_;
  std::thread feeder_;
  std::atomic<bool> stop_{false}, armed_{false};
  std::mutex mu_;
  std::deque<int16_t> pending_;
  std::vector<std::string> bus_errors_, transcripts_;
  std::atomic<gint64> speech_start_us_{0}, speech_end_us_{0}, first_tone_us_{0}, last_flush_us_{0};
  std::atomic<uint64_t> samples_{0}, tone_samples_{0}, tone_since_flush_{0}, tone_at_last_flush_{0};
  std::atomic<int> flushes_{0};
};

}  // namespace mf::test
