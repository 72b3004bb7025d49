#include "ssrc_rewrite.h"

#include <gst/rtp/rtp.h>
#include <gst/video/video.h>

#include <string>

#include "meshflow/sdk/peer_tag.h"

#include "common.h"

#define GST_CAT_DEFAULT mf_webrtc_debug

namespace mf::webrtc {

guint32 new_slot_ssrc() {
  guint32 s = 0;
  while (s == 0) s = g_random_int();
  return s;
}

namespace {

GstEvent *caps_event_with_ssrc(const GstCaps *caps, guint32 ssrc) {
  GstCaps *c = gst_caps_copy(caps);
  gst_caps_set_simple(c, "ssrc", G_TYPE_UINT, ssrc, nullptr);
  GstEvent *ev = gst_event_new_caps(c);
  gst_caps_unref(c);
  return ev;
}

}  // namespace

bool announce_slot_ssrc(GstPad *webrtcbin_pad, const Codec &codec, guint32 ssrc) {
  const std::string id = "meshflow-slot-" + std::to_string(ssrc);
  GstCaps *caps = codec_caps(codec);
  bool ok = gst_pad_send_event(webrtcbin_pad, gst_event_new_stream_start(id.c_str())) &&
            gst_pad_send_event(webrtcbin_pad, caps_event_with_ssrc(caps, ssrc));
  gst_caps_unref(caps);
  GST_DEBUG_OBJECT(webrtcbin_pad, "slot SSRC %u%s", ssrc, ok ? "" : ": not announced (pad inactive)");
  return ok;
}

void SlotRewrite::relink(bool follow) {
  std::lock_guard<std::mutex> l(mu);
  gate.reset(follow);
  seq.relinked();
}

void SlotRewrite::set_follow(bool follow) {
  std::lock_guard<std::mutex> l(mu);
  gate.set_follow(follow);
}

guint64 SlotRewrite::gated() const {
  std::lock_guard<std::mutex> l(mu);
  return gated_;
}

// The probe: one call per buffer, list or event on the slot's queue source pad (its streaming
// thread), so the gate sees tags and packets in stream order.
struct SlotProbe {
  // Rewrites (or drops: returns nullptr) one packet. Called with rw.mu held.
  static GstBuffer *packet(SlotRewrite &rw, GstBuffer *buf) {
    if (!rw.gate.passes(rw.peer)) {
      rw.seq.dropped();
      rw.gated_++;
      gst_buffer_unref(buf);
      return nullptr;
    }
    GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
    if (!gst_rtp_buffer_map(buf, GST_MAP_READ, &rtp)) return buf;  // not RTP: leave it
    const guint16 in_seq = gst_rtp_buffer_get_seq(&rtp);
    const guint16 out_seq = rw.seq.map(in_seq);
    const bool marker = rw.seq.resumed() && !rw.video;  // audio: a new talkspurt starts
    const bool same = gst_rtp_buffer_get_ssrc(&rtp) == rw.ssrc && out_seq == in_seq &&
                      (!marker || gst_rtp_buffer_get_marker(&rtp));
    gst_rtp_buffer_unmap(&rtp);
    if (same) return buf;
    buf = gst_buffer_make_writable(buf);  // the tee shares it with the other peers' branches
    if (gst_rtp_buffer_map(buf, GST_MAP_WRITE, &rtp)) {
      gst_rtp_buffer_set_ssrc(&rtp, rw.ssrc);
      gst_rtp_buffer_set_seq(&rtp, out_seq);
      if (marker) gst_rtp_buffer_set_marker(&rtp, TRUE);
      gst_rtp_buffer_unmap(&rtp);
    }
    return buf;
  }

  // A stream tag: the target of a tag-following stream. Returns true if the slot just opened
  // (the target became this slot's peer).
  static bool tag(SlotRewrite &rw, GstEvent *ev) {
    std::string peer;
    if (!peer_id_from_tag_event(ev, &peer)) return false;
    std::lock_guard<std::mutex> l(rw.mu);
    if (!rw.gate.follows() || !rw.gate.set_target(peer)) return false;
    GST_DEBUG("slot %u (peer %s): stream target is now %s", rw.ssrc, rw.peer.c_str(), peer.c_str());
    return rw.gate.target() == rw.peer;
  }

  static GstPadProbeReturn run(GstPad *pad, GstPadProbeInfo *info, gpointer d) {
    auto &rw = **static_cast<std::shared_ptr<SlotRewrite> *>(d);
    if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
      std::lock_guard<std::mutex> l(rw.mu);
      GstBuffer *b = packet(rw, GST_PAD_PROBE_INFO_BUFFER(info));
      if (!b) {
        GST_PAD_PROBE_INFO_DATA(info) = nullptr;
        return GST_PAD_PROBE_HANDLED;  // dropped (and unreffed) by the gate
      }
      GST_PAD_PROBE_INFO_DATA(info) = b;
    } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
      GstBufferList *in = GST_PAD_PROBE_INFO_BUFFER_LIST(info);
      GstBufferList *out = gst_buffer_list_new_sized(gst_buffer_list_length(in));
      {
        std::lock_guard<std::mutex> l(rw.mu);
        for (guint i = 0; i < gst_buffer_list_length(in); i++)
          if (GstBuffer *b = packet(rw, gst_buffer_ref(gst_buffer_list_get(in, i))))
            gst_buffer_list_add(out, b);
      }
      gst_buffer_list_unref(in);
      if (gst_buffer_list_length(out) == 0) {
        gst_buffer_list_unref(out);
        GST_PAD_PROBE_INFO_DATA(info) = nullptr;
        return GST_PAD_PROBE_HANDLED;
      }
      GST_PAD_PROBE_INFO_DATA(info) = out;
    } else if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
      GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
      if (GST_EVENT_TYPE(ev) == GST_EVENT_CAPS) {
        GstCaps *caps = nullptr;
        gst_event_parse_caps(ev, &caps);
        GstEvent *nev = caps_event_with_ssrc(caps, rw.ssrc);
        gst_event_unref(ev);
        GST_PAD_PROBE_INFO_DATA(info) = nev;
      } else if (GST_EVENT_TYPE(ev) == GST_EVENT_TAG && tag(rw, ev) && rw.video) {
        // The peer starts receiving mid-stream: it needs a key frame to decode.
        gst_pad_send_event(pad, gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
      }
    }
    return GST_PAD_PROBE_OK;
  }
};

void attach_slot_rewrite(GstPad *pad, std::shared_ptr<SlotRewrite> rw) {
  gst_pad_add_probe(pad,
                    GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST |
                                    GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
                    SlotProbe::run, new std::shared_ptr<SlotRewrite>(std::move(rw)),
                    [](gpointer d) { delete static_cast<std::shared_ptr<SlotRewrite> *>(d); });
}

}  // namespace mf::webrtc
