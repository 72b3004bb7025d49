// YAML text -> located Value tree, built from yaml-cpp's event API (not YAML::Node), so that:
//  - every value keeps its 1-based line:column (yaml-cpp marks are 0-based);
//  - aliases are expanded by copying the anchored subtree, with the number of values, the bytes
//    of scalar text and the nesting depth checked BEFORE the copy (billion laughs costs nothing);
//  - an alias to an anchor still being built (`&x [*x]`) is an error, not a cycle;
//  - nesting is bounded by max_depth here, long before yaml-cpp's own recursion guard (2000);
//  - duplicate keys, several documents and empty input are reported, not silently accepted;
//  - ${ENV} is expanded in scalar values (not keys).
// A fatal problem throws the private `Fatal` out of the event handler, which unwinds through
// yaml-cpp (plain C++) back to parse_tree(); nothing escapes parse_tree().
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <glib.h>

#include <algorithm>
#include <new>
#include <sstream>
#include <unordered_map>

#include "meshflow/manifest/internal.h"

namespace mf::manifest::detail {
namespace {

struct Fatal {};  // thrown after the error was recorded; stops parsing

bool is_null_text(const std::string &s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

// Exactly one ${...} reference and nothing else.
bool is_single_reference(const std::string &s) {
  return s.size() > 3 && s.compare(0, 2, "${") == 0 && s.back() == '}' &&
         s.find('}') == s.size() - 1;
}

class TreeBuilder final : public YAML::EventHandler {
 public:
  TreeBuilder(const std::string &file, const LoadOptions &opts, bool expand, Diagnostics &d)
      : file_(file), opts_(opts), expand_(expand), d_(d) {}

  bool has_root = false;
  Value root;
  int documents = 0;

  Location loc(const YAML::Mark &m) const {
    if (m.is_null()) return Location{file_, 0, 0};
    return Location{file_, m.line + 1, m.column + 1};
  }

  void OnDocumentStart(const YAML::Mark &m) override {
    if (documents++ > 0)
      fatal("multiple-documents", loc(m), "more than one YAML document in the manifest",
            "a manifest is a single document; remove the second '---'");
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark &m, YAML::anchor_t anchor) override {
    Value v;
    v.loc = loc(m);
    // `key:` with nothing after it: yaml-cpp marks the next token; point at the key instead.
    if (!stack_.empty() && stack_.back().v.is_map() && stack_.back().have_key &&
        v.loc.line != stack_.back().key.loc.line)
      v.loc = stack_.back().key.loc;
    charge(1, 0, v.loc);
    finish(std::move(v), anchor, 1, 0, 0);
  }

  void OnScalar(const YAML::Mark &m, const std::string &tag, YAML::anchor_t anchor,
                const std::string &text) override {
    Value v;
    v.loc = loc(m);
    // yaml-cpp tags a plain scalar "?" and a quoted one "!"; an explicit !!str is a string too.
    const bool plain = tag == "?";
    if (plain && is_null_text(text)) {
      v.kind = Value::Kind::Null;
    } else {
      v.kind = Value::Kind::Scalar;
      v.quoted = tag == "!" || tag == "tag:yaml.org,2002:str";
      v.scalar = text;
      if (expand_ && !key_position()) {
        std::string out;
        EnvResult r = expand_env(text, opts_.getenv, opts_.max_expanded_bytes, out);
        if (r.ok) {
          // In flow collections `{a: ${X}}` must be quoted (YAML reads '{' '}' as structure), so
          // a value that is exactly one "${...}" is taken as if written plain: `"${PEERS}"` can
          // still be an integer. Mixed text such as "${A}-x" stays a quoted string.
          if (v.quoted && is_single_reference(text)) v.quoted = false;
          v.scalar = std::move(out);
        } else
          d_.add(r.code, v.loc, {}, r.message, r.hint);  // not fatal: report every such scalar
      }
    }
    // Read the size before the call: argument evaluation order is unspecified, and std::move(v)
    // may be evaluated first (clang does), which would charge 0 bytes.
    const std::size_t bytes = v.scalar.size();
    charge(1, bytes, v.loc);
    finish(std::move(v), anchor, 1, 0, bytes);
  }

  void OnAlias(const YAML::Mark &m, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end())  // yaml-cpp normally throws first; keep the check anyway
      fatal("unknown-anchor", loc(m), "alias to an unknown anchor", "define it first with &name");
    const Anchor &a = it->second;
    if (!a.complete)
      fatal("recursive-alias", loc(m), "alias '*" + a.name + "' refers to a value that contains it",
            "an alias can only repeat a value that is already complete");
    // Every limit is checked before copying, so a bomb is refused without allocating it.
    if (static_cast<long long>(stack_.size()) + a.height > opts_.max_depth)
      fatal("too-deep", loc(m),
            "nesting deeper than " + std::to_string(opts_.max_depth) + " levels after alias expansion");
    if (values_ + a.count > opts_.max_values)
      fatal("too-many-values", loc(m),
            "too many values after alias expansion (limit " + std::to_string(opts_.max_values) + ")",
            "aliases are expanded by copying; do not nest them exponentially");
    if (bytes_ + a.bytes > opts_.max_expanded_bytes)
      fatal("too-many-values", loc(m),
            "too much text after alias expansion (limit " +
                std::to_string(opts_.max_expanded_bytes) + " bytes)",
            "aliases are expanded by copying; do not nest them exponentially");
    values_ += a.count;
    bytes_ += a.bytes;
    Value copy = a.v;
    copy.loc = loc(m);  // the use site; the copy's children keep their anchor-site locations
    finish(std::move(copy), 0, a.count, a.height, a.bytes);
  }

  void OnAnchor(const YAML::Mark &, const std::string &name) override { pending_name_ = name; }

  void OnSequenceStart(const YAML::Mark &m, const std::string &, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    start(Value::Kind::Sequence, m, anchor);
  }
  void OnSequenceEnd() override { end(); }
  void OnMapStart(const YAML::Mark &m, const std::string &, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    start(Value::Kind::Map, m, anchor);
  }
  void OnMapEnd() override { end(); }

 private:
  struct Frame {
    Value v;
    YAML::anchor_t anchor = 0;
    std::size_t count = 1;  // values in this subtree, itself included
    int height = 1;         // nesting levels in this subtree, itself included
    std::size_t bytes = 0;  // scalar bytes in this subtree
    bool have_key = false;  // Map: `key` waits for its value
    bool drop = false;      // Map: `key` was a duplicate; its value is discarded
    Value key;
    std::unordered_map<std::string, int> keys;  // Map: key -> line of its first occurrence
  };
  struct Anchor {
    std::string name;
    bool complete = false;
    Value v;
    std::size_t count = 0, bytes = 0;
    int height = 0;
  };

  [[noreturn]] void fatal(const std::string &code, const Location &l, const std::string &msg,
                          const std::string &hint = {}) {
    d_.add(code, l, {}, msg, hint);
    throw Fatal{};
  }

  bool key_position() const {
    return !stack_.empty() && stack_.back().v.is_map() && !stack_.back().have_key;
  }

  // Counts values and scalar bytes against the budget; `where` is the value being added.
  void charge(std::size_t values, std::size_t bytes, const Location &where) {
    values_ += values;
    bytes_ += bytes;
    const std::string why = !anchors_.empty() ? " after alias expansion" : "";
    if (values_ > opts_.max_values)
      fatal("too-many-values", where,
            "too many values" + why + " (limit " + std::to_string(opts_.max_values) + ")");
    if (bytes_ > opts_.max_expanded_bytes)
      fatal("too-many-values", where,
            "too much text" + why + " (limit " + std::to_string(opts_.max_expanded_bytes) +
                " bytes)");
  }

  void start(Value::Kind kind, const YAML::Mark &m, YAML::anchor_t anchor) {
    if (static_cast<long long>(stack_.size()) + 1 > opts_.max_depth)
      fatal("too-deep", loc(m), "nesting deeper than " + std::to_string(opts_.max_depth) + " levels");
    if (key_position())
      fatal("bad-key", loc(m), "a list or mapping cannot be a mapping key",
            "keys are plain names such as 'nodes' or 'sigma'");
    charge(1, 0, loc(m));
    if (anchor) {  // registered now, so an alias inside its own value is detected
      Anchor &a = anchors_[anchor];
      a.name = pending_name_;
      a.complete = false;
    }
    Frame f;
    f.v.kind = kind;
    f.v.loc = loc(m);
    f.anchor = anchor;
    stack_.push_back(std::move(f));
  }

  void end() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    finish(std::move(f.v), f.anchor, f.count, f.height, f.bytes);
  }

  // Places a complete value into its parent (or makes it the root), recording anchors.
  void finish(Value v, YAML::anchor_t anchor, std::size_t count, int height, std::size_t bytes) {
    if (anchor) {
      // The anchor keeps its own copy, which costs memory like an expansion does: charge it, so
      // nested anchors over one big list cannot multiply it unbounded.
      charge(count, bytes, v.loc);
      Anchor &a = anchors_[anchor];
      if (a.name.empty()) a.name = pending_name_;
      a.complete = true;
      a.v = v;
      a.count = count;
      a.height = height;
      a.bytes = bytes;
    }
    if (stack_.empty()) {
      root = std::move(v);
      has_root = true;
      return;
    }
    Frame &p = stack_.back();
    p.count += count;
    p.bytes += bytes;
    p.height = std::max(p.height, height + 1);
    if (p.v.is_sequence()) {
      p.v.items.push_back(std::move(v));
      return;
    }
    if (!p.have_key) {
      if (!v.is_scalar())
        fatal("bad-key", v.loc, std::string("mapping keys must be names, got ") + v.kind_name(),
              "keys are plain names such as 'nodes' or 'sigma'");
      auto ins = p.keys.emplace(v.scalar, v.loc.line);
      p.drop = !ins.second;
      if (p.drop)
        d_.add("duplicate-key", v.loc, {},
               "duplicate key '" + v.scalar + "', first on line " +
                   std::to_string(ins.first->second),
               "each key may appear only once in a mapping");
      p.key = std::move(v);
      p.have_key = true;
      return;
    }
    if (!p.drop) p.v.entries.emplace_back(std::move(p.key), std::move(v));
    p.have_key = false;
    p.drop = false;
  }

  const std::string &file_;
  const LoadOptions &opts_;
  bool expand_;
  Diagnostics &d_;
  std::vector<Frame> stack_;
  std::unordered_map<YAML::anchor_t, Anchor> anchors_;
  std::string pending_name_;
  std::size_t values_ = 0, bytes_ = 0;
};

// "YAML does not allow tabs" when the offending line (or the one before) has a tab.
std::string tab_hint(const std::string &text, int line0) {
  if (line0 < 0) return {};
  std::size_t pos = 0;
  for (int l = 0; l < line0 - 1 && pos != std::string::npos; l++) {
    pos = text.find('\n', pos);
    if (pos != std::string::npos) pos++;
  }
  if (pos == std::string::npos) return {};
  for (int k = 0; k < 2 && pos < text.size(); k++) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    if (text.find('\t', pos) < eol) return "YAML does not allow tabs for indentation; use spaces";
    pos = eol + 1;
  }
  return {};
}

}  // namespace

Diagnostics parse_tree(const std::string &text, const std::string &filename,
                       const LoadOptions &opts, bool expand, Value &out) {
  Diagnostics d;
  if (text.size() > opts.max_bytes) {
    d.add("too-big", Location{filename, 0, 0}, {},
          "manifest is " + std::to_string(text.size()) + " bytes, more than the limit of " +
              std::to_string(opts.max_bytes),
          "split it, or raise the limit");
    return d;
  }
  LoadOptions o = opts;
  if (!o.getenv)
    o.getenv = [](const std::string &name) -> std::optional<std::string> {
      const char *v = g_getenv(name.c_str());
      if (!v) return std::nullopt;
      return std::string(v);
    };
  TreeBuilder b(filename, o, expand, d);
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(b)) {
    }
  } catch (const Fatal &) {
    return d;
  } catch (const YAML::Exception &e) {  // ParserException, DeepRecursion, ...
    if (e.msg == YAML::ErrorMsg::UNKNOWN_ANCHOR)
      d.add("unknown-anchor", b.loc(e.mark), {}, "alias to an unknown anchor",
            "define the anchor with &name before using *name");
    else
      d.add("yaml-syntax", b.loc(e.mark), {}, e.msg.empty() ? "invalid YAML" : e.msg,
            tab_hint(text, e.mark.is_null() ? -1 : e.mark.line));
    return d;
  } catch (const std::bad_alloc &) {
    d.add("too-big", Location{filename, 0, 0}, {}, "out of memory while parsing the manifest");
    return d;
  } catch (const std::exception &e) {
    d.add("internal", Location{filename, 0, 0}, {}, std::string("YAML parser failed: ") + e.what());
    return d;
  }
  if (!d.ok()) return d;
  if (!b.has_root || b.root.kind == Value::Kind::Null) {
    d.add("empty", b.has_root ? b.root.loc : Location{filename, 0, 0}, {}, "the manifest is empty",
          "start with 'version: 1' and a 'nodes:' list");
    return d;
  }
  out = std::move(b.root);
  return d;
}

}  // namespace mf::manifest::detail
