#include "encoder_chain.h"

#include <algorithm>
#include <cstring>

namespace mf::webrtc {

bool SendStream::selects(const std::string &peer) const {
  std::lock_guard<std::mutex> l(mu);
  if (!linked) return false;
  if (route.empty() || route == "broadcast") return true;
  if (route == "origin") return origin_peer.empty() || origin_peer == peer;  // empty: follows its tag
  if (route == "others") return origin_peer != peer;
  if (route.rfind("peer:", 0) == 0) return route.substr(5) == peer;
  return false;
}

bool SendStream::follows_tag() const {
  std::lock_guard<std::mutex> l(mu);
  return route == "origin" && origin_peer.empty();
}

namespace {

GstElement *make(const char *factory, std::string *error) {
  GstElement *e = gst_element_factory_make(factory, nullptr);
  if (!e && error->empty()) *error = std::string("missing element '") + factory + "'";
  return e;
}

}  // namespace

GstPad *build_send_chain(GstBin *bin, SendStream &s, const Settings &st, std::string *error) {
  std::vector<GstElement *> chain;
  GstElement *enc = nullptr;
  if (s.kind == Kind::Audio) {
    s.codec = find_codec("opus");
    chain.push_back(make("audioconvert", error));
    chain.push_back(make("audioresample", error));
    enc = make("opusenc", error);
    if (enc) {
      int frame = st.opus_frame_ms == 10 ? 10 : 20;
      gst_util_set_object_arg(G_OBJECT(enc), "frame-size", std::to_string(frame).c_str());
      gst_util_set_object_arg(G_OBJECT(enc), "audio-type",
                              st.opus_low_delay ? "restricted-lowdelay" : "voice");
      g_object_set(enc, "inband-fec", !st.opus_low_delay, "packet-loss-percentage", 5, "bitrate",
                   48000, "dtx", FALSE, nullptr);
    }
  } else {
    s.codec = find_codec(st.video_codec);
    if (!s.codec || s.codec->kind != Kind::Video) s.codec = find_codec("vp8");
    chain.push_back(make("videoconvert", error));
    unsigned br = std::clamp(st.start_bitrate, st.min_bitrate, st.max_bitrate);
    s.bitrate = br;
    if (std::strcmp(s.codec->name, "h264") == 0) {
      enc = make("openh264enc", error);
      if (enc) {
        gst_util_set_object_arg(G_OBJECT(enc), "complexity", "low");
        gst_util_set_object_arg(G_OBJECT(enc), "rate-control", "bitrate");
        gst_util_set_object_arg(G_OBJECT(enc), "usage-type", "camera");
        g_object_set(enc, "bitrate", br, "gop-size", 3000, "multi-thread", 1, nullptr);
      }
    } else {
      enc = make(std::strcmp(s.codec->name, "vp9") == 0 ? "vp9enc" : "vp8enc", error);
      if (enc) {
        // The real-time settings (PERFORMANCE.md): deadline=1 (realtime), negative cpu-used (no
        // auto-speed), CBR, no look-ahead, error resilient, one thread.
        g_object_set(enc, "deadline", (gint64)1, "cpu-used", -6, "lag-in-frames", 0, "threads", 1,
                     "target-bitrate", (int)br, "keyframe-max-dist", 3000, "buffer-size", 1000,
                     "buffer-initial-size", 500, "buffer-optimal-size", 600, nullptr);
        gst_util_set_object_arg(G_OBJECT(enc), "end-usage", "cbr");
        gst_util_set_object_arg(G_OBJECT(enc), "error-resilient", "default");
      }
    }
  }
  chain.push_back(enc);
  GstElement *pay = make(s.codec->payloader, error);
  if (pay) {
    g_object_set(pay, "pt", (guint)s.codec->payload, "mtu", 1200u, nullptr);
    if (std::strcmp(s.codec->name, "vp8") == 0 || std::strcmp(s.codec->name, "vp9") == 0)
      gst_util_set_object_arg(G_OBJECT(pay), "picture-id-mode", "15-bit");
    if (std::strcmp(s.codec->name, "h264") == 0) {
      g_object_set(pay, "config-interval", -1, nullptr);
      gst_util_set_object_arg(G_OBJECT(pay), "aggregate-mode", "zero-latency");
    }
  }
  chain.push_back(pay);
  GstElement *tee = make("tee", error);
  if (tee) g_object_set(tee, "allow-not-linked", TRUE, nullptr);
  chain.push_back(tee);
  if (!error->empty()) {
    for (auto *e : chain)
      if (e) gst_object_unref(gst_object_ref_sink(e));
    return nullptr;
  }
  for (auto *e : chain) gst_bin_add(bin, GST_ELEMENT(gst_object_ref(e)));  // we keep a ref each
  for (size_t i = 0; i + 1 < chain.size(); i++) {
    if (!gst_element_link(chain[i], chain[i + 1])) {
      *error = std::string("cannot link ") + GST_ELEMENT_NAME(chain[i]) + " to " +
               GST_ELEMENT_NAME(chain[i + 1]);
      for (auto *e : chain) {
        gst_element_set_state(e, GST_STATE_NULL);
        gst_bin_remove(bin, e);
        gst_object_unref(e);
      }
      return nullptr;
    }
  }
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) gst_element_sync_state_with_parent(*it);
  s.elements = chain;
  s.tee = tee;
  s.encoder = enc;
  return gst_element_get_static_pad(chain.front(), "sink");
}

void destroy_send_chain(GstBin *bin, SendStream &s) {
  for (auto *e : s.elements) {
    gst_element_set_state(e, GST_STATE_NULL);
    // The bin may already have dropped its children (dispose releases request pads last).
    if (GST_OBJECT_PARENT(e) == GST_OBJECT(bin)) gst_bin_remove(bin, e);
    gst_object_unref(e);
  }
  s.elements.clear();
  s.tee = nullptr;
  s.encoder = nullptr;
}

unsigned adapt_bitrate(SendStream &s, double loss, double rtt, const Settings &st) {
  if (!s.encoder) return 0;
  if (s.kind == Kind::Audio) {
    int pct = std::clamp((int)(loss * 100.0 * 1.5), 5, 50);
    g_object_set(s.encoder, "packet-loss-percentage", pct, nullptr);
    return 0;
  }
  double br = s.bitrate.load();
  if (loss > 0.10) br *= (1.0 - loss / 2.0);
  else if (loss < 0.02 && rtt < 0.3) br *= 1.08;
  unsigned nb = (unsigned)std::clamp(br, (double)st.min_bitrate, (double)st.max_bitrate);
  if (nb != s.bitrate.load()) {
    s.bitrate = nb;
    if (std::strcmp(s.codec->name, "h264") == 0) g_object_set(s.encoder, "bitrate", nb, nullptr);
    else g_object_set(s.encoder, "target-bitrate", (int)nb, nullptr);
  }
  return nb;
}

}  // namespace mf::webrtc
