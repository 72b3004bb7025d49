// Tokens: HMAC-SHA256 over room, user, validity and a nonce; every rejection has its own reason.
#include <gtest/gtest.h>

#include <string>

#include "meshflow/signalling/token.h"

using namespace mf::signalling;

namespace {

const std::string kSecret = "s3cret-key-for-tests";
constexpr int64_t kNow = 1'800'000'000;

TEST(Token, IssueAndVerify) {
  std::string t = issue_token_at(kSecret, "room1", "alice", kNow - 10, kNow + 60);
  ASSERT_FALSE(t.empty());
  EXPECT_EQ(t.rfind("mf1.", 0), 0u);
  TokenVerifier v(kSecret);
  TokenClaims c;
  EXPECT_EQ(v.verify_at(t, "room1", kNow, &c), TokenError::None);
  EXPECT_EQ(c.room, "room1");
  EXPECT_EQ(c.user, "alice");
  EXPECT_EQ(c.expires, kNow + 60);
  EXPECT_FALSE(c.nonce.empty());
}

TEST(Token, IssueWithTtlUsesTheClock) {
  std::string t = issue_token(kSecret, "r", "u", 60);
  TokenVerifier v(kSecret);
  EXPECT_EQ(v.verify(t, "r"), TokenError::None);
  EXPECT_EQ(issue_token(kSecret, "r", "u", 0), "");
  EXPECT_EQ(issue_token("", "r", "u", 60), "");
  EXPECT_EQ(issue_token(kSecret, "", "u", 60), "");
}

TEST(Token, Expired) {
  TokenVerifier v(kSecret, false, 5);
  std::string t = issue_token_at(kSecret, "r", "u", kNow - 100, kNow - 10);
  EXPECT_EQ(v.verify_at(t, "r", kNow), TokenError::Expired);
  // within leeway
  std::string t2 = issue_token_at(kSecret, "r", "u", kNow - 100, kNow - 3);
  EXPECT_EQ(v.verify_at(t2, "r", kNow), TokenError::None);
}

TEST(Token, NotYetValid) {
  TokenVerifier v(kSecret, false, 5);
  std::string t = issue_token_at(kSecret, "r", "u", kNow + 100, kNow + 200);
  EXPECT_EQ(v.verify_at(t, "r", kNow), TokenError::NotYetValid);
}

TEST(Token, WrongRoom) {
  TokenVerifier v(kSecret);
  std::string t = issue_token_at(kSecret, "roomA", "u", kNow, kNow + 60);
  EXPECT_EQ(v.verify_at(t, "roomB", kNow), TokenError::WrongRoom);
}

TEST(Token, Tampered) {
  TokenVerifier v(kSecret);
  std::string t = issue_token_at(kSecret, "r", "u", kNow, kNow + 60);
  // flip one character of the payload, of the mac, swap payloads between tokens
  for (size_t pos : {size_t(6), t.size() - 3}) {
    std::string x = t;
    x[pos] = x[pos] == 'A' ? 'B' : 'A';
    TokenError e = v.verify_at(x, "r", kNow);
    EXPECT_TRUE(e == TokenError::BadSignature || e == TokenError::Malformed) << to_string(e);
  }
  std::string other = issue_token_at(kSecret, "admin-room", "u", kNow, kNow + 60);
  std::string spliced = other.substr(0, other.rfind('.')) + t.substr(t.rfind('.'));
  EXPECT_EQ(v.verify_at(spliced, "admin-room", kNow), TokenError::BadSignature);
  TokenVerifier wrong_secret("another secret");
  EXPECT_EQ(wrong_secret.verify_at(t, "r", kNow), TokenError::BadSignature);
}

TEST(Token, Replayed) {
  TokenVerifier v(kSecret, /*single_use=*/true);
  std::string t = issue_token_at(kSecret, "r", "u", kNow, kNow + 60);
  EXPECT_EQ(v.verify_at(t, "r", kNow), TokenError::None);
  EXPECT_EQ(v.verify_at(t, "r", kNow + 1), TokenError::Replayed);
  // without the option a token may be reused until it expires
  TokenVerifier multi(kSecret);
  EXPECT_EQ(multi.verify_at(t, "r", kNow), TokenError::None);
  EXPECT_EQ(multi.verify_at(t, "r", kNow), TokenError::None);
}

TEST(Token, ReplayCacheIsBounded) {
  TokenVerifier v(kSecret, true, 0, 4);
  for (int i = 0; i < 4; i++)
    EXPECT_EQ(v.verify_at(issue_token_at(kSecret, "r", "u", kNow, kNow + 10), "r", kNow),
              TokenError::None);
  // full of live nonces: refuse rather than forget
  EXPECT_EQ(v.verify_at(issue_token_at(kSecret, "r", "u", kNow, kNow + 10), "r", kNow),
            TokenError::Replayed);
  // once they expired, they are evicted
  EXPECT_EQ(v.verify_at(issue_token_at(kSecret, "r", "u", kNow, kNow + 100), "r", kNow + 20),
            TokenError::None);
}

TEST(Token, Malformed) {
  TokenVerifier v(kSecret);
  for (const char *bad : {"x", "mf1.", "mf1..", "mf1.abc.def", "mf2.abc.def", "mf1.a.b.c",
                          "mf1.!!!.AAAA", "Bearer xyz"})
    EXPECT_EQ(v.verify_at(bad, "r", kNow), TokenError::Malformed) << bad;
  EXPECT_EQ(v.verify_at("", "r", kNow), TokenError::Missing);
  EXPECT_EQ(v.verify_at(std::string(5000, 'A'), "r", kNow), TokenError::Malformed);
  TokenVerifier none("");
  EXPECT_EQ(none.verify_at("mf1.a.b", "r", kNow), TokenError::NoSecret);
}

TEST(Token, DistinctReasons) {
  EXPECT_STREQ(to_string(TokenError::Expired), "expired");
  EXPECT_STREQ(to_string(TokenError::NotYetValid), "not_yet_valid");
  EXPECT_STREQ(to_string(TokenError::BadSignature), "bad_signature");
  EXPECT_STREQ(to_string(TokenError::WrongRoom), "wrong_room");
  EXPECT_STREQ(to_string(TokenError::Replayed), "replayed");
}

TEST(Token, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
  EXPECT_FALSE(constant_time_equal("", "a"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

TEST(Base64url, RoundTripAndStrictness) {
  std::string out;
  for (std::string s : {"", "f", "fo", "foo", "foob", "\xff\xfe\xfd"}) {
    std::string e = base64url_encode(s.data(), s.size());
    EXPECT_EQ(e.find_first_of("+/="), std::string::npos);
    ASSERT_TRUE(base64url_decode(e, &out));
    EXPECT_EQ(out, s);
  }
  EXPECT_FALSE(base64url_decode("Zm9v=", &out));
  EXPECT_FALSE(base64url_decode("Zm+v", &out));
  EXPECT_FALSE(base64url_decode("Z", &out));
  EXPECT_FALSE(base64url_decode("Zh", &out));  // non-canonical trailing bits
}

}  // namespace
