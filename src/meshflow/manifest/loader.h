// Stage 1 of loading a manifest: YAML text -> located Value tree -> Manifest, with every structural
// error reported at its file:line:column. No GStreamer here: stage 2 (graph/validate.h) checks node
// types, properties and pads against the element classes.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "meshflow/error.h"
#include "meshflow/manifest/model.h"

namespace mf::manifest {

struct LoadOptions {
  /// `node.prop=value` overrides (meshflow-launch --set), applied after parsing; the value is
  /// parsed like a YAML scalar. Errors point at "<command line>".
  std::vector<std::string> overrides;
  /// Environment lookup for ${VAR} / ${VAR:-default}; defaults to g_getenv.
  std::function<std::optional<std::string>(const std::string &)> getenv;
  std::size_t max_bytes = 1 << 20;    // file size cap
  std::size_t max_values = 100000;    // values after alias expansion
  int max_depth = 64;                 // nesting depth
  /// Total bytes of scalar text after alias and ${ENV} expansion (bounds memory the way
  /// max_values bounds the number of values: `&a "<1000 chars>"` aliased many times).
  std::size_t max_expanded_bytes = 16 << 20;
};

/// Parse and structurally validate. On failure `out` is unspecified and the diagnostics say why.
Diagnostics load_file(const std::string &path, const LoadOptions &opts, Manifest &out);
Diagnostics load_string(const std::string &text, const std::string &filename,
                        const LoadOptions &opts, Manifest &out);

/// Parse YAML text into a located Value tree only (used by the loader and the fuzzer).
Diagnostics parse_yaml(const std::string &text, const std::string &filename,
                       const LoadOptions &opts, Value &out);

}  // namespace mf::manifest
