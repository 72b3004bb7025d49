// `--set node.prop=value` overrides, applied after structural validation.
//
// The value is parsed as YAML (without ${ENV} expansion: the shell already did that), so
// `blur.sigma=8` gives the plain scalar "8" (a number to the graph layer) and `x.name="8"` a
// string; `[a, b]` and `{k: v}` give a list or mapping. Anything else YAML would read as
// structure (`a: b`) or as nothing (`#x`) is taken as the literal text. Property names are not
// checked here: the graph layer checks them against the element.
#include "meshflow/manifest/internal.h"
#include "meshflow/manifest/suggest.h"

namespace mf::manifest::detail {
namespace {

const char *kCommandLine = "<command line>";

void relocate(Value &v, const Location &loc) {
  v.loc = loc;
  for (auto &i : v.items) relocate(i, loc);  // depth bounded by max_depth at parse time
  for (auto &kv : v.entries) {
    kv.first.loc = loc;
    relocate(kv.second, loc);
  }
}

bool null_text(const std::string &s) {
  return s == "~" || s == "null" || s == "Null" || s == "NULL";
}

}  // namespace

void apply_overrides(const std::vector<std::string> &overrides, const LoadOptions &opts,
                     Diagnostics &d, Manifest &m) {
  const Location cl{kCommandLine, 0, 0};
  std::vector<std::string> ids;
  for (const auto &n : m.nodes) ids.push_back(n.id);
  for (const auto &o : overrides) {
    const std::string shown = o.size() > 80 ? o.substr(0, 80) + "..." : o;
    const std::size_t eq = o.find('=');
    const std::string lhs = o.substr(0, eq);
    const std::size_t dot = lhs.find('.');
    if (eq == std::string::npos || dot == std::string::npos || dot + 1 >= lhs.size()) {
      d.add("bad-override", cl, {}, "malformed override '" + shown + "'",
            "write node.property=value, e.g. blur.sigma=8");
      continue;
    }
    const std::string node = lhs.substr(0, dot), prop = lhs.substr(dot + 1);
    if (!valid_id(node)) {
      d.add("bad-override", cl, {}, "malformed override '" + shown + "': bad node id '" + node + "'",
            "write node.property=value, e.g. blur.sigma=8");
      continue;
    }
    Node *n = m.find_node(node);
    if (!n) {
      d.add("unknown-node", cl, {}, "override '" + shown + "' names unknown node '" + node + "'",
            did_you_mean(node, ids));
      continue;
    }
    const std::string text = o.substr(eq + 1);
    if (text.empty()) {
      d.add("bad-override", cl, node, "override '" + shown + "' has no value",
            "for an empty string write " + lhs + "=\"\"");
      continue;
    }
    Value v;
    if (null_text(text)) {
      v.kind = Value::Kind::Null;
    } else {
      Diagnostics pd = parse_tree(text, kCommandLine, opts, false, v);
      const bool structure = (v.is_map() || v.is_sequence()) && text[0] != '[' && text[0] != '{';
      if (!pd.ok() && pd.errors.front().code != "empty") {
        d.add("bad-override", cl, node,
              "bad value in override '" + shown + "': " + pd.errors.front().message,
              "quote it if it is a string: " + lhs + "=\"...\"");
        continue;
      }
      if (!pd.ok() || structure) {  // "#x", "a: b": the literal text
        v = Value{};
        v.kind = Value::Kind::Scalar;
        v.scalar = text;
      }
    }
    relocate(v, cl);
    bool replaced = false;
    for (auto &p : n->properties) {
      if (p.name == prop) {
        p.value = v;
        p.loc = cl;
        replaced = true;
      }
    }
    if (!replaced) n->properties.push_back(Property{prop, std::move(v), cl});
  }
}

}  // namespace mf::manifest::detail
