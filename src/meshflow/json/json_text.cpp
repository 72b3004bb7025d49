// See json_text.h.
#include "meshflow/json/json_text.h"

#include <cctype>
#include <cstdio>

namespace mf::json {

namespace {
bool number_char(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.' || c == 'e' ||
         c == 'E';
}
}  // namespace

std::string fix_generated(const std::string &in) {
  std::string out;
  out.reserve(in.size() + 16);
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char esc[8];
        std::snprintf(esc, sizeof esc, "\\u%04x", unsigned(static_cast<unsigned char>(c)));
        out += esc;
        continue;
      }
      out += c;
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
      continue;
    }
    if (number_char(c)) {
      // A whole number token: drop a ".0" written after an exponent.
      size_t j = i;
      while (j < in.size() && number_char(in[j])) ++j;
      std::string tok = in.substr(i, j - i);
      const size_t e = tok.find_first_of("eE");
      if (e != std::string::npos && tok.size() > 2 && tok.compare(tok.size() - 2, 2, ".0") == 0 &&
          tok.find('.', e) == tok.size() - 2)
        tok.resize(tok.size() - 2);
      out += tok;
      i = j - 1;
      continue;
    }
    out += c;
  }
  return out;
}

std::string to_text(JsonNode *node) {
  if (!node) return {};
  JsonGenerator *g = json_generator_new();
  json_generator_set_root(g, node);
  gsize len = 0;
  gchar *s = json_generator_to_data(g, &len);
  std::string raw(s ? s : "", s ? len : 0);
  g_free(s);
  g_object_unref(g);
  return fix_generated(raw);
}

}  // namespace mf::json
