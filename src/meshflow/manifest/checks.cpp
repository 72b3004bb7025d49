// Typed accessors for structural validation. Each reports exactly one error when the value has
// the wrong kind or is out of range, naming the key and what would be valid, and returns nullopt
// so the caller skips checks that depend on the value (no cascades).
#include <cctype>

#include "meshflow/manifest/internal.h"
#include "meshflow/manifest/suggest.h"

namespace mf::manifest::detail {

std::string got(const Value &v) {
  if (v.is_scalar()) {
    std::string s = v.scalar.size() > 40 ? v.scalar.substr(0, 40) + "..." : v.scalar;
    return v.quoted ? "the quoted string \"" + s + "\"" : "'" + s + "'";
  }
  return v.kind_name();
}

bool valid_id(const std::string &s) {
  if (s.empty() || s.size() > 64) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

void Checker::error(const std::string &code, const Location &loc, const std::string &message,
                    const std::string &hint) {
  if (full()) return;
  if (d_.errors.size() + 1 == kMaxErrors) {
    d_.add("too-many-errors", loc, node, "too many errors; stopping here",
           "fix these and run again");
    return;
  }
  d_.add(code, loc, node, message, hint);
}

void Checker::unknown_keys(const Value &map, const std::vector<std::string> &allowed,
                           const std::string &where) {
  for (const auto &kv : map.entries) {
    if (full()) return;
    bool known = false;
    for (const auto &a : allowed) known = known || kv.first.scalar == a;
    if (!known)
      error("unknown-key", kv.first.loc, "unknown key '" + kv.first.scalar + "'" + where,
            did_you_mean(kv.first.scalar, allowed));
  }
}

std::optional<std::string> Checker::string(const Value &v, const std::string &key) {
  if (v.is_scalar()) return v.scalar;
  error("bad-type", v.loc, "'" + key + "': expected a string, got " + got(v));
  return std::nullopt;
}

std::optional<long long> Checker::integer(const Value &v, const std::string &key, long long min,
                                          long long max) {
  const std::string range = "allowed: " + std::to_string(min) + ".." + std::to_string(max);
  if (!v.is_scalar() || v.quoted) {
    error("bad-type", v.loc, "'" + key + "': expected an integer, got " + got(v),
          v.quoted ? "write it without quotes" : range);
    return std::nullopt;
  }
  const std::string &s = v.scalar;
  std::size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  bool digits = i < s.size();
  for (std::size_t k = i; k < s.size(); k++)
    digits = digits && std::isdigit(static_cast<unsigned char>(s[k]));
  if (!digits) {
    error("bad-type", v.loc, "'" + key + "': expected an integer, got " + got(v), range);
    return std::nullopt;
  }
  // More than 18 digits cannot be in any range we use; avoid overflow in the conversion.
  long long n = 0;
  bool huge = s.size() - i > 18;
  if (!huge) n = std::stoll(s);
  if (huge || n < min || n > max) {
    error("out-of-range", v.loc, "'" + key + "' is " + s.substr(0, 40) + ", out of range", range);
    return std::nullopt;
  }
  return n;
}

bool Checker::mapping(const Value &v, const std::string &key) {
  if (v.is_map()) return true;
  error("bad-type", v.loc, "'" + key + "': expected a mapping, got " + got(v));
  return false;
}

bool Checker::list(const Value &v, const std::string &key) {
  if (v.is_sequence()) return true;
  error("bad-type", v.loc, "'" + key + "': expected a list, got " + got(v));
  return false;
}

}  // namespace mf::manifest::detail
