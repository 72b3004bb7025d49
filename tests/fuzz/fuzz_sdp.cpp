// libFuzzer target: the SDP validator (runs before webrtcbin ever sees an SDP).
#include <gst/gst.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "meshflow/signalling/sdp.h"

// The library is not built with coverage instrumentation (-fsanitize=fuzzer-no-link); compiling
// the code under test into the target gives libFuzzer its coverage. The executable's definitions
// interpose the library's identical ones.
#include "../../src/meshflow/signalling/sdp.cpp"

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  gst_init(nullptr, nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view in(reinterpret_cast<const char *>(data), size);
  mf::signalling::SdpReport r = mf::signalling::validate_sdp(in);
  if (r.ok) {
    // Invariants of an accepted SDP.
    if (r.mlines == 0 || r.mlines > 16 || r.mids.size() != r.mlines || in.size() > 16 * 1024)
      __builtin_trap();
    for (auto &m : r.mids)
      if (!mf::signalling::valid_mid(m, 32)) __builtin_trap();
  }
  return 0;
}
