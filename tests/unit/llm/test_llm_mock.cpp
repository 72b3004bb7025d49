// mfllmbridge provider=mock through GstHarness with a GstTestClock: the output is a paced live
// stream (20 ms buffers here, 10 ms by default, PTS = running time, silence when idle), the reply starts exactly
// mock-delay-ms after the end of speech (first_audio_ms), transcripts on the text pad and the
// bus, and barge-in: FLUSH_START in the same clock tick as the speech start, then FLUSH_STOP,
// SEGMENT and a DISCONT silent buffer, and the truncate point = the reply samples played.
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <json-glib/json-glib.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

constexpr GstClockTime kTick = 20 * GST_MSECOND;

struct Bridge {
  GstHarness *h = nullptr;     // sink <- h, src -> h
  GstHarness *text = nullptr;  // text -> text
  GstBus *bus = nullptr;

  explicit Bridge(guint delay_ms, guint reply_ms = 1500, bool flush = true, guint period_ms = 20,
                  const char *reply_to = "all") {
    // Properties first: the harness starts the element as soon as it wraps it.
    GstElement *e = gst_element_factory_make("mfllmbridge", nullptr);
    gst_util_set_object_arg(G_OBJECT(e), "reply-to", reply_to);
    // The tick arithmetic below assumes 20 ms output buffers (the default is 10 ms: see
    // DefaultOutputPeriodIsTenMs).
    g_object_set(e, "mock-delay-ms", delay_ms, "mock-reply-ms", reply_ms, "mock-silence-ms", 100u,
                 "flush-on-barge-in", gboolean(flush), "output-period-ms", period_ms, nullptr);
    h = gst_harness_new_with_element(e, "sink", "src");
    gst_object_unref(e);
    text = gst_harness_new_with_element(h->element, nullptr, "text");
    bus = gst_bus_new();
    gst_element_set_bus(h->element, bus);
    gst_harness_use_testclock(h);
    gst_harness_play(h);
    gst_harness_set_src_caps_str(
        h, "audio/x-raw,format=S16LE,layout=interleaved,channels=1,rate=16000");
  }
  ~Bridge() {
    gst_harness_teardown(text);
    gst_harness_teardown(h);
    gst_object_unref(bus);
  }
  GstClockTime now() {
    GstTestClock *c = gst_harness_get_testclock(h);
    GstClockTime t = gst_clock_get_time(GST_CLOCK(c));
    gst_object_unref(c);
    return t;
  }
  // Releases the next 20 ms output buffer and returns it.
  GstBuffer *tick() {
    EXPECT_TRUE(gst_harness_crank_single_clock_wait(h));
    return gst_harness_pull(h);
  }
  // 20 ms of input at 16 kHz: loud square wave or silence.
  void push_input(bool loud) {
    GstBuffer *b = gst_buffer_new_allocate(nullptr, 320 * 2, nullptr);
    GstMapInfo m;
    gst_buffer_map(b, &m, GST_MAP_WRITE);
    auto *s = reinterpret_cast<int16_t *>(m.data);
    for (int i = 0; i < 320; i++) s[i] = loud ? ((i / 8) % 2 ? 4000 : -4000) : 0;
    gst_buffer_unmap(b, &m);
    EXPECT_EQ(gst_harness_push(h, b), GST_FLOW_OK);
  }
  GstStructure *stats() {
    GstStructure *s = nullptr;
    g_object_get(h->element, "stats", &s, nullptr);
    return s;
  }
  void drain_events() {
    while (GstEvent *e = gst_harness_try_pull_event(h)) gst_event_unref(e);
  }
};

bool all_zero(GstBuffer *b, size_t from = 0, size_t to = SIZE_MAX) {
  GstMapInfo m;
  gst_buffer_map(b, &m, GST_MAP_READ);
  auto *s = reinterpret_cast<const int16_t *>(m.data);
  size_t n = m.size / 2;
  bool z = true;
  for (size_t i = from; i < std::min(n, to); i++) z &= s[i] == 0;
  gst_buffer_unmap(b, &m);
  return z;
}

int16_t sample(GstBuffer *b, size_t i) {
  GstMapInfo m;
  gst_buffer_map(b, &m, GST_MAP_READ);
  int16_t v = reinterpret_cast<const int16_t *>(m.data)[i];
  gst_buffer_unmap(b, &m);
  return v;
}

// Runs `steps` ticks: release output k (time k*20ms), then push input k.
// loud(k) says whether input k is speech. Returns the output buffers.
template <typename F> std::vector<GstBuffer *> run(Bridge &br, int steps, F loud) {
  std::vector<GstBuffer *> out;
  for (int k = 0; k < steps; k++) {
    out.push_back(br.tick());
    br.push_input(loud(k));
  }
  return out;
}

void unref_all(std::vector<GstBuffer *> &v) {
  for (auto *b : v) gst_buffer_unref(b);
  v.clear();
}

}  // namespace

TEST(LlmMock, LiveOutputIsPacedSilence) {
  Bridge br(300);
  GstQuery *q = gst_query_new_latency();
  ASSERT_TRUE(gst_pad_peer_query(br.h->sinkpad, q));
  gboolean live;
  GstClockTime min;
  gst_query_parse_latency(q, &live, &min, nullptr);
  gst_query_unref(q);
  EXPECT_TRUE(live);
  EXPECT_EQ(min, kTick);
  for (int k = 0; k < 5; k++) {
    GstBuffer *b = br.tick();
    EXPECT_EQ(GST_BUFFER_PTS(b), GstClockTime(k) * kTick);
    EXPECT_EQ(GST_BUFFER_DURATION(b), kTick);
    EXPECT_EQ(gst_buffer_get_size(b), 480u * 2);
    EXPECT_EQ(GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DISCONT), k == 0);
    EXPECT_TRUE(all_zero(b));
    EXPECT_EQ(br.now(), GstClockTime(k) * kTick);  // produced when its time came, not before
    gst_buffer_unref(b);
  }
}

TEST(LlmMock, ReplyStartsExactlyAfterTheConfiguredDelay) {
  // Speech during inputs 0..9; 100 ms of silence (inputs 10..14) ends it while the clock is at
  // 280 ms; a 310 ms delay puts the first reply sample at 590 ms: 10 ms into the buffer at 580.
  Bridge br(310, 400);
  auto out = run(br, 40, [](int k) { return k < 10; });
  for (int k = 0; k < 29; k++) EXPECT_TRUE(all_zero(out[k])) << "buffer " << k;
  EXPECT_EQ(GST_BUFFER_PTS(out[29]), 580 * GST_MSECOND);
  EXPECT_TRUE(all_zero(out[29], 0, 240));
  EXPECT_NE(sample(out[29], 240), 0);
  EXPECT_FALSE(all_zero(out[30]));
  GstStructure *st = br.stats();
  double fa = 0;
  guint64 responses = 0;
  EXPECT_TRUE(gst_structure_get_double(st, "first_audio_ms_last", &fa));
  EXPECT_DOUBLE_EQ(fa, 310.0);
  EXPECT_TRUE(gst_structure_get_uint64(st, "responses", &responses));
  EXPECT_EQ(responses, 1u);
  gst_structure_free(st);
  unref_all(out);
  // The reply is 400 ms: buffers from 600 ms to 980 ms carry it; it ends inside the one at 980.
  auto more = run(br, 5, [](int) { return false; });  // 800..880 ms
  EXPECT_FALSE(all_zero(more[0]));
  unref_all(more);
}

TEST(LlmMock, TranscriptsOnTextPadAndBus) {
  Bridge br(0, 100);
  auto out = run(br, 20, [](int k) { return k < 5; });
  unref_all(out);
  std::vector<std::string> speakers;
  // The text pad has its own thread: wait for the two events (user, assistant).
  for (int i = 0; i < 2; i++) {
    GstBuffer *b = gst_harness_pull(br.text);
    ASSERT_TRUE(b);
    GstMapInfo m;
    gst_buffer_map(b, &m, GST_MAP_READ);
    JsonParser *p = json_parser_new();
    ASSERT_TRUE(json_parser_load_from_data(p, reinterpret_cast<const char *>(m.data), gssize(m.size), nullptr));
    JsonObject *o = json_node_get_object(json_parser_get_root(p));
    EXPECT_STREQ(json_object_get_string_member(o, "type"), "transcript");
    EXPECT_TRUE(json_object_get_boolean_member(o, "is_final"));
    EXPECT_GT(json_object_get_int_member(o, "timestamp"), 1600000000000);
    speakers.push_back(json_object_get_string_member(o, "speaker"));
    g_object_unref(p);
    gst_buffer_unmap(b, &m);
    gst_buffer_unref(b);
  }
  ASSERT_EQ(speakers, (std::vector<std::string>{"user", "assistant"}));
  GstCaps *caps = gst_pad_get_current_caps(br.text->sinkpad);
  ASSERT_TRUE(caps);
  EXPECT_TRUE(gst_structure_has_name(gst_caps_get_structure(caps, 0), "application/x-meshflow-event"));
  gst_caps_unref(caps);
  int msgs = 0;
  while (GstMessage *m = gst_bus_pop_filtered(br.bus, GST_MESSAGE_ELEMENT)) {
    if (gst_message_has_name(m, "meshflow-transcript")) {
      msgs++;
      EXPECT_TRUE(gst_structure_has_field(gst_message_get_structure(m), "json"));
    }
    gst_message_unref(m);
  }
  EXPECT_EQ(msgs, 2);
}

// A mixer upstream names the active speaker (meshflow-speaker events): the user's transcript
// carries that peer id instead of "user"; silence (an empty id) keeps the last talker.
TEST(LlmMock, UserTranscriptNamesTheSpeakerAnUpstreamMixerReported) {
  Bridge br(0, 100);
  for (const char *who : {"alice", ""}) {
    GstStructure *st = gst_structure_new("meshflow-speaker", "peer-id", G_TYPE_STRING, who,
                                         "level-db", G_TYPE_DOUBLE, -12.0, nullptr);
    ASSERT_TRUE(gst_harness_push_event(br.h, gst_event_new_custom(GST_EVENT_CUSTOM_DOWNSTREAM, st)));
  }
  auto out = run(br, 20, [](int k) { return k < 5; });
  unref_all(out);
  GstBuffer *b = gst_harness_pull(br.text);  // the user's transcript comes first
  ASSERT_TRUE(b);
  GstMapInfo m;
  gst_buffer_map(b, &m, GST_MAP_READ);
  std::string json(reinterpret_cast<const char *>(m.data), m.size);
  gst_buffer_unmap(b, &m);
  gst_buffer_unref(b);
  EXPECT_NE(json.find("\"speaker\":\"alice\""), std::string::npos) << json;
}

TEST(LlmMock, BargeInFlushesInTheSameClockTickAndTruncatesAtPlayedSamples) {
  // Reply starts at 280 + 310 = 590 ms (see above) and lasts 1.5 s.
  Bridge br(310, 1500);
  auto out = run(br, 36, [](int k) { return k < 10; });  // last output pulled at 700 ms
  EXPECT_FALSE(all_zero(out[35]));
  unref_all(out);
  // Input 35 was silence; the user starts again now, at 700 ms.
  br.drain_events();
  GstClockTime t_speech = br.now();
  ASSERT_EQ(t_speech, 700 * GST_MSECOND);
  br.push_input(true);  // speech start detected on this push
  // FLUSH_START has already gone downstream, with the clock not moved.
  GstEvent *e = gst_harness_try_pull_event(br.h);
  ASSERT_TRUE(e);
  EXPECT_EQ(GST_EVENT_TYPE(e), GST_EVENT_FLUSH_START);
  gst_event_unref(e);
  EXPECT_EQ(br.now(), t_speech);
  GstBuffer *b = br.tick();  // 720 ms
  EXPECT_EQ(GST_BUFFER_PTS(b), 720 * GST_MSECOND);
  EXPECT_TRUE(all_zero(b)) << "assistant audio still playing after barge-in";
  EXPECT_TRUE(GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DISCONT));
  gst_buffer_unref(b);
  e = gst_harness_try_pull_event(br.h);
  ASSERT_TRUE(e);
  EXPECT_EQ(GST_EVENT_TYPE(e), GST_EVENT_FLUSH_STOP);
  gboolean reset = TRUE;
  gst_event_parse_flush_stop(e, &reset);
  EXPECT_FALSE(reset);
  gst_event_unref(e);
  e = gst_harness_try_pull_event(br.h);
  ASSERT_TRUE(e);
  EXPECT_EQ(GST_EVENT_TYPE(e), GST_EVENT_SEGMENT);
  gst_event_unref(e);

  // Played: 590..700 ms = 110 ms (the buffer at 700 was handed out but its time had not come).
  GstStructure *st = br.stats();
  gint64 trunc = 0;
  guint64 cancelled = 0;
  double intr = -1;
  EXPECT_TRUE(gst_structure_get_int64(st, "truncate_audio_end_ms_last", &trunc));
  EXPECT_EQ(trunc, 110);
  EXPECT_TRUE(gst_structure_get_uint64(st, "cancelled", &cancelled));
  EXPECT_EQ(cancelled, 1u);
  EXPECT_TRUE(gst_structure_get_double(st, "interruption_ms_last", &intr));
  EXPECT_DOUBLE_EQ(intr, 0.0);
  gst_structure_free(st);
  bool saw = false;
  while (GstMessage *m = gst_bus_pop_filtered(br.bus, GST_MESSAGE_ELEMENT)) {
    if (gst_message_has_name(m, "meshflow-llm-barge-in")) {
      const GstStructure *s = gst_message_get_structure(m);
      gint64 ms = 0;
      guint64 det = 0;
      gst_structure_get_int64(s, "audio_end_ms", &ms);
      gst_structure_get_uint64(s, "detected", &det);
      EXPECT_EQ(ms, 110);
      EXPECT_EQ(det, t_speech);
      EXPECT_STREQ(gst_structure_get_string(s, "item_id"), "mock-1");
      saw = true;
    }
    gst_message_unref(m);
  }
  EXPECT_TRUE(saw);
  // The rest of the reply never comes back; output stays silent.
  auto rest = run(br, 10, [](int) { return true; });
  for (auto *x : rest) EXPECT_TRUE(all_zero(x));
  unref_all(rest);
}

TEST(LlmMock, BargeInWithoutFlushEventsDropsTheQueueAndMarksDiscont) {
  Bridge br(310, 1500, false);
  auto out = run(br, 36, [](int k) { return k < 10; });
  EXPECT_FALSE(all_zero(out[35]));
  unref_all(out);
  br.drain_events();
  br.push_input(true);
  EXPECT_EQ(gst_harness_try_pull_event(br.h), nullptr);  // no flush events
  GstBuffer *b = br.tick();
  EXPECT_TRUE(all_zero(b));
  EXPECT_TRUE(GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DISCONT));
  gst_buffer_unref(b);
  GstStructure *st = br.stats();
  gint64 trunc = 0;
  gst_structure_get_int64(st, "truncate_audio_end_ms_last", &trunc);
  EXPECT_EQ(trunc, 110);
  gst_structure_free(st);
}

TEST(LlmMock, SpeechBeforeTheReplyCancelsItWithoutFlush) {
  Bridge br(200, 300);
  // speech 0..4, silence 5..9 ends it at 180 ms -> reply at 380; speech again at 300 ms.
  auto out = run(br, 30, [](int k) { return k < 5 || (k >= 15 && k < 17); });
  // Second utterance ends at 300+... -> its own reply; none of the first.
  unref_all(out);
  GstStructure *st = br.stats();
  guint64 cancelled = 9;
  gst_structure_get_uint64(st, "cancelled", &cancelled);
  EXPECT_EQ(cancelled, 0u);
  gst_structure_free(st);
  while (GstEvent *e = gst_harness_try_pull_event(br.h)) {
    EXPECT_NE(GST_EVENT_TYPE(e), GST_EVENT_FLUSH_START);
    gst_event_unref(e);
  }
}

TEST(LlmMock, StateChangesAreClean) {
  GstElement *e = gst_element_factory_make("mfllmbridge", nullptr);
  ASSERT_TRUE(e);
  for (int i = 0; i < 3; i++) {
    EXPECT_NE(gst_element_set_state(e, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    EXPECT_EQ(gst_element_set_state(e, GST_STATE_PAUSED), GST_STATE_CHANGE_NO_PREROLL);
    EXPECT_EQ(gst_element_set_state(e, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  }
  gst_object_unref(e);
}

// A real pipeline on the system clock: live appsrc -> mfllmbridge -> queue -> sync fakesink.
// Speech, the mock's reply, speech again while it plays: the flush travels through the queue and
// the clock-synced sink without a stall, the pipeline keeps playing and shuts down cleanly.
TEST(LlmMock, BargeInThroughQueueAndSyncedSink) {
  GError *err = nullptr;
  GstElement *p = gst_parse_launch(
      "appsrc name=in is-live=true do-timestamp=true format=time "
      "caps=audio/x-raw,format=S16LE,layout=interleaved,channels=1,rate=16000 ! "
      "mfllmbridge name=b mock-delay-ms=50 mock-reply-ms=3000 mock-silence-ms=100 ! "
      "queue max-size-time=2000000000 ! fakesink name=out sync=true",
      &err);
  ASSERT_TRUE(p) << (err ? err->message : "");
  GstElement *in = gst_bin_get_by_name(GST_BIN(p), "in");
  GstElement *b = gst_bin_get_by_name(GST_BIN(p), "b");
  ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  auto push = [&](bool loud, int n20) {
    for (int k = 0; k < n20; k++) {
      GstBuffer *buf = gst_buffer_new_allocate(nullptr, 640, nullptr);
      GstMapInfo m;
      gst_buffer_map(buf, &m, GST_MAP_WRITE);
      auto *s = reinterpret_cast<int16_t *>(m.data);
      for (int i = 0; i < 320; i++) s[i] = loud ? ((i / 8) % 2 ? 4000 : -4000) : 0;
      gst_buffer_unmap(buf, &m);
      GstFlowReturn r;
      g_signal_emit_by_name(in, "push-buffer", buf, &r);
      gst_buffer_unref(buf);
      g_usleep(20000);
    }
  };
  auto stat = [&](const char *f) {
    GstStructure *st = nullptr;
    g_object_get(b, "stats", &st, nullptr);
    guint64 v = 0;
    gst_structure_get_uint64(st, f, &v);
    gst_structure_free(st);
    return v;
  };
  push(true, 10);
  push(false, 6);  // speech ends; the reply starts 50 ms later
  gint64 end = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
  while (stat("responses") < 1 && g_get_monotonic_time() < end) push(false, 1);
  ASSERT_EQ(stat("responses"), 1u);
  push(false, 5);
  push(true, 5);  // barge-in while the 3 s reply plays
  EXPECT_EQ(stat("cancelled"), 1u);
  push(false, 5);
  GstState st;
  EXPECT_EQ(gst_element_get_state(p, &st, nullptr, 5 * GST_SECOND), GST_STATE_CHANGE_SUCCESS);
  EXPECT_EQ(st, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus(p);
  EXPECT_EQ(gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR), nullptr);
  gst_object_unref(bus);
  EXPECT_EQ(gst_element_set_state(p, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  gst_object_unref(in);
  gst_object_unref(b);
  gst_object_unref(p);
}

namespace {
// After pulling an output buffer: true when the src pad then got EOS, false when the src task
// scheduled its next clock wait instead (it does one or the other after every buffer).
bool eos_or_next_wait(Bridge &br) {
  GstTestClock *c = gst_harness_get_testclock(br.h);
  bool eos = false;
  for (;;) {
    GstEvent *e = gst_harness_try_pull_event(br.h);
    if (e) {
      eos = GST_EVENT_TYPE(e) == GST_EVENT_EOS;
      gst_event_unref(e);
      if (eos) break;
      continue;
    }
    if (gst_test_clock_peek_id_count(c) > 0) break;
    g_usleep(500);
  }
  gst_object_unref(c);
  return eos;
}
}  // namespace

// EOS on sink ends the output: the assistant audio already queued plays out in full, then src
// and text get EOS (so gst-launch-1.0 ... ! mfllmbridge ! fakesink terminates).
TEST(LlmMock, EosOnSinkEndsTheOutputAfterTheQueuedReply) {
  Bridge br(0, 200);  // reply: 200 ms = 4800 samples, starting as the speech end is detected
  auto nonzero = [](GstBuffer *b) {
    GstMapInfo m;
    gst_buffer_map(b, &m, GST_MAP_READ);
    size_t n = 0;
    for (size_t i = 0; i < m.size / 2; i++) n += reinterpret_cast<const int16_t *>(m.data)[i] != 0;
    gst_buffer_unmap(b, &m);
    return n;
  };
  // Speech in inputs 0..4, its end detected at input 9 (180 ms): the reply starts at 200 ms.
  auto out = run(br, 11, [](int k) { return k < 5; });
  size_t audio = 0;
  for (auto *b : out) audio += nonzero(b);
  unref_all(out);
  EXPECT_GT(audio, 0u);  // the reply has started
  br.drain_events();
  ASSERT_TRUE(gst_harness_push_event(br.h, gst_event_new_eos()));
  int buffers = 0;
  bool eos = false;
  while (!eos && buffers < 100) {
    GstBuffer *b = br.tick();
    buffers++;
    audio += nonzero(b);
    gst_buffer_unref(b);
    eos = eos_or_next_wait(br);
  }
  ASSERT_TRUE(eos);
  // All of the reply played (a few tone samples are exactly 0), then EOS at once: the reply
  // fills the buffers at 200..380 ms; the one at 200 ms came before the EOS, 220..380 after.
  EXPECT_GT(audio, 4700u);
  EXPECT_EQ(buffers, 9);
  // The text pad ends too, after the transcripts.
  bool text_eos = false;
  while (GstEvent *e = gst_harness_pull_event(br.text)) {
    text_eos = GST_EVENT_TYPE(e) == GST_EVENT_EOS;
    gst_event_unref(e);
    if (text_eos) break;
  }
  EXPECT_TRUE(text_eos);
}

// With nothing queued, EOS on sink ends the output after the current buffer.
TEST(LlmMock, EosOnSinkWithNothingQueuedEndsAtTheNextBuffer) {
  Bridge br(300);
  auto out = run(br, 3, [](int) { return false; });
  unref_all(out);
  br.drain_events();
  ASSERT_TRUE(gst_harness_push_event(br.h, gst_event_new_eos()));
  GstBuffer *b = br.tick();
  EXPECT_TRUE(all_zero(b));
  gst_buffer_unref(b);
  EXPECT_TRUE(eos_or_next_wait(br));
}

// The default output period is 10 ms (a reply waits at most 10 ms for the next buffer): 240
// samples per buffer, PTS 10 ms apart, latency 10 ms.
TEST(LlmMock, DefaultOutputPeriodIsTenMs) {
  GstElement *e = gst_element_factory_make("mfllmbridge", nullptr);
  guint period = 0;
  g_object_get(e, "output-period-ms", &period, nullptr);
  EXPECT_EQ(period, 10u);
  gst_object_unref(e);
  Bridge br(300, 1500, true, 10);
  GstQuery *q = gst_query_new_latency();
  ASSERT_TRUE(gst_pad_peer_query(br.h->sinkpad, q));
  GstClockTime min;
  gst_query_parse_latency(q, nullptr, &min, nullptr);
  gst_query_unref(q);
  EXPECT_EQ(min, 10 * GST_MSECOND);
  for (int k = 0; k < 4; k++) {
    GstBuffer *b = br.tick();
    EXPECT_EQ(GST_BUFFER_PTS(b), GstClockTime(k) * 10 * GST_MSECOND);
    EXPECT_EQ(GST_BUFFER_DURATION(b), 10 * GST_MSECOND);
    EXPECT_EQ(gst_buffer_get_size(b), 240u * 2);
    gst_buffer_unref(b);
  }
}

// ---- reply-to=speaker --------------------------------------------------------------------------

namespace {

// The peer named by a `meshflow-peer-id` stream tag event, or "" for any other event.
std::string tagged_peer(GstEvent *e) {
  if (GST_EVENT_TYPE(e) != GST_EVENT_TAG) return "";
  GstTagList *tags = nullptr;
  gst_event_parse_tag(e, &tags);
  gchar *peer = nullptr;
  std::string out;
  if (tags && gst_tag_list_get_scope(tags) == GST_TAG_SCOPE_STREAM &&
      gst_tag_list_get_string(tags, "meshflow-peer-id", &peer))
    out = peer;
  g_free(peer);
  return out;
}

void say_speaker(Bridge &br, const char *who) {
  GstStructure *st = gst_structure_new("meshflow-speaker", "peer-id", G_TYPE_STRING, who,
                                       "level-db", G_TYPE_DOUBLE, -12.0, nullptr);
  ASSERT_TRUE(gst_harness_push_event(br.h, gst_event_new_custom(GST_EVENT_CUSTOM_DOWNSTREAM, st)));
}

// What came out of `src`, in order: each buffer (with or without reply audio), preceded by the
// peers of the tag events pushed just before it.
struct Out {
  std::vector<std::string> tags_before;  // tags pushed since the previous buffer
  bool audio = false;
};

// Runs `steps` ticks like run(), recording tags and buffers in order: the src task pushes its
// events and then the buffer of a tick, and waits for the clock before the next, so the events
// pulled right after a buffer came before it.
template <typename F> std::vector<Out> run_tagged(Bridge &br, int steps, F loud) {
  std::vector<Out> out;
  for (int k = 0; k < steps; k++) {
    GstBuffer *b = br.tick();
    Out o;
    o.audio = !all_zero(b);
    gst_buffer_unref(b);
    while (GstEvent *e = gst_harness_try_pull_event(br.h)) {
      std::string p = tagged_peer(e);
      if (!p.empty()) o.tags_before.push_back(p);
      gst_event_unref(e);
    }
    out.push_back(o);
    br.push_input(loud(k));
  }
  return out;
}

// Index of the first buffer with reply audio at or after `from`, -1 if none.
int first_audio(const std::vector<Out> &v, size_t from = 0) {
  for (size_t i = from; i < v.size(); i++)
    if (v[i].audio) return int(i);
  return -1;
}

std::vector<std::string> all_tags(const std::vector<Out> &v) {
  std::vector<std::string> t;
  for (const auto &o : v) t.insert(t.end(), o.tags_before.begin(), o.tags_before.end());
  return t;
}

// The next `n` transcripts of the text pad in order, each preceded by "tag:<peer>" for the tags
// pushed before it; each transcript is "user" or "assistant".
std::vector<std::string> read_text(Bridge &br, int n) {
  std::vector<std::string> text;
  for (int i = 0; i < n; i++) {
    GstBuffer *t = gst_harness_pull(br.text);
    if (!t) break;
    while (GstEvent *e = gst_harness_try_pull_event(br.text)) {
      std::string p = tagged_peer(e);
      if (!p.empty()) text.push_back("tag:" + p);
      gst_event_unref(e);
    }
    GstMapInfo m;
    gst_buffer_map(t, &m, GST_MAP_READ);
    std::string json(reinterpret_cast<const char *>(m.data), m.size);
    gst_buffer_unmap(t, &m);
    gst_buffer_unref(t);
    text.push_back(json.find("\"speaker\":\"assistant\"") != std::string::npos ? "assistant" : "user");
  }
  return text;
}

}  // namespace

// reply-to=speaker: each answer's first audio buffer is preceded by a stream tag naming the peer
// whose turn it answers (alice, then bob), and by no tag before; the text pad gets the same tag
// before the turn's transcripts.
TEST(LlmMockReplyTo, EachAnswerIsTaggedWithTheSpeakerOfItsTurn) {
  Bridge br(100, 200, true, 20, "speaker");
  say_speaker(br, "alice");
  // alice speaks (inputs 0..4); 100 ms of silence ends her turn; the reply starts 100 ms later.
  auto a = run_tagged(br, 30, [](int k) { return k < 5; });
  // Text: alice's tag, her transcript and the answer's (read before bob's turn: the text task
  // runs on its own, and the tag events of both turns would be waiting otherwise).
  auto text_a = read_text(br, 2);
  int fa = first_audio(a);
  ASSERT_GT(fa, 0) << "no reply to alice";
  EXPECT_EQ(a[fa].tags_before, std::vector<std::string>{"alice"});
  EXPECT_EQ(all_tags(a), std::vector<std::string>{"alice"}) << "one tag, right before the answer";

  say_speaker(br, "bob");
  auto b = run_tagged(br, 30, [](int k) { return k < 5; });
  int fb = first_audio(b);
  ASSERT_GE(fb, 0) << "no reply to bob";
  EXPECT_EQ(b[fb].tags_before, std::vector<std::string>{"bob"});
  EXPECT_EQ(all_tags(b), std::vector<std::string>{"bob"});
  for (int i = 0; i < fb; i++) EXPECT_FALSE(b[i].audio) << "bob's turn: buffer " << i;

  EXPECT_EQ(text_a, (std::vector<std::string>{"tag:alice", "user", "assistant"}));
  EXPECT_EQ(read_text(br, 2), (std::vector<std::string>{"tag:bob", "user", "assistant"}));
}

// The answer goes to whoever spoke the turn, not to whoever the mixer names while it is being
// generated; and a turn by the same speaker again pushes no new tag.
TEST(LlmMockReplyTo, TheTargetIsTakenWhenTheTurnEnds) {
  Bridge br(300, 200, true, 20, "speaker");
  say_speaker(br, "alice");
  // Speech 0..4, ends at input 9 (100 ms silence); the reply is due 300 ms later. bob is named
  // (without speech reaching the VAD) in between.
  auto a = run_tagged(br, 12, [](int k) { return k < 5; });
  say_speaker(br, "bob");
  auto rest = run_tagged(br, 30, [](int) { return false; });
  a.insert(a.end(), rest.begin(), rest.end());
  int fa = first_audio(a);
  ASSERT_GT(fa, 12);
  EXPECT_EQ(a[fa].tags_before, std::vector<std::string>{"alice"});
  // bob was named but ended no turn: alice's next turn gets its answer without a new tag (the
  // target did not change).
  say_speaker(br, "alice");
  auto again = run_tagged(br, 30, [](int k) { return k < 5; });
  EXPECT_GE(first_audio(again), 0);
  EXPECT_TRUE(all_tags(again).empty()) << "same target as the last answer: no tag";
}

// reply-to=all (the default): no tag at all, whoever speaks.
TEST(LlmMockReplyTo, AllPushesNoTag) {
  Bridge br(100, 200);
  say_speaker(br, "alice");
  auto a = run_tagged(br, 30, [](int k) { return k < 5; });
  say_speaker(br, "bob");
  auto b = run_tagged(br, 30, [](int k) { return k < 5; });
  EXPECT_GE(first_audio(a), 0);
  EXPECT_GE(first_audio(b), 0);
  EXPECT_TRUE(all_tags(a).empty());
  EXPECT_TRUE(all_tags(b).empty());
  GstBuffer *t = gst_harness_pull(br.text);
  ASSERT_TRUE(t);
  gst_buffer_unref(t);
  while (GstEvent *e = gst_harness_try_pull_event(br.text)) {
    EXPECT_EQ(tagged_peer(e), "");
    gst_event_unref(e);
  }
}
