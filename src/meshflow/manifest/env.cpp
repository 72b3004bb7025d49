// ${VAR} / ${VAR:-default} / $$ expansion of one scalar value.
//
// Deliberately small: no nesting (`${A:-${B}}` uses the literal text `${B` up to the first '}'),
// no `${VAR-default}` or other shell forms, so a manifest never means two different things.
#include <cctype>

#include "meshflow/manifest/internal.h"

namespace mf::manifest::detail {
namespace {

bool valid_name(const std::string &s) {
  if (s.empty()) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

EnvResult fail(const char *code, std::string message, std::string hint) {
  EnvResult r;
  r.ok = false;
  r.code = code;
  r.message = std::move(message);
  r.hint = std::move(hint);
  return r;
}

}  // namespace

EnvResult expand_env(const std::string &in, const Getenv &getenv, std::size_t max_out,
                     std::string &out) {
  out.clear();
  if (in.find('$') == std::string::npos) {
    out = in;
    return {};
  }
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); i++) {
    const char c = in[i];
    if (c != '$' || i + 1 >= in.size() || (in[i + 1] != '$' && in[i + 1] != '{')) {
      out += c;
      continue;
    }
    if (in[i + 1] == '$') {  // $$ -> $
      out += '$';
      i++;
      continue;
    }
    const std::size_t close = in.find('}', i + 2);
    if (close == std::string::npos)
      return fail("env-syntax", "unterminated '${' in '" + in.substr(0, 80) + "'",
                  "write ${NAME} or ${NAME:-default}; $$ is a literal '$'");
    const std::string body = in.substr(i + 2, close - i - 2);
    const std::size_t sep = body.find(":-");
    const std::string name = sep == std::string::npos ? body : body.substr(0, sep);
    if (!valid_name(name))
      return fail("env-syntax", "invalid environment variable name '" + name.substr(0, 80) + "'",
                  "write ${NAME} or ${NAME:-default} with NAME of letters, digits and _");
    std::optional<std::string> val = getenv ? getenv(name) : std::nullopt;
    if ((!val || val->empty()) && sep != std::string::npos) {
      val = body.substr(sep + 2);
    } else if (!val) {
      return fail("env-undefined", "environment variable '" + name + "' is not set",
                  "set it, or give a default: ${" + name + ":-value}");
    }
    out += *val;
    if (out.size() > max_out)
      return fail("too-big", "value too long after ${" + name + "} expansion",
                  "at most " + std::to_string(max_out) + " bytes");
    i = close;
  }
  return {};
}

}  // namespace mf::manifest::detail
