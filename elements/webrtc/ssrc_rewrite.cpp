#include "ssrc_rewrite.h"

#include <gst/rtp/rtp.h>

#include <string>

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

namespace {

GstBuffer *rewrite_buffer(GstBuffer *buf, guint32 ssrc) {
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  if (!gst_rtp_buffer_map(buf, GST_MAP_READ, &rtp)) return buf;
  const bool same = gst_rtp_buffer_get_ssrc(&rtp) == ssrc;
  gst_rtp_buffer_unmap(&rtp);
  if (same) return buf;
  buf = gst_buffer_make_writable(buf);  // the tee shares it with the other peers' branches
  if (gst_rtp_buffer_map(buf, GST_MAP_WRITE, &rtp)) {
    gst_rtp_buffer_set_ssrc(&rtp, ssrc);
    gst_rtp_buffer_unmap(&rtp);
  }
  return buf;
}

GstPadProbeReturn rewrite_probe(GstPad *, GstPadProbeInfo *info, gpointer d) {
  const guint32 ssrc = GPOINTER_TO_UINT(d);
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GST_PAD_PROBE_INFO_DATA(info) = rewrite_buffer(GST_PAD_PROBE_INFO_BUFFER(info), ssrc);
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *list = gst_buffer_list_make_writable(GST_PAD_PROBE_INFO_BUFFER_LIST(info));
    for (guint i = 0; i < gst_buffer_list_length(list); i++) {
      GstBuffer *b = gst_buffer_list_get(list, i);
      GstBuffer *r = rewrite_buffer(gst_buffer_ref(b), ssrc);
      if (r != b) {
        gst_buffer_list_remove(list, i, 1);
        gst_buffer_list_insert(list, gint(i), r);
      } else {
        gst_buffer_unref(r);
      }
    }
    GST_PAD_PROBE_INFO_DATA(info) = list;
  } else if ((info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) &&
             GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_CAPS) {
    GstCaps *caps = nullptr;
    gst_event_parse_caps(GST_PAD_PROBE_INFO_EVENT(info), &caps);
    GstEvent *ev = caps_event_with_ssrc(caps, ssrc);
    gst_event_unref(GST_PAD_PROBE_INFO_EVENT(info));
    GST_PAD_PROBE_INFO_DATA(info) = ev;
  }
  return GST_PAD_PROBE_OK;
}

}  // namespace

void attach_ssrc_rewrite(GstPad *pad, guint32 ssrc) {
  gst_pad_add_probe(pad,
                    GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST |
                                    GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
                    rewrite_probe, GUINT_TO_POINTER(ssrc), nullptr);
}

}  // namespace mf::webrtc
