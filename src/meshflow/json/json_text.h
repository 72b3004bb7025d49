// Safe JSON text output: json-glib's generator with the fix-ups for the two cases where
// json-glib 1.6 writes invalid JSON (both found by fuzz_ws_frame):
//   - U+001F inside a string is written raw (every control character must be escaped): raw
//     control characters inside strings are written as \u00XX;
//   - a double whose %.17g form has an exponent gets ".0" appended after it ("2e+46.0"): the
//     stray ".0" is removed ("2e+46").
// Use this instead of json_generator_* wherever text leaves the process (/rpc, /ws).
#pragma once

#include <json-glib/json-glib.h>

#include <string>

namespace mf::json {

/// Compact JSON text of `node` (an empty string for nullptr).
std::string to_text(JsonNode *node);

/// The fix-ups alone, applied to text json-glib generated (exposed for the tests).
std::string fix_generated(const std::string &generated);

}  // namespace mf::json
