#include "launch_options.h"

#include <cstdlib>
#include <cstring>

namespace mf::tools {

const char *launch_usage() {
  return "Usage: meshflow-launch [OPTIONS] MANIFEST.yaml\n"
         "Run a Meshflow manifest until EOS, an error or Ctrl-C (EOS first, then stop).\n"
         "\n"
         "  --set NODE.PROP=VALUE   override a node property (repeatable)\n"
         "  --validate              check the manifest against the installed elements, run nothing\n"
         "  --print-gst             print the equivalent gst-launch-1.0 command line\n"
         "  --schema                print the JSON Schema of the manifest format\n"
         "  --dot DIR               write a Graphviz .dot file of the pipeline at every state change\n"
         "  -v, --verbose           print property changes (caps...) like gst-launch-1.0 -v\n"
         "  --listen HOST:PORT      HTTP/WebSocket port for signalling (default 127.0.0.1:8080; 0 = any)\n"
         "  --no-server             do not start the embedded signalling server\n"
         "  --room NAME             override session.room\n"
         "  --serve                 serve every room of the embedded signalling server: one session\n"
         "                          (pipeline) per room, created when the first peer announces into\n"
         "                          it, destroyed 2 s after its last peer left (without --serve:\n"
         "                          join session.room as one participant)\n"
         "  --ice-local-address IP  restrict ICE host candidates (repeatable)\n"
         "  --token ROOM USER       print a signalling token (needs MESHFLOW_SECRET) and exit\n"
         "  --token-ttl SECONDS     lifetime of --token (default 3600)\n"
         "  -h, --help              this help\n"
         "\n"
         "Exit status: 0 success (EOS), 1 runtime error, 2 invalid manifest or usage.\n";
}

bool parse_launch_options(int argc, char **argv, LaunchOptions &o, std::string &error) {
  auto need = [&](int &i, const char *opt, std::string &dst) {
    if (i + 1 >= argc) {
      error = std::string(opt) + " needs a value";
      return false;
    }
    dst = argv[++i];
    return true;
  };
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    std::string v;
    // --opt=value form
    auto eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      std::string name = a.substr(0, eq);
      if (name != "--set") {
        v = a.substr(eq + 1);
        a = name;
        if (a == "--dot") { o.dot_dir = v; continue; }
        if (a == "--listen") { o.listen = v; continue; }
        if (a == "--room") { o.room = v; continue; }
        if (a == "--ice-local-address") { o.ice_local_addresses.push_back(v); continue; }
        if (a == "--token-ttl") { o.token_ttl = std::atoi(v.c_str()); continue; }
        error = "unknown option '" + name + "'";
        return false;
      }
    }
    if (a == "-h" || a == "--help") o.help = true;
    else if (a == "-v" || a == "--verbose") o.verbose = true;
    else if (a == "--print-gst") o.print_gst = true;
    else if (a == "--validate") o.validate = true;
    else if (a == "--schema") o.schema = true;
    else if (a == "--no-server") o.no_server = true;
    else if (a == "--serve") o.serve = true;
    else if (a == "--set") {
      if (!need(i, "--set", v)) return false;
      o.overrides.push_back(v);
    } else if (a.rfind("--set=", 0) == 0) {
      o.overrides.push_back(a.substr(6));
    } else if (a == "--dot") {
      if (!need(i, "--dot", o.dot_dir)) return false;
    } else if (a == "--listen") {
      if (!need(i, "--listen", o.listen)) return false;
    } else if (a == "--room") {
      if (!need(i, "--room", o.room)) return false;
    } else if (a == "--ice-local-address") {
      if (!need(i, "--ice-local-address", v)) return false;
      o.ice_local_addresses.push_back(v);
    } else if (a == "--token") {
      if (i + 2 >= argc) {
        error = "--token needs ROOM and USER";
        return false;
      }
      o.token_room = argv[++i];
      o.token_user = argv[++i];
    } else if (a == "--token-ttl") {
      if (!need(i, "--token-ttl", v)) return false;
      char *end = nullptr;
      long ttl = std::strtol(v.c_str(), &end, 10);
      if (*end || ttl <= 0 || ttl > 7 * 24 * 3600) {
        error = "--token-ttl must be 1..604800 seconds";
        return false;
      }
      o.token_ttl = (int)ttl;
    } else if (!a.empty() && a[0] == '-') {
      error = "unknown option '" + a + "'";
      return false;
    } else if (o.manifest.empty()) {
      o.manifest = a;
    } else {
      error = "more than one manifest given ('" + o.manifest + "' and '" + a + "')";
      return false;
    }
  }
  if (o.serve && o.no_server) {
    error = "--serve needs the embedded signalling server (it cannot be used with --no-server)";
    return false;
  }
  if (!o.help && !o.schema && o.token_room.empty() && o.manifest.empty()) {
    error = "no manifest given";
    return false;
  }
  return true;
}

}  // namespace mf::tools
