// Helpers for the mfmixer tests: input harnesses, output collectors, audio buffers.
//
// Inputs are GstHarness src pads on request pads sink_%u (the first harness puts the element in
// PLAYING with a GstTestClock the others share). Harness sources report themselves live with 0
// latency, so the mixer runs live: it mixes a block as soon as every input has data for it, and
// times out (mixing without the missing inputs) only when the test clock passes the block end +
// the output-buffer duration. Tests never advance the clock unless they mean to: the results do
// not depend on thread timing. Wall-clock waits below only bound how long a failing test hangs.
#pragma once

#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "meshflow/sdk/ptr.h"

namespace mixertest {

struct HarnessTeardown {
  void operator()(GstHarness *h) const { gst_harness_teardown(h); }
};
using HarnessPtr = std::unique_ptr<GstHarness, HarnessTeardown>;

constexpr int kRate = 48000;
constexpr int kBlock = 480;  // frames per 10 ms output block (the default output-buffer-duration)
constexpr auto kGuard = std::chrono::seconds(20);  // a failing test gives up after this

inline std::string audio_caps(const char *format, int channels = 1) {
  return std::string("audio/x-raw,format=") + format + ",rate=" + std::to_string(kRate) +
         ",channels=" + std::to_string(channels) + ",layout=interleaved";
}

inline GstClockTime frames_to_time(uint64_t frames) {
  return gst_util_uint64_scale(frames, GST_SECOND, kRate);
}

template <typename T>
GstBuffer *make_buffer(const std::vector<T> &samples, uint64_t first_frame, int channels = 1) {
  const size_t bytes = samples.size() * sizeof(T);
  GstBuffer *buf = gst_buffer_new_allocate(nullptr, bytes, nullptr);
  gst_buffer_fill(buf, 0, samples.data(), bytes);
  const uint64_t frames = samples.size() / size_t(channels);
  GST_BUFFER_PTS(buf) = frames_to_time(first_frame);
  GST_BUFFER_DURATION(buf) = frames_to_time(first_frame + frames) - frames_to_time(first_frame);
  GST_BUFFER_OFFSET(buf) = first_frame;
  GST_BUFFER_OFFSET_END(buf) = first_frame + frames;
  return buf;
}

/// A harness feeding a new request pad sink_%u of `mixer`, with caps set.
inline HarnessPtr add_input(GstElement *mixer, const std::string &caps) {
  HarnessPtr h(gst_harness_new_with_element(mixer, "sink_%u", nullptr));
  gst_harness_set_src_caps_str(h.get(), caps.c_str());
  return h;
}

/// The name of the mixer pad a harness feeds (sink_N).
inline std::string input_pad_name(GstHarness *h) {
  GstPad *peer = gst_pad_get_peer(h->srcpad);
  std::string name = peer ? GST_PAD_NAME(peer) : "";
  if (peer) gst_object_unref(peer);
  return name;
}

/// Links a sink pad to an output pad of the mixer and keeps what arrives.
class Collector {
 public:
  explicit Collector(GstPad *src) {
    GstPadTemplate *templ = gst_pad_template_new("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_CAPS_ANY);
    pad_ = mf::sink(gst_pad_new_from_template(templ, "collector"));
    gst_object_unref(templ);
    gst_pad_set_element_private(pad_.get(), this);
    gst_pad_set_chain_function(pad_.get(), &Collector::chain);
    gst_pad_set_event_function(pad_.get(), &Collector::event);
    gst_pad_set_active(pad_.get(), TRUE);
    EXPECT_EQ(gst_pad_link(src, pad_.get()), GST_PAD_LINK_OK) << GST_PAD_NAME(src);
  }
  ~Collector() {
    GstPad *peer = gst_pad_get_peer(pad_.get());
    if (peer) {
      gst_pad_unlink(peer, pad_.get());
      gst_object_unref(peer);
    }
    gst_pad_set_active(pad_.get(), FALSE);
  }
  Collector(const Collector &) = delete;
  Collector &operator=(const Collector &) = delete;

  /// Waits until `bytes` bytes of data arrived (or EOS, or the guard time). True if they did.
  bool wait_bytes(size_t bytes) {
    std::unique_lock<std::mutex> lock(m_);
    return cv_.wait_for(lock, kGuard, [&] { return bytes_ >= bytes || eos_; }) && bytes_ >= bytes;
  }
  bool has_bytes(size_t bytes) {
    std::lock_guard<std::mutex> lock(m_);
    return bytes_ >= bytes;
  }
  bool wait_eos() {
    std::unique_lock<std::mutex> lock(m_);
    return cv_.wait_for(lock, kGuard, [&] { return eos_; });
  }
  template <typename T> std::vector<T> samples() {
    std::lock_guard<std::mutex> lock(m_);
    std::vector<T> out(bytes_ / sizeof(T));
    size_t at = 0;
    for (auto &b : buffers_) {
      const size_t n = gst_buffer_get_size(b.get());
      gst_buffer_extract(b.get(), 0, reinterpret_cast<uint8_t *>(out.data()) + at, n);
      at += n;
    }
    return out;
  }
  std::vector<mf::Ptr<GstBuffer>> buffers() {
    std::lock_guard<std::mutex> lock(m_);
    std::vector<mf::Ptr<GstBuffer>> v;
    for (auto &b : buffers_) v.push_back(mf::ref(b.get()));
    return v;
  }
  mf::Ptr<GstCaps> caps() {
    std::lock_guard<std::mutex> lock(m_);
    return mf::ref(caps_.get());
  }
  std::string stream_id() {
    std::lock_guard<std::mutex> lock(m_);
    return stream_id_;
  }
  std::string last_tag_title() {
    std::lock_guard<std::mutex> lock(m_);
    return tag_title_;
  }
  bool saw_segment() {
    std::lock_guard<std::mutex> lock(m_);
    return saw_segment_;
  }

 private:
  static Collector *self(GstPad *pad) { return static_cast<Collector *>(gst_pad_get_element_private(pad)); }
  static GstFlowReturn chain(GstPad *pad, GstObject *, GstBuffer *buf) {
    Collector *c = self(pad);
    std::lock_guard<std::mutex> lock(c->m_);
    c->bytes_ += gst_buffer_get_size(buf);
    c->buffers_.push_back(mf::adopt(buf));
    c->cv_.notify_all();
    return GST_FLOW_OK;
  }
  static gboolean event(GstPad *pad, GstObject *, GstEvent *ev) {
    Collector *c = self(pad);
    {
      std::lock_guard<std::mutex> lock(c->m_);
      switch (GST_EVENT_TYPE(ev)) {
        case GST_EVENT_EOS:
          c->eos_ = true;
          break;
        case GST_EVENT_CAPS: {
          GstCaps *caps = nullptr;
          gst_event_parse_caps(ev, &caps);
          c->caps_ = mf::ref(caps);
          break;
        }
        case GST_EVENT_STREAM_START: {
          const gchar *id = nullptr;
          gst_event_parse_stream_start(ev, &id);
          c->stream_id_ = id ? id : "";
          break;
        }
        case GST_EVENT_SEGMENT:
          c->saw_segment_ = true;
          break;
        case GST_EVENT_TAG: {
          GstTagList *tags = nullptr;
          gst_event_parse_tag(ev, &tags);
          gchar *title = nullptr;
          if (tags && gst_tag_list_get_string(tags, GST_TAG_TITLE, &title)) {
            c->tag_title_ = title;
            g_free(title);
          }
          break;
        }
        default:
          break;
      }
      c->cv_.notify_all();
    }
    gst_event_unref(ev);
    return TRUE;
  }

  mf::Ptr<GstPad> pad_;
  std::mutex m_;  // protects everything below (written by the mixer's streaming thread)
  std::condition_variable cv_;
  std::vector<mf::Ptr<GstBuffer>> buffers_;
  size_t bytes_ = 0;
  bool eos_ = false;
  bool saw_segment_ = false;
  mf::Ptr<GstCaps> caps_;
  std::string stream_id_, tag_title_;
};

/// A static or sometimes pad of the element (new ref), or null.
inline mf::Ptr<GstPad> pad_of(GstElement *e, const std::string &name) {
  return mf::adopt(gst_element_get_static_pad(e, name.c_str()));
}

}  // namespace mixertest
