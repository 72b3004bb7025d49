// libFuzzer target: the ICE candidate parser (RFC 8445 candidate-attribute).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "meshflow/signalling/sdp.h"

// The library is not built with coverage instrumentation (-fsanitize=fuzzer-no-link); compiling
// the code under test into the target gives libFuzzer its coverage. The executable's definitions
// interpose the library's identical ones.
#include "../../src/meshflow/signalling/sdp.cpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view in(reinterpret_cast<const char *>(data), size);
  mf::signalling::CandidateResult r = mf::signalling::parse_candidate(in);
  if (r.ok && !r.candidate.end_of_candidates) {
    const auto &c = r.candidate;
    if (c.component < 1 || c.component > 256 || c.foundation.empty() ||
        c.foundation.size() > 32 || c.address.empty() || in.size() > 512)
      __builtin_trap();
  }
  if (r.ok && r.candidate.end_of_candidates && size != 0) __builtin_trap();
  return 0;
}
