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

// gst-launch-1.0 treats each argv word as one token (it escapes spaces inside a word), so a
// fragment is split into words the way a shell would split it.
void push_fragment(std::vector<std::string> &args, const std::string &fragment) {
  gchar **words = nullptr;
  if (g_shell_parse_argv(fragment.c_str(), nullptr, &words, nullptr)) {
    for (gchar **w = words; *w; w++) args.push_back(*w);
    g_strfreev(words);
  } else {
    args.push_back(fragment);
  }
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
  // gst-launch-1.0 cannot link into a named bin from outside, so a `gst` fragment is written inline
  // in the chain that passes through it: `in. ! <fragment> ! out.`. The builder ghosts a fragment's
  // single unlinked sink and src pad, and a sink pad takes one link, so there is at most one link
  // in and one out (fan-out from a fragment goes through a tee).
  std::vector<std::string> args;
  auto is_fragment = [&](const std::string &name) {
    const PlanElement *e = plan.find(name);
    return e && !e->fragment.empty();
  };
  for (const auto &e : plan.elements) {
    if (!e.fragment.empty()) continue;
    args.push_back(e.factory);
    args.push_back("name=" + e.name);
    for (const auto &p : e.properties)
      args.push_back(p.name + "=" + launch_value(gvalue_to_string(p.value.get())));
  }
  auto ref = [](const std::string &el, const std::string &pad) { return el + "." + pad; };
  std::vector<bool> used(plan.links.size(), false);
  for (size_t i = 0; i < plan.links.size(); i++) {
    if (used[i]) continue;
    const PlanLink &l = plan.links[i];
    used[i] = true;
    if (is_fragment(l.src)) {
      // A fragment with no link in: it starts the chain.
      push_fragment(args, plan.find(l.src)->fragment);
    } else {
      args.push_back(ref(l.src, l.src_pad));
    }
    std::string dst = l.dst, dst_pad = l.dst_pad;
    // Follow the chain through fragments.
    while (is_fragment(dst)) {
      args.push_back("!");
      push_fragment(args, plan.find(dst)->fragment);
      size_t next = plan.links.size();
      for (size_t j = 0; j < plan.links.size(); j++)
        if (!used[j] && plan.links[j].src == dst) next = j;
      if (next == plan.links.size()) {
        dst.clear();
        break;
      }
      used[next] = true;
      dst = plan.links[next].dst;
      dst_pad = plan.links[next].dst_pad;
    }
    if (!dst.empty()) {
      args.push_back("!");
      args.push_back(ref(dst, dst_pad));
    }
  }
  // Fragments with no links at all.
  for (const auto &e : plan.elements) {
    if (e.fragment.empty()) continue;
    bool linked = false;
    for (const auto &l : plan.links) linked |= l.src == e.name || l.dst == e.name;
    if (!linked) push_fragment(args, e.fragment);
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
