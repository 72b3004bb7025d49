// libFuzzer target: the token verifier (format, base64url, MAC check, payload decoding). Inputs
// starting with 'V' are first re-signed with the fuzz secret so the payload decoder is reached.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <glib.h>

#include "meshflow/signalling/token.h"

// The library is not built with coverage instrumentation (-fsanitize=fuzzer-no-link); compiling
// the code under test into the target gives libFuzzer its coverage. The executable's definitions
// interpose the library's identical ones.
#include "../../src/meshflow/signalling/token.cpp"
#include "../../src/meshflow/signalling/jsonrpc.cpp"

using namespace mf::signalling;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static TokenVerifier verifier("fuzz-secret", /*single_use=*/true, 5, 64);
  std::string in(reinterpret_cast<const char *>(data), size);
  if (!in.empty() && in[0] == 'V') {
    // sign an arbitrary payload: "mf1." base64url(rest) "." mac
    std::string signed_part = "mf1." + base64url_encode(in.data() + 1, in.size() - 1);
    GHmac *h = g_hmac_new(G_CHECKSUM_SHA256, reinterpret_cast<const guchar *>("fuzz-secret"), 11);
    g_hmac_update(h, reinterpret_cast<const guchar *>(signed_part.data()), gssize(signed_part.size()));
    guint8 d[32];
    gsize n = sizeof d;
    g_hmac_get_digest(h, d, &n);
    g_hmac_unref(h);
    in = signed_part + "." + base64url_encode(d, n);
  }
  TokenClaims c;
  TokenError e = verifier.verify_at(in, "room", 1'800'000'000, &c);
  if (e == TokenError::None && c.room != "room") __builtin_trap();
  verifier.decode(in, &c);
  std::string out;
  base64url_decode(in, &out);
  return 0;
}
