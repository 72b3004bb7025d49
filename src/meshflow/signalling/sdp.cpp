#include "meshflow/signalling/sdp.h"

#include <gio/gio.h>
#include <gst/sdp/sdp.h>

#include <algorithm>
#include <cstring>

namespace mf::signalling {

namespace {

bool is_token_char(char c) {
  // RFC 4566 token-char: %x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A / %x5E-7E
  unsigned char u = static_cast<unsigned char>(c);
  return u == 0x21 || (u >= 0x23 && u <= 0x27) || u == 0x2A || u == 0x2B || u == 0x2D ||
         u == 0x2E || (u >= 0x30 && u <= 0x39) || (u >= 0x41 && u <= 0x5A) ||
         (u >= 0x5E && u <= 0x7E);
}

std::string lower(std::string_view s) {
  std::string o(s);
  for (auto &c : o) c = g_ascii_tolower(c);
  return o;
}

bool parse_u32(std::string_view s, uint64_t max, uint64_t *out) {
  if (s.empty() || s.size() > 10) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!g_ascii_isdigit(c)) return false;
    v = v * 10 + uint64_t(c - '0');
  }
  if (v > max) return false;
  *out = v;
  return true;
}

SdpReport bad(std::string reason) {
  SdpReport r;
  r.ok = false;
  r.reason = std::move(reason);
  return r;
}

bool valid_fingerprint(const char *v) {
  if (!v) return false;
  const char *sp = std::strchr(v, ' ');
  if (!sp) return false;
  std::string hash = lower(std::string_view(v, size_t(sp - v)));
  static const char *const hashes[] = {"sha-1", "sha-224", "sha-256", "sha-384", "sha-512"};
  if (std::none_of(std::begin(hashes), std::end(hashes), [&](const char *h) { return hash == h; }))
    return false;
  std::string_view fp(sp + 1);
  if (fp.size() < 2 || fp.size() > 191) return false;  // sha-512: 64 bytes -> 191 chars
  for (size_t i = 0; i < fp.size(); i++) {
    if (i % 3 == 2) {
      if (fp[i] != ':') return false;
    } else if (!g_ascii_isxdigit(fp[i])) {
      return false;
    }
  }
  return fp.size() % 3 == 2;
}

bool valid_ice_chars(const char *v, size_t min, size_t max) {
  if (!v) return false;
  size_t n = std::strlen(v);
  if (n < min || n > max) return false;
  for (size_t i = 0; i < n; i++)
    if (!g_ascii_isalnum(v[i]) && v[i] != '+' && v[i] != '/') return false;
  return true;
}

}  // namespace

std::set<std::string> SdpLimits::default_codecs() {
  return {"opus", "vp8", "vp9", "h264", "av1", "rtx", "red", "ulpfec", "flexfec-03",
          "telephone-event", "cn", "pcmu", "pcma", "g722"};
}

bool valid_mid(std::string_view mid, size_t max_bytes) {
  if (mid.empty() || mid.size() > max_bytes) return false;
  return std::all_of(mid.begin(), mid.end(), is_token_char);
}

SdpReport validate_sdp(std::string_view sdp, const SdpLimits &lim) {
  if (sdp.empty()) return bad("empty");
  if (sdp.size() > lim.max_bytes) return bad("too large");
  // Line syntax and m-line count before anything parses it.
  size_t mlines = 0, pos = 0;
  bool first = true;
  while (pos < sdp.size()) {
    size_t nl = sdp.find('\n', pos);
    size_t end = nl == std::string_view::npos ? sdp.size() : nl;
    std::string_view line = sdp.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = nl == std::string_view::npos ? sdp.size() : nl + 1;
    if (line.empty()) {
      if (pos >= sdp.size()) break;  // trailing empty line
      return bad("empty line");
    }
    if (line.size() > lim.max_line_bytes) return bad("line too long");
    if (line.size() < 2 || line[1] != '=' || !g_ascii_islower(line[0]))
      return bad("malformed line");
    for (char c : line)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
        return bad("control character");
    if (first && line != "v=0") return bad("must start with v=0");
    first = false;
    if (line[0] == 'm' && ++mlines > lim.max_mlines) return bad("too many m-lines");
  }
  if (!g_utf8_validate_len(sdp.data(), sdp.size(), nullptr)) return bad("invalid UTF-8");
  if (mlines == 0) return bad("no m-line");

  GstSDPMessage *msg = nullptr;
  gst_sdp_message_new(&msg);
  if (gst_sdp_message_parse_buffer(reinterpret_cast<const guint8 *>(sdp.data()), guint(sdp.size()),
                                   msg) != GST_SDP_OK) {
    gst_sdp_message_free(msg);
    return bad("unparsable");
  }
  struct Free {
    GstSDPMessage *m;
    ~Free() { gst_sdp_message_free(m); }
  } guard{msg};

  SdpReport rep;
  const GstSDPOrigin *origin = gst_sdp_message_get_origin(msg);
  if (!origin || !origin->sess_id || !origin->addr) return bad("missing o= line");
  guint nmedia = gst_sdp_message_medias_len(msg);
  if (nmedia != mlines) return bad("m-line count mismatch");
  rep.mlines = nmedia;

  const char *s_ufrag = gst_sdp_message_get_attribute_val(msg, "ice-ufrag");
  const char *s_pwd = gst_sdp_message_get_attribute_val(msg, "ice-pwd");
  const char *s_fp = gst_sdp_message_get_attribute_val(msg, "fingerprint");
  const char *s_setup = gst_sdp_message_get_attribute_val(msg, "setup");

  std::set<std::string> mids;
  for (guint i = 0; i < nmedia; i++) {
    const GstSDPMedia *m = gst_sdp_message_get_media(msg, i);
    std::string where = "m-line " + std::to_string(i);
    const char *media = gst_sdp_media_get_media(m);
    const char *proto = gst_sdp_media_get_proto(m);
    if (!media || !proto) return bad(where + ": malformed");
    std::string kind = media;
    if (kind != "audio" && kind != "video" && kind != "application")
      return bad(where + ": unsupported media '" + kind.substr(0, 16) + "'");
    const char *mid = gst_sdp_media_get_attribute_val(m, "mid");
    if (!mid) return bad(where + ": missing a=mid");
    if (!valid_mid(mid, lim.max_mid_bytes)) return bad(where + ": invalid mid");
    if (!mids.insert(mid).second) return bad(where + ": duplicate mid");
    rep.mids.push_back(mid);
    bool rejected = gst_sdp_media_get_port(m) == 0;
    const char *ufrag = gst_sdp_media_get_attribute_val(m, "ice-ufrag");
    const char *pwd = gst_sdp_media_get_attribute_val(m, "ice-pwd");
    const char *fp = gst_sdp_media_get_attribute_val(m, "fingerprint");
    const char *setup = gst_sdp_media_get_attribute_val(m, "setup");
    if (!ufrag) ufrag = s_ufrag;
    if (!pwd) pwd = s_pwd;
    if (!fp) fp = s_fp;
    if (!setup) setup = s_setup;
    if (!rejected) {
      if (!valid_ice_chars(ufrag, 4, 256)) return bad(where + ": missing or invalid ice-ufrag");
      if (!valid_ice_chars(pwd, 22, 256)) return bad(where + ": missing or invalid ice-pwd");
      if (!valid_fingerprint(fp)) return bad(where + ": missing or invalid fingerprint");
      if (!setup || (std::strcmp(setup, "actpass") && std::strcmp(setup, "active") &&
                     std::strcmp(setup, "passive")))
        return bad(where + ": missing or invalid setup");
    }
    guint nfmt = gst_sdp_media_formats_len(m);
    if (nfmt == 0) return bad(where + ": no formats");
    if (nfmt > lim.max_formats_per_mline) return bad(where + ": too many formats");
    bool rtp = std::strstr(proto, "RTP") != nullptr;
    if (kind == "application") {
      if (std::strcmp(proto, "UDP/DTLS/SCTP") != 0 && std::strcmp(proto, "DTLS/SCTP") != 0)
        return bad(where + ": unsupported application protocol");
      continue;
    }
    if (!rtp) return bad(where + ": unsupported protocol");
    std::set<uint64_t> pts;
    for (guint f = 0; f < nfmt; f++) {
      uint64_t pt;
      if (!parse_u32(gst_sdp_media_get_format(m, f), 127, &pt))
        return bad(where + ": payload type out of range");
      pts.insert(pt);
    }
    bool any_allowed = false;
    guint nattr = gst_sdp_media_attributes_len(m);
    for (guint a = 0; a < nattr; a++) {
      const GstSDPAttribute *at = gst_sdp_media_get_attribute(m, a);
      if (!at->key || std::strcmp(at->key, "rtpmap") != 0) continue;
      std::string_view v = at->value ? at->value : "";
      size_t sp = v.find(' ');
      uint64_t pt;
      if (sp == std::string_view::npos || !parse_u32(v.substr(0, sp), 127, &pt))
        return bad(where + ": malformed rtpmap");
      if (!pts.count(pt)) return bad(where + ": rtpmap for a payload type not in the m-line");
      std::string_view enc = v.substr(sp + 1);
      size_t slash = enc.find('/');
      uint64_t clock;
      if (slash == std::string_view::npos || slash == 0 ||
          !parse_u32(enc.substr(slash + 1, enc.find('/', slash + 1) - slash - 1), 0xFFFFFFFFull,
                     &clock))
        return bad(where + ": malformed rtpmap");
      enc = enc.substr(0, slash);
      std::string name = lower(enc);
      if (!lim.codecs.count(name))
        return bad(where + ": codec not allowed: " + name.substr(0, 32));
      any_allowed = true;
    }
    // Static payload types without rtpmap: PCMU (0), PCMA (8), G722 (9), CN (13).
    for (uint64_t pt : pts) {
      if (pt == 0 || pt == 8 || pt == 9 || pt == 13) any_allowed = true;
    }
    if (!any_allowed && !rejected) return bad(where + ": no allowed codec");
  }

  // BUNDLE (and every other group) must only name existing mids.
  guint nattr = gst_sdp_message_attributes_len(msg);
  for (guint a = 0; a < nattr; a++) {
    const GstSDPAttribute *at = gst_sdp_message_get_attribute(msg, a);
    if (!at->key || std::strcmp(at->key, "group") != 0) continue;
    gchar **parts = g_strsplit(at->value ? at->value : "", " ", 0);
    bool ok = parts[0] && parts[0][0];
    for (int k = 1; ok && parts[k]; k++) {
      if (parts[k][0] == 0) continue;
      if (!mids.count(parts[k])) ok = false;
    }
    g_strfreev(parts);
    if (!ok) return bad("group names a missing mid");
  }
  rep.ok = true;
  return rep;
}

// ---------------------------------------------------------------------------------------------

namespace {
bool ice_char(char c) { return g_ascii_isalnum(c) || c == '+' || c == '/'; }

bool valid_address(const std::string &a, bool *mdns) {
  *mdns = false;
  if (a.empty() || a.size() > 255) return false;
  GInetAddress *ia = g_inet_address_new_from_string(a.c_str());
  if (ia) {
    g_object_unref(ia);
    return true;
  }
  // mDNS (RFC draft-ietf-mmusic-mdns-ice-candidates): <uuid>.local - syntax only, never resolved.
  if (a.size() > 6 && g_str_has_suffix(a.c_str(), ".local")) {
    for (char c : a)
      if (!g_ascii_isalnum(c) && c != '-' && c != '.') return false;
    *mdns = true;
    return true;
  }
  return false;
}

CandidateResult cbad(const char *reason) {
  CandidateResult r;
  r.ok = false;
  r.reason = reason;
  return r;
}
}  // namespace

CandidateResult parse_candidate(std::string_view text, size_t max_bytes) {
  CandidateResult r;
  if (text.empty()) {
    r.ok = true;
    r.candidate.end_of_candidates = true;
    return r;
  }
  if (text.size() > max_bytes) return cbad("too long");
  for (char c : text)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return cbad("invalid character");
  if (text.substr(0, 2) == "a=") text.remove_prefix(2);
  if (text.substr(0, 10) != "candidate:") return cbad("missing 'candidate:' prefix");
  text.remove_prefix(10);
  std::vector<std::string> f;
  {
    size_t p = 0;
    while (p <= text.size()) {
      size_t sp = text.find(' ', p);
      if (sp == std::string_view::npos) sp = text.size();
      if (sp == p) return cbad("empty field");
      f.emplace_back(text.substr(p, sp - p));
      p = sp + 1;
      if (f.size() > 64) return cbad("too many fields");
    }
  }
  if (f.size() < 8) return cbad("too few fields");
  Candidate &c = r.candidate;
  c.foundation = f[0];
  if (c.foundation.size() > 32 || !std::all_of(c.foundation.begin(), c.foundation.end(), ice_char))
    return cbad("invalid foundation");
  uint64_t v;
  if (f[1].size() > 3 || !parse_u32(f[1], 256, &v) || v < 1) return cbad("invalid component");
  c.component = uint32_t(v);
  c.transport = lower(f[2]);
  if (c.transport != "udp" && c.transport != "tcp") return cbad("invalid transport");
  if (!parse_u32(f[3], 0xFFFFFFFFull, &v)) return cbad("invalid priority");
  c.priority = uint32_t(v);
  c.address = f[4];
  if (!valid_address(c.address, &c.mdns)) return cbad("invalid address");
  if (f[5].size() > 5 || !parse_u32(f[5], 65535, &v)) return cbad("invalid port");
  c.port = uint16_t(v);
  if (f[6] != "typ") return cbad("missing 'typ'");
  c.type = f[7];
  if (c.type != "host" && c.type != "srflx" && c.type != "prflx" && c.type != "relay")
    return cbad("invalid candidate type");
  size_t i = 8;
  if (i + 1 < f.size() && f[i] == "raddr") {
    bool m;
    if (!valid_address(f[i + 1], &m)) return cbad("invalid raddr");
    c.related_address = f[i + 1];
    i += 2;
  }
  if (i + 1 < f.size() && f[i] == "rport") {
    if (f[i + 1].size() > 5 || !parse_u32(f[i + 1], 65535, &v)) return cbad("invalid rport");
    c.related_port = int(v);
    i += 2;
  }
  if ((f.size() - i) % 2 != 0) return cbad("extension without value");
  for (; i < f.size(); i += 2) {
    const std::string &name = f[i];
    if (name.size() > 32 || !std::all_of(name.begin(), name.end(), is_token_char))
      return cbad("invalid extension name");
    if (name == "raddr" || name == "rport") return cbad("misplaced raddr/rport");
    c.extensions.emplace_back(name, f[i + 1]);
  }
  r.ok = true;
  return r;
}

}  // namespace mf::signalling
