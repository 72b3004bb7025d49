// Routes of the launcher's HTTP port besides /rpc and /ws:
//   /client          the browser client (web/client.html)
//   /web/<file>      its assets. Only files directly inside the web directory are served; no
//                    directory listings, no path traversal.
//   /session-config  GET ?room=ROOM&user=USER -> the transport this user should use (JSON, see
//                    docs/protocols.md "Transport choice"): the manifest's session.transport and
//                    session.webrtc_rollout_percent applied by mf::session::choose_transport.
#pragma once

#include <libsoup/soup.h>

#include <string>

#include "meshflow/manifest/model.h"
#include "meshflow/metrics/registry.h"

namespace mf::tools {

/// What /session-config answers with: the session settings of the launcher's manifest.
struct SessionConfig {
  std::string room = "demo";           // the room the launcher's session serves
  std::string transport = "auto";      // session.transport: auto | webrtc | websocket
  int webrtc_rollout_percent = 100;    // session.webrtc_rollout_percent
  int ice_timeout_ms = 10000;          // the client falls back to WebSocket if ICE is not up by then
  metrics::Registry *registry = nullptr;  // decisions are counted here (null: the global registry)

  static SessionConfig from(const manifest::Session &s, metrics::Registry &registry);
};

/// Longest user id /session-config accepts (bytes).
constexpr size_t kMaxUserIdBytes = 128;

/// The directory holding client.html (build tree or installed datadir); "" if none.
std::string find_web_dir();

/// Adds /session-config, and /client + /web/ when `web_dir` is not empty.
void add_web_routes(SoupServer *server, const std::string &web_dir,
                    const SessionConfig &session = {});

}  // namespace mf::tools
