#include "negotiation.h"

#include <cstring>
#include <sstream>
#include <vector>

namespace mf::webrtc {

namespace {

const Codec kCodecs[] = {
    {"opus", Kind::Audio, "OPUS", 111, "rtpopuspay", "rtpopusdepay", nullptr, "opusdec"},
    {"vp8", Kind::Video, "VP8", 96, "rtpvp8pay", "rtpvp8depay", nullptr, "vp8dec"},
    {"vp9", Kind::Video, "VP9", 98, "rtpvp9pay", "rtpvp9depay", nullptr, "vp9dec"},
    {"h264", Kind::Video, "H264", 102, "rtph264pay", "rtph264depay", "h264parse", "openh264dec"},
};

}  // namespace

const Codec *find_codec(const std::string &n) {
  for (const auto &c : kCodecs)
    if (g_ascii_strcasecmp(n.c_str(), c.name) == 0 || g_ascii_strcasecmp(n.c_str(), c.encoding_name) == 0)
      return &c;
  return nullptr;
}

GstCaps *codec_caps(const Codec &c) {
  if (c.kind == Kind::Audio) {
    return gst_caps_new_simple("application/x-rtp", "media", G_TYPE_STRING, "audio", "encoding-name",
                               G_TYPE_STRING, c.encoding_name, "clock-rate", G_TYPE_INT, 48000,
                               "payload", G_TYPE_INT, c.payload, "encoding-params", G_TYPE_STRING, "2",
                               "minptime", G_TYPE_STRING, "10", "useinbandfec", G_TYPE_STRING, "1",
                               nullptr);
  }
  GstCaps *caps = gst_caps_new_simple(
      "application/x-rtp", "media", G_TYPE_STRING, "video", "encoding-name", G_TYPE_STRING,
      c.encoding_name, "clock-rate", G_TYPE_INT, 90000, "payload", G_TYPE_INT, c.payload,
      "rtcp-fb-nack", G_TYPE_BOOLEAN, TRUE, "rtcp-fb-nack-pli", G_TYPE_BOOLEAN, TRUE,
      "rtcp-fb-ccm-fir", G_TYPE_BOOLEAN, TRUE, nullptr);
  if (std::strcmp(c.name, "h264") == 0) {
    gst_caps_set_simple(caps, "packetization-mode", G_TYPE_STRING, "1", "profile-level-id",
                        G_TYPE_STRING, "42e01f", "level-asymmetry-allowed", G_TYPE_STRING, "1",
                        nullptr);
  }
  return caps;
}

namespace {

bool has_attr(const GstSDPMessage *msg, const GstSDPMedia *m, const char *key) {
  return gst_sdp_media_get_attribute_val(m, key) != nullptr ||
         gst_sdp_message_get_attribute_val(msg, key) != nullptr;
}

}  // namespace

GstSDPMessage *parse_remote_sdp(const std::string &sdp, std::string *error) {
  if (sdp.size() > kMaxSdpBytes) {
    *error = "SDP too large (" + std::to_string(sdp.size()) + " bytes)";
    return nullptr;
  }
  if (sdp.find('\0') != std::string::npos) {
    *error = "SDP contains NUL";
    return nullptr;
  }
  GstSDPMessage *msg = nullptr;
  gst_sdp_message_new(&msg);
  if (gst_sdp_message_parse_buffer(reinterpret_cast<const guint8 *>(sdp.data()), sdp.size(), msg) !=
      GST_SDP_OK) {
    gst_sdp_message_free(msg);
    *error = "SDP does not parse";
    return nullptr;
  }
  guint n = gst_sdp_message_medias_len(msg);
  if (n == 0 || n > kMaxMlines) {
    gst_sdp_message_free(msg);
    *error = "SDP has " + std::to_string(n) + " m-lines (1.." + std::to_string(kMaxMlines) + ")";
    return nullptr;
  }
  for (guint i = 0; i < n; i++) {
    const GstSDPMedia *m = gst_sdp_message_get_media(msg, i);
    std::string what = "m-line " + std::to_string(i);
    const char *mid = gst_sdp_media_get_attribute_val(m, "mid");
    if (!mid || std::strlen(mid) > 32) {
      *error = what + ": missing or oversize a=mid";
    } else if (!has_attr(msg, m, "ice-ufrag") || !has_attr(msg, m, "ice-pwd")) {
      *error = what + ": missing ICE credentials";
    } else if (!has_attr(msg, m, "fingerprint")) {
      *error = what + ": missing a=fingerprint";
    } else if (!has_attr(msg, m, "setup")) {
      *error = what + ": missing a=setup";
    }
    if (!error->empty()) break;
    const char *media = gst_sdp_media_get_media(m);
    if (g_strcmp0(media, "audio") == 0 || g_strcmp0(media, "video") == 0) {
      if (gst_sdp_media_get_port(m) == 0) continue;  // rejected section
      bool known = false;
      for (guint a = 0; a < gst_sdp_media_attributes_len(m) && !known; a++) {
        const GstSDPAttribute *attr = gst_sdp_media_get_attribute(m, a);
        if (g_strcmp0(attr->key, "rtpmap") != 0 || !attr->value) continue;
        // "96 VP8/90000"
        const char *sp = std::strchr(attr->value, ' ');
        if (!sp) continue;
        std::string enc(sp + 1);
        enc = enc.substr(0, enc.find('/'));
        const Codec *c = find_codec(enc);
        known = c && std::strcmp(to_string(c->kind), media) == 0;
        char *end = nullptr;
        long pt = std::strtol(attr->value, &end, 10);
        if (pt < 0 || pt > 127) {
          *error = what + ": payload type out of range";
          break;
        }
      }
      if (error->empty() && !known) *error = what + ": no supported codec (opus, vp8, vp9, h264)";
    } else if (g_strcmp0(media, "application") != 0) {
      *error = what + ": unsupported media '" + (media ? media : "") + "'";
    }
    if (!error->empty()) break;
  }
  if (!error->empty()) {
    gst_sdp_message_free(msg);
    return nullptr;
  }
  return msg;
}

namespace {
std::string first_attr(const GstSDPMessage *msg, const char *key) {
  if (const char *f = gst_sdp_message_get_attribute_val(msg, key)) return f;
  for (guint i = 0; i < gst_sdp_message_medias_len(msg); i++)
    if (const char *f = gst_sdp_media_get_attribute_val(gst_sdp_message_get_media(msg, i), key)) return f;
  return "";
}
}  // namespace

std::string sdp_fingerprint(const GstSDPMessage *msg) {
  // DTLS fingerprint + ICE ufrag: a change means a new remote connection (restart or new webrtcbin).
  return first_attr(msg, "fingerprint") + "|" + first_attr(msg, "ice-ufrag");
}

bool valid_candidate(const std::string &cand, std::string *error) {
  if (cand.empty()) return true;  // end of candidates
  if (cand.size() > 512) {
    *error = "candidate too long";
    return false;
  }
  std::string c = cand;
  if (c.rfind("a=", 0) == 0) c = c.substr(2);
  if (c.rfind("candidate:", 0) != 0) {
    *error = "not a candidate line";
    return false;
  }
  std::istringstream in(c.substr(10));
  std::vector<std::string> tok;
  for (std::string t; in >> t;) tok.push_back(t);
  // foundation component transport priority address port typ type
  if (tok.size() < 8 || tok[6] != "typ") {
    *error = "malformed candidate";
    return false;
  }
  std::string transport;
  gchar *lower = g_ascii_strdown(tok[2].c_str(), -1);
  transport = lower;
  g_free(lower);
  if (transport != "udp" && transport != "tcp") {
    *error = "unsupported candidate transport";
    return false;
  }
  char *end = nullptr;
  long port = std::strtol(tok[5].c_str(), &end, 10);
  if (*end || port < 0 || port > 65535) {
    *error = "bad candidate port";
    return false;
  }
  const std::string &addr = tok[4];
  if (addr.size() > 6 && addr.compare(addr.size() - 6, 6, ".local") == 0) {
    *error = "mDNS candidates are not resolved";
    return false;
  }
  return true;
}

}  // namespace mf::webrtc
