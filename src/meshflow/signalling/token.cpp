#include "meshflow/signalling/token.h"

#include <glib.h>
#include <json-glib/json-glib.h>

#include <cstring>
#include <vector>

#include "meshflow/signalling/jsonrpc.h"

namespace mf::signalling {

namespace {
constexpr const char *kPrefix = "mf1.";
constexpr size_t kMaxField = 128;

std::string hmac_sha256(const std::string &secret, std::string_view data) {
  GHmac *h = g_hmac_new(G_CHECKSUM_SHA256, reinterpret_cast<const guchar *>(secret.data()),
                        secret.size());
  g_hmac_update(h, reinterpret_cast<const guchar *>(data.data()), gssize(data.size()));
  guint8 digest[32];
  gsize len = sizeof digest;
  g_hmac_get_digest(h, digest, &len);
  g_hmac_unref(h);
  return std::string(reinterpret_cast<char *>(digest), len);
}

std::string random_nonce() {
  guint8 b[16];
  for (size_t i = 0; i < sizeof b; i += 4) {
    guint32 r = g_random_int();
    std::memcpy(b + i, &r, 4);
  }
  // Mix in a UUID (from /dev/urandom-seeded GRand is not cryptographic; g_uuid_string_random uses
  // the same). Uniqueness, not secrecy, is what the nonce needs: the MAC provides integrity.
  gchar *u = g_uuid_string_random();
  std::string s = base64url_encode(b, sizeof b) + std::string(u, 8);
  g_free(u);
  return s;
}
}  // namespace

const char *to_string(TokenError e) {
  switch (e) {
    case TokenError::None: return "ok";
    case TokenError::Missing: return "missing";
    case TokenError::Malformed: return "malformed";
    case TokenError::BadSignature: return "bad_signature";
    case TokenError::Expired: return "expired";
    case TokenError::NotYetValid: return "not_yet_valid";
    case TokenError::WrongRoom: return "wrong_room";
    case TokenError::Replayed: return "replayed";
    case TokenError::NoSecret: return "no_secret";
  }
  return "unknown";
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Compare over the longer length so the time depends only on the lengths, not the contents.
  size_t n = a.size() > b.size() ? a.size() : b.size();
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; i++) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

std::string base64url_encode(const void *data, size_t len) {
  gchar *b = g_base64_encode(static_cast<const guchar *>(data), len);
  std::string s(b);
  g_free(b);
  for (auto &c : s) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

bool base64url_decode(std::string_view in, std::string *out) {
  if (in.size() % 4 == 1) return false;
  std::string s(in);
  for (auto &c : s) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    else if (!g_ascii_isalnum(c)) return false;
  }
  while (s.size() % 4) s.push_back('=');
  gsize len = 0;
  guchar *d = g_base64_decode(s.c_str(), &len);
  out->assign(reinterpret_cast<char *>(d), len);
  g_free(d);
  // Canonical form only (no malleable trailing bits).
  return base64url_encode(out->data(), out->size()) == in;
}

std::string issue_token_at(const std::string &secret, const std::string &room,
                           const std::string &user, int64_t nbf, int64_t exp) {
  if (secret.empty() || room.empty() || user.empty() || room.size() > kMaxField ||
      user.size() > kMaxField || exp <= nbf)
    return {};
  if (!g_utf8_validate_len(room.data(), room.size(), nullptr) ||
      !g_utf8_validate_len(user.data(), user.size(), nullptr))
    return {};
  JsonObject *o = json_object_new();
  json_object_set_int_member(o, "v", 1);
  json_object_set_string_member(o, "room", room.c_str());
  json_object_set_string_member(o, "user", user.c_str());
  json_object_set_int_member(o, "nbf", nbf);
  json_object_set_int_member(o, "exp", exp);
  json_object_set_string_member(o, "nonce", random_nonce().c_str());
  NodePtr n(json_node_init_object(json_node_alloc(), o));
  json_object_unref(o);
  std::string payload = to_string(n.get());
  std::string signed_part = kPrefix + base64url_encode(payload.data(), payload.size());
  std::string mac = hmac_sha256(secret, signed_part);
  return signed_part + "." + base64url_encode(mac.data(), mac.size());
}

std::string issue_token(const std::string &secret, const std::string &room,
                        const std::string &user, int64_t ttl_seconds) {
  if (ttl_seconds <= 0) return {};
  int64_t now = g_get_real_time() / G_USEC_PER_SEC;
  return issue_token_at(secret, room, user, now, now + ttl_seconds);
}

TokenVerifier::TokenVerifier(std::string secret, bool single_use, int64_t leeway_s,
                             size_t max_replay_entries)
    : secret_(std::move(secret)),
      single_use_(single_use),
      leeway_(leeway_s),
      max_replay_(max_replay_entries) {}

TokenError TokenVerifier::decode(std::string_view token, TokenClaims *claims) const {
  if (secret_.empty()) return TokenError::NoSecret;
  if (token.empty()) return TokenError::Missing;
  if (token.size() > kMaxTokenBytes) return TokenError::Malformed;
  if (token.substr(0, 4) != kPrefix) return TokenError::Malformed;
  size_t dot = token.rfind('.');
  if (dot <= 4) return TokenError::Malformed;
  std::string_view signed_part = token.substr(0, dot);
  std::string_view mac_b64 = token.substr(dot + 1);
  std::string mac;
  if (!base64url_decode(mac_b64, &mac) || mac.size() != 32) return TokenError::Malformed;
  std::string expect = hmac_sha256(secret_, signed_part);
  if (!constant_time_equal(mac, expect)) return TokenError::BadSignature;

  // Authentic: now decode the payload (still defensively: it is our own JSON).
  std::string payload;
  if (!base64url_decode(signed_part.substr(4), &payload)) return TokenError::Malformed;
  PrescanLimits lim;
  lim.max_bytes = kMaxTokenBytes;
  lim.max_depth = 2;
  if (!prescan(payload, lim).ok) return TokenError::Malformed;
  JsonParser *p = json_parser_new_immutable();
  TokenError result = TokenError::Malformed;
  if (json_parser_load_from_data(p, payload.data(), gssize(payload.size()), nullptr)) {
    JsonNode *root = json_parser_get_root(p);
    if (root && JSON_NODE_HOLDS_OBJECT(root)) {
      JsonObject *o = json_node_get_object(root);
      auto str = [&](const char *k, std::string *out) {
        JsonNode *n = json_object_get_member(o, k);
        if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
          return false;
        *out = json_node_get_string(n);
        return !out->empty();
      };
      auto num = [&](const char *k, int64_t *out) {
        JsonNode *n = json_object_get_member(o, k);
        if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
          return false;
        *out = json_node_get_int(n);
        return true;
      };
      TokenClaims c;
      int64_t v = 0;
      if (num("v", &v) && v == 1 && str("room", &c.room) && str("user", &c.user) &&
          str("nonce", &c.nonce) && num("nbf", &c.not_before) && num("exp", &c.expires)) {
        if (claims) *claims = c;
        result = TokenError::None;
      }
    }
  }
  g_object_unref(p);
  return result;
}

TokenError TokenVerifier::verify(std::string_view token, std::string_view room,
                                 TokenClaims *claims) {
  return verify_at(token, room, g_get_real_time() / G_USEC_PER_SEC, claims);
}

TokenError TokenVerifier::verify_at(std::string_view token, std::string_view room, int64_t now,
                                    TokenClaims *claims) {
  TokenClaims c;
  TokenError e = decode(token, &c);
  if (e != TokenError::None) return e;
  if (now > c.expires + leeway_) return TokenError::Expired;
  if (now + leeway_ < c.not_before) return TokenError::NotYetValid;
  if (!constant_time_equal(c.room, room)) return TokenError::WrongRoom;
  if (single_use_) {
    std::lock_guard<std::mutex> lk(mu_);
    if (seen_.size() >= max_replay_) {
      for (auto it = seen_.begin(); it != seen_.end();)
        it = it->second + leeway_ < now ? seen_.erase(it) : std::next(it);
    }
    if (seen_.count(c.nonce)) return TokenError::Replayed;
    if (seen_.size() >= max_replay_) return TokenError::Replayed;  // cannot remember: refuse
    seen_[c.nonce] = c.expires;
  }
  if (claims) *claims = std::move(c);
  return TokenError::None;
}

}  // namespace mf::signalling
