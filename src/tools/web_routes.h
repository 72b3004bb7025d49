// Static routes of the launcher's HTTP port: `/client` (the browser client, web/client.html) and
// `/web/<file>` (its assets). Only files directly inside the web directory are served; no
// directory listings, no path traversal.
#pragma once

#include <libsoup/soup.h>

#include <string>

namespace mf::tools {

/// The directory holding client.html (build tree or installed datadir); "" if none.
std::string find_web_dir();

void add_web_routes(SoupServer *server, const std::string &web_dir);

}  // namespace mf::tools
