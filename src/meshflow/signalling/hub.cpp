#include "meshflow/signalling/hub.h"

#include <glib.h>

#include <algorithm>

namespace mf::signalling {

namespace hub_detail {
struct TokenBucket {
  double tokens = 0, rate = 0, burst = 0;
  int64_t last_us = 0;
  void init(double r, double b, int64_t now) {
    rate = r;
    burst = b < 1 ? 1 : b;
    tokens = burst;
    last_us = now;
  }
  bool take(int64_t now) {
    if (rate <= 0) return true;  // unlimited
    double dt = double(now - last_us) / 1e6;
    if (dt > 0) tokens = std::min(burst, tokens + dt * rate);
    last_us = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  }
};
}  // namespace hub_detail
using hub_detail::TokenBucket;

namespace {

bool name_char(char c) { return g_ascii_isalnum(c) || c == '_' || c == '-' || c == '.' || c == '~'; }

// A member that must be a string when present. Returns false when present with another type.
bool opt_string(JsonObject *o, const char *key, std::string *out, bool *present = nullptr) {
  JsonNode *n = o ? json_object_get_member(o, key) : nullptr;
  if (present) *present = n != nullptr;
  if (!n) return true;
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) return false;
  *out = json_node_get_string(n);
  return true;
}


JsonNode *obj_node(JsonObject *o) {
  JsonNode *n = json_node_init_object(json_node_alloc(), o);
  json_object_unref(o);
  return n;
}

}  // namespace

struct Hub::Conn {
  uint64_t id = 0;
  Link *link = nullptr;
  int64_t last_seen = 0;
  TokenBucket messages, candidates;
  uint32_t limited_in_a_row = 0;
  size_t candidates_sent = 0;
  bool announced = false;
  bool dead = false;  // scheduled for closing
  std::string room, peer_id, user_id, session_id, run_id, display_name;
  NodePtr media;      // object as announced (or null)
};

struct Hub::Room {
  std::string name;
  std::string session_id;
  std::vector<std::pair<std::string, uint64_t>> peers;  // join order
  Conn *find(const std::string &peer_id, const std::map<uint64_t, std::unique_ptr<Conn>> &conns) {
    for (auto &[pid, cid] : peers)
      if (pid == peer_id) {
        auto it = conns.find(cid);
        return it == conns.end() ? nullptr : it->second.get();
      }
    return nullptr;
  }
};

Hub::Hub(const ServerConfig &config, metrics::Registry &registry, Clock clock)
    : cfg_(config), reg_(registry), clock_(std::move(clock)) {
  DispatchLimits dl;
  dl.prescan.max_bytes = cfg_.max_message_bytes;
  dl.prescan.max_depth = cfg_.max_json_depth;
  dl.max_batch = cfg_.max_batch;
  dispatcher_.limits() = dl;
  if (!cfg_.secret.empty())
    verifier_ = std::make_unique<TokenVerifier>(cfg_.secret, cfg_.single_use_tokens,
                                                cfg_.token_leeway_s);
  sdp_limits_.max_bytes = cfg_.max_sdp_bytes;
  sdp_limits_.max_mlines = cfg_.max_mlines;

  dispatcher_.set_error_sink([this](int code, const std::string &reason) {
    reg_.counter("meshflow_signalling_errors_total", "JSON-RPC errors by code",
                 {{"code", std::to_string(code)}})
        .inc();
    if (reason == "response")
      reg_.counter("meshflow_signalling_client_responses_total",
                   "JSON-RPC responses sent by clients (rejected)")
          .inc();
    if (code == kSessionMismatch)
      reg_.counter("meshflow_signalling_session_mismatch_total",
                   "Messages whose envelope named another session")
          .inc();
    if (code == kParseError && (reason == "depth" || reason == "nul" || reason == "duplicate_key"))
      count_limit(reason);
  });
  dispatcher_.set_gate([this](const Call &call) {
    return gate(*static_cast<Conn *>(call.context), call);
  });
  auto params = [](const Call &call) -> JsonObject * {
    return call.params && JSON_NODE_HOLDS_OBJECT(call.params) ? json_node_get_object(call.params)
                                                               : nullptr;
  };
  auto need_object = [](const Call &call) {
    return !call.params || JSON_NODE_HOLDS_OBJECT(call.params);
  };
  dispatcher_.add("peer.announce", [this, params, need_object](const Call &call) {
    if (!need_object(call)) return Reply::fail(kInvalidParams, "params must be an object");
    return announce(*static_cast<Conn *>(call.context), params(call));
  });
  dispatcher_.add("peer.offer", [this, params, need_object](const Call &call) {
    if (!need_object(call)) return Reply::fail(kInvalidParams, "params must be an object");
    return relay(*static_cast<Conn *>(call.context), params(call), "peer.offer");
  });
  dispatcher_.add("peer.answer", [this, params, need_object](const Call &call) {
    if (!need_object(call)) return Reply::fail(kInvalidParams, "params must be an object");
    return relay(*static_cast<Conn *>(call.context), params(call), "peer.answer");
  });
  dispatcher_.add("peer.ice_candidate", [this, params, need_object](const Call &call) {
    if (!need_object(call)) return Reply::fail(kInvalidParams, "params must be an object");
    return candidate(*static_cast<Conn *>(call.context), params(call));
  });
  dispatcher_.add("peer.disconnect", [this](const Call &call) {
    return leave(*static_cast<Conn *>(call.context));
  });
  dispatcher_.add("peer.ping", [this](const Call &) {
    JsonObject *o = json_object_new();
    json_object_set_boolean_member(o, "pong", TRUE);
    json_object_set_int_member(o, "heartbeat_ms", cfg_.heartbeat_ms);
    return Reply::ok(obj_node(o));
  });
  update_gauges();
}

Hub::~Hub() = default;

int64_t Hub::now() const { return clock_ ? clock_() : g_get_monotonic_time(); }

void Hub::count_limit(const std::string &limit) {
  reg_.counter("meshflow_signalling_limit_total", "Limit breaches by limit", {{"limit", limit}})
      .inc();
}

void Hub::update_gauges() {
  reg_.gauge("meshflow_signalling_connections", "Open signalling connections")
      .set(double(conns_.size()));
  reg_.gauge("meshflow_signalling_rooms", "Rooms with at least one peer").set(double(rooms_.size()));
  size_t peers = 0;
  for (auto &[n, r] : rooms_) peers += r->peers.size();
  reg_.gauge("meshflow_signalling_peers", "Announced peers").set(double(peers));
}

uint64_t Hub::connect(Link *link) {
  auto c = std::make_unique<Conn>();
  c->id = next_id_++;
  c->link = link;
  int64_t t = now();
  c->last_seen = t;
  c->messages.init(cfg_.messages_per_second, cfg_.message_burst, t);
  c->candidates.init(cfg_.candidates_per_second, cfg_.candidate_burst, t);
  uint64_t id = c->id;
  conns_[id] = std::move(c);
  reg_.counter("meshflow_signalling_connections_total", "Accepted signalling connections").inc();
  update_gauges();
  return id;
}

void Hub::alive(uint64_t id) {
  auto it = conns_.find(id);
  if (it != conns_.end()) it->second->last_seen = now();
}

void Hub::receive(uint64_t id, std::string_view text) {
  auto it = conns_.find(id);
  if (it == conns_.end() || it->second->dead) return;
  Conn &c = *it->second;
  c.last_seen = now();
  reg_.counter("meshflow_signalling_messages_total", "Text messages received").inc();
  if (text.size() > cfg_.max_message_bytes) {
    // A whole message over budget (the transport normally closes before this): error + close.
    RpcError e{kLimitExceeded, {}, "size", {{"limit", int64_t(cfg_.max_message_bytes)}}};
    reg_.counter("meshflow_signalling_errors_total", "JSON-RPC errors by code",
                 {{"code", std::to_string(kLimitExceeded)}})
        .inc();
    send_to(c, to_string(make_error(e, nullptr).get()));
    schedule_kick(c, kCloseTooBig, "message too big", "size", "closed");
    flush_kicks();
    return;
  }
  depth_++;
  gint64 t0 = g_get_monotonic_time();
  std::string out = dispatcher_.handle(text, &c);
  depth_--;
  // `c` is still alive: connections are only erased in flush_kicks()/disconnect() at depth 0.
  if (!out.empty() && !c.dead) send_to(c, out);
  reg_.histogram("meshflow_signalling_request_seconds", "Time to handle one text message")
      .observe(double(g_get_monotonic_time() - t0) / 1e6);
  flush_kicks();
}

std::optional<RpcError> Hub::gate(Conn &c, const Call &call) {
  if (c.dead) return RpcError{kRateLimited, {}, "closing", {}};
  if (!c.messages.take(now())) {
    count_limit("messages_per_second");
    if (++c.limited_in_a_row >= cfg_.rate_limit_close_after && cfg_.rate_limit_close_after > 0)
      schedule_kick(c, kClosePolicy, "rate limit", "rate_limit", "closed");
    return RpcError{kRateLimited, {}, "messages_per_second",
                    {{"limit", int64_t(cfg_.messages_per_second)}}};
  }
  c.limited_in_a_row = 0;
  return std::nullopt;
}

void Hub::send_to(Conn &c, const std::string &text) {
  if (c.dead) return;
  if (!c.link->send(text)) {
    count_limit("outbound_queue");
    schedule_kick(c, kClosePolicy, "slow consumer", "slow_consumer", "slow_consumer");
  }
}

void Hub::schedule_kick(Conn &c, unsigned short code, std::string close_reason,
                        std::string metric_reason, std::string left_reason) {
  if (c.dead) return;
  c.dead = true;
  kicks_.push_back(Kick{c.id, code, std::move(close_reason), std::move(metric_reason),
                        std::move(left_reason)});
}

void Hub::flush_kicks() {
  if (depth_ > 0) return;
  depth_++;
  while (!kicks_.empty()) {
    Kick k = std::move(kicks_.front());
    kicks_.erase(kicks_.begin());
    auto it = conns_.find(k.conn);
    if (it == conns_.end()) continue;
    std::unique_ptr<Conn> c = std::move(it->second);
    conns_.erase(it);
    remove_from_room(*c, k.left_reason);  // may schedule more kicks (slow consumers)
    if (k.code == 0) continue;            // the client had already gone
    reg_.counter("meshflow_signalling_closed_total", "Connections closed by the server, by reason",
                 {{"reason", k.metric_reason}})
        .inc();
    c->link->close(k.code, k.close_reason);
  }
  depth_--;
  update_gauges();
}

void Hub::kick(uint64_t id, unsigned short code, const std::string &close_reason,
               const std::string &metric_reason) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  schedule_kick(*it->second, code, close_reason, metric_reason, "closed");
  flush_kicks();
}

void Hub::disconnect(uint64_t id, const std::string &reason) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  if (depth_ > 0) {  // from inside a send: defer
    if (!it->second->dead) {
      it->second->dead = true;
      kicks_.push_back(Kick{id, 0, {}, "client", reason});
    }
    return;
  }
  std::unique_ptr<Conn> c = std::move(it->second);
  conns_.erase(it);
  depth_++;
  remove_from_room(*c, reason);
  depth_--;
  flush_kicks();
  update_gauges();
}

void Hub::sweep() {
  int64_t limit = int64_t(cfg_.heartbeat_ms) * cfg_.missed_heartbeats * 1000;
  if (limit <= 0) return;
  int64_t t = now();
  for (auto &[id, c] : conns_) {
    if (!c->dead && t - c->last_seen > limit) {
      count_limit("heartbeat");
      schedule_kick(*c, kCloseHeartbeat, "heartbeat timeout", "timeout", "timeout");
    }
  }
  flush_kicks();
}

void Hub::shutdown() {
  auto conns = std::move(conns_);
  conns_.clear();
  rooms_.clear();
  kicks_.clear();
  for (auto &[id, c] : conns) {
    reg_.counter("meshflow_signalling_closed_total", "Connections closed by the server, by reason",
                 {{"reason", "shutdown"}})
        .inc();
    c->link->close(kCloseGoingAway, "server shutting down");
  }
  update_gauges();
}

size_t Hub::connection_count() const { return conns_.size(); }
size_t Hub::room_count() const { return rooms_.size(); }

std::vector<std::string> Hub::rooms() const {
  std::vector<std::string> out;
  for (auto &[name, r] : rooms_) out.push_back(name);
  return out;
}

std::vector<std::string> Hub::peers(const std::string &room) const {
  std::vector<std::string> out;
  auto it = rooms_.find(room);
  if (it != rooms_.end())
    for (auto &p : it->second->peers) out.push_back(p.first);
  return out;
}

void Hub::remove_from_room(Conn &c, const std::string &reason) {
  if (!c.announced) return;
  c.announced = false;
  auto rit = rooms_.find(c.room);
  if (rit == rooms_.end()) return;
  Room &r = *rit->second;
  r.peers.erase(std::remove_if(r.peers.begin(), r.peers.end(),
                               [&](auto &p) { return p.second == c.id; }),
                r.peers.end());
  JsonObject *p = json_object_new();
  json_object_set_string_member(p, "peer_id", c.peer_id.c_str());
  json_object_set_string_member(p, "reason", reason.c_str());
  std::string text = to_string(make_notification("peer.left", obj_node(p)).get());
  for (auto &[pid, cid] : r.peers) {
    auto it = conns_.find(cid);
    if (it != conns_.end()) send_to(*it->second, text);
  }
  bool emptied = r.peers.empty();
  std::string room = c.room;
  if (emptied) rooms_.erase(rit);
  update_gauges();
  if (events_.peer_left) events_.peer_left(room, c.peer_id);
  if (emptied && events_.room_emptied) events_.room_emptied(room);
}

// --- methods -----------------------------------------------------------------------------------

std::optional<RpcError> Hub::check_envelope(Conn &c, JsonObject *p) {
  JsonNode *env = p ? json_object_get_member(p, "envelope") : nullptr;
  if (!env || JSON_NODE_HOLDS_NULL(env)) return std::nullopt;
  if (!JSON_NODE_HOLDS_OBJECT(env)) return RpcError{kInvalidParams, {}, "envelope", {}};
  JsonObject *e = json_node_get_object(env);
  struct F {
    const char *key;
    const std::string *mine;
  } fields[] = {{"user_id", &c.user_id}, {"session_id", &c.session_id}, {"run_id", &c.run_id}};
  for (auto &f : fields) {
    std::string v;
    bool present = false;
    if (!opt_string(e, f.key, &v, &present)) return RpcError{kInvalidParams, {}, f.key, {}};
    if (present && !f.mine->empty() && v != *f.mine)
      return RpcError{kSessionMismatch, {}, f.key, {}};
  }
  return std::nullopt;
}

static bool valid_name(const std::string &s, size_t max) {
  return !s.empty() && s.size() <= max && std::all_of(s.begin(), s.end(), name_char);
}

Reply Hub::announce(Conn &c, JsonObject *p) {
  if (c.announced) return Reply::fail(kAlreadyAnnounced);
  if (!p) return Reply::fail(kInvalidParams, "room required");
  std::string room, peer_id, token, display_name;
  bool has_peer = false;
  if (!opt_string(p, "room", &room) || !valid_name(room, cfg_.max_string_bytes))
    return Reply::fail(kInvalidParams, "room");
  if (!opt_string(p, "peer_id", &peer_id, &has_peer) ||
      (has_peer && !valid_name(peer_id, cfg_.max_string_bytes)))
    return Reply::fail(kInvalidParams, "peer_id");
  if (!opt_string(p, "token", &token) || token.size() > kMaxTokenBytes)
    return Reply::fail(kInvalidParams, "token");
  if (!opt_string(p, "display_name", &display_name) ||
      display_name.size() > cfg_.max_string_bytes)
    return Reply::fail(kInvalidParams, "display_name");
  JsonNode *media = json_object_get_member(p, "media");
  if (media && !JSON_NODE_HOLDS_OBJECT(media) && !JSON_NODE_HOLDS_NULL(media))
    return Reply::fail(kInvalidParams, "media");
  if (media && JSON_NODE_HOLDS_OBJECT(media)) {
    JsonObject *mo = json_node_get_object(media);
    for (const char *k : {"audio", "video", "data"}) {
      JsonNode *n = json_object_get_member(mo, k);
      if (n && (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN))
        return Reply::fail(kInvalidParams, "media");
    }
  }
  std::string env_user, env_session, env_run;
  JsonNode *env = json_object_get_member(p, "envelope");
  if (env && !JSON_NODE_HOLDS_NULL(env)) {
    if (!JSON_NODE_HOLDS_OBJECT(env)) return Reply::fail(kInvalidParams, "envelope");
    JsonObject *e = json_node_get_object(env);
    if (!opt_string(e, "user_id", &env_user) || env_user.size() > cfg_.max_string_bytes ||
        !opt_string(e, "session_id", &env_session) ||
        env_session.size() > cfg_.max_string_bytes || !opt_string(e, "run_id", &env_run) ||
        env_run.size() > cfg_.max_string_bytes)
      return Reply::fail(kInvalidParams, "envelope");
  }

  std::string user = env_user;
  if (verifier_) {
    TokenClaims claims;
    TokenError te = verifier_->verify(token, room, &claims);
    if (te != TokenError::None) {
      reg_.counter("meshflow_signalling_token_rejected_total", "Tokens rejected, by reason",
                   {{"reason", to_string(te)}})
          .inc();
      return Reply::fail(kUnauthorized, to_string(te));
    }
    if (!env_user.empty() && env_user != claims.user)
      return Reply::fail(kSessionMismatch, "user_id");
    user = claims.user;
  }

  auto rit = rooms_.find(room);
  Room *r = rit == rooms_.end() ? nullptr : rit->second.get();
  if (!r && rooms_.size() >= cfg_.max_rooms) {
    count_limit("rooms");
    return Reply::fail(kLimitExceeded, "rooms", {{"limit", int64_t(cfg_.max_rooms)}});
  }
  if (r && r->peers.size() >= cfg_.max_peers_per_room) {
    count_limit("room_full");
    return Reply::fail(kRoomFull, {}, {{"limit", int64_t(cfg_.max_peers_per_room)}});
  }
  if (r && !env_session.empty() && env_session != r->session_id)
    return Reply::fail(kSessionMismatch, "session_id");
  if (has_peer) {
    if (r && r->find(peer_id, conns_)) {
      count_limit("duplicate_peer");
      return Reply::fail(kDuplicatePeer);
    }
  } else {
    do {
      gchar *u = g_uuid_string_random();
      peer_id = std::string("p-") + std::string(u, 8);
      g_free(u);
    } while (r && r->find(peer_id, conns_));
  }
  bool created = !r;
  if (!r) {
    auto nr = std::make_unique<Room>();
    nr->name = room;
    if (!env_session.empty()) {
      nr->session_id = env_session;
    } else {
      gchar *u = g_uuid_string_random();
      nr->session_id = u;
      g_free(u);
    }
    r = nr.get();
    rooms_[room] = std::move(nr);
  }

  c.announced = true;
  c.room = room;
  c.peer_id = peer_id;
  c.user_id = user.empty() ? peer_id : user;
  c.session_id = r->session_id;
  c.run_id = env_run;
  c.display_name = display_name;
  c.candidates_sent = 0;
  c.media.reset(media && JSON_NODE_HOLDS_OBJECT(media) ? json_node_copy(media) : nullptr);

  auto describe = [](const Conn &x) {
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "peer_id", x.peer_id.c_str());
    json_object_set_string_member(o, "display_name", x.display_name.c_str());
    json_object_set_string_member(o, "user_id", x.user_id.c_str());
    if (x.media) json_object_set_member(o, "media", json_node_copy(x.media.get()));
    return obj_node(o);
  };
  JsonArray *peers = json_array_new();
  for (auto &[pid, cid] : r->peers) {
    auto it = conns_.find(cid);
    if (it != conns_.end()) json_array_add_element(peers, describe(*it->second));
  }
  std::string joined = to_string(make_notification("peer.joined", describe(c)).get());
  for (auto &[pid, cid] : r->peers) {
    auto it = conns_.find(cid);
    if (it != conns_.end()) send_to(*it->second, joined);
  }
  r->peers.emplace_back(peer_id, c.id);
  update_gauges();
  if (created && events_.room_created) events_.room_created(room);
  if (events_.peer_joined) events_.peer_joined(room, peer_id);

  JsonObject *res = json_object_new();
  json_object_set_string_member(res, "peer_id", peer_id.c_str());
  json_object_set_string_member(res, "room", room.c_str());
  json_object_set_array_member(res, "peers", peers);
  JsonArray *ice = json_array_new();
  for (auto &s : cfg_.ice_servers) {
    JsonObject *o = json_object_new();
    JsonArray *urls = json_array_new();
    for (auto &u : s.urls) json_array_add_string_element(urls, u.c_str());
    json_object_set_array_member(o, "urls", urls);
    if (!s.username.empty()) json_object_set_string_member(o, "username", s.username.c_str());
    if (!s.credential.empty())
      json_object_set_string_member(o, "credential", s.credential.c_str());
    json_array_add_object_element(ice, o);
  }
  json_object_set_array_member(res, "ice_servers", ice);
  json_object_set_int_member(res, "heartbeat_ms", cfg_.heartbeat_ms);
  JsonObject *envo = json_object_new();
  json_object_set_string_member(envo, "user_id", c.user_id.c_str());
  json_object_set_string_member(envo, "session_id", c.session_id.c_str());
  json_object_set_string_member(envo, "run_id", c.run_id.c_str());
  json_object_set_object_member(res, "envelope", envo);
  return Reply::ok(obj_node(res));
}

Reply Hub::relay(Conn &c, JsonObject *p, const char *method) {
  if (!c.announced) return Reply::fail(kNotAnnounced);
  if (auto e = check_envelope(c, p)) return Reply::fail(e->code, e->reason);
  std::string to, sdp;
  if (!p || !opt_string(p, "to", &to) || to.empty() || to.size() > cfg_.max_string_bytes)
    return Reply::fail(kInvalidParams, "to");
  bool has_sdp = false;
  if (!opt_string(p, "sdp", &sdp, &has_sdp) || !has_sdp) return Reply::fail(kInvalidParams, "sdp");
  Room &r = *rooms_.at(c.room);
  Conn *target = to == c.peer_id ? nullptr : r.find(to, conns_);
  if (!target || target->dead) return Reply::fail(kUnknownPeer);
  SdpReport rep = validate_sdp(sdp, sdp_limits_);
  if (!rep.ok) {
    count_limit("sdp");
    return Reply::fail(kInvalidSdp, rep.reason);
  }
  c.candidates_sent = 0;  // a new offer/answer (ICE restart) opens a new candidate budget
  JsonObject *n = json_object_new();
  json_object_set_string_member(n, "from", c.peer_id.c_str());
  json_object_set_string_member(n, "sdp", sdp.c_str());
  JsonObject *envo = json_object_new();
  json_object_set_string_member(envo, "user_id", c.user_id.c_str());
  json_object_set_string_member(envo, "session_id", c.session_id.c_str());
  json_object_set_string_member(envo, "run_id", c.run_id.c_str());
  json_object_set_object_member(n, "envelope", envo);
  send_to(*target, to_string(make_notification(method, obj_node(n)).get()));
  reg_.counter("meshflow_signalling_forwarded_total", "Messages forwarded, by method",
               {{"method", method}})
      .inc();
  return Reply::ok(obj_node(json_object_new()));
}

Reply Hub::candidate(Conn &c, JsonObject *p) {
  if (!c.announced) return Reply::fail(kNotAnnounced);
  if (auto e = check_envelope(c, p)) return Reply::fail(e->code, e->reason);
  if (!c.candidates.take(now())) {
    count_limit("candidates_per_second");
    return Reply::fail(kRateLimited, "candidates_per_second",
                       {{"limit", int64_t(cfg_.candidates_per_second)}});
  }
  if (c.candidates_sent >= cfg_.max_candidates_per_peer) {
    count_limit("candidates");
    return Reply::fail(kLimitExceeded, "candidates",
                       {{"limit", int64_t(cfg_.max_candidates_per_peer)}});
  }
  std::string to, cand, mid;
  bool has_cand = false, has_mid = false;
  if (!p || !opt_string(p, "to", &to) || to.empty() || to.size() > cfg_.max_string_bytes)
    return Reply::fail(kInvalidParams, "to");
  if (!opt_string(p, "candidate", &cand, &has_cand) || !has_cand)
    return Reply::fail(kInvalidParams, "candidate");
  if (!opt_string(p, "sdp_mid", &mid, &has_mid) || (has_mid && !valid_mid(mid, 32)))
    return Reply::fail(kInvalidParams, "sdp_mid");
  JsonNode *idx = json_object_get_member(p, "sdp_mline_index");
  int64_t mline = -1;
  if (idx && !JSON_NODE_HOLDS_NULL(idx)) {
    if (!JSON_NODE_HOLDS_VALUE(idx) || json_node_get_value_type(idx) != G_TYPE_INT64)
      return Reply::fail(kInvalidParams, "sdp_mline_index");
    mline = json_node_get_int(idx);
    if (mline < 0 || mline >= int64_t(cfg_.max_mlines))
      return Reply::fail(kInvalidParams, "sdp_mline_index");
  }
  Room &r = *rooms_.at(c.room);
  Conn *target = to == c.peer_id ? nullptr : r.find(to, conns_);
  if (!target || target->dead) return Reply::fail(kUnknownPeer);
  CandidateResult cr = parse_candidate(cand);
  if (!cr.ok) {
    count_limit("candidate");
    return Reply::fail(kInvalidCandidate, cr.reason);
  }
  if (!cr.candidate.end_of_candidates && !has_mid && mline < 0)
    return Reply::fail(kInvalidParams, "sdp_mid or sdp_mline_index required");
  if (cr.candidate.mdns)
    reg_.counter("meshflow_signalling_mdns_candidates_total",
                 "mDNS (.local) candidates forwarded unresolved")
        .inc();
  c.candidates_sent++;
  JsonObject *n = json_object_new();
  json_object_set_string_member(n, "from", c.peer_id.c_str());
  json_object_set_string_member(n, "candidate", cand.c_str());
  if (mline >= 0) json_object_set_int_member(n, "sdp_mline_index", mline);
  if (has_mid) json_object_set_string_member(n, "sdp_mid", mid.c_str());
  send_to(*target, to_string(make_notification("peer.ice_candidate", obj_node(n)).get()));
  reg_.counter("meshflow_signalling_forwarded_total", "Messages forwarded, by method",
               {{"method", "peer.ice_candidate"}})
      .inc();
  return Reply::ok(obj_node(json_object_new()));
}

Reply Hub::leave(Conn &c) {
  if (!c.announced) return Reply::fail(kNotAnnounced);
  remove_from_room(c, "disconnect");
  return Reply::ok(obj_node(json_object_new()));
}

}  // namespace mf::signalling
