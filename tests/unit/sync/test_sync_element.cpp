// mfjittersync through GstHarness and the GstTestClock (see sync_rig.h): every measured
// requirement of the jitter_sync node is one test here. No wall-clock time is involved except
// in the netsim delay test, where netsim's own timer reorders packets (see there).
#include <gst/check/gstharness.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "sync_rig.h"

using namespace mfsync_test;

namespace {

std::uniform_int_distribution<int64_t> uniform_ms(int ms) {
  return std::uniform_int_distribution<int64_t>(0, int64_t(ms) * kMs);
}

// Feeds n packets of `s` with the given arrival times (negative = never arrives).
void feed(Rig &rig, int stream, const AudioSender &s, const std::vector<int64_t> &arrival) {
  for (size_t k = 0; k < arrival.size(); ++k)
    if (arrival[k] >= 0) rig.schedule(stream, arrival[k], s.packet(int64_t(k)));
}

double drift_after(double drift, int64_t seconds, uint32_t seed) {
  AudioSender s;
  s.drift = drift;
  Rig rig(1);
  rig.set_caps(0, s.caps());
  std::mt19937 rng(seed);
  auto j = uniform_ms(20);
  const int64_t n = seconds * kSec / s.packet_ns;
  auto arr = tcp_arrivals(s, n, 30 * kMs, [&](int64_t) { return j(rng); });
  feed(rig, 0, s, arr);
  rig.run_until(arr.back() + 50 * kMs);
  GstStructure *st = rig.stats(0);
  const double ppm = Rig::dbl(st, "drift-ppm");
  EXPECT_EQ(Rig::u64(st, "late-drops"), 0u);
  gst_structure_free(st);
  return ppm;
}

}  // namespace

// Requirement: sender drift of +-0.1% estimated within 10 ppm after 20 s of audio
// (here with 0..20 ms of uniform arrival jitter on top).
TEST(JitterSyncElement, DriftPlusPoint1PercentWithin10ppm) {
  EXPECT_NEAR(drift_after(+0.001, 20, 1), 1000.0, 10.0);
}
TEST(JitterSyncElement, DriftMinusPoint1PercentWithin10ppm) {
  EXPECT_NEAR(drift_after(-0.001, 20, 2), -1000.0, 10.0);
}

// Requirement: the added delay does not grow under drift: over 10 minutes of simulated audio
// the delay at minute 10 is within a few ms of the delay at minute 1.
class DelayUnderDrift : public ::testing::TestWithParam<double> {};
TEST_P(DelayUnderDrift, BoundedOverTenMinutes) {
  AudioSender s;
  s.drift = GetParam();
  Rig rig(1);
  rig.set_caps(0, s.caps());
  std::mt19937 rng(42);
  auto j = uniform_ms(10);
  const int64_t n = 600 * kSec / s.packet_ns;
  auto arr = tcp_arrivals(s, n, 25 * kMs, [&](int64_t) { return j(rng); });
  feed(rig, 0, s, arr);
  rig.run_until(arr.back() + 50 * kMs);
  auto d = added_delays(rig.out(0), s, arr);
  const Summary m1 = summarize(d, 50 * kSec, 60 * kSec);
  const Summary m10 = summarize(d, 590 * kSec, 600 * kSec);
  GstStructure *st = rig.stats(0);
  std::printf("drift %+.1f%%: delay minute 1 %.2f ms, minute 10 %.2f ms, drift %.1f ppm, "
              "underruns %lu, late %lu, concealed %lu\n",
              GetParam() * 100, m1.mean, m10.mean, Rig::dbl(st, "drift-ppm"),
              (unsigned long)Rig::u64(st, "underruns"), (unsigned long)Rig::u64(st, "late-drops"),
              (unsigned long)Rig::u64(st, "concealed-samples"));
  ASSERT_GT(m1.n, 400u);
  ASSERT_GT(m10.n, 400u);
  EXPECT_NEAR(m10.mean, m1.mean, 3.0);
  EXPECT_LT(m10.max, 60.0);
  EXPECT_NEAR(Rig::dbl(st, "drift-ppm"), GetParam() * 1e6, 10.0);
  EXPECT_EQ(Rig::u64(st, "late-drops"), 0u);
  gst_structure_free(st);
  // Output continuity: one period per tick, no gap, for the whole 10 minutes.
  const auto &out = rig.out(0);
  for (size_t i = 1; i < out.size(); ++i) ASSERT_EQ(out[i].pts, out[i - 1].pts + out[i - 1].duration);
}
INSTANTIATE_TEST_SUITE_P(PlusMinus, DelayUnderDrift, ::testing::Values(+0.001, -0.001));

// Requirement: with 20 ms of arrival jitter the added delay is at most 60 ms.
TEST(JitterSyncElement, AddedDelayWith20msJitterAtMost60ms) {
  AudioSender s;
  Rig rig(1);
  rig.set_caps(0, s.caps());
  std::mt19937 rng(7);
  auto j = uniform_ms(20);
  const int64_t n = 30 * kSec / s.packet_ns;
  auto arr = tcp_arrivals(s, n, 20 * kMs, [&](int64_t) { return j(rng); });
  feed(rig, 0, s, arr);
  rig.run_until(arr.back() + 50 * kMs);
  const Summary d = summarize(added_delays(rig.out(0), s, arr), 10 * kSec, 30 * kSec);
  GstStructure *st = rig.stats(0);
  std::printf("20 ms jitter: added delay mean %.2f p95 %.2f max %.2f ms; jitter %.2f ms, "
              "target %.2f ms, underruns %lu\n",
              d.mean, d.p95, d.max, Rig::dbl(st, "jitter-ms"), Rig::dbl(st, "target-ms"),
              (unsigned long)Rig::u64(st, "underruns"));
  ASSERT_GT(d.n, 1000u);
  EXPECT_LE(d.max, 60.0);
  EXPECT_GT(Rig::dbl(st, "jitter-ms"), 3.0);
  EXPECT_EQ(Rig::u64(st, "late-drops"), 0u);
  gst_structure_free(st);
}

// Requirement: with no jitter the added delay is at most 15 ms.
TEST(JitterSyncElement, AddedDelayWithoutJitterAtMost15ms) {
  AudioSender s;
  Rig rig(1);
  rig.set_caps(0, s.caps());
  const int64_t n = 10 * kSec / s.packet_ns;
  auto arr = tcp_arrivals(s, n, 20 * kMs, [](int64_t) { return int64_t(0); });
  feed(rig, 0, s, arr);
  rig.run_until(arr.back() + 15 * kMs);
  const Summary d = summarize(added_delays(rig.out(0), s, arr), 1 * kSec, 10 * kSec);
  std::printf("no jitter: added delay mean %.2f max %.2f ms\n", d.mean, d.max);
  ASSERT_GT(d.n, 800u);
  EXPECT_LE(d.max, 15.0);
  GstStructure *st = rig.stats(0);
  EXPECT_EQ(Rig::u64(st, "concealed-samples"), 0u);
  EXPECT_EQ(Rig::u64(st, "underruns"), 0u);
  gst_structure_free(st);
}

// min-delay = max-delay makes a fixed jitter buffer (the benchmark's baseline).
TEST(JitterSyncElement, FixedDelayWhenMinEqualsMax) {
  AudioSender s;
  Rig rig(1, "min-delay=100 max-delay=100");
  rig.set_caps(0, s.caps());
  std::mt19937 rng(9);
  auto j = uniform_ms(20);
  auto arr = tcp_arrivals(s, 10 * kSec / s.packet_ns, 20 * kMs, [&](int64_t) { return j(rng); });
  feed(rig, 0, s, arr);
  rig.run_until(arr.back());
  GstStructure *st = rig.stats(0);
  EXPECT_DOUBLE_EQ(Rig::dbl(st, "target-ms"), 100.0);
  EXPECT_EQ(Rig::u64(st, "underruns"), 0u);
  gst_structure_free(st);
  const Summary d = summarize(added_delays(rig.out(0), s, arr), 3 * kSec, 10 * kSec);
  EXPECT_NEAR(d.mean, 90.0, 3.0);  // 100 ms above the envelope, minus the mean jitter
  EXPECT_LE(d.max, 102.0);
}

// With no drift and no jitter the element is bit-transparent: the output samples are the
// input samples (ratio exactly 1, integer read positions).
TEST(JitterSyncElement, TransparentWithoutDriftOrJitter) {
  AudioSender s;
  Rig rig(1);
  rig.keep_pcm = true;
  rig.set_caps(0, s.caps());
  auto arr = tcp_arrivals(s, 100, 20 * kMs, [](int64_t) { return int64_t(0); });
  feed(rig, 0, s, arr);
  rig.run_until(arr.back() + 15 * kMs);
  size_t checked = 0;
  for (const auto &o : rig.out(0)) {
    const int64_t first = (o.capture - s.epoch) * s.rate / kSec;
    for (size_t i = 0; i < o.pcm.size(); ++i) {
      const double idx = double(first) + double(i);
      const int16_t want = int16_t(std::lrint(8000.0 * std::sin(2.0 * M_PI * s.freq * idx / s.rate)));
      ASSERT_EQ(o.pcm[i], want) << "chunk at " << o.pts << " sample " << i;
    }
    ++checked;
  }
  EXPECT_GT(checked, 150u);
}

// Requirement: audio and video from one peer aligned within 20 ms at the output, although
// their transport delays and jitter differ.
TEST(JitterSyncElement, LipSyncAudioVideoWithin20ms) {
  AudioSender a;
  Rig rig(2);
  rig.set_caps(0, a.caps());
  rig.set_caps(1, "video/x-raw,format=GRAY8,width=8,height=8,framerate=30/1");
  std::mt19937 rng(11);
  auto ja = uniform_ms(10);
  auto jv = uniform_ms(25);
  const int64_t secs = 20;
  auto arr = tcp_arrivals(a, secs * kSec / a.packet_ns, 15 * kMs, [&](int64_t) { return ja(rng); });
  feed(rig, 0, a, arr);
  // Video: 30 fps from the same sender clock, 60 ms of transport (encode, big frames) + jitter.
  const int64_t frame_ns = kSec / 30;
  int64_t prev = 0;
  for (int64_t f = 0; f < secs * 30; ++f) {
    const int64_t capture = a.epoch + f * frame_ns;
    int64_t t = std::max(prev, f * frame_ns + 60 * kMs + jv(rng));
    prev = t;
    GstBuffer *b = gst_buffer_new_allocate(nullptr, 64, nullptr);
    gst_buffer_memset(b, 0, uint8_t(f), 64);
    gst_buffer_add_mf_media_meta(b, guint32(f), guint64(capture));
    rig.schedule(1, t, b);
  }
  rig.run_until(secs * kSec);
  // Audio: offset (pts - capture) of each chunk; video: the same for each frame. Equal offsets
  // mean a capture instant is played at the same local time on both.
  std::map<int64_t, int64_t> audio_offset;  // pts -> pts - capture
  for (const auto &o : rig.out(0)) audio_offset[int64_t(o.pts)] = int64_t(o.pts) - o.capture;
  ASSERT_FALSE(rig.out(1).empty());
  double worst = 0;
  size_t n = 0;
  for (const auto &v : rig.out(1)) {
    if (int64_t(v.pts) < 10 * kSec) continue;
    auto it = audio_offset.upper_bound(int64_t(v.pts));
    if (it == audio_offset.begin()) continue;
    --it;
    const double diff = std::fabs(double((int64_t(v.pts) - v.capture) - it->second)) / 1e6;
    worst = std::max(worst, diff);
    ++n;
  }
  GstStructure *sa = rig.stats(0), *sv = rig.stats(1);
  std::printf("lip-sync: worst A/V offset %.2f ms over %zu frames (audio delay %.1f target %.1f, "
              "video delay %.1f target %.1f)\n",
              worst, n, Rig::dbl(sa, "delay-ms"), Rig::dbl(sa, "target-ms"),
              Rig::dbl(sv, "delay-ms"), Rig::dbl(sv, "target-ms"));
  EXPECT_GT(n, 250u);
  EXPECT_LE(worst, 20.0);
  // The video target covers the 98th percentile of its jitter: a rare late frame is expected.
  EXPECT_LE(Rig::u64(sv, "late-drops"), 6u);
  gst_structure_free(sa);
  gst_structure_free(sv);
}

// Requirement: reorder, duplicates, late drop and loss concealment counted correctly.
TEST(JitterSyncElement, ReorderDuplicateLateLossCounted) {
  AudioSender s;
  Rig rig(1, "min-delay=60");  // two lost in a row: the gap shows only when 152 is in
  rig.set_caps(0, s.caps());
  const int64_t n = 300;
  std::vector<int64_t> arr(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) arr[size_t(k)] = s.sent(k) + 10 * kMs;
  // Reorder: 100 and 101 swap (101 first), within the delay budget.
  arr[100] = arr[101] + kMs;
  // Lost: 150 and 151 never arrive.
  arr[150] = arr[151] = -1;
  // Late: 200 arrives 300 ms late, after its playout time (later packets are there by then).
  arr[200] += 300 * kMs;
  feed(rig, 0, s, arr);
  // Duplicates: 50 and 250 are delivered twice.
  rig.schedule(0, arr[50] + 3 * kMs, s.packet(50));
  rig.schedule(0, arr[250] + 1 * kMs, s.packet(250));
  rig.run_until(s.sent(n - 1) + 50 * kMs);  // stop before the queue runs dry at the end
  GstStructure *st = rig.stats(0);
  EXPECT_EQ(Rig::u64(st, "duplicates"), 2u);
  EXPECT_EQ(Rig::u64(st, "reordered"), 2u);  // 100 after 101, 200 after 201..
  EXPECT_EQ(Rig::u64(st, "late-drops"), 1u);
  EXPECT_EQ(Rig::u64(st, "underruns"), 0u);
  // 150, 151 and 200 were concealed: exactly their samples (no drift: ratio 1).
  EXPECT_EQ(Rig::u64(st, "concealed-samples") - Rig::u64(st, "expanded-samples"), 3 * s.frames());
  EXPECT_EQ(Rig::u64(st, "expanded-samples"), 0u);
  EXPECT_EQ(Rig::u64(st, "received"), uint64_t(n - 3));
  gst_structure_free(st);
  const auto &out = rig.out(0);
  for (size_t i = 1; i < out.size(); ++i) ASSERT_EQ(out[i].pts, out[i - 1].pts + out[i - 1].duration);
}

// An underrun (a 150 ms TCP stall) is bridged by expansion, the late packets still play, and
// the delay then returns towards the target.
TEST(JitterSyncElement, UnderrunExpandsThenRecovers) {
  AudioSender s;
  Rig rig(1);
  rig.set_caps(0, s.caps());
  const int64_t n = 20 * kSec / s.packet_ns;
  std::vector<int64_t> arr(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) arr[size_t(k)] = s.sent(k) + 10 * kMs;
  const int64_t stall_from = 250, stall_end = arr[250] + 150 * kMs;
  for (int64_t k = stall_from; k < n && arr[size_t(k)] < stall_end; ++k) arr[size_t(k)] = stall_end;
  feed(rig, 0, s, arr);
  rig.run_until(arr.back());  // stop before the queue runs dry at the end
  GstStructure *st = rig.stats(0);
  EXPECT_EQ(Rig::u64(st, "underruns"), 1u);
  EXPECT_GT(Rig::u64(st, "expanded-samples"), 0u);
  EXPECT_EQ(Rig::u64(st, "late-drops"), 0u);
  EXPECT_EQ(Rig::u64(st, "concealed-samples"), Rig::u64(st, "expanded-samples"));
  gst_structure_free(st);
  const Summary end = summarize(added_delays(rig.out(0), s, arr), 18 * kSec, 20 * kSec);
  EXPECT_LT(end.max, 60.0);
}

namespace {

// Passes packets 0..n-1 through a netsim harness; returns what came out, in order (seq list).
std::vector<int64_t> through_netsim(const AudioSender &s, int64_t n, const char *props,
                                    bool wait_for_delayed) {
  GstHarness *ns = gst_harness_new("netsim");
  gchar **kv = g_strsplit(props, " ", -1);
  for (gchar **p = kv; *p; ++p) {
    gchar **pair = g_strsplit(*p, "=", 2);
    if (pair[0] && pair[1]) gst_util_set_object_arg(G_OBJECT(ns->element), pair[0], pair[1]);
    g_strfreev(pair);
  }
  g_strfreev(kv);
  gst_harness_set_src_caps_str(ns, s.caps().c_str());
  std::vector<int64_t> seqs;
  auto collect = [&]() {
    while (GstBuffer *b = gst_harness_try_pull(ns)) {
      seqs.push_back(gst_buffer_get_mf_media_meta(b)->seq);
      gst_buffer_unref(b);
    }
  };
  // The first 10 packets (200 ms) pass unimpaired: playout starts on a clean stream, so that
  // every later loss or late arrival falls inside the played range the checks account for.
  for (int64_t k = 0; k < 10; ++k) seqs.push_back(k);
  for (int64_t k = 10; k < n; ++k) {
    gst_harness_push(ns, s.packet(k));
    if (wait_for_delayed && k % 10 == 9) g_usleep(1000);  // let netsim's timer overtake
    collect();
  }
  if (wait_for_delayed) {
    // netsim delays on its own wall-clock timer: wait until it has released everything.
    size_t last = SIZE_MAX;
    for (int i = 0; i < 100 && seqs.size() != last; ++i) {
      last = seqs.size();
      g_usleep(30 * 1000);
      collect();
    }
  }
  gst_harness_teardown(ns);
  return seqs;
}

// Runs the netsim output through jitter_sync (arrival = nominal time, or later if overtaken:
// TCP-like in-order delivery of what netsim emitted) and checks continuity and counters.
void check_impaired(const AudioSender &s, int64_t n, const std::vector<int64_t> &seqs) {
  Rig rig(1);
  rig.set_caps(0, s.caps());
  std::map<int64_t, int> copies;
  int64_t prev = 0, max_seq = -1, min_seq = INT64_MAX;
  size_t reordered = 0;
  for (int64_t k : seqs) {
    const int64_t t = std::max(prev, s.sent(k) + 10 * kMs);
    prev = t;
    rig.schedule(0, t, s.packet(k));
    if (!copies.count(k) && k < max_seq) ++reordered;
    ++copies[k];
    max_seq = std::max(max_seq, k);
    min_seq = std::min(min_seq, k);
  }
  rig.run_until(s.sent(n - 1) + 400 * kMs);
  uint64_t dups = 0, missing = 0;
  for (auto &c : copies) dups += uint64_t(c.second - 1);
  for (int64_t k = min_seq; k <= max_seq; ++k) missing += copies.count(k) ? 0 : 1;
  GstStructure *st = rig.stats(0);
  const uint64_t late = Rig::u64(st, "late-drops");
  std::printf("netsim: %zu delivered, %lu duplicates, %lu lost, %zu reordered; element: dup %lu "
              "late %lu reordered %lu concealed %lu expanded %lu underruns %lu\n",
              seqs.size(), (unsigned long)dups, (unsigned long)missing, reordered,
              (unsigned long)Rig::u64(st, "duplicates"), (unsigned long)late,
              (unsigned long)Rig::u64(st, "reordered"),
              (unsigned long)Rig::u64(st, "concealed-samples"),
              (unsigned long)Rig::u64(st, "expanded-samples"),
              (unsigned long)Rig::u64(st, "underruns"));
  EXPECT_EQ(Rig::u64(st, "duplicates"), dups);
  EXPECT_EQ(Rig::u64(st, "reordered"), reordered);
  EXPECT_EQ(Rig::u64(st, "received") + late, uint64_t(copies.size()));
  // Every sender sample up to the last delivered packet was either played or concealed:
  // concealment (beyond expansion) covers exactly the lost and the late packets.
  EXPECT_EQ(Rig::u64(st, "concealed-samples") - Rig::u64(st, "expanded-samples"),
            (missing + late) * s.frames());
  gst_structure_free(st);
  // Continuous output: one period per tick, no gaps.
  const auto &out = rig.out(0);
  ASSERT_GT(out.size(), size_t(n));
  for (size_t i = 1; i < out.size(); ++i) {
    ASSERT_EQ(out[i].pts, out[i - 1].pts + out[i - 1].duration) << "gap at output " << i;
    ASSERT_EQ(out[i].size, out[0].size);
  }
}

}  // namespace

// Requirement: impairments from GStreamer's netsim (loss, duplication) in front of the element:
// output continuous, counters match what netsim did.
TEST(JitterSyncNetsim, DropAndDuplicate) {
  AudioSender s;
  const int64_t n = 1500;
  auto seqs = through_netsim(s, n, "drop-probability=0.05 duplicate-probability=0.05", false);
  ASSERT_LT(seqs.size(), size_t(n) * 11 / 10);
  check_impaired(s, n, seqs);
}

// netsim's delay (delay-probability) runs on its own wall-clock timer, so the order it produces
// varies from run to run; the checks are invariants that hold for any order.
TEST(JitterSyncNetsim, DelayReorderDropDuplicate) {
  AudioSender s;
  const int64_t n = 1000;
  auto seqs = through_netsim(
      s, n,
      "delay-probability=0.05 min-delay=1 max-delay=3 allow-reordering=true "
      "drop-probability=0.02 duplicate-probability=0.02",
      true);
  check_impaired(s, n, seqs);
}

// Stats: the element property has a structure per pad; element messages are posted every second.
TEST(JitterSyncElement, StatsPropertyAndMessages) {
  AudioSender s;
  Rig rig(1);
  GstBus *bus = gst_bus_new();
  gst_element_set_bus(rig.element(), bus);
  rig.set_caps(0, s.caps());
  auto arr = tcp_arrivals(s, 5 * kSec / s.packet_ns, 10 * kMs, [](int64_t) { return int64_t(0); });
  feed(rig, 0, s, arr);
  rig.run_until(5 * kSec);
  int n = 0;
  while (GstMessage *m = gst_bus_pop_filtered(bus, GST_MESSAGE_ELEMENT)) {
    const GstStructure *st = gst_message_get_structure(m);
    if (gst_structure_has_name(st, "mf-jitter-sync-stats")) {
      ++n;
      EXPECT_STREQ(gst_structure_get_string(st, "pad"), "sink_0");
      EXPECT_TRUE(gst_structure_has_field(st, "drift-ppm"));
    }
    gst_message_unref(m);
  }
  EXPECT_GE(n, 4);
  EXPECT_LE(n, 6);
  GstStructure *all = nullptr;
  g_object_get(rig.element(), "stats", &all, nullptr);
  ASSERT_TRUE(all);
  const GstStructure *s0 = nullptr;
  const GValue *v = gst_structure_get_value(all, "sink_0");
  ASSERT_TRUE(v && GST_VALUE_HOLDS_STRUCTURE(v));
  s0 = gst_value_get_structure(v);
  for (const char *f : {"jitter-ms", "delay-ms", "drift-ppm", "target-ms"})
    EXPECT_TRUE(gst_structure_has_field_typed(s0, f, G_TYPE_DOUBLE)) << f;
  for (const char *f : {"underruns", "late-drops", "duplicates", "concealed-samples", "reordered"})
    EXPECT_TRUE(gst_structure_has_field_typed(s0, f, G_TYPE_UINT64)) << f;
  EXPECT_STREQ(gst_structure_get_string(s0, "kind"), "audio");
  gst_structure_free(all);
  gst_element_set_bus(rig.element(), nullptr);
  gst_object_unref(bus);
}

// Without GstMfMediaMeta the buffer offset is the sequence number and the PTS the capture time.
TEST(JitterSyncElement, FallbackToOffsetAndPts) {
  AudioSender s;
  Rig rig(1);
  rig.set_caps(0, s.caps());
  for (int64_t k = 0; k < 100; ++k) {
    GstBuffer *b = s.packet(k);
    gst_buffer_remove_meta(b, reinterpret_cast<GstMeta *>(gst_buffer_get_mf_media_meta(b)));
    GST_BUFFER_OFFSET(b) = guint64(k);
    GST_BUFFER_PTS(b) = GstClockTime(k * s.packet_ns);
    rig.schedule(0, s.sent(k) + 5 * kMs, b);
    if (k == 60) rig.schedule(0, s.sent(k) + 6 * kMs, gst_buffer_copy(b));  // meta-less dup
  }
  rig.run_until(s.sent(99) + 20 * kMs);
  GstStructure *st = rig.stats(0);
  EXPECT_EQ(Rig::u64(st, "received"), 100u);
  EXPECT_EQ(Rig::u64(st, "duplicates"), 1u);
  EXPECT_EQ(Rig::u64(st, "concealed-samples"), 0u);
  gst_structure_free(st);
  EXPECT_GT(rig.out(0).size(), 180u);
}

// EOS: the queued audio plays out, then EOS goes downstream from the output task.
TEST(JitterSyncElement, EosAfterPlayout) {
  AudioSender s;
  Rig rig(1);
  rig.set_caps(0, s.caps());
  GstHarness *h = rig.harness(0);
  for (int64_t k = 0; k < 5; ++k) {
    gst_test_clock_set_time(rig.clock(), GstClockTime(s.sent(k)));
    gst_harness_push(h, s.packet(k));
  }
  gst_harness_push_event(h, gst_event_new_eos());
  bool eos = false;
  // Release the task's clock waits one by one until EOS comes out (after EOS the task stops
  // waiting, so only crank when a wait is pending).
  for (int i = 0; i < 20000 && !eos; ++i) {
    while (GstEvent *e = gst_harness_try_pull_event(h)) {
      eos |= GST_EVENT_TYPE(e) == GST_EVENT_EOS;
      gst_event_unref(e);
    }
    if (!eos && gst_test_clock_peek_next_pending_id(rig.clock(), nullptr))
      gst_harness_crank_single_clock_wait(h);
    else
      g_usleep(500);
  }
  EXPECT_TRUE(eos);
  // Playout may start part-way into the data (the task starts on the timeline, and here all
  // packets were pushed at once), but it runs to the end of the last packet before EOS.
  int64_t last_capture = -1;
  while (GstBuffer *b = gst_harness_try_pull(h)) {
    if (GstMfMediaMeta *m = gst_buffer_get_mf_media_meta(b)) last_capture = int64_t(m->capture_ts_ns);
    gst_buffer_unref(b);
  }
  EXPECT_GE(last_capture + 10 * kMs, s.capture(4) + s.packet_ns);
  GstStructure *st = rig.stats(0);
  EXPECT_EQ(Rig::u64(st, "underruns"), 0u);
  gst_structure_free(st);
}

// Request pads come and go while playing; all state changes work with pads present.
TEST(JitterSyncElement, RequestReleasePadsAndStateChanges) {
  GstElement *e = gst_element_factory_make("mfjittersync", nullptr);
  ASSERT_TRUE(e);
  GstPad *a = gst_element_request_pad_simple(e, "sink_%u");
  GstPad *b = gst_element_request_pad_simple(e, "sink_%u");
  ASSERT_TRUE(a && b);
  EXPECT_STREQ(GST_PAD_NAME(b), "sink_1");
  GstPad *src1 = gst_element_get_static_pad(e, "src_1");
  EXPECT_TRUE(src1);
  gst_object_unref(src1);
  EXPECT_EQ(gst_element_set_state(e, GST_STATE_PLAYING), GST_STATE_CHANGE_SUCCESS);
  gst_element_release_request_pad(e, a);
  gst_object_unref(a);
  EXPECT_EQ(gst_element_get_static_pad(e, "src_0"), nullptr);
  EXPECT_NE(gst_element_set_state(e, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  EXPECT_EQ(gst_element_set_state(e, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  gst_element_release_request_pad(e, b);
  gst_object_unref(b);
  gst_object_unref(e);
}
