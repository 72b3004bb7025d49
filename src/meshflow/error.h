// The runtime's error model: a value carrying code, node id, file:line:column and a message.
//
// Inside elements, errors go to the bus (GST_ELEMENT_ERROR); GLib-facing helpers use GError; the
// runtime (manifest, graph, session, tools) returns these. Nothing here throws across a GLib frame.
#pragma once

#include <string>
#include <vector>

namespace mf {

/// A position in a manifest (or "<command line>" for --set overrides). Lines and columns are 1-based;
/// 0 means unknown.
struct Location {
  std::string file;
  int line = 0;
  int column = 0;
  std::string str() const;  // "file:line:col"
};

struct Error {
  std::string code;     // stable machine-readable kind: "unknown-key", "cycle", "bad-value"...
  Location loc;
  std::string node;     // node id the error is about, if any
  std::string message;  // what is wrong
  std::string hint;     // what would be valid ("did you mean 'sigma'?", "allowed: 0..100")
  /// "file:line:col: error: node 'blur': message (hint)"
  std::string format() const;
};

/// A list of errors; empty means success.
struct Diagnostics {
  std::vector<Error> errors;
  bool ok() const { return errors.empty(); }
  void add(Error e) { errors.push_back(std::move(e)); }
  void add(std::string code, Location loc, std::string node, std::string message,
           std::string hint = {}) {
    errors.push_back(Error{std::move(code), std::move(loc), std::move(node), std::move(message),
                           std::move(hint)});
  }
  void append(const Diagnostics &other) {
    errors.insert(errors.end(), other.errors.begin(), other.errors.end());
  }
  std::string format() const;  // one line per error
};

}  // namespace mf
