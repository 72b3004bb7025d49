// Command line of meshflow-launch.
#pragma once

#include <string>
#include <vector>

namespace mf::tools {

struct LaunchOptions {
  std::string manifest;
  std::vector<std::string> overrides;  // --set node.prop=value
  bool verbose = false;                // -v
  bool print_gst = false;              // --print-gst
  bool validate = false;               // --validate
  bool schema = false;                 // --schema
  bool help = false;
  std::string dot_dir;                 // --dot DIR
  std::string listen = "127.0.0.1:8080";  // --listen HOST:PORT (0 = any free port)
  bool no_server = false;              // --no-server
  bool serve = false;                  // --serve: one session per room of the embedded server
  std::string room;                    // --room (overrides session.room)
  std::vector<std::string> ice_local_addresses;  // --ice-local-address (repeatable)
  std::string token_room, token_user;  // --token ROOM USER
  int token_ttl = 3600;                // --token-ttl SECONDS
};

/// Parse argv. Returns false with `error` set on a usage error.
bool parse_launch_options(int argc, char **argv, LaunchOptions &out, std::string &error);

const char *launch_usage();

}  // namespace mf::tools
