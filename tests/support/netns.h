// Network isolation for tests that open WebRTC or any socket: a fresh network namespace holding only
// a loopback interface (the network rule: no traffic to any address but loopback).
#pragma once

#include <string>

namespace mf::test {

/// unshare(CLONE_NEWNET) and bring `lo` up. Call before any thread exists (first thing in main):
/// a namespace change applies to the calling thread and the threads it creates afterwards.
/// Returns false with `error` set if not permitted (not root / no user namespaces).
bool enter_loopback_netns(std::string *error);

}  // namespace mf::test
