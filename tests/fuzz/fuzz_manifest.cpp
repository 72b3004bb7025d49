// libFuzzer target for the manifest loader (stage 1): YAML parsing, alias expansion, ${ENV},
// structural validation and --set overrides. Must never crash, hang, throw or allocate without
// bound, whatever the bytes.
//
// Lines of the input that start with "#set " are also passed as overrides (a YAML comment, so the
// manifest itself is unchanged), so the fuzzer reaches the override parser too.
//
// Seeds: tests/fuzz/corpus/manifest/; reproducers of fixed crashes: tests/fuzz/repro/manifest/.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "meshflow/manifest/loader.h"
#include "meshflow/manifest/model.h"

using namespace mf::manifest;

namespace {

// A fixed environment, so runs are reproducible: FUZZ_A is set, FUZZ_EMPTY is empty.
std::optional<std::string> fuzz_getenv(const std::string &name) {
  if (name == "FUZZ_A") return std::string("value-a");
  if (name == "FUZZ_EMPTY") return std::string();
  return std::nullopt;
}

void check(bool cond) {
  if (!cond) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string text(reinterpret_cast<const char *>(data), size);
  LoadOptions opts;
  opts.getenv = fuzz_getenv;
  // Smaller limits than the defaults keep each input fast; the logic is the same.
  opts.max_values = 20000;
  opts.max_expanded_bytes = 1 << 20;
  for (std::size_t pos = 0; pos < text.size() && opts.overrides.size() < 8;) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    if (text.compare(pos, 5, "#set ") == 0) opts.overrides.push_back(text.substr(pos + 5, eol - pos - 5));
    pos = eol + 1;
  }
  Manifest m;
  mf::Diagnostics d = load_string(text, "fuzz.yaml", opts, m);
  // Invariants: every error says what and where; a success is a usable manifest.
  for (const auto &e : d.errors) {
    check(!e.code.empty());
    check(!e.message.empty());
    check(!e.loc.file.empty());
    (void)e.format();
  }
  if (d.ok()) {
    check(!m.nodes.empty());
    for (const auto &n : m.nodes) check(!n.id.empty() && !n.type.empty() && m.find_node(n.id));
    for (const auto &l : m.links) check(l.from.node != l.to.node);
  }
  return 0;
}
