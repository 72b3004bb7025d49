// Shared helpers for the manifest loader tests.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

#include "meshflow/manifest/loader.h"

namespace mftest {

/// LoadOptions whose environment is exactly `env` (the real environment never leaks in).
inline mf::manifest::LoadOptions options(std::map<std::string, std::string> env = {}) {
  mf::manifest::LoadOptions o;
  o.getenv = [env](const std::string &name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  return o;
}

inline std::string dir(const char *sub) { return std::string(MANIFEST_TEST_DIR) + "/" + sub; }

}  // namespace mftest
