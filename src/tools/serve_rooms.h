// meshflow-launch --serve: one session (pipeline) per room of the embedded signalling server.
//
// A room's session is created when a remote peer (not the launcher's own peer) announces into it
// and destroyed (NULL, freed) once the room has had no remote peer for a grace period (a page
// reload must not tear the pipeline down and rebuild it). An error in one room's session ends that
// session only: it is logged with the room and counted, the other rooms keep running, and the room
// gets a fresh session once its peers have all left and someone comes back.
//
// Log lines (stderr), for operators and tests:
//   meshflow-launch: room 'R': session started (N elements)
//   meshflow-launch: room 'R': session destroyed (no peers left)
//   meshflow-launch: room 'R': session failed: <error>
// Metrics (the server's registry, GET /metrics): meshflow_serve_sessions (gauge),
// meshflow_serve_session_active{room} (1 while the room has a session; removed with it),
// meshflow_serve_sessions_created_total,
// meshflow_serve_sessions_destroyed_total, meshflow_serve_session_errors_total.
//
// Everything runs on the GMainContext that is thread-default when RoomSessions is created (the
// server's).
#pragma once

#include <glib.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "meshflow/graph/plan.h"
#include "meshflow/session/session.h"
#include "meshflow/signalling/server.h"

namespace mf::tools {

struct ServeOptions {
  unsigned grace_ms = 2000;        // a room without remote peers keeps its session this long
  std::string own_peer_id;         // the launcher's peer id in every room (does not count)
  session::SessionOptions session;  // name is used as a prefix: "<name>-<room>"
};

class RoomSessions {
 public:
  /// The Plan of one room's session (room and signalling settings pushed into its nodes).
  using PlanFor = std::function<bool(const std::string &room, graph::Plan &out, std::string &error)>;

  RoomSessions(signalling::Server &server, PlanFor plan_for, ServeOptions opts);
  ~RoomSessions();  // stops every session
  RoomSessions(const RoomSessions &) = delete;
  RoomSessions &operator=(const RoomSessions &) = delete;

  /// Rooms with a running session, sorted.
  std::vector<std::string> rooms() const;
  /// Stop and free every session (shutdown). Idempotent.
  void stop_all();

 private:
  struct Room {
    std::unique_ptr<session::Session> session;
    guint grace_timer = 0;
    bool failed = false;  // its session errored: no new one until the room is empty again
  };
  void schedule_reconcile();
  void reconcile();
  size_t remote_peers(const std::string &room) const;
  void create(const std::string &name, Room &room);
  void destroy(const std::string &name, Room &room, const char *why);
  void update_gauges(const std::string &room);

  signalling::Server &server_;
  PlanFor plan_for_;
  ServeOptions opts_;
  GMainContext *context_;
  std::map<std::string, Room> rooms_;
  GSource *reconcile_source_ = nullptr;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace mf::tools
