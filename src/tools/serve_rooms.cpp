// meshflow-launch --serve: one session per room; see serve_rooms.h.
#include "serve_rooms.h"

#include <cstdio>

namespace mf::tools {

namespace {
// A deferred job for one room, dropped if the RoomSessions went away first.
struct RoomJob {
  std::weak_ptr<int> alive;
  RoomSessions *self;
  std::string room;
  std::function<void(RoomSessions *, const std::string &)> fn;
};

void log_room(const std::string &room, const std::string &what) {
  std::fprintf(stderr, "meshflow-launch: room '%s': %s\n", room.c_str(), what.c_str());
  std::fflush(stderr);
}
}  // namespace

RoomSessions::RoomSessions(signalling::Server &server, PlanFor plan_for, ServeOptions opts)
    : server_(server), plan_for_(std::move(plan_for)), opts_(std::move(opts)),
      context_(g_main_context_ref_thread_default()) {
  signalling::RoomEvents ev;
  auto any = [this](const std::string &) { schedule_reconcile(); };
  ev.room_created = any;
  ev.room_emptied = any;
  ev.peer_joined = [this](const std::string &, const std::string &) { schedule_reconcile(); };
  ev.peer_left = ev.peer_joined;
  server_.set_room_events(std::move(ev));
  server_.registry().gauge("meshflow_serve_sessions", "Room sessions running (--serve)").set(0);
  server_.registry().counter("meshflow_serve_sessions_created_total", "Room sessions created (--serve)");
  server_.registry().counter("meshflow_serve_sessions_destroyed_total", "Room sessions destroyed (--serve)");
  server_.registry().counter("meshflow_serve_session_errors_total",
                             "Room sessions that failed to build or start, or ended on an error (--serve)");
}

RoomSessions::~RoomSessions() {
  stop_all();
  g_main_context_unref(context_);
}

void RoomSessions::stop_all() {
  server_.set_room_events({});
  alive_ = std::make_shared<int>(0);  // pending jobs of before are dropped
  if (reconcile_source_) {
    g_source_destroy(reconcile_source_);
    g_clear_pointer(&reconcile_source_, g_source_unref);
  }
  for (auto &[name, r] : rooms_) {
    if (r.grace_timer) g_source_remove(r.grace_timer);
    r.grace_timer = 0;
    if (r.session) destroy(name, r, "launcher stopping");
  }
  rooms_.clear();
}

std::vector<std::string> RoomSessions::rooms() const {
  std::vector<std::string> out;
  for (const auto &[name, r] : rooms_)
    if (r.session) out.push_back(name);
  return out;
}

size_t RoomSessions::remote_peers(const std::string &room) const {
  size_t n = 0;
  for (const auto &p : server_.peers(room))
    if (p != opts_.own_peer_id) n++;
  return n;
}

// Room events arrive from inside the hub (while it handles a message): act on them from an idle.
void RoomSessions::schedule_reconcile() {
  if (reconcile_source_) return;
  reconcile_source_ = g_idle_source_new();
  g_source_set_callback(
      reconcile_source_,
      [](gpointer d) -> gboolean {
        auto *self = static_cast<RoomSessions *>(d);
        g_clear_pointer(&self->reconcile_source_, g_source_unref);
        self->reconcile();
        return G_SOURCE_REMOVE;
      },
      this, nullptr);
  g_source_attach(reconcile_source_, context_);
}

static void run_job(GMainContext *ctx, guint delay_ms, RoomJob *job, guint *id_out) {
  GSource *s = delay_ms ? g_timeout_source_new(delay_ms) : g_idle_source_new();
  g_source_set_callback(
      s,
      [](gpointer d) -> gboolean {
        auto *j = static_cast<RoomJob *>(d);
        if (!j->alive.expired()) j->fn(j->self, j->room);
        return G_SOURCE_REMOVE;
      },
      job, [](gpointer d) { delete static_cast<RoomJob *>(d); });
  guint id = g_source_attach(s, ctx);
  g_source_unref(s);
  if (id_out) *id_out = id;
}

void RoomSessions::reconcile() {
  std::set<std::string> names;
  for (const auto &r : server_.rooms()) names.insert(r);
  for (const auto &[name, r] : rooms_) names.insert(name);
  for (const auto &name : names) {
    size_t remote = remote_peers(name);
    auto it = rooms_.find(name);
    if (remote > 0) {
      Room &r = rooms_[name];
      if (r.grace_timer) {
        g_source_remove(r.grace_timer);
        r.grace_timer = 0;
      }
      if (!r.session && !r.failed) create(name, r);
      continue;
    }
    if (it == rooms_.end()) continue;
    Room &r = it->second;
    if (!r.session) {  // a failed room, now empty: the next peer gets a fresh session
      if (r.grace_timer) g_source_remove(r.grace_timer);
      rooms_.erase(it);
      continue;
    }
    if (r.grace_timer) continue;
    run_job(context_, opts_.grace_ms,
            new RoomJob{alive_, this, name,
                        [](RoomSessions *self, const std::string &room) {
                          auto rit = self->rooms_.find(room);
                          if (rit == self->rooms_.end()) return;
                          rit->second.grace_timer = 0;
                          if (self->remote_peers(room) > 0) return;
                          if (rit->second.session) self->destroy(room, rit->second, "no peers left");
                          self->rooms_.erase(rit);
                        }},
            &r.grace_timer);
  }
}

void RoomSessions::create(const std::string &name, Room &r) {
  graph::Plan plan;
  std::string error;
  auto &reg = server_.registry();
  if (!plan_for_(name, plan, error)) {
    log_room(name, "session failed: " + error);
    reg.counter("meshflow_serve_session_errors_total", "").inc();
    r.failed = true;
    return;
  }
  session::SessionOptions so = opts_.session;
  so.name = (so.name.empty() ? "meshflow" : so.name) + "-" + name;
  so.print = [name](const std::string &line) { log_room(name, line); };
  Diagnostics diag;
  r.session = session::Session::create(plan, so, diag);
  if (r.session && r.session->start(diag)) {
    auto end_session = [this, name](const std::string &why) {
      // Not from inside the session's own bus callback: from an idle.
      run_job(context_, 0,
              new RoomJob{alive_, this, name,
                          [why](RoomSessions *self, const std::string &room) {
                            auto rit = self->rooms_.find(room);
                            if (rit == self->rooms_.end() || !rit->second.session) return;
                            self->destroy(room, rit->second, why.c_str());
                            rit->second.failed = true;
                            self->schedule_reconcile();  // an empty room is forgotten
                          }},
              nullptr);
    };
    r.session->on_error = [this, name, end_session](const Error &e) {
      log_room(name, "session failed: " + e.format());
      server_.registry().counter("meshflow_serve_session_errors_total", "").inc();
      end_session("error");
    };
    r.session->on_eos = [name, end_session] {
      log_room(name, "end of stream");
      end_session("end of stream");
    };
    r.session->on_peer = [name](const std::string &ev, const std::string &peer, const std::string &family) {
      log_room(name, "peer '" + peer + "' " + ev + " (" + family + ")");
    };
    log_room(name, "session started (" + std::to_string(plan.elements.size()) + " elements)");
    reg.counter("meshflow_serve_sessions_created_total", "").inc();
    update_gauges(name);
    return;
  }
  std::string what = diag.ok() ? "cannot start" : diag.format();
  while (!what.empty() && what.back() == '\n') what.pop_back();
  log_room(name, "session failed: " + what);
  reg.counter("meshflow_serve_session_errors_total", "").inc();
  r.session.reset();
  r.failed = true;
}

void RoomSessions::destroy(const std::string &name, Room &r, const char *why) {
  if (!r.session) return;
  r.session->on_error = nullptr;
  r.session->on_eos = nullptr;
  r.session->stop();
  r.session.reset();
  log_room(name, std::string("session destroyed (") + why + ")");
  server_.registry().counter("meshflow_serve_sessions_destroyed_total", "").inc();
  update_gauges(name);
}

void RoomSessions::update_gauges(const std::string &room) {
  auto &reg = server_.registry();
  double n = 0;
  bool active = false;
  for (const auto &[name, r] : rooms_) {
    if (r.session) n++;
    if (name == room && r.session) active = true;
  }
  reg.gauge("meshflow_serve_sessions", "Room sessions running (--serve)").set(n);
  // A room without a session has no series: a server that has served many rooms does not keep one
  // per room forever (the session's own meshflow_webrtc_* series go with its peer manager).
  if (active)
    reg.gauge("meshflow_serve_session_active", "1 while the room has a session (--serve)", {{"room", room}}).set(1);
  else
    reg.remove_series("meshflow_serve_session_active", {{"room", room}});
}

}  // namespace mf::tools
