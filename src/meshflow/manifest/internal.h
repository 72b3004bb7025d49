// Internal interfaces between the loader's stages (not installed). Each stage lives in its own file:
//   yaml_tree.cpp   YAML events -> located Value tree (aliases, limits, duplicate keys, ${ENV})
//   env.cpp         ${VAR} / ${VAR:-default} / $$ expansion of one scalar
//   checks.cpp      typed accessors that report "expected an integer, got a list" and unknown keys
//   structure.cpp   top level, nodes and links -> Manifest
//   session.cpp     the session: block
//   overrides.cpp   --set node.prop=value
//   loader.cpp      load_file / load_string: the exception boundary that ties them together
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "meshflow/error.h"
#include "meshflow/manifest/loader.h"
#include "meshflow/manifest/model.h"

namespace mf::manifest::detail {

using Getenv = std::function<std::optional<std::string>(const std::string &)>;

/// Result of expanding one scalar. On failure `message`/`hint` say why and `out` is unspecified.
struct EnvResult {
  bool ok = true;
  std::string code;  // "env-undefined" or "env-syntax"
  std::string message, hint;
};
/// Expands ${VAR}, ${VAR:-default} (default used when VAR is unset or empty) and $$ (a literal $).
/// A '$' followed by anything else is kept as is. `max_out` bounds the result size.
EnvResult expand_env(const std::string &in, const Getenv &getenv, std::size_t max_out,
                     std::string &out);

/// parse_yaml with the option to skip ${ENV} expansion (used for --set values, which the shell
/// already expanded).
Diagnostics parse_tree(const std::string &text, const std::string &filename,
                       const LoadOptions &opts, bool expand_env, Value &out);

/// Reports errors about one manifest into `d`, with the node id of the node being checked.
class Checker {
 public:
  explicit Checker(Diagnostics &d) : d_(d) {}
  std::string node;  // node id for errors inside a node, else empty

  void error(const std::string &code, const Location &loc, const std::string &message,
             const std::string &hint = {});
  /// Reports every key of `map` not in `allowed` ("unknown key 'x'<where>" + did-you-mean).
  /// `where` is appended to the message (" in session").
  void unknown_keys(const Value &map, const std::vector<std::string> &allowed,
                    const std::string &where = {});
  /// A string scalar (plain or quoted). Null, lists and mappings are errors.
  std::optional<std::string> string(const Value &v, const std::string &key);
  /// A plain decimal integer in [min, max].
  std::optional<long long> integer(const Value &v, const std::string &key, long long min,
                                   long long max);
  /// true if `v` is a mapping, else reports "'key': expected a mapping, got ...".
  bool mapping(const Value &v, const std::string &key);
  /// true if `v` is a list, else reports "'key': expected a list, got ...".
  bool list(const Value &v, const std::string &key);
  std::size_t count() const { return d_.errors.size(); }
  /// After kMaxErrors errors the rest are dropped (like a compiler's error limit), which also
  /// bounds the did-you-mean work a hostile file can cause (links x nodes).
  static constexpr std::size_t kMaxErrors = 100;
  bool full() const { return d_.errors.size() >= kMaxErrors; }

 private:
  Diagnostics &d_;
};

/// The error for a value of the wrong kind: "'key': expected an integer, got a list".
std::string got(const Value &v);

bool valid_id(const std::string &s);  // [A-Za-z_][A-Za-z0-9_-]*, at most 64 chars

void check_session(const Value &v, Checker &c, Session &out);
void check_structure(const Value &root, Checker &c, Manifest &out);
void apply_overrides(const std::vector<std::string> &overrides, const LoadOptions &opts,
                     Diagnostics &d, Manifest &m);

}  // namespace mf::manifest::detail
