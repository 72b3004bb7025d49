#include "stats.h"

#include <gst/webrtc/webrtc.h>

#include <algorithm>

#include "meshflow/metrics/registry.h"

namespace mf::webrtc {

namespace {

struct Acc {
  double rtt = -1, frac = 0, jitter = 0;
  int64_t lost = 0;
  uint64_t in = 0, out = 0;
};

gboolean fold(GQuark, const GValue *v, gpointer data) {
  auto *a = static_cast<Acc *>(data);
  if (!GST_VALUE_HOLDS_STRUCTURE(v)) return TRUE;
  const GstStructure *s = gst_value_get_structure(v);
  GstWebRTCStatsType type;
  if (!gst_structure_get(s, "type", GST_TYPE_WEBRTC_STATS_TYPE, &type, nullptr)) return TRUE;
  double d;
  guint64 u64;
  gint64 i64;
  gint i;
  switch (type) {
    case GST_WEBRTC_STATS_INBOUND_RTP:
      if (gst_structure_get_uint64(s, "bytes-received", &u64)) a->in += u64;
      if (gst_structure_get_double(s, "jitter", &d)) a->jitter = std::max(a->jitter, d);
      if (gst_structure_get_int64(s, "packets-lost", &i64)) a->lost += i64;
      else if (gst_structure_get_int(s, "packets-lost", &i)) a->lost += i;
      break;
    case GST_WEBRTC_STATS_OUTBOUND_RTP:
      if (gst_structure_get_uint64(s, "bytes-sent", &u64)) a->out += u64;
      break;
    case GST_WEBRTC_STATS_REMOTE_INBOUND_RTP:
      if (gst_structure_get_double(s, "round-trip-time", &d) && d > 0) a->rtt = std::max(a->rtt, d);
      if (gst_structure_get_double(s, "fraction-lost", &d)) a->frac = std::max(a->frac, d);
      break;
    default:
      break;
  }
  return TRUE;
}

}  // namespace

void update_from_webrtc_stats(PeerStats &ps, const GstStructure *stats, double interval_s) {
  Acc a;
  gst_structure_foreach(stats, fold, &a);
  if (interval_s > 0) {
    if (a.in >= ps.bytes_in) ps.bitrate_in = (a.in - ps.bytes_in) * 8.0 / interval_s;
    if (a.out >= ps.bytes_out) ps.bitrate_out = (a.out - ps.bytes_out) * 8.0 / interval_s;
  }
  ps.bytes_in = a.in;
  ps.bytes_out = a.out;
  if (a.rtt > 0) ps.rtt_s = a.rtt;
  ps.fraction_lost = a.frac;
  ps.packets_lost = a.lost;
  ps.jitter_s = a.jitter;
}

GstStructure *peer_stats_structure(const std::string &peer_id, const PeerStats &ps) {
  return gst_structure_new("peer", "peer-id", G_TYPE_STRING, peer_id.c_str(), "state", G_TYPE_STRING,
                           ps.state.c_str(), "rtt-ms", G_TYPE_DOUBLE, ps.rtt_s < 0 ? -1.0 : ps.rtt_s * 1e3,
                           "fraction-lost", G_TYPE_DOUBLE, ps.fraction_lost, "packets-lost", G_TYPE_INT64,
                           (gint64)ps.packets_lost, "jitter-ms", G_TYPE_DOUBLE, ps.jitter_s * 1e3,
                           "bitrate-in", G_TYPE_DOUBLE, ps.bitrate_in, "bitrate-out", G_TYPE_DOUBLE,
                           ps.bitrate_out, "audio-buffers", G_TYPE_UINT64, (guint64)ps.audio_buffers,
                           "frames-decoded", G_TYPE_UINT64, (guint64)ps.frames_decoded,
                           "frames-dropped", G_TYPE_UINT64, (guint64)ps.frames_dropped, "setup-ms",
                           G_TYPE_DOUBLE, ps.setup_s < 0 ? -1.0 : ps.setup_s * 1e3, "connected-ms",
                           G_TYPE_DOUBLE, ps.connected_s < 0 ? -1.0 : ps.connected_s * 1e3,
                           "packets-gated", G_TYPE_UINT64, (guint64)ps.packets_gated, nullptr);
}

void export_peer_metrics(const std::string &session, const std::string &peer, const PeerStats &ps) {
  auto &reg = metrics::Registry::global();
  metrics::Labels l{{"session", session}, {"peer", peer}};
  if (ps.rtt_s >= 0)
    reg.gauge("meshflow_webrtc_rtt_seconds", "Round-trip time to a peer (RTCP)", l).set(ps.rtt_s);
  reg.gauge("meshflow_webrtc_packet_loss_ratio", "Fraction of our packets the peer lost", l)
      .set(ps.fraction_lost);
  reg.gauge("meshflow_webrtc_jitter_seconds", "Interarrival jitter of the peer's media", l)
      .set(ps.jitter_s);
  metrics::Labels in = l, out = l;
  in.push_back({"direction", "in"});
  out.push_back({"direction", "out"});
  reg.gauge("meshflow_webrtc_bitrate_bps", "Media bitrate per peer and direction", in).set(ps.bitrate_in);
  reg.gauge("meshflow_webrtc_bitrate_bps", "Media bitrate per peer and direction", out).set(ps.bitrate_out);
  reg.gauge("meshflow_webrtc_frames_decoded", "Video frames decoded from a peer so far", l)
      .set((double)ps.frames_decoded);
  reg.gauge("meshflow_webrtc_frames_dropped", "Video frames of a peer dropped so far", l)
      .set((double)ps.frames_dropped);
  reg.gauge("meshflow_webrtc_audio_packets_received",
            "Audio packets received and decoded from a peer so far (one buffer per Opus packet)", l)
      .set((double)ps.audio_buffers);
}

}  // namespace mf::webrtc
