// libFuzzer target: the whole signalling request path without sockets — pre-scan, json-glib parse,
// JSON-RPC validation, dispatch into the hub (rooms, forwarding, limits) with fake connections.
// The input is split at 0xFF bytes into several messages sent by alternating connections.
#include <gst/gst.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "meshflow/signalling/hub.h"

// The library is not built with coverage instrumentation (-fsanitize=fuzzer-no-link); compiling
// the code under test into the target gives libFuzzer its coverage. The executable's definitions
// interpose the library's identical ones.
#include "../../src/meshflow/signalling/jsonrpc.cpp"
#include "../../src/meshflow/signalling/hub.cpp"
#include "../../src/meshflow/signalling/sdp.cpp"
#include "../../src/meshflow/signalling/token.cpp"

using namespace mf::signalling;

namespace {
struct NullLink : Link {
  size_t sent = 0;
  bool send(const std::string &t) override {
    sent += t.size();
    return sent < (1u << 20);  // exercise the slow-consumer path too
  }
  void close(unsigned short, const std::string &) override {}
};
}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  gst_init(nullptr, nullptr);
  g_log_set_always_fatal(GLogLevelFlags(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mf::metrics::Registry reg;
  ServerConfig cfg;
  cfg.max_candidates_per_peer = 8;
  cfg.max_rooms = 4;
  cfg.max_peers_per_room = 3;
  cfg.secret = size % 2 ? "fuzz-secret" : "";
  int64_t now = 1'000'000;
  Hub hub(cfg, reg, [&] { return now += 1000; });
  NullLink links[3];
  uint64_t ids[3];
  for (int i = 0; i < 3; i++) ids[i] = hub.connect(&links[i]);
  if (cfg.secret.empty()) {
    hub.receive(ids[0], R"({"jsonrpc":"2.0","id":1,"method":"peer.announce","params":{"room":"r","peer_id":"a"}})");
    hub.receive(ids[1], R"({"jsonrpc":"2.0","id":1,"method":"peer.announce","params":{"room":"r","peer_id":"b","envelope":{"session_id":"S"}}})");
  }
  std::string_view in(reinterpret_cast<const char *>(data), size);
  size_t start = 0, k = 0;
  for (size_t i = 0; i <= in.size(); i++) {
    if (i == in.size() || static_cast<unsigned char>(in[i]) == 0xFF) {
      hub.receive(ids[k++ % 3], in.substr(start, i - start));
      start = i + 1;
    }
  }
  hub.sweep();
  hub.disconnect(ids[0], "closed");
  hub.shutdown();
  return 0;
}
