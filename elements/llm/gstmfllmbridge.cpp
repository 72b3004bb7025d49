// mfllmbridge (Meshflow node type `llm_bridge`): a realtime voice LLM as a session participant.
//
// What it does: user speech comes in on `sink`; it is resampled to the provider's rate and sent
// to the service (openai_realtime, gemini_live) from a network thread with its own GMainContext
// (net_client.h), or analysed by an in-process energy VAD (provider=mock, no network). The
// assistant's audio is queued (bounded, 120 s) and played on `src` as a live source: buffers of
// output-period-ms (default 10 ms) paced on the pipeline clock, PTS = running time, silence
// whenever nothing plays, so the pipeline never stops because the service misbehaves.
// Transcripts leave on `text` and as `meshflow-transcript` element messages. EOS on `sink` ends
// the output: once the assistant audio already queued has played, `src` and `text` get EOS.
//
// Barge-in: when the user starts speaking (server VAD speech_started, Gemini `interrupted`, or
// the mock VAD) while assistant audio is queued or playing, the queue is dropped and FLUSH_START
// is pushed downstream at once from the detecting thread; the src task then sends FLUSH_STOP
// (reset_time=FALSE), a new segment, and continues with a DISCONT buffer. For openai_realtime
// the bridge sends response.cancel and conversation.item.truncate with audio_end_ms = the
// samples of that item whose play time had come on the pipeline clock (not merely received).
//
// Pads:
//   sink  always  audio/x-raw, S16LE, mono, rate 8000..48000 (resampled internally)
//   src   always  audio/x-raw, S16LE, mono, 24000 Hz, live (latency = output-period-ms)
//   text  always  application/x-meshflow-event: one JSON transcript event per buffer
//                 {"type":"transcript","text","speaker":"user|assistant","is_final",
//                  "confidence","timestamp":unix ms}
// Properties: provider, url, model, voice, instructions, api-key-env, token-url, watchdog-ms,
//   max-session-s, reconnect-min-ms, reconnect-max-ms, mock-delay-ms, mock-reply-ms,
//   mock-silence-ms, mock-vad-threshold, flush-on-barge-in, output-period-ms, reply-to,
//   stats (read-only). See docs/llm.md.
// Reply to whoever spoke (reply-to=speaker; default all: no tags): the peer whose turn an answer
//   answers is the upstream mixer's last `meshflow-speaker` when the user's turn ended (speech
//   end), kept with the response (response.created) and its audio items, so whoever talks later
//   does not steal it. When such an answer starts playing, a sticky stream tag
//   `meshflow-peer-id` = that peer is pushed on `src` just before its first buffer (only if it
//   differs from the last one); on `text` the tag comes when the turn ends, before the user's
//   transcript and the answer's. No speaker known (no mixer upstream): no tag, the answer goes
//   where the last one went (everyone before the first tag). A webrtc_sink / websocket_sink pad
//   linked with `route: origin` follows these tags (manifests/voice-agent-party-reply.yaml).
// Keys come only from the environment variable named by api-key-env (or an ephemeral token
// from token-url) and are never logged.
// Messages: element `meshflow-transcript`, `meshflow-llm-barge-in` {item_id, audio_end_ms,
//   flushed_samples}, `meshflow-llm-error` {kind, message}; service errors are also posted as
//   warnings (never errors: the pipeline keeps running).
//
// Manifest:
//   - {id: agent, type: llm_bridge, properties: {provider: openai_realtime, voice: alloy,
//      instructions: "You are a helpful agent."}}
//   In a party that answers whoever spoke: mixer (kind: audio, mode: all) -> agent with
//   {reply-to: speaker} -> {from: agent, to: peers_out, route: origin}.
// Launch line (offline, mock provider answering with tones):
//   gst-launch-1.0 autoaudiosrc ! audioconvert ! audioresample ! mfllmbridge name=b
//     b.src ! audioconvert ! autoaudiosink  b.text ! fakesink dump=true     (one line)
// Ends by itself (EOS on sink -> EOS on src and text):
//   gst-launch-1.0 audiotestsrc num-buffers=50 ! audioconvert ! audioresample !
//     mfllmbridge name=b provider=mock ! fakesink  b.text ! fakesink      (one line)
#include <gst/audio/audio.h>
#include <gst/gst.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dsp.h"
#include "meshflow/metrics/registry.h"
#include "meshflow/sdk/node.h"
#include "net_client.h"
#include "out_queue.h"
#include "protocol.h"

GST_DEBUG_CATEGORY(mf_llm_bridge_debug);
#define GST_CAT_DEFAULT mf_llm_bridge_debug

using mf::llm::EventKind;
using mf::llm::OutQueue;
using mf::llm::Provider;

namespace {

constexpr int kOutRate = 24000;
constexpr guint kDefaultPeriodMs = 10;
constexpr size_t kQueueMax = size_t(kOutRate) * 120;

// Who hears the assistant's answers (property reply-to).
enum class ReplyTo { All = 0, Speaker = 1 };

// The stream tag naming the peer a stream belongs to (webrtc_source, websocket_source, mixer) or,
// on our outputs with reply-to=speaker, the peer an answer is for (webrtc_sink / websocket_sink
// with `route: origin` and no origin peer follow it).
constexpr const char *kPeerIdTag = "meshflow-peer-id";

struct Settings {
  Provider provider = Provider::Mock;
  ReplyTo reply_to = ReplyTo::All;
  std::string url, model, voice, instructions, key_env, token_url;
  guint watchdog_ms = 5000;
  guint max_session_s = 0;
  guint reconnect_min_ms = 250;
  guint reconnect_max_ms = 30000;
  guint mock_delay_ms = 300;
  guint mock_reply_ms = 1500;
  guint mock_silence_ms = 400;
  gint mock_vad_threshold = 800;
  bool flush_on_barge_in = true;
  guint period_ms = kDefaultPeriodMs;
};

struct Stats {
  guint64 reconnects = 0, errors = 0, errors_auth = 0, errors_rate_limit = 0, errors_server = 0,
          errors_network = 0, errors_watchdog = 0, errors_protocol = 0, responses = 0,
          cancelled = 0, session_rollovers = 0, input_dropped_ms = 0, unknown_events = 0;
  double first_audio_ms_last = -1, interruption_ms_last = -1;
  gint64 truncate_ms_last = -1;
  std::deque<double> first_audio;  // last 101 values for the median
};

struct Metrics {
  mf::metrics::Histogram &first_audio;
  mf::metrics::Histogram &interruption;
  mf::metrics::Counter &reconnects;
  static Metrics &get() {
    auto &r = mf::metrics::Registry::global();
    static Metrics m{
        r.histogram("meshflow_llm_first_audio_seconds",
                    "LLM bridge: end of user speech to first assistant sample played"),
        r.histogram("meshflow_llm_interruption_seconds",
                    "LLM bridge: user speech start (barge-in) to assistant output flushed"),
        r.counter("meshflow_llm_reconnects_total", "LLM bridge: reconnects to the service")};
    return m;
  }
  static void error(const char *kind) {
    mf::metrics::Registry::global()
        .counter("meshflow_llm_errors_total", "LLM bridge: service errors by kind",
                 {{"kind", kind}})
        .inc();
  }
};

// One entry of the text pad's queue: a JSON event, or (tag non-empty) a `meshflow-peer-id` tag
// to push before the events that follow.
struct TextOut {
  std::string json;
  std::string tag;
};

struct Priv {
  std::mutex settings_mu;  // protects settings
  Settings settings;

  // Fixed while the element is PAUSED or PLAYING (copied from settings at READY->PAUSED).
  Settings run;
  GstClockTime tick = kDefaultPeriodMs * GST_MSECOND;  // output buffer duration (run.period_ms)
  size_t tick_samples = kOutRate * kDefaultPeriodMs / 1000;

  std::mutex mu;  // protects everything below
  std::condition_variable cv;  // running / shutting changes
  OutQueue *queue = nullptr;
  std::deque<TextOut> text_out;      // JSON events (and reply-to tags) for the text pad
  std::condition_variable text_cv;   // text_out, text_eos, text_shutting changed
  bool text_started = false;         // text pad: stream-start/caps/segment/gap sent
  bool text_eos = false;             // text pad: push EOS after text_out is empty
  bool text_shutting = false;        // text pad deactivating
  bool started = false;              // stream-start/caps/segment sent
  bool running = false;              // PLAYING
  bool shutting = false;             // src pad deactivating
  bool flush_pending = false;
  bool discont = true;
  bool eos_pending = false;  // EOS came on sink: finish the output once the queue has played
  // The last talker an upstream mixer named (`meshflow-speaker` events, see elements/mixer): user
  // transcripts carry it as their speaker; "user" when nothing upstream names one.
  std::string last_speaker;
  // reply-to=speaker: who each answer is for. turn_speaker = last_speaker when the user's turn
  // ended (speech end); a response created then answers that peer (response_target), and so does
  // each queue item of it (item_target); the src task tags the audio with an item's peer when the
  // item starts playing (audio_target = the last tag pushed there), the text task before the
  // turn's transcripts (text_target = the last tag queued there). Empty = nobody named: no tag.
  std::string turn_speaker, reply_target, audio_target, text_target;
  std::map<std::string, std::string> response_target, item_target;
  bool eos_sent = false;
  GstClockID wait_id = nullptr;
  GstClockTime next_pts = GST_CLOCK_TIME_NONE;
  GstClockTime last_pts = GST_CLOCK_TIME_NONE;  // last buffer with assistant audio
  size_t last_off = 0, last_n = 0;
  std::string last_item;
  GstClockTime speech_end = GST_CLOCK_TIME_NONE;
  bool awaiting_first = false;
  std::string cancelled_item, cancelled_response, playing_response;
  std::string asst_text;
  unsigned turn = 0;
  Stats stats;
  // mock
  mf::llm::EnergyVad vad;
  GstClockTime speech_start = GST_CLOCK_TIME_NONE;
  GstClockTime reply_at = GST_CLOCK_TIME_NONE;
  // sink side (streaming thread of sink only)
  int in_rate = 0;
  GstSegment in_seg;
  mf::llm::LinearResampler rs;

  std::unique_ptr<mf::llm::NetClient> net;  // created at READY->PAUSED, gone at PAUSED->READY
  std::atomic<bool> connected{false};        // for stats: readable from any thread

  Priv() : queue(new OutQueue(kQueueMax)) { gst_segment_init(&in_seg, GST_FORMAT_TIME); }
  ~Priv() { delete queue; }
};

}  // namespace

G_BEGIN_DECLS
#define GST_TYPE_MF_LLM_BRIDGE (gst_mf_llm_bridge_get_type())
G_DECLARE_FINAL_TYPE(GstMfLlmBridge, gst_mf_llm_bridge, GST, MF_LLM_BRIDGE, GstElement)
G_END_DECLS

struct _GstMfLlmBridge {
  GstElement parent;
  GstPad *sinkpad, *srcpad, *textpad;
  Priv *priv;
};

G_DEFINE_TYPE(GstMfLlmBridge, gst_mf_llm_bridge, GST_TYPE_ELEMENT)
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE(mfllmbridge, "mfllmbridge", GST_RANK_NONE,
                                      GST_TYPE_MF_LLM_BRIDGE,
                                      if (!mf_llm_bridge_debug) GST_DEBUG_CATEGORY_INIT(
                                          mf_llm_bridge_debug, "mfllmbridge", 0,
                                          "Meshflow realtime LLM bridge"));

enum {
  PROP_0,
  PROP_PROVIDER,
  PROP_URL,
  PROP_MODEL,
  PROP_VOICE,
  PROP_INSTRUCTIONS,
  PROP_API_KEY_ENV,
  PROP_TOKEN_URL,
  PROP_WATCHDOG_MS,
  PROP_MAX_SESSION_S,
  PROP_RECONNECT_MIN_MS,
  PROP_RECONNECT_MAX_MS,
  PROP_MOCK_DELAY_MS,
  PROP_MOCK_REPLY_MS,
  PROP_MOCK_SILENCE_MS,
  PROP_MOCK_VAD_THRESHOLD,
  PROP_FLUSH_ON_BARGE_IN,
  PROP_STATS,
  PROP_OUTPUT_PERIOD_MS,
  PROP_REPLY_TO,
};

static GType mf_llm_provider_get_type() {
  static GType type = 0;
  if (g_once_init_enter(&type)) {
    static const GEnumValue values[] = {
        {int(Provider::Mock), "In-process responder (no network)", "mock"},
        {int(Provider::OpenAI), "OpenAI / Azure OpenAI Realtime API", "openai_realtime"},
        {int(Provider::Gemini), "Gemini Live (BidiGenerateContent)", "gemini_live"},
        {0, nullptr, nullptr}};
    GType t = g_enum_register_static("MfLlmProvider", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

static GType mf_llm_reply_to_get_type() {
  static GType type = 0;
  if (g_once_init_enter(&type)) {
    static const GEnumValue values[] = {
        {int(ReplyTo::All), "Every answer to the whole stream: no tag (route it as the link says)", "all"},
        {int(ReplyTo::Speaker),
         "Each answer tagged (meshflow-peer-id) with the peer whose turn it answers", "speaker"},
        {0, nullptr, nullptr}};
    GType t = g_enum_register_static("MfLlmReplyTo", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

// A sticky stream tag naming `peer`: what the answer that follows on the pad is for.
static GstEvent *peer_tag_event(const std::string &peer) {
  GstTagList *tags = gst_tag_list_new_empty();
  gst_tag_list_add(tags, GST_TAG_MERGE_REPLACE, kPeerIdTag, peer.c_str(), nullptr);
  gst_tag_list_set_scope(tags, GST_TAG_SCOPE_STREAM);
  return gst_event_new_tag(tags);
}

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS("audio/x-raw, format=S16LE, layout=interleaved, channels=1, "
                    "rate=[8000, 48000]"));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS("audio/x-raw, format=S16LE, layout=interleaved, channels=1, rate=24000"));
static GstStaticPadTemplate text_template = GST_STATIC_PAD_TEMPLATE(
    "text", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS("application/x-meshflow-event"));

// ---- time ------------------------------------------------------------------------------------

// Current running time, or NONE without a clock.
static GstClockTime running_now(GstMfLlmBridge *self) {
  GstClock *clock = gst_element_get_clock(GST_ELEMENT(self));
  if (!clock) return GST_CLOCK_TIME_NONE;
  GstClockTime now = gst_clock_get_time(clock);
  gst_object_unref(clock);
  GstClockTime base = gst_element_get_base_time(GST_ELEMENT(self));
  return now > base ? now - base : 0;
}

// ---- transcripts and messages ---------------------------------------------------------------

static void emit_transcript(GstMfLlmBridge *self, const std::string &text, const char *speaker,
                            bool is_final, double confidence = -1) {
  gint64 unix_ms = g_get_real_time() / 1000;
  std::string json = mf::llm::transcript_json(text, speaker, is_final, confidence, unix_ms);
  {
    std::lock_guard<std::mutex> lk(self->priv->mu);
    if (self->priv->text_out.size() < 256) self->priv->text_out.push_back(TextOut{json, {}});
    self->priv->text_cv.notify_all();
  }
  GstStructure *s = gst_structure_new("meshflow-transcript", "json", G_TYPE_STRING, json.c_str(),
                                      "text", G_TYPE_STRING, text.c_str(), "speaker",
                                      G_TYPE_STRING, speaker, "is_final", G_TYPE_BOOLEAN,
                                      gboolean(is_final), "confidence", G_TYPE_DOUBLE, confidence,
                                      "timestamp", G_TYPE_INT64, unix_ms, nullptr);
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

// Speaker of the user's side of the conversation: the mixer's last active speaker, or "user".
static std::string user_speaker(GstMfLlmBridge *self) {
  Priv &p = *self->priv;
  std::lock_guard<std::mutex> lk(p.mu);
  return p.last_speaker.empty() ? std::string("user") : p.last_speaker;
}

static void report_error(GstMfLlmBridge *self, const char *kind, const std::string &message) {
  Priv &p = *self->priv;
  {
    std::lock_guard<std::mutex> lk(p.mu);
    Stats &st = p.stats;
    st.errors++;
    std::string k = kind;
    if (k == "auth") st.errors_auth++;
    else if (k == "rate_limit") st.errors_rate_limit++;
    else if (k == "server") st.errors_server++;
    else if (k == "network") st.errors_network++;
    else if (k == "watchdog") st.errors_watchdog++;
    else st.errors_protocol++;
  }
  Metrics::error(kind);
  GST_ELEMENT_WARNING(self, RESOURCE, FAILED, ("LLM service %s error", kind),
                      ("%s (playing silence, will retry)", message.c_str()));
  gst_element_post_message(
      GST_ELEMENT(self),
      gst_message_new_element(GST_OBJECT(self),
                              gst_structure_new("meshflow-llm-error", "kind", G_TYPE_STRING, kind,
                                                "message", G_TYPE_STRING, message.c_str(),
                                                nullptr)));
}

// ---- barge-in --------------------------------------------------------------------------------

// The user started speaking at running time `detected`. Flushes queued/playing assistant audio
// at once. Any thread but the src task.
static void barge_in(GstMfLlmBridge *self, GstClockTime detected) {
  Priv &p = *self->priv;
  std::string item;
  int64_t end_ms = 0;
  size_t flushed = 0;
  bool do_flush;
  {
    std::lock_guard<std::mutex> lk(p.mu);
    p.reply_at = GST_CLOCK_TIME_NONE;  // mock: a pending reply is dropped
    bool playing = p.last_n > 0 && GST_CLOCK_TIME_IS_VALID(p.last_pts) &&
                   GST_CLOCK_TIME_IS_VALID(detected) && detected < p.last_pts + p.tick;
    if (p.queue->queued() == 0 && !playing) return;
    // The item being played, or about to be.
    const std::string &cur = p.queue->current_item();
    if (!cur.empty() && p.queue->pulled_of(cur) > 0) {
      item = cur;
      int64_t pulled = p.queue->pulled_of(cur);
      int64_t played = pulled;
      if (p.last_item == cur && p.last_n > 0 && GST_CLOCK_TIME_IS_VALID(detected))
        played = mf::llm::played_samples_at(pulled, p.last_pts, p.last_off, p.last_n, detected,
                                            kOutRate);
      end_ms = mf::llm::played_ms(played, kOutRate);
    } else {
      item = p.queue->front_item();
      end_ms = 0;
    }
    flushed = p.queue->clear();
    p.item_target.clear();  // what was queued will never play
    p.last_n = 0;
    p.discont = true;
    do_flush = p.started && p.run.flush_on_barge_in;
    if (do_flush) p.flush_pending = true;
    p.cancelled_item = item;
    p.cancelled_response = p.playing_response;
    p.awaiting_first = false;
    p.asst_text.clear();
    p.stats.cancelled++;
    p.stats.truncate_ms_last = end_ms;
  }
  if (do_flush) gst_pad_push_event(self->srcpad, gst_event_new_flush_start());
  {
    std::lock_guard<std::mutex> lk(p.mu);
    if (p.wait_id) gst_clock_id_unschedule(p.wait_id);
  }
  GstClockTime done = running_now(self);
  double ms = 0;
  if (GST_CLOCK_TIME_IS_VALID(done) && GST_CLOCK_TIME_IS_VALID(detected) && done > detected)
    ms = double(done - detected) / 1e6;
  {
    std::lock_guard<std::mutex> lk(p.mu);
    p.stats.interruption_ms_last = ms;
  }
  Metrics::get().interruption.observe(ms / 1000.0);
  GST_INFO_OBJECT(self, "barge-in: flushed %zu samples, item %s truncated at %" G_GINT64_FORMAT
                  " ms", flushed, item.c_str(), end_ms);
  if (p.net) p.net->cancel_and_truncate(item, end_ms);
  gst_element_post_message(
      GST_ELEMENT(self),
      gst_message_new_element(
          GST_OBJECT(self),
          gst_structure_new("meshflow-llm-barge-in", "item_id", G_TYPE_STRING, item.c_str(),
                            "audio_end_ms", G_TYPE_INT64, end_ms, "flushed_samples",
                            G_TYPE_UINT64, guint64(flushed), "detected", G_TYPE_UINT64,
                            guint64(detected), nullptr)));
}

static void speech_ended(GstMfLlmBridge *self, GstClockTime at) {
  Priv &p = *self->priv;
  std::lock_guard<std::mutex> lk(p.mu);
  p.speech_end = at;
  p.awaiting_first = GST_CLOCK_TIME_IS_VALID(at);
  // The turn that just ended is answered to whoever spoke it, not whoever talks later. Its
  // transcripts (the user's, then the answer's) go to that peer too.
  p.turn_speaker = p.last_speaker;
  if (p.run.reply_to == ReplyTo::Speaker && !p.turn_speaker.empty() && p.turn_speaker != p.text_target) {
    p.text_target = p.turn_speaker;
    p.text_out.push_back(TextOut{{}, p.turn_speaker});
    p.text_cv.notify_all();
  }
}

// The peer the answer item `item` (response `response`, may be empty) is for: its response's,
// else the last turn's speaker. Remembered until the item starts playing. Call with mu held.
static void note_item_target(Priv &p, const std::string &item, const std::string &response) {
  if (p.run.reply_to != ReplyTo::Speaker || p.item_target.count(item)) return;
  auto r = response.empty() ? p.response_target.end() : p.response_target.find(response);
  if (p.item_target.size() > 64) p.item_target.clear();  // items that never played (cancelled)
  p.item_target[item] = r != p.response_target.end() ? r->second : p.turn_speaker;
}

// ---- events from the network thread ----------------------------------------------------------

static void on_server_event(GstMfLlmBridge *self, mf::llm::ServerEvent &ev) {
  Priv &p = *self->priv;
  GstClockTime now = running_now(self);
  switch (ev.kind) {
    case EventKind::SpeechStarted:
      barge_in(self, now);
      break;
    case EventKind::Interrupted: {
      barge_in(self, now);
      // Gemini stops the turn itself; what comes next belongs to a new turn.
      std::lock_guard<std::mutex> lk(p.mu);
      p.turn++;
      break;
    }
    case EventKind::SpeechStopped: {
      // The speech end the server reports (audio_end_ms), on our input timeline; the arrival of
      // the event when it cannot be mapped. Never later than now.
      GstClockTime at = now;
      if (ev.input_time != UINT64_MAX && GST_CLOCK_TIME_IS_VALID(now))
        at = std::min<GstClockTime>(ev.input_time, now);
      GST_DEBUG_OBJECT(self, "speech stopped: audio_end_ms %" G_GINT64_FORMAT " -> %" GST_TIME_FORMAT
                       " (event at %" GST_TIME_FORMAT ")", ev.audio_ms, GST_TIME_ARGS(at),
                       GST_TIME_ARGS(now));
      speech_ended(self, at);
      break;
    }
    case EventKind::ResponseCreated: {
      std::lock_guard<std::mutex> lk(p.mu);
      p.playing_response = ev.response_id;
      if (p.run.reply_to == ReplyTo::Speaker && !ev.response_id.empty()) {
        if (p.response_target.size() > 64) p.response_target.clear();
        p.response_target[ev.response_id] = p.turn_speaker;
      }
      break;
    }
    case EventKind::AudioDelta: {
      std::lock_guard<std::mutex> lk(p.mu);
      std::string item = ev.item_id;
      if (p.run.provider == Provider::Gemini) item = "gemini-turn-" + std::to_string(p.turn);
      if ((!item.empty() && item == p.cancelled_item) ||
          (!ev.response_id.empty() && ev.response_id == p.cancelled_response))
        break;  // in flight when we cancelled it
      if (!ev.response_id.empty()) p.playing_response = ev.response_id;
      note_item_target(p, item, ev.response_id);
      size_t dropped = p.queue->push(item, ev.audio.data(), ev.audio.size());
      if (dropped) GST_WARNING_OBJECT(self, "assistant audio queue full, dropped %zu", dropped);
      break;
    }
    case EventKind::AssistantTextDelta: {
      std::string acc;
      {
        std::lock_guard<std::mutex> lk(p.mu);
        if (!ev.item_id.empty() && ev.item_id == p.cancelled_item) break;
        p.asst_text += ev.text;
        acc = p.asst_text;
      }
      emit_transcript(self, acc, "assistant", false);
      break;
    }
    case EventKind::AssistantTextDone: {
      std::string text = ev.text;
      {
        std::lock_guard<std::mutex> lk(p.mu);
        if (text.empty()) text = p.asst_text;
        p.asst_text.clear();
      }
      if (!text.empty()) emit_transcript(self, text, "assistant", true);
      break;
    }
    case EventKind::ResponseDone: {
      std::string text;
      {
        std::lock_guard<std::mutex> lk(p.mu);
        p.turn++;
        if (p.run.provider == Provider::Gemini) text = p.asst_text;
        if (p.run.provider == Provider::Gemini) p.asst_text.clear();
      }
      if (!text.empty()) emit_transcript(self, text, "assistant", true);
      break;
    }
    case EventKind::UserText:
      if (!ev.text.empty()) emit_transcript(self, ev.text, user_speaker(self).c_str(), true);
      break;
    default:
      break;
  }
}

// ---- the src task -----------------------------------------------------------------------------

static void push_stream_start(GstMfLlmBridge *self) {
  gchar *id = gst_pad_create_stream_id(self->srcpad, GST_ELEMENT(self), "audio");
  gst_pad_push_event(self->srcpad, gst_event_new_stream_start(id));
  g_free(id);
  GstCaps *caps = gst_static_pad_template_get_caps(&src_template);
  gst_pad_push_event(self->srcpad, gst_event_new_caps(caps));
  gst_caps_unref(caps);
  GstSegment seg;
  gst_segment_init(&seg, GST_FORMAT_TIME);
  gst_pad_push_event(self->srcpad, gst_event_new_segment(&seg));
}

// ---- the text task ------------------------------------------------------------------------------
// The text pad has its own streaming thread: a sink on it blocks in preroll until PLAYING, which
// must not stop the audio (and the other way round). It starts with a GAP so that its sink
// prerolls (the stream is sparse), then pushes each transcript event as it comes, PTS = the
// running time when it is pushed, and EOS after the audio output ended.
static void text_loop(gpointer data) {
  auto *self = GST_MF_LLM_BRIDGE(data);
  Priv &p = *self->priv;
  bool first;
  {
    std::lock_guard<std::mutex> lk(p.mu);
    if (p.text_shutting) {
      gst_pad_pause_task(self->textpad);
      return;
    }
    first = !p.text_started;
    p.text_started = true;
  }
  if (first) {
    gchar *id = gst_pad_create_stream_id(self->textpad, GST_ELEMENT(self), "text");
    gst_pad_push_event(self->textpad, gst_event_new_stream_start(id));
    g_free(id);
    GstCaps *caps = gst_caps_new_empty_simple("application/x-meshflow-event");
    gst_pad_push_event(self->textpad, gst_event_new_caps(caps));
    gst_caps_unref(caps);
    GstSegment seg;
    gst_segment_init(&seg, GST_FORMAT_TIME);
    gst_pad_push_event(self->textpad, gst_event_new_segment(&seg));
    gst_pad_push_event(self->textpad, gst_event_new_gap(0, GST_CLOCK_TIME_NONE));
  }
  std::deque<TextOut> texts;
  bool eos;
  {
    std::unique_lock<std::mutex> lk(p.mu);
    p.text_cv.wait(lk, [&] { return !p.text_out.empty() || p.text_eos || p.text_shutting; });
    if (p.text_shutting) return;  // the next iteration pauses the task
    texts.swap(p.text_out);
    eos = p.text_eos;
  }
  GstClockTime now = running_now(self);
  for (auto &t : texts) {
    if (!t.tag.empty()) {  // reply-to=speaker: the transcripts that follow are for this peer
      gst_pad_push_event(self->textpad, peer_tag_event(t.tag));
      continue;
    }
    GstBuffer *tb = gst_buffer_new_memdup(t.json.data(), t.json.size());
    GST_BUFFER_PTS(tb) = now;
    gst_pad_push(self->textpad, tb);  // unlinked or flushing text pads are fine
  }
  if (eos) {
    gst_pad_push_event(self->textpad, gst_event_new_eos());
    std::lock_guard<std::mutex> lk(p.mu);
    p.text_eos = false;
    gst_pad_pause_task(self->textpad);
  }
}

static gboolean text_activate_mode(GstPad *pad, GstObject *parent, GstPadMode mode,
                                   gboolean active) {
  auto *self = GST_MF_LLM_BRIDGE(parent);
  Priv &p = *self->priv;
  if (mode != GST_PAD_MODE_PUSH) return FALSE;
  if (active) {
    {
      std::lock_guard<std::mutex> lk(p.mu);
      p.text_shutting = false;
      p.text_started = false;
      p.text_eos = false;
      p.text_target.clear();
    }
    return gst_pad_start_task(pad, text_loop, self, nullptr);
  }
  {
    std::lock_guard<std::mutex> lk(p.mu);
    p.text_shutting = true;
    p.text_cv.notify_all();
  }
  return gst_pad_stop_task(pad);
}

static void src_loop(gpointer data) {
  auto *self = GST_MF_LLM_BRIDGE(data);
  Priv &p = *self->priv;
  bool first;
  {
    std::unique_lock<std::mutex> lk(p.mu);
    p.cv.wait(lk, [&] { return p.running || p.shutting; });
    if (p.shutting) {
      lk.unlock();
      gst_pad_pause_task(self->srcpad);
      return;
    }
    first = !p.started;
    p.started = true;
    p.flush_pending = first ? false : p.flush_pending;
  }
  if (first) push_stream_start(self);

  bool do_flush;
  {
    std::lock_guard<std::mutex> lk(p.mu);
    do_flush = p.flush_pending;
    p.flush_pending = false;
  }
  if (do_flush) {
    gst_pad_push_event(self->srcpad, gst_event_new_flush_stop(FALSE));
    GstSegment seg;
    gst_segment_init(&seg, GST_FORMAT_TIME);
    gst_pad_push_event(self->srcpad, gst_event_new_segment(&seg));
  }

  GstClock *clock = gst_element_get_clock(GST_ELEMENT(self));
  if (!clock) {
    g_usleep(10000);
    return;
  }
  GstClockTime base = gst_element_get_base_time(GST_ELEMENT(self));
  GstClockTime now = gst_clock_get_time(clock);
  now = now > base ? now - base : 0;
  GstClockID id;
  {
    std::lock_guard<std::mutex> lk(p.mu);
    if (!GST_CLOCK_TIME_IS_VALID(p.next_pts) || now > p.next_pts + 200 * GST_MSECOND) {
      if (GST_CLOCK_TIME_IS_VALID(p.next_pts)) p.discont = true;
      p.next_pts = now;
    }
    id = gst_clock_new_single_shot_id(clock, base + p.next_pts);
    p.wait_id = id;
    if (!p.running || p.flush_pending) gst_clock_id_unschedule(id);
  }
  gst_object_unref(clock);
  GstClockReturn cret = gst_clock_id_wait(id, nullptr);
  {
    std::lock_guard<std::mutex> lk(p.mu);
    p.wait_id = nullptr;
  }
  gst_clock_id_unref(id);
  if (cret == GST_CLOCK_UNSCHEDULED) return;  // flush, pause or shutdown: loop again

  const GstClockTime tick = p.tick;
  const size_t tick_samples = p.tick_samples;
  GstBuffer *buf = gst_buffer_new_allocate(nullptr, tick_samples * 2, nullptr);
  bool finish = false;
  bool mock_replied = false;
  unsigned reply_no = 0;
  GstClockTime first_audio_at = GST_CLOCK_TIME_NONE, end_at = GST_CLOCK_TIME_NONE;
  std::string tag_peer;  // reply-to=speaker: push a tag naming this peer before the buffer
  {
    std::lock_guard<std::mutex> lk(p.mu);
    GstClockTime pts = p.next_pts;
    size_t lead = 0;
    if (GST_CLOCK_TIME_IS_VALID(p.reply_at) && p.reply_at < pts + tick) {
      // Mock: the reply starts exactly at reply_at (inside this buffer or at its start).
      if (p.reply_at > pts) lead = size_t(gst_util_uint64_scale(p.reply_at - pts, kOutRate, GST_SECOND));
      reply_no = ++p.turn;
      auto tone = mf::llm::mock_reply_tone(kOutRate, int(p.run.mock_reply_ms), reply_no);
      const std::string item = "mock-" + std::to_string(reply_no);
      if (p.run.reply_to == ReplyTo::Speaker) p.item_target[item] = p.reply_target;
      p.queue->push(item, tone.data(), tone.size());
      p.reply_at = GST_CLOCK_TIME_NONE;
      mock_replied = true;
    }
    GstMapInfo map;
    gst_buffer_map(buf, &map, GST_MAP_WRITE);
    OutQueue::Pulled r =
        p.queue->pull(reinterpret_cast<int16_t *>(map.data), tick_samples, lead);
    gst_buffer_unmap(buf, &map);
    if (r.audio > 0) {
      p.last_pts = pts;
      p.last_off = r.first_offset;
      p.last_n = r.audio;
      p.last_item = r.item;
      if (r.item_started && p.awaiting_first) {
        first_audio_at = pts + gst_util_uint64_scale(r.first_offset, GST_SECOND, kOutRate);
        end_at = p.speech_end;
        p.awaiting_first = false;
      }
      if (r.item_started) p.stats.responses++;
      auto t = r.item_started ? p.item_target.find(r.item) : p.item_target.end();
      if (t != p.item_target.end()) {
        // A new answer starts playing: if it is for another peer than the last one, say so
        // before its first sample (no speaker known: it goes where the last answer went).
        if (!t->second.empty() && t->second != p.audio_target) tag_peer = p.audio_target = t->second;
        p.item_target.erase(t);
      }
    } else {
      p.last_n = 0;
    }
    GST_BUFFER_PTS(buf) = pts;
    GST_BUFFER_DURATION(buf) = tick;
    if (p.discont) {
      GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DISCONT);
      p.discont = false;
    }
    p.next_pts = pts + tick;
    // After EOS on sink: this is the last buffer once nothing is queued or scheduled.
    if (p.eos_pending && p.queue->queued() == 0 && !GST_CLOCK_TIME_IS_VALID(p.reply_at)) {
      finish = true;
      p.eos_pending = false;
      p.eos_sent = true;
    }
    if (GST_CLOCK_TIME_IS_VALID(first_audio_at) && GST_CLOCK_TIME_IS_VALID(end_at)) {
      double ms = first_audio_at > end_at ? double(first_audio_at - end_at) / 1e6 : 0.0;
      p.stats.first_audio_ms_last = ms;
      p.stats.first_audio.push_back(ms);
      if (p.stats.first_audio.size() > 101) p.stats.first_audio.pop_front();
      Metrics::get().first_audio.observe(ms / 1000.0);
    }
  }
  if (mock_replied) {
    emit_transcript(self, "Mock reply " + std::to_string(reply_no) + ".", "assistant", true,
                    1.0);
  }
  if (!tag_peer.empty()) {
    GST_INFO_OBJECT(self, "answer for %s", tag_peer.c_str());
    gst_pad_push_event(self->srcpad, peer_tag_event(tag_peer));
  }
  GstFlowReturn ret = gst_pad_push(self->srcpad, buf);
  if (finish) {
    GST_INFO_OBJECT(self, "input ended and the queued reply has played: EOS");
    {
      std::lock_guard<std::mutex> lk(p.mu);
      p.text_eos = true;  // the text task pushes what is left, then EOS
      p.text_cv.notify_all();
    }
    gst_pad_push_event(self->srcpad, gst_event_new_eos());
    gst_pad_pause_task(self->srcpad);
    return;
  }
  if (ret == GST_FLOW_OK || ret == GST_FLOW_FLUSHING || ret == GST_FLOW_NOT_LINKED) return;
  if (ret == GST_FLOW_EOS) return;
  GST_ELEMENT_FLOW_ERROR(self, ret);
  gst_pad_pause_task(self->srcpad);
}

static gboolean src_activate_mode(GstPad *pad, GstObject *parent, GstPadMode mode,
                                  gboolean active) {
  auto *self = GST_MF_LLM_BRIDGE(parent);
  Priv &p = *self->priv;
  if (mode != GST_PAD_MODE_PUSH) return FALSE;
  if (active) {
    {
      std::lock_guard<std::mutex> lk(p.mu);
      p.shutting = false;
      p.started = false;
      p.flush_pending = false;
      p.next_pts = GST_CLOCK_TIME_NONE;
      p.discont = true;
      p.eos_pending = false;
      p.eos_sent = false;
      p.audio_target.clear();
    }
    return gst_pad_start_task(pad, src_loop, self, nullptr);
  }
  {
    std::lock_guard<std::mutex> lk(p.mu);
    p.shutting = true;
    p.running = false;
    if (p.wait_id) gst_clock_id_unschedule(p.wait_id);
    p.cv.notify_all();
  }
  return gst_pad_stop_task(pad);
}

// The input and the outputs are independent streams: queries are answered here, never forwarded
// across the element (an upstream allocation or a downstream position query would mean nothing
// on the other side).
static gboolean src_query(GstPad *pad, GstObject *parent, GstQuery *query) {
  switch (GST_QUERY_TYPE(query)) {
    case GST_QUERY_LATENCY: {
      GstClockTime tick = GST_MF_LLM_BRIDGE(parent)->priv->tick;
      gst_query_set_latency(query, TRUE, tick, tick);
      return TRUE;
    }
    case GST_QUERY_CAPS:
    case GST_QUERY_ACCEPT_CAPS:
      return gst_pad_query_default(pad, parent, query);
    default:
      return FALSE;
  }
}

static gboolean sink_query(GstPad *pad, GstObject *parent, GstQuery *query) {
  switch (GST_QUERY_TYPE(query)) {
    case GST_QUERY_CAPS:
    case GST_QUERY_ACCEPT_CAPS:
      return gst_pad_query_default(pad, parent, query);
    default:
      return FALSE;
  }
}

// ---- the sink side -----------------------------------------------------------------------------

static gboolean sink_event(GstPad *pad, GstObject *parent, GstEvent *event) {
  auto *self = GST_MF_LLM_BRIDGE(parent);
  Priv &p = *self->priv;
  if (GST_EVENT_TYPE(event) == GST_EVENT_CAPS) {
    GstCaps *caps;
    gst_event_parse_caps(event, &caps);
    GstStructure *s = gst_caps_get_structure(caps, 0);
    int rate = 0;
    if (!gst_structure_get_int(s, "rate", &rate) || rate <= 0) {
      gst_event_unref(event);
      return FALSE;
    }
    p.in_rate = rate;
    GST_DEBUG_OBJECT(self, "input rate %d", rate);
    p.rs.configure(rate, mf::llm::provider_input_rate(p.run.provider));
    {
      std::lock_guard<std::mutex> lk(p.mu);
      p.vad.configure(rate, p.run.mock_vad_threshold, int(p.run.mock_silence_ms));
    }
    gst_event_unref(event);
    return TRUE;
  }
  (void)pad;
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_SEGMENT: {
      // Kept to map input buffers to running time (the speech-end timeline); not forwarded.
      const GstSegment *seg;
      gst_event_parse_segment(event, &seg);
      if (seg->format == GST_FORMAT_TIME) gst_segment_copy_into(seg, &p.in_seg);
      else gst_segment_init(&p.in_seg, GST_FORMAT_TIME);
      break;
    }
    case GST_EVENT_EOS: {
      // The output ends too: the src task plays out the assistant audio already queued (and a
      // mock reply already scheduled), then pushes EOS on src and text and stops. A reply the
      // service has not sent yet is not waited for.
      std::lock_guard<std::mutex> lk(p.mu);
      if (!p.eos_sent) p.eos_pending = true;
      GST_INFO_OBJECT(self, "EOS on sink: ending the output after %zu queued samples",
                      p.queue->queued());
      break;
    }
    case GST_EVENT_CUSTOM_DOWNSTREAM: {
      // An upstream mixer names the active speaker; an empty id (silence) keeps the last one, so
      // the transcript that arrives after the turn still names who spoke.
      const GstStructure *st = gst_event_get_structure(event);
      const char *who = st && gst_structure_has_name(st, "meshflow-speaker")
                            ? gst_structure_get_string(st, "peer-id") : nullptr;
      if (who && *who) {
        std::lock_guard<std::mutex> lk(p.mu);
        p.last_speaker = who;
      }
      break;
    }
    case GST_EVENT_FLUSH_STOP: {
      std::lock_guard<std::mutex> lk(p.mu);
      p.eos_pending = false;  // a new input stream (an EOS already sent on src stays sent)
      gst_segment_init(&p.in_seg, GST_FORMAT_TIME);
      break;
    }
    default:
      break;
  }
  // The output is an independent live stream: upstream segments and flushes stay here.
  gst_event_unref(event);
  return TRUE;
}

static GstFlowReturn sink_chain(GstPad *, GstObject *parent, GstBuffer *buf) {
  auto *self = GST_MF_LLM_BRIDGE(parent);
  Priv &p = *self->priv;
  if (p.in_rate <= 0) {
    gst_buffer_unref(buf);
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("no caps on the sink pad before data"), (nullptr));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READ)) {
    gst_buffer_unref(buf);
    return GST_FLOW_OK;
  }
  const auto *s = reinterpret_cast<const int16_t *>(map.data);
  size_t n = map.size / 2;
  if (p.run.provider == Provider::Mock) {
    std::vector<mf::llm::EnergyVad::Event> evs;
    {
      std::lock_guard<std::mutex> lk(p.mu);
      evs = p.vad.feed(s, n);
    }
    for (auto e : evs) {
      GstClockTime now = running_now(self);
      GST_DEBUG_OBJECT(self, "mock VAD: speech %s at %" GST_TIME_FORMAT,
                       e == mf::llm::EnergyVad::Event::SpeechStart ? "start" : "end",
                       GST_TIME_ARGS(now));
      if (e == mf::llm::EnergyVad::Event::SpeechStart) {
        {
          std::lock_guard<std::mutex> lk(p.mu);
          p.speech_start = now;
        }
        barge_in(self, now);
      } else {
        GstClockTime started;
        {
          std::lock_guard<std::mutex> lk(p.mu);
          started = p.speech_start;
          if (GST_CLOCK_TIME_IS_VALID(now))
            p.reply_at = now + GstClockTime(p.run.mock_delay_ms) * GST_MSECOND;
          p.reply_target = p.last_speaker;  // the reply answers whoever spoke this turn
        }
        speech_ended(self, now);
        double dur = GST_CLOCK_TIME_IS_VALID(started) && now > started
                         ? double(now - started) / 1e9 : 0.0;
        gchar *t = g_strdup_printf("(mock) %.2f s of speech", dur);
        emit_transcript(self, t, user_speaker(self).c_str(), true, 1.0);
        g_free(t);
      }
    }
  } else if (p.net) {
    std::vector<int16_t> out;
    out.reserve(n * 2);
    p.rs.process(s, n, &out);
    // Where this audio sits on our timeline: the buffer's running time, or its arrival.
    GstClockTime rt = GST_CLOCK_TIME_NONE;
    if (GST_BUFFER_PTS_IS_VALID(buf))
      rt = gst_segment_to_running_time(&p.in_seg, GST_FORMAT_TIME, GST_BUFFER_PTS(buf));
    if (!GST_CLOCK_TIME_IS_VALID(rt)) rt = running_now(self);
    if (!p.net->send_audio(std::move(out),
                           GST_CLOCK_TIME_IS_VALID(rt) ? uint64_t(rt) : UINT64_MAX)) {
      std::lock_guard<std::mutex> lk(p.mu);
      p.stats.input_dropped_ms += guint64(n) * 1000 / guint64(p.in_rate);
    }
  }
  gst_buffer_unmap(buf, &map);
  gst_buffer_unref(buf);
  return GST_FLOW_OK;
}

// ---- lifecycle -----------------------------------------------------------------------------------

static bool start_session(GstMfLlmBridge *self) {
  Priv &p = *self->priv;
  {
    std::lock_guard<std::mutex> lk(p.settings_mu);
    p.run = p.settings;
  }
  p.tick = GstClockTime(p.run.period_ms) * GST_MSECOND;
  p.tick_samples = size_t(kOutRate) * p.run.period_ms / 1000;
  {
    std::lock_guard<std::mutex> lk(p.mu);
    p.queue->clear();
    p.text_out.clear();
    p.reply_at = GST_CLOCK_TIME_NONE;
    p.awaiting_first = false;
    p.last_n = 0;
    p.turn_speaker.clear();
    p.reply_target.clear();
    p.response_target.clear();
    p.item_target.clear();
    p.vad.configure(p.in_rate > 0 ? p.in_rate : 16000, p.run.mock_vad_threshold,
                    int(p.run.mock_silence_ms));
  }
  if (p.run.provider == Provider::Mock) return true;
  mf::llm::NetSettings ns;
  ns.provider = p.run.provider;
  ns.url = p.run.url;
  ns.session = {p.run.model, p.run.voice, p.run.instructions};
  ns.key_env = p.run.key_env.empty() ? mf::llm::default_key_env(p.run.provider) : p.run.key_env;
  ns.token_url = p.run.token_url;
  ns.watchdog_ms = p.run.watchdog_ms;
  ns.max_session_s = p.run.max_session_s
                         ? p.run.max_session_s
                         : (p.run.provider == Provider::OpenAI ? 1680u : 540u);
  ns.reconnect_min_ms = p.run.reconnect_min_ms;
  ns.reconnect_max_ms = std::max(p.run.reconnect_max_ms, p.run.reconnect_min_ms);
  mf::llm::NetClient::Callbacks cb;
  cb.on_event = [self](mf::llm::ServerEvent &ev) { on_server_event(self, ev); };
  cb.on_error = [self](const char *kind, const std::string &m) { report_error(self, kind, m); };
  cb.on_connected = [self](bool up) {
    self->priv->connected = up;
    GST_INFO_OBJECT(self, "service %s", up ? "connected" : "disconnected");
  };
  cb.on_reconnect = [self] {
    {
      std::lock_guard<std::mutex> lk(self->priv->mu);
      self->priv->stats.reconnects++;
    }
    Metrics::get().reconnects.inc();
  };
  cb.on_rollover = [self] {
    std::lock_guard<std::mutex> lk(self->priv->mu);
    self->priv->stats.session_rollovers++;
  };
  cb.on_unknown_event = [self] {
    std::lock_guard<std::mutex> lk(self->priv->mu);
    self->priv->stats.unknown_events++;
  };
  p.net = std::make_unique<mf::llm::NetClient>(std::move(ns), std::move(cb));
  p.net->start();
  return true;
}

static GstStateChangeReturn change_state(GstElement *element, GstStateChange transition) {
  auto *self = GST_MF_LLM_BRIDGE(element);
  Priv &p = *self->priv;
  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      if (!start_session(self)) return GST_STATE_CHANGE_FAILURE;
      break;
    case GST_STATE_CHANGE_PAUSED_TO_PLAYING: {
      std::lock_guard<std::mutex> lk(p.mu);
      p.running = true;
      p.cv.notify_all();
      break;
    }
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED: {
      std::lock_guard<std::mutex> lk(p.mu);
      p.running = false;
      if (p.wait_id) gst_clock_id_unschedule(p.wait_id);
      break;
    }
    default:
      break;
  }
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_mf_llm_bridge_parent_class)->change_state(element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) return ret;
  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
      ret = GST_STATE_CHANGE_NO_PREROLL;
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      if (p.net) p.net->stop();  // joins the network thread: no callback runs after this
      p.net.reset();
      p.connected = false;
      break;
    default:
      break;
  }
  return ret;
}

// ---- properties ----------------------------------------------------------------------------------

static void set_str(std::string *dst, const GValue *v) {
  const gchar *s = g_value_get_string(v);
  *dst = s ? s : "";
}

static void set_property(GObject *object, guint id, const GValue *value, GParamSpec *pspec) {
  auto *self = GST_MF_LLM_BRIDGE(object);
  std::lock_guard<std::mutex> lk(self->priv->settings_mu);
  Settings &s = self->priv->settings;
  switch (id) {
    case PROP_PROVIDER: s.provider = Provider(g_value_get_enum(value)); break;
    case PROP_URL: set_str(&s.url, value); break;
    case PROP_MODEL: set_str(&s.model, value); break;
    case PROP_VOICE: set_str(&s.voice, value); break;
    case PROP_INSTRUCTIONS: set_str(&s.instructions, value); break;
    case PROP_API_KEY_ENV: set_str(&s.key_env, value); break;
    case PROP_TOKEN_URL: set_str(&s.token_url, value); break;
    case PROP_WATCHDOG_MS: s.watchdog_ms = g_value_get_uint(value); break;
    case PROP_MAX_SESSION_S: s.max_session_s = g_value_get_uint(value); break;
    case PROP_RECONNECT_MIN_MS: s.reconnect_min_ms = g_value_get_uint(value); break;
    case PROP_RECONNECT_MAX_MS: s.reconnect_max_ms = g_value_get_uint(value); break;
    case PROP_MOCK_DELAY_MS: s.mock_delay_ms = g_value_get_uint(value); break;
    case PROP_MOCK_REPLY_MS: s.mock_reply_ms = g_value_get_uint(value); break;
    case PROP_MOCK_SILENCE_MS: s.mock_silence_ms = g_value_get_uint(value); break;
    case PROP_MOCK_VAD_THRESHOLD: s.mock_vad_threshold = g_value_get_int(value); break;
    case PROP_FLUSH_ON_BARGE_IN: s.flush_on_barge_in = g_value_get_boolean(value); break;
    case PROP_OUTPUT_PERIOD_MS: s.period_ms = g_value_get_uint(value); break;
    case PROP_REPLY_TO: s.reply_to = ReplyTo(g_value_get_enum(value)); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
  }
}

static GstStructure *build_stats(GstMfLlmBridge *self) {
  Priv &p = *self->priv;
  bool connected = p.connected.load();
  std::lock_guard<std::mutex> lk(p.mu);
  const Stats &st = p.stats;
  double p50 = -1;
  if (!st.first_audio.empty()) {
    std::vector<double> v(st.first_audio.begin(), st.first_audio.end());
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    p50 = v[v.size() / 2];
  }
  return gst_structure_new(
      "llm-bridge-stats", "connected", G_TYPE_BOOLEAN, gboolean(connected), "reconnects",
      G_TYPE_UINT64, st.reconnects, "errors", G_TYPE_UINT64, st.errors, "errors_auth",
      G_TYPE_UINT64, st.errors_auth, "errors_rate_limit", G_TYPE_UINT64, st.errors_rate_limit,
      "errors_server", G_TYPE_UINT64, st.errors_server, "errors_network", G_TYPE_UINT64,
      st.errors_network, "errors_watchdog", G_TYPE_UINT64, st.errors_watchdog, "errors_protocol",
      G_TYPE_UINT64, st.errors_protocol, "responses", G_TYPE_UINT64, st.responses, "cancelled",
      G_TYPE_UINT64, st.cancelled, "first_audio_ms_last", G_TYPE_DOUBLE, st.first_audio_ms_last,
      "first_audio_ms_p50", G_TYPE_DOUBLE, p50, "interruption_ms_last", G_TYPE_DOUBLE,
      st.interruption_ms_last, "truncate_audio_end_ms_last", G_TYPE_INT64, st.truncate_ms_last,
      "session_rollovers", G_TYPE_UINT64, st.session_rollovers, "input_dropped_ms", G_TYPE_UINT64,
      st.input_dropped_ms, "unknown_events", G_TYPE_UINT64, st.unknown_events, "queued_ms",
      G_TYPE_UINT64, guint64(p.queue->queued()) * 1000 / kOutRate, nullptr);
}

static void get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec) {
  auto *self = GST_MF_LLM_BRIDGE(object);
  if (id == PROP_STATS) {
    g_value_take_boxed(value, build_stats(self));
    return;
  }
  std::lock_guard<std::mutex> lk(self->priv->settings_mu);
  const Settings &s = self->priv->settings;
  auto str = [&](const std::string &v) { g_value_set_string(value, v.empty() ? nullptr : v.c_str()); };
  switch (id) {
    case PROP_PROVIDER: g_value_set_enum(value, int(s.provider)); break;
    case PROP_URL: str(s.url); break;
    case PROP_MODEL: str(s.model); break;
    case PROP_VOICE: str(s.voice); break;
    case PROP_INSTRUCTIONS: str(s.instructions); break;
    case PROP_API_KEY_ENV: str(s.key_env); break;
    case PROP_TOKEN_URL: str(s.token_url); break;
    case PROP_WATCHDOG_MS: g_value_set_uint(value, s.watchdog_ms); break;
    case PROP_MAX_SESSION_S: g_value_set_uint(value, s.max_session_s); break;
    case PROP_RECONNECT_MIN_MS: g_value_set_uint(value, s.reconnect_min_ms); break;
    case PROP_RECONNECT_MAX_MS: g_value_set_uint(value, s.reconnect_max_ms); break;
    case PROP_MOCK_DELAY_MS: g_value_set_uint(value, s.mock_delay_ms); break;
    case PROP_MOCK_REPLY_MS: g_value_set_uint(value, s.mock_reply_ms); break;
    case PROP_MOCK_SILENCE_MS: g_value_set_uint(value, s.mock_silence_ms); break;
    case PROP_MOCK_VAD_THRESHOLD: g_value_set_int(value, s.mock_vad_threshold); break;
    case PROP_FLUSH_ON_BARGE_IN: g_value_set_boolean(value, s.flush_on_barge_in); break;
    case PROP_OUTPUT_PERIOD_MS: g_value_set_uint(value, s.period_ms); break;
    case PROP_REPLY_TO: g_value_set_enum(value, int(s.reply_to)); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
  }
}

static void finalize(GObject *object) {
  auto *self = GST_MF_LLM_BRIDGE(object);
  delete self->priv;
  G_OBJECT_CLASS(gst_mf_llm_bridge_parent_class)->finalize(object);
}

static void gst_mf_llm_bridge_class_init(GstMfLlmBridgeClass *klass) {
  GObjectClass *oc = G_OBJECT_CLASS(klass);
  GstElementClass *ec = GST_ELEMENT_CLASS(klass);
  oc->set_property = set_property;
  oc->get_property = get_property;
  oc->finalize = finalize;
  ec->change_state = change_state;

  auto flags = GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(
      oc, PROP_PROVIDER,
      g_param_spec_enum("provider", "Provider",
                        "Realtime LLM service: openai_realtime, gemini_live or mock (offline)",
                        mf_llm_provider_get_type(), int(Provider::Mock), flags));
  g_object_class_install_property(
      oc, PROP_URL,
      g_param_spec_string("url", "URL",
                          "WebSocket endpoint (ws:// or wss://); unset = the provider's default",
                          nullptr, flags));
  g_object_class_install_property(
      oc, PROP_MODEL,
      g_param_spec_string("model", "Model",
                          "Model name; unset = gpt-4o-realtime-preview / "
                          "models/gemini-2.0-flash-live-001",
                          nullptr, flags));
  g_object_class_install_property(
      oc, PROP_VOICE,
      g_param_spec_string("voice", "Voice", "Assistant voice; unset = alloy / Puck", nullptr,
                          flags));
  g_object_class_install_property(
      oc, PROP_INSTRUCTIONS,
      g_param_spec_string("instructions", "Instructions", "System instructions for the session",
                          nullptr, flags));
  g_object_class_install_property(
      oc, PROP_API_KEY_ENV,
      g_param_spec_string("api-key-env", "API key environment variable",
                          "NAME of the environment variable holding the key (never the key); "
                          "unset = OPENAI_API_KEY / GEMINI_API_KEY",
                          nullptr, flags));
  g_object_class_install_property(
      oc, PROP_TOKEN_URL,
      g_param_spec_string("token-url", "Ephemeral token URL",
                          "HTTP(S) endpoint POSTed before every (re)connect; its JSON "
                          "client_secret.value | value | token is used instead of the key",
                          nullptr, flags));
  g_object_class_install_property(
      oc, PROP_WATCHDOG_MS,
      g_param_spec_uint("watchdog-ms", "Watchdog (ms)",
                        "No server event within this while a response or the session ack is "
                        "due -> reconnect and restore",
                        100, 600000, 5000, flags));
  g_object_class_install_property(
      oc, PROP_MAX_SESSION_S,
      g_param_spec_uint("max-session-s", "Maximum session length (s)",
                        "Roll the service session over after this; 0 = provider default "
                        "(openai 1680, gemini 540)",
                        0, 86400, 0, flags));
  g_object_class_install_property(
      oc, PROP_RECONNECT_MIN_MS,
      g_param_spec_uint("reconnect-min-ms", "Reconnect backoff start (ms)",
                        "First reconnect delay; doubles per failure up to reconnect-max-ms", 1,
                        600000, 250, flags));
  g_object_class_install_property(
      oc, PROP_RECONNECT_MAX_MS,
      g_param_spec_uint("reconnect-max-ms", "Reconnect backoff cap (ms)",
                        "Longest reconnect delay; also the retry interval after 401/403", 1,
                        3600000, 30000, flags));
  g_object_class_install_property(
      oc, PROP_MOCK_DELAY_MS,
      g_param_spec_uint("mock-delay-ms", "Mock reply delay (ms)",
                        "mock: end of user speech to the first reply sample", 0, 60000, 300,
                        flags));
  g_object_class_install_property(
      oc, PROP_MOCK_REPLY_MS,
      g_param_spec_uint("mock-reply-ms", "Mock reply length (ms)", "mock: length of the reply",
                        10, 60000, 1500, flags));
  g_object_class_install_property(
      oc, PROP_MOCK_SILENCE_MS,
      g_param_spec_uint("mock-silence-ms", "Mock VAD silence (ms)",
                        "mock: silence that ends the user's speech", 10, 10000, 400, flags));
  g_object_class_install_property(
      oc, PROP_MOCK_VAD_THRESHOLD,
      g_param_spec_int("mock-vad-threshold", "Mock VAD threshold",
                       "mock: RMS (S16 units) of a 10 ms frame that counts as speech", 1, 32767,
                       800, flags));
  g_object_class_install_property(
      oc, PROP_FLUSH_ON_BARGE_IN,
      g_param_spec_boolean("flush-on-barge-in", "Flush on barge-in",
                           "Barge-in pushes FLUSH_START/FLUSH_STOP downstream so queued "
                           "assistant audio downstream is dropped too; false: only our queue is "
                           "dropped and the next buffer is DISCONT",
                           TRUE, flags));
  g_object_class_install_property(
      oc, PROP_OUTPUT_PERIOD_MS,
      g_param_spec_uint("output-period-ms", "Output period (ms)",
                        "Duration of each src buffer (and the reported latency); assistant audio "
                        "that arrives during silence starts at the next period boundary",
                        5, 40, kDefaultPeriodMs, flags));
  g_object_class_install_property(
      oc, PROP_REPLY_TO,
      g_param_spec_enum("reply-to", "Reply to",
                        "all: answers are one stream for whoever the link routes it to; speaker: "
                        "each answer (audio and its transcripts) is preceded by a meshflow-peer-id "
                        "stream tag naming the peer whose turn it answers (the upstream mixer's "
                        "active speaker when the turn ended), for a sink pad with route: origin",
                        mf_llm_reply_to_get_type(), int(ReplyTo::All), flags));
  g_object_class_install_property(
      oc, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
                         "reconnects, errors by kind, first_audio_ms last/p50, "
                         "interruption_ms_last, responses, cancelled, ...",
                         GST_TYPE_STRUCTURE, GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  if (!gst_tag_exists(kPeerIdTag))
    gst_tag_register(kPeerIdTag, GST_TAG_FLAG_META, G_TYPE_STRING, "meshflow peer id",
                     "the peer a stream belongs to or is for", gst_tag_merge_use_first);
  gst_element_class_add_static_pad_template(ec, &sink_template);
  gst_element_class_add_static_pad_template(ec, &src_template);
  gst_element_class_add_static_pad_template(ec, &text_template);
  gst_element_class_set_static_metadata(
      ec, "Meshflow realtime LLM bridge", "Filter/Audio/Network",
      "A realtime voice LLM (OpenAI/Azure Realtime, Gemini Live, or an offline mock) as a "
      "session participant, with barge-in, watchdog and reconnect",
      "Meshflow");
  mf_node_class_set_name(ec, "llm_bridge");
}

static void gst_mf_llm_bridge_init(GstMfLlmBridge *self) {
  self->priv = new Priv();
  self->sinkpad = gst_pad_new_from_static_template(&sink_template, "sink");
  gst_pad_set_chain_function(self->sinkpad, sink_chain);
  gst_pad_set_event_function(self->sinkpad, sink_event);
  gst_pad_set_query_function(self->sinkpad, sink_query);
  gst_element_add_pad(GST_ELEMENT(self), self->sinkpad);
  self->srcpad = gst_pad_new_from_static_template(&src_template, "src");
  gst_pad_set_activatemode_function(self->srcpad, src_activate_mode);
  gst_pad_set_query_function(self->srcpad, src_query);
  gst_pad_use_fixed_caps(self->srcpad);
  gst_element_add_pad(GST_ELEMENT(self), self->srcpad);
  self->textpad = gst_pad_new_from_static_template(&text_template, "text");
  gst_pad_set_activatemode_function(self->textpad, text_activate_mode);
  gst_pad_set_query_function(self->textpad, src_query);
  gst_pad_use_fixed_caps(self->textpad);
  gst_element_add_pad(GST_ELEMENT(self), self->textpad);
  GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SOURCE);
}
