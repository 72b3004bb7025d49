// meshflow-launch: run a Meshflow manifest.
//
//   meshflow-launch manifests/default.yaml
//   meshflow-launch --set blur.sigma=10 -v manifests/default.yaml
//   meshflow-launch --print-gst manifests/default.yaml   # the equivalent gst-launch-1.0 line
//   meshflow-launch --validate my.yaml                   # errors at file:line:col, nothing runs
//   meshflow-launch --serve manifests/default.yaml       # one session per room (see serve_rooms.h)
//
// Exit status: 0 EOS, 1 runtime error, 2 invalid manifest or usage.
#include <glib-unix.h>
#include <gst/gst.h>

#include <cstdio>
#include <memory>

#include "common.h"
#include "launch_options.h"
#include "serve_rooms.h"
#include "web_routes.h"
#include "meshflow/graph/gst_line.h"
#include "meshflow/graph/plan.h"
#include "meshflow/graph/registry.h"
#include "meshflow/manifest/loader.h"
#include "meshflow/manifest/schema.h"
#include "meshflow/session/session.h"
#include "meshflow/signalling/server.h"
#include "meshflow/signalling/token.h"
#include "meshflow/transport/ws_endpoint.h"

using namespace mf;

namespace {

constexpr int kExitOk = 0, kExitRuntime = 1, kExitUsage = 2;

struct App {
  GMainLoop *loop = nullptr;
  std::unique_ptr<session::Session> session;
  int exit_code = kExitOk;
  int interrupts = 0;
  guint eos_timeout = 0;
  bool serving = false;  // --serve: Ctrl-C stops every room's session and exits 0
};

gboolean on_signal(gpointer data) {
  auto *app = static_cast<App *>(data);
  if (app->serving) {
    std::fprintf(stderr, "meshflow-launch: interrupt: stopping every room\n");
    g_main_loop_quit(app->loop);
    return G_SOURCE_CONTINUE;
  }
  if (++app->interrupts == 1 && app->session) {
    std::fprintf(stderr, "meshflow-launch: interrupt: sending EOS (Ctrl-C again to stop at once)\n");
    app->session->send_eos();
    // Live graphs without a draining sink may never post EOS: stop anyway after a bound.
    app->eos_timeout = g_timeout_add_seconds(5, [](gpointer d) -> gboolean {
      auto *a = static_cast<App *>(d);
      std::fprintf(stderr, "meshflow-launch: EOS did not arrive within 5 s; stopping\n");
      a->eos_timeout = 0;
      g_main_loop_quit(a->loop);
      return G_SOURCE_REMOVE;
    }, app);
  } else {
    std::fprintf(stderr, "meshflow-launch: interrupt: stopping\n");
    app->exit_code = kExitRuntime;
    g_main_loop_quit(app->loop);
  }
  return G_SOURCE_CONTINUE;
}

void print_diagnostics(const Diagnostics &d) { std::fputs(d.format().c_str(), stderr); }

bool split_host_port(const std::string &listen, std::string &host, unsigned &port) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  char *end = nullptr;
  long p = std::strtol(listen.c_str() + colon + 1, &end, 10);
  if (*end || p < 0 || p > 65535) return false;
  port = (unsigned)p;
  return true;
}

// session.* of the manifest reaches the nodes that join the room (webrtc_source/sink, and any
// custom node with the same properties): signalling URL, room, ICE settings. A property the
// manifest sets on the node itself wins.
// Manifests spell properties with '_' or '-' (peer_id, peer-id): compare canonically.
bool same_property(const std::string &a, const char *b) {
  std::string x = a, y = b;
  for (auto *s : {&x, &y})
    for (auto &c : *s)
      if (c == '_') c = '-';
  return x == y;
}

void set_if_unset(graph::PlanElement &e, GObjectClass *klass, const char *name, const GValue *v) {
  if (!g_object_class_find_property(klass, name)) return;
  for (const auto &p : e.properties)
    if (same_property(p.name, name)) return;
  e.properties.push_back(graph::PlanProperty{name, graph::OwnedValue(v), e.loc});
}

// --serve: every session joins its own room, whatever the nodes say; `value` replaces theirs.
void force_string(graph::Plan &plan, const char *name, const std::string &value) {
  for (auto &e : plan.elements) {
    if (e.factory.empty()) continue;
    GstElementFactory *f = gst_element_factory_find(e.factory.c_str());
    if (!f) continue;
    auto *klass = static_cast<GObjectClass *>(g_type_class_ref(gst_element_factory_get_element_type(f)));
    gst_object_unref(f);
    if (g_object_class_find_property(klass, name)) {
      GValue v = G_VALUE_INIT;
      g_value_init(&v, G_TYPE_STRING);
      g_value_set_string(&v, value.c_str());
      bool replaced = false;
      for (auto &p : e.properties)
        if (same_property(p.name, name)) {
          p.value = graph::OwnedValue(&v);
          replaced = true;
        }
      if (!replaced) e.properties.push_back(graph::PlanProperty{name, graph::OwnedValue(&v), e.loc});
      g_value_unset(&v);
    }
    g_type_class_unref(klass);
  }
}

// The string a node of the plan sets for `name` ("" if none does).
std::string plan_string(const graph::Plan &plan, const char *name) {
  for (const auto &e : plan.elements)
    for (const auto &p : e.properties)
      if (same_property(p.name, name) && G_VALUE_HOLDS_STRING(p.value.get()) && g_value_get_string(p.value.get()))
        return g_value_get_string(p.value.get());
  return "";
}

void apply_session_settings(const manifest::Manifest &m, const std::string &url, graph::Plan &plan) {
  for (auto &e : plan.elements) {
    if (e.factory.empty()) continue;
    GstElementFactory *f = gst_element_factory_find(e.factory.c_str());
    if (!f) continue;
    auto *klass = static_cast<GObjectClass *>(g_type_class_ref(gst_element_factory_get_element_type(f)));
    gst_object_unref(f);
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_TYPE_STRING);
    if (url != "embedded") {  // --no-server with an embedded manifest: the element's default
      g_value_set_string(&v, url.c_str());
      set_if_unset(e, klass, "signalling-url", &v);
    }
    g_value_set_string(&v, m.session.room.c_str());
    set_if_unset(e, klass, "room", &v);
    g_value_unset(&v);
    auto strv = [&](const std::vector<std::string> &items, const char *prop) {
      if (items.empty()) return;
      std::vector<const char *> c;
      for (const auto &i : items) c.push_back(i.c_str());
      c.push_back(nullptr);
      GValue sv = G_VALUE_INIT;
      g_value_init(&sv, G_TYPE_STRV);
      g_value_set_boxed(&sv, c.data());
      set_if_unset(e, klass, prop, &sv);
      g_value_unset(&sv);
    };
    strv(m.session.ice_local_addresses, "ice-local-addresses");
    std::vector<std::string> urls;
    for (const auto &is : m.session.ice_servers)
      for (const auto &u : is.urls) urls.push_back(u);
    strv(urls, "ice-servers");
    g_type_class_unref(klass);
  }
}

// The embedded signalling server of `session.signalling: embedded` (the default): the launcher's
// one HTTP port, where later /ws, /metrics and /client live too.
std::unique_ptr<signalling::Server> start_server(const manifest::Manifest &m, const std::string &listen,
                                                 std::string &error) {
  std::string host;
  unsigned port = 0;
  if (!split_host_port(listen, host, port)) {
    error = "--listen wants HOST:PORT, got '" + listen + "'";
    return nullptr;
  }
  signalling::ServerConfig cfg = signalling::ServerConfig::from_env();
  cfg.max_peers_per_room = (size_t)m.session.max_peers;
  cfg.metrics_endpoint = true;
  for (const auto &s : m.session.ice_servers) cfg.ice_servers.push_back({s.urls, s.username, s.credential});
  auto server = std::make_unique<signalling::Server>(cfg);
  if (!server->listen(host, port, &error)) return nullptr;
  return server;
}

}  // namespace

int main(int argc, char **argv) {
  tools::LaunchOptions opts;
  std::string usage_error;
  // GStreamer options (--gst-debug...) are consumed by gst_init first.
  tools::init_gstreamer(&argc, &argv);
  if (!tools::parse_launch_options(argc, argv, opts, usage_error)) {
    std::fprintf(stderr, "meshflow-launch: %s\n\n%s", usage_error.c_str(), tools::launch_usage());
    return kExitUsage;
  }
  if (opts.help) {
    std::fputs(tools::launch_usage(), stdout);
    return kExitOk;
  }
  if (!opts.token_room.empty()) {
    const char *secret = g_getenv("MESHFLOW_SECRET");
    if (!secret || !*secret) {
      std::fprintf(stderr, "meshflow-launch: --token needs MESHFLOW_SECRET (the server's secret) in the environment\n");
      return kExitUsage;
    }
    std::string token = signalling::issue_token(secret, opts.token_room, opts.token_user, opts.token_ttl);
    if (token.empty()) {
      std::fprintf(stderr, "meshflow-launch: cannot issue a token for room '%s' user '%s' (empty or longer than 128 bytes)\n",
                   opts.token_room.c_str(), opts.token_user.c_str());
      return kExitUsage;
    }
    std::printf("%s\n", token.c_str());
    return kExitOk;
  }
  graph::Registry registry;
  if (opts.schema) {
    std::vector<std::string> types;
    for (const auto &t : registry.meshflow_types()) types.push_back(t.name);
    types.push_back(graph::kGstFragmentType);
    std::printf("%s\n", manifest::json_schema(types).c_str());
    return kExitOk;
  }

  manifest::LoadOptions load_opts;
  load_opts.overrides = opts.overrides;
  manifest::Manifest m;
  Diagnostics diag = manifest::load_file(opts.manifest, load_opts, m);
  if (!diag.ok()) {
    print_diagnostics(diag);
    return kExitUsage;
  }
  if (!opts.room.empty()) m.session.room = opts.room;
  if (!opts.ice_local_addresses.empty()) m.session.ice_local_addresses = opts.ice_local_addresses;

  graph::Plan plan;
  diag = graph::compile(m, registry, plan);
  if (!diag.ok()) {
    print_diagnostics(diag);
    return kExitUsage;
  }
  if (opts.validate) {
    std::printf("%s: OK (%zu nodes, %zu links, %zu elements)\n", opts.manifest.c_str(), m.nodes.size(),
                m.links.size(), plan.elements.size());
    return kExitOk;
  }
  if (opts.print_gst) {
    std::string env;
    bool uses_meshflow = false;
    for (const auto &e : plan.elements) {
      auto t = registry.lookup(e.factory);
      if (t && t->plugin == "meshflow") uses_meshflow = true;
    }
    if (uses_meshflow) {
      std::string dir = tools::meshflow_plugin_dir();
      if (!dir.empty()) env = "GST_PLUGIN_PATH=" + graph::shell_quote(dir);
    }
    std::printf("%s\n", graph::gst_launch_line(plan, env).c_str());
    return kExitOk;
  }

  std::unique_ptr<signalling::Server> server;
  if (!opts.no_server && m.session.signalling == "embedded") {
    std::string error;
    server = start_server(m, opts.listen, error);
    if (!server) {
      std::fprintf(stderr, "meshflow-launch: signalling server: %s\n", error.c_str());
      return kExitRuntime;
    }
    std::fprintf(stderr, "meshflow-launch: signalling on %s (room '%s')\n", server->url().c_str(),
                 m.session.room.c_str());
    mf::transport::WsEndpoint::global().attach(server->soup_server(), server->config().allowed_origins);  // /ws
    std::string web = tools::find_web_dir();
    tools::add_web_routes(server->soup_server(), web,
                          tools::SessionConfig::from(m.session, server->registry()));
    if (!web.empty()) {
      std::string http = server->url();
      http.replace(0, 2, "http");  // ws://host:port/rpc -> http://host:port/rpc
      http = http.substr(0, http.rfind('/'));
      std::fprintf(stderr, "meshflow-launch: open %s/client?room=%s\n", http.c_str(), m.session.room.c_str());
    }
  }
  if (opts.serve && !server) {
    std::fprintf(stderr, "meshflow-launch: --serve needs the embedded signalling server "
                         "(session.signalling: embedded)\n");
    return kExitUsage;
  }
  if (opts.serve) {
    // One session per room, each from this compiled plan with its room pushed into the nodes; the
    // launcher's own peer (one id for every room) does not count as a room's peer.
    tools::ServeOptions so;
    so.own_peer_id = plan_string(plan, "peer-id");
    if (so.own_peer_id.empty()) {
      gchar *u = g_uuid_string_random();
      so.own_peer_id = std::string("meshflow-launch-") + std::string(u, 8);
      g_free(u);
    }
    so.session.name = m.name.empty() ? "meshflow" : m.name;
    so.session.dot_dir = opts.dot_dir;
    so.session.verbose = opts.verbose;
    if (!opts.dot_dir.empty()) g_mkdir_with_parents(opts.dot_dir.c_str(), 0755);
    const std::string url = server->url();
    auto plan_for = [&m, &plan, url, own = so.own_peer_id](const std::string &room, graph::Plan &out,
                                                          std::string &) {
      out = plan;
      apply_session_settings(m, url, out);
      force_string(out, "room", room);
      force_string(out, "peer-id", own);
      return true;
    };
    App app;
    app.loop = g_main_loop_new(nullptr, FALSE);
    app.serving = true;
    guint sigint = g_unix_signal_add(SIGINT, on_signal, &app);
    guint sigterm = g_unix_signal_add(SIGTERM, on_signal, &app);
    {
      tools::RoomSessions rooms(*server, plan_for, so);
      std::fprintf(stderr, "meshflow-launch: serving every room of %s as peer '%s' (manifest '%s')\n",
                   url.c_str(), so.own_peer_id.c_str(), so.session.name.c_str());
      g_main_loop_run(app.loop);
      rooms.stop_all();
    }
    g_source_remove(sigint);
    g_source_remove(sigterm);
    server->shutdown();
    server.reset();
    g_main_loop_unref(app.loop);
    return app.exit_code;
  }
  apply_session_settings(m, server ? server->url() : m.session.signalling, plan);

  App app;
  app.loop = g_main_loop_new(nullptr, FALSE);
  session::SessionOptions sopts;
  sopts.name = m.name.empty() ? "meshflow" : m.name;
  sopts.dot_dir = opts.dot_dir;
  sopts.verbose = opts.verbose;
  if (!opts.dot_dir.empty()) g_mkdir_with_parents(opts.dot_dir.c_str(), 0755);
  app.session = session::Session::create(plan, sopts, diag);
  if (!app.session) {
    print_diagnostics(diag);
    return kExitRuntime;
  }
  app.session->on_eos = [&app] {
    std::fprintf(stderr, "meshflow-launch: end of stream\n");
    g_main_loop_quit(app.loop);
  };
  app.session->on_error = [&app](const Error &e) {
    std::fprintf(stderr, "%s\n", e.format().c_str());
    app.exit_code = kExitRuntime;
    g_main_loop_quit(app.loop);
  };
  guint sigint = g_unix_signal_add(SIGINT, on_signal, &app);
  guint sigterm = g_unix_signal_add(SIGTERM, on_signal, &app);

  if (!app.session->start(diag)) {
    print_diagnostics(diag);
    app.exit_code = kExitRuntime;
  } else {
    std::fprintf(stderr, "meshflow-launch: running '%s' (%zu elements)\n", sopts.name.c_str(),
                 plan.elements.size());
    g_main_loop_run(app.loop);
  }
  if (app.eos_timeout) g_source_remove(app.eos_timeout);
  g_source_remove(sigint);
  g_source_remove(sigterm);
  app.session.reset();
  if (server) server->shutdown();
  server.reset();
  g_main_loop_unref(app.loop);
  return app.exit_code;
}
