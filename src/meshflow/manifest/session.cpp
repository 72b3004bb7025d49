// The `session:` block: room, mesh size, signalling, ICE configuration and transport choice.
#include <gio/gio.h>

#include "meshflow/manifest/internal.h"
#include "meshflow/manifest/suggest.h"

namespace mf::manifest::detail {
namespace {

const std::vector<std::string> kSessionKeys = {
    "room",      "max_peers", "signalling", "ice_servers", "ice_local_addresses",
    "transport", "webrtc_rollout_percent"};
const std::vector<std::string> kIceServerKeys = {"urls", "username", "credential"};
const std::vector<std::string> kTransports = {"auto", "webrtc", "websocket"};

bool starts_with(const std::string &s, const char *p) { return s.rfind(p, 0) == 0; }

// "embedded", or a ws:// / wss:// URL with a host.
bool valid_signalling(const std::string &s) {
  if (s == "embedded") return true;
  if (!starts_with(s, "ws://") && !starts_with(s, "wss://")) return false;
  GError *err = nullptr;
  GUri *uri = g_uri_parse(s.c_str(), G_URI_FLAGS_NONE, &err);
  if (!uri) {
    g_clear_error(&err);
    return false;
  }
  const char *host = g_uri_get_host(uri);
  const bool ok = host && *host;
  g_uri_unref(uri);
  return ok;
}

// stun:host[:port], turn:host[:port][?transport=udp|tcp], turns:... (RFC 7064 / 7065).
bool valid_ice_url(const std::string &u) {
  for (const char *p : {"stun:", "turn:", "turns:"})
    if (starts_with(u, p) && u.size() > std::string(p).size()) return true;
  return false;
}

void check_ice_urls(const Value &v, Checker &c, IceServer &out) {
  std::vector<const Value *> urls;
  if (v.is_scalar()) {
    urls.push_back(&v);
  } else if (v.is_sequence() && !v.items.empty()) {
    for (const auto &item : v.items) urls.push_back(&item);
  } else {
    c.error("bad-type", v.loc, "'urls': expected a URL or a non-empty list of URLs, got " + got(v),
            "e.g. urls: [stun:stun.l.google.com:19302]");
    return;
  }
  for (const Value *u : urls) {
    auto s = c.string(*u, "urls");
    if (!s) continue;
    if (!valid_ice_url(*s)) {
      c.error("bad-value", u->loc, "bad ICE server URL '" + s->substr(0, 80) + "'",
              "ICE server URLs start with stun:, turn: or turns:");
      continue;
    }
    out.urls.push_back(*s);
  }
}

void check_ice_server(const Value &v, Checker &c, Session &out) {
  if (!c.mapping(v, "ice_servers[]")) return;
  c.unknown_keys(v, kIceServerKeys, " in ice server");
  IceServer s;
  s.loc = v.loc;
  if (const Value *u = v.find("urls"))
    check_ice_urls(*u, c, s);
  else
    c.error("missing-key", v.loc, "ice server without 'urls'", "e.g. {urls: stun:host:3478}");
  if (const Value *u = v.find("username"))
    if (auto str = c.string(*u, "username")) s.username = *str;
  if (const Value *u = v.find("credential"))
    if (auto str = c.string(*u, "credential")) s.credential = *str;
  out.ice_servers.push_back(std::move(s));
}

}  // namespace

void check_session(const Value &v, Checker &c, Session &out) {
  if (v.kind == Value::Kind::Null) return;  // `session:` alone: defaults
  out.loc = v.loc;
  if (!c.mapping(v, "session")) return;
  c.unknown_keys(v, kSessionKeys, " in session");
  if (const Value *x = v.find("room")) {
    if (auto s = c.string(*x, "room")) {
      if (s->empty())
        c.error("bad-value", x->loc, "'room' is empty", "a room is a non-empty name");
      else
        out.room = *s;
    }
  }
  if (const Value *x = v.find("max_peers"))
    if (auto n = c.integer(*x, "max_peers", 1, 64)) out.max_peers = static_cast<int>(*n);
  if (const Value *x = v.find("signalling")) {
    if (auto s = c.string(*x, "signalling")) {
      if (valid_signalling(*s))
        out.signalling = *s;
      else
        c.error("bad-value", x->loc, "bad 'signalling' value '" + s->substr(0, 80) + "'",
                "'embedded' or a ws:// or wss:// URL such as ws://host:8443/rpc");
    }
  }
  if (const Value *x = v.find("ice_servers")) {
    if (x->kind != Value::Kind::Null && c.list(*x, "ice_servers"))
      for (const auto &item : x->items) check_ice_server(item, c, out);
  }
  if (const Value *x = v.find("ice_local_addresses")) {
    if (x->kind != Value::Kind::Null && c.list(*x, "ice_local_addresses")) {
      for (const auto &item : x->items) {
        auto s = c.string(item, "ice_local_addresses");
        if (!s) continue;
        GInetAddress *addr = g_inet_address_new_from_string(s->c_str());
        if (!addr) {
          c.error("bad-value", item.loc, "bad IP address '" + s->substr(0, 80) + "'",
                  "a literal IPv4 or IPv6 address such as 127.0.0.1 or ::1");
          continue;
        }
        g_object_unref(addr);
        out.ice_local_addresses.push_back(*s);
      }
    }
  }
  if (const Value *x = v.find("transport")) {
    if (auto s = c.string(*x, "transport")) {
      bool ok = false;
      for (const auto &t : kTransports) ok = ok || *s == t;
      if (ok)
        out.transport = *s;
      else
        c.error("bad-value", x->loc, "bad 'transport' value '" + s->substr(0, 80) + "'",
                did_you_mean(*s, kTransports));
    }
  }
  if (const Value *x = v.find("webrtc_rollout_percent"))
    if (auto n = c.integer(*x, "webrtc_rollout_percent", 0, 100))
      out.webrtc_rollout_percent = static_cast<int>(*n);
}

}  // namespace mf::manifest::detail
