#include "meshflow/graph/gst_line.h"

#include "meshflow/graph/properties.h"

namespace mf::graph {

namespace {

// Quote a property value for gst-launch's own parser when it has spaces or syntax characters.
std::string launch_value(const std::string &v) {
  bool plain = !v.empty();
  for (char c : v)
    if (!(g_ascii_isalnum(c) || c == '_' || c == '-' || c == '.' || c == '/' || c == ':' || c == '+' ||
          c == '%' || c == '@'))
      plain = false;
  if (plain) return v;
  std::string q = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

}  // namespace

std::string shell_quote(const std::string &w) {
  bool plain = !w.empty();
  for (char c : w)
    if (!(g_ascii_isalnum(c) || c == '_' || c == '-' || c == '.' || c == '/' || c == ':' || c == '=' ||
          c == ',' || c == '+' || c == '%' || c == '@' || c == '!'))
      plain = false;
  if (plain) return w;
  std::string q = "'";
  for (char c : w) {
    if (c == '\'') q += "'\\''";
    else q += c;
  }
  return q + "'";
}

std::vector<std::string> gst_launch_args(const Plan &plan) {
  std::vector<std::string> args;
  for (const auto &e : plan.elements) {
    if (!e.fragment.empty()) {
      // A fragment becomes a named bin whose unlinked pads gst-launch ghosts when linked.
      args.push_back("bin");
      args.push_back("name=" + e.name);
      args.push_back("(");
      gchar **words = nullptr;
      if (g_shell_parse_argv(e.fragment.c_str(), nullptr, &words, nullptr)) {
        for (gchar **w = words; *w; w++) args.push_back(*w);
        g_strfreev(words);
      } else {
        args.push_back(e.fragment);
      }
      args.push_back(")");
      continue;
    }
    args.push_back(e.factory);
    args.push_back("name=" + e.name);
    for (const auto &p : e.properties) args.push_back(p.name + "=" + launch_value(gvalue_to_string(p.value.get())));
  }
  for (const auto &l : plan.links) {
    args.push_back(l.src + "." + l.src_pad);
    args.push_back("!");
    args.push_back(l.dst + "." + l.dst_pad);
  }
  return args;
}

std::string gst_launch_line(const Plan &plan, const std::string &extra_env) {
  std::string line = extra_env.empty() ? "" : extra_env + " ";
  line += "gst-launch-1.0";
  for (const auto &a : gst_launch_args(plan)) line += " " + shell_quote(a);
  return line;
}

}  // namespace mf::graph
