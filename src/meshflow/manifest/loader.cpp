// load_file / load_string / parse_yaml: the boundary of the manifest loader. Stages run in order
// (size cap -> YAML tree -> structure -> overrides) and a stage runs only if the previous one
// succeeded, so errors never cascade. No exception escapes: anything thrown below becomes an Error.
#include <fstream>
#include <new>

#include "meshflow/manifest/internal.h"
#include "meshflow/manifest/loader.h"

namespace mf::manifest {
namespace {

Diagnostics internal_error(const std::string &file, const char *what) {
  Diagnostics d;
  d.add("internal", Location{file, 0, 0}, {}, std::string("manifest loader failed: ") + what);
  return d;
}

Diagnostics load_impl(const std::string &text, const std::string &filename,
                      const LoadOptions &opts, Manifest &out) {
  out = Manifest{};
  out.file = filename;
  Value root;
  Diagnostics d = detail::parse_tree(text, filename, opts, true, root);
  if (!d.ok()) return d;
  detail::Checker c(d);
  detail::check_structure(root, c, out);
  // Overrides need the node list; they are checked even when other parts had errors, since an
  // unknown node in --set is independent of, say, a bad session key.
  if (!opts.overrides.empty() && !out.nodes.empty())
    detail::apply_overrides(opts.overrides, opts, d, out);
  return d;
}

}  // namespace

Diagnostics parse_yaml(const std::string &text, const std::string &filename,
                       const LoadOptions &opts, Value &out) {
  try {
    return detail::parse_tree(text, filename, opts, true, out);
  } catch (const std::bad_alloc &) {
    return internal_error(filename, "out of memory");
  } catch (const std::exception &e) {
    return internal_error(filename, e.what());
  } catch (...) {
    return internal_error(filename, "unknown exception");
  }
}

Diagnostics load_string(const std::string &text, const std::string &filename,
                        const LoadOptions &opts, Manifest &out) {
  try {
    return load_impl(text, filename, opts, out);
  } catch (const std::bad_alloc &) {
    return internal_error(filename, "out of memory");
  } catch (const std::exception &e) {
    return internal_error(filename, e.what());
  } catch (...) {
    return internal_error(filename, "unknown exception");
  }
}

Diagnostics load_file(const std::string &path, const LoadOptions &opts, Manifest &out) {
  try {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      Diagnostics d;
      d.add("io", Location{path, 0, 0}, {}, "cannot open the manifest", "check the path");
      return d;
    }
    // Read at most max_bytes + 1: a huge (or endless, e.g. /dev/zero) file costs nothing.
    std::string text;
    text.resize(opts.max_bytes + 1);
    in.read(&text[0], static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (in.bad()) {
      Diagnostics d;
      d.add("io", Location{path, 0, 0}, {}, "cannot read the manifest");
      return d;
    }
    if (text.size() > opts.max_bytes) {
      Diagnostics d;
      d.add("too-big", Location{path, 0, 0}, {},
            "manifest is larger than the limit of " + std::to_string(opts.max_bytes) + " bytes",
            "split it, or raise the limit");
      return d;
    }
    return load_impl(text, path, opts, out);
  } catch (const std::bad_alloc &) {
    return internal_error(path, "out of memory");
  } catch (const std::exception &e) {
    return internal_error(path, e.what());
  } catch (...) {
    return internal_error(path, "unknown exception");
  }
}

}  // namespace mf::manifest
