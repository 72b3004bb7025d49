// Room tokens: HMAC-SHA256 (GLib GHmac) over room, user, validity window and a random nonce.
//
//   token = "mf1." base64url(payload) "." base64url(HMAC-SHA256(secret, "mf1." base64url(payload)))
//   payload = {"v":1,"room":R,"user":U,"nbf":unix_s,"exp":unix_s,"nonce":hex128}  (json-glib)
//
// The MAC is checked (constant time) before the payload is even decoded. Tokens are secrets:
// never log them (nothing in this module does).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace mf::signalling {

enum class TokenError {
  None = 0,
  Missing,      // empty token
  Malformed,    // not "mf1.<payload>.<mac>", bad base64url, bad payload
  BadSignature, // MAC mismatch (tampered, or another secret)
  Expired,
  NotYetValid,
  WrongRoom,
  Replayed,     // single-use option: nonce seen before
  NoSecret,     // verifier has no secret configured
};
const char *to_string(TokenError e);  // "expired", "not_yet_valid", "bad_signature", ...

struct TokenClaims {
  std::string room;
  std::string user;
  std::string nonce;
  int64_t not_before = 0;  // unix seconds
  int64_t expires = 0;     // unix seconds
};

constexpr size_t kMaxTokenBytes = 1024;

/// Issue a token valid from now for ttl_seconds (the lead's `meshflow-launch --token ROOM USER`).
/// Returns "" when the secret is empty, room/user empty or too long (> 128 bytes), or ttl <= 0.
std::string issue_token(const std::string &secret, const std::string &room,
                        const std::string &user, int64_t ttl_seconds);
/// Same with an explicit clock and validity start (tests).
std::string issue_token_at(const std::string &secret, const std::string &room,
                           const std::string &user, int64_t not_before_unix,
                           int64_t expires_unix);

/// Constant-time comparison (time depends only on the lengths).
bool constant_time_equal(std::string_view a, std::string_view b);

/// Strict base64url (RFC 4648 section 5, no padding).
std::string base64url_encode(const void *data, size_t len);
bool base64url_decode(std::string_view in, std::string *out);

class TokenVerifier {
 public:
  /// leeway_s: tolerated clock skew on exp/nbf. max_replay_entries bounds the single-use cache
  /// (when full of unexpired nonces, new tokens are refused as Replayed rather than forgotten).
  explicit TokenVerifier(std::string secret, bool single_use = false, int64_t leeway_s = 5,
                         size_t max_replay_entries = 100000);

  /// Verify for `room` at `now_unix` (defaults to the real-time clock). Fills `claims` on success.
  TokenError verify(std::string_view token, std::string_view room, TokenClaims *claims = nullptr);
  TokenError verify_at(std::string_view token, std::string_view room, int64_t now_unix,
                       TokenClaims *claims = nullptr);

  /// Only the format and MAC, no clock, room or replay (fuzzing, diagnostics).
  TokenError decode(std::string_view token, TokenClaims *claims) const;

 private:
  std::string secret_;
  bool single_use_;
  int64_t leeway_;
  size_t max_replay_;
  std::mutex mu_;                          // protects seen_
  std::map<std::string, int64_t> seen_;    // nonce -> expiry
};

}  // namespace mf::signalling
