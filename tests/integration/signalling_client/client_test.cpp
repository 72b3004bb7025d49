// mf::signalling::Client against the real server (and a scripted half-open one), on loopback.
// Every wait is a condition with a 20 s upper bound; no sleep is an assertion.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "harness.h"
#include "meshflow/signalling/client.h"
#include "meshflow/signalling/sdp.h"

namespace sig = mf::signalling;
using mf::test::ScriptedServer;
using mf::test::ServerThread;
using mf::test::wait_for;
using std::chrono::milliseconds;
namespace ce = mf::signalling::client_error;

namespace {

/// Thread-safe record of everything a client reports.
struct Recorder {
  mutable std::mutex mu;
  std::vector<sig::ClientState> states;
  std::vector<std::pair<int, std::string>> errors;
  std::vector<sig::PeerInfo> joined;
  std::vector<std::pair<std::string, std::string>> left;
  std::vector<std::pair<std::string, std::string>> offers, answers;
  std::vector<std::pair<std::string, sig::IceCandidate>> candidates;
  std::vector<std::vector<std::string>> announces;  // peers list of each on_announced
  std::set<std::thread::id> callback_threads;

  sig::ClientCallbacks callbacks() {
    sig::ClientCallbacks cb;
    cb.on_state = [this](sig::ClientState s) {
      std::lock_guard<std::mutex> lk(mu);
      states.push_back(s);
      callback_threads.insert(std::this_thread::get_id());
    };
    cb.on_error = [this](int code, const std::string &m) {
      std::lock_guard<std::mutex> lk(mu);
      errors.emplace_back(code, m);
    };
    cb.on_announced = [this](const std::string &, const std::vector<sig::PeerInfo> &peers,
                             const std::vector<sig::IceServer> &) {
      std::lock_guard<std::mutex> lk(mu);
      std::vector<std::string> ids;
      for (auto &p : peers) ids.push_back(p.peer_id);
      announces.push_back(ids);
    };
    cb.on_peer_joined = [this](const sig::PeerInfo &p) {
      std::lock_guard<std::mutex> lk(mu);
      joined.push_back(p);
    };
    cb.on_peer_left = [this](const std::string &id, const std::string &reason) {
      std::lock_guard<std::mutex> lk(mu);
      left.emplace_back(id, reason);
    };
    cb.on_offer = [this](const std::string &from, const std::string &sdp) {
      std::lock_guard<std::mutex> lk(mu);
      offers.emplace_back(from, sdp);
    };
    cb.on_answer = [this](const std::string &from, const std::string &sdp) {
      std::lock_guard<std::mutex> lk(mu);
      answers.emplace_back(from, sdp);
    };
    cb.on_ice_candidate = [this](const std::string &from, const sig::IceCandidate &c) {
      std::lock_guard<std::mutex> lk(mu);
      candidates.emplace_back(from, c);
    };
    return cb;
  }
  template <typename F> auto with(F f) const {
    std::lock_guard<std::mutex> lk(mu);
    return f();
  }
  size_t count_errors(int code) const {
    return with([&] {
      return static_cast<size_t>(std::count_if(errors.begin(), errors.end(),
                                               [&](auto &e) { return e.first == code; }));
    });
  }
  size_t announce_count() const { return with([&] { return announces.size(); }); }
};

/// Collects replies of requests.
struct Replies {
  std::mutex mu;
  std::vector<sig::Response> got;
  sig::ReplyCallback cb() {
    return [this](const sig::Response &r) {
      std::lock_guard<std::mutex> lk(mu);
      got.push_back(r);
    };
  }
  size_t size() {
    std::lock_guard<std::mutex> lk(mu);
    return got.size();
  }
  std::vector<sig::Response> all() {
    std::lock_guard<std::mutex> lk(mu);
    return got;
  }
};

sig::ClientConfig config(const std::string &url, const std::string &room) {
  sig::ClientConfig c;
  c.url = url;
  c.room = room;
  c.backoff.initial = milliseconds(50);
  c.backoff.max = milliseconds(800);
  c.envelope = {"user-" + room, "session-" + room, "run-1"};
  return c;
}

bool announced(const sig::Client &c) { return c.state() == sig::ClientState::Announced; }

unsigned free_port() {  // a port nobody listens on (connections are refused)
  GSocket *s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                            nullptr);
  GInetAddress *lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  GSocketAddress *a = g_inet_socket_address_new(lo, 0);
  g_socket_bind(s, a, FALSE, nullptr);
  GSocketAddress *bound = g_socket_get_local_address(s, nullptr);
  unsigned port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  g_object_unref(bound);
  g_object_unref(a);
  g_object_unref(lo);
  g_socket_close(s, nullptr);
  g_object_unref(s);
  return port;
}

}  // namespace

TEST(SignallingClient, TestSdpPassesTheServerValidator) {
  auto report = sig::validate_sdp(mf::test::test_sdp());
  EXPECT_TRUE(report.ok) << report.reason;
  EXPECT_TRUE(sig::validate_sdp(mf::test::test_sdp("active")).ok);
  EXPECT_TRUE(sig::parse_candidate(mf::test::test_candidate(5000)).ok);
}

TEST(SignallingClient, ConnectAnnounceAndPeersList) {
  ServerThread server;
  ASSERT_TRUE(server.start());
  Recorder ra, rb;
  auto ca = config(server.url(), "room-a");
  ca.peer_id = "alice";
  ca.display_name = "Alice";
  sig::Client a(ca, ra.callbacks());
  ASSERT_TRUE(a.start());
  EXPECT_FALSE(a.start());  // once
  ASSERT_TRUE(wait_for([&] { return announced(a); }));
  EXPECT_EQ(a.peer_id(), "alice");
  EXPECT_TRUE(ra.with([&] { return ra.announces.size() == 1 && ra.announces[0].empty(); }));
  EXPECT_GT(a.announce_result().heartbeat_ms, 0);

  sig::Client b(config(server.url(), "room-a"), rb.callbacks());  // server-assigned id
  ASSERT_TRUE(b.start());
  ASSERT_TRUE(wait_for([&] { return announced(b); }));
  EXPECT_FALSE(b.peer_id().empty());
  EXPECT_NE(b.peer_id(), "alice");
  EXPECT_TRUE(rb.with([&] {
    return rb.announces.size() == 1 && rb.announces[0] == std::vector<std::string>{"alice"};
  }));
  ASSERT_TRUE(wait_for([&] { return ra.with([&] { return ra.joined.size() == 1; }); }));
  EXPECT_EQ(ra.with([&] { return ra.joined[0].peer_id; }), b.peer_id());

  auto peers = server.peers("room-a");
  std::sort(peers.begin(), peers.end());
  std::vector<std::string> want{"alice", b.peer_id()};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(peers, want);

  // States in order, reported on the client's own thread.
  EXPECT_TRUE(ra.with([&] {
    return ra.states == std::vector<sig::ClientState>{sig::ClientState::Connecting,
                                                      sig::ClientState::Connected,
                                                      sig::ClientState::Announced};
  }));
  EXPECT_TRUE(ra.with([&] { return ra.callback_threads.count(std::this_thread::get_id()) == 0; }));

  a.stop();
  EXPECT_EQ(a.state(), sig::ClientState::Closed);
  EXPECT_EQ(ra.with([&] { return ra.states.back(); }), sig::ClientState::Closed);
  EXPECT_FALSE(a.send_offer("x", "y"));  // stopped: refused, nothing invoked
  b.stop();
}

TEST(SignallingClient, OfferAnswerAndCandidatesThroughTheServer) {
  ServerThread server;
  ASSERT_TRUE(server.start());
  Recorder ra, rb, rc;
  auto cfa = config(server.url(), "room-x");
  cfa.peer_id = "a";
  auto cfb = config(server.url(), "room-x");
  cfb.peer_id = "b";
  auto cfc = config(server.url(), "room-other");  // must see nothing
  cfc.peer_id = "c";
  sig::Client a(cfa, ra.callbacks()), b(cfb, rb.callbacks()), c(cfc, rc.callbacks());
  ASSERT_TRUE(a.start() && c.start());
  ASSERT_TRUE(wait_for([&] { return announced(a) && announced(c); }));
  ASSERT_TRUE(b.start());
  ASSERT_TRUE(wait_for([&] { return announced(b); }));

  // The newcomer (b) offers; a answers; candidates both ways, then end-of-candidates.
  Replies offer_reply;
  ASSERT_TRUE(b.send_offer("a", mf::test::test_sdp(), offer_reply.cb()));
  ASSERT_TRUE(wait_for([&] { return ra.with([&] { return ra.offers.size() == 1; }); }));
  EXPECT_EQ(ra.with([&] { return ra.offers[0]; }),
            std::make_pair(std::string("b"), mf::test::test_sdp()));
  ASSERT_TRUE(wait_for([&] { return offer_reply.size() == 1; }));
  EXPECT_TRUE(offer_reply.all()[0].ok()) << offer_reply.all()[0].message;

  ASSERT_TRUE(a.send_answer("b", mf::test::test_sdp("active")));
  ASSERT_TRUE(wait_for([&] { return rb.with([&] { return rb.answers.size() == 1; }); }));
  EXPECT_EQ(rb.with([&] { return rb.answers[0].first; }), "a");

  ASSERT_TRUE(b.send_ice_candidate("a", mf::test::test_candidate(40000), 0, "0"));
  ASSERT_TRUE(b.send_ice_candidate("a", "", 0, "0"));
  ASSERT_TRUE(a.send_ice_candidate("b", mf::test::test_candidate(40001), 0, "0"));
  ASSERT_TRUE(wait_for([&] {
    return ra.with([&] { return ra.candidates.size() == 2; }) &&
           rb.with([&] { return rb.candidates.size() == 1; });
  }));
  ra.with([&] {
    EXPECT_EQ(ra.candidates[0].first, "b");
    EXPECT_EQ(ra.candidates[0].second.candidate, mf::test::test_candidate(40000));
    EXPECT_EQ(ra.candidates[0].second.sdp_mline_index, 0);
    EXPECT_EQ(ra.candidates[0].second.sdp_mid, "0");
    EXPECT_EQ(ra.candidates[1].second.candidate, "");  // end of candidates
    return 0;
  });

  // An offer to a peer of another room is refused by the server: reported, not delivered.
  Replies foreign;
  ASSERT_TRUE(b.send_offer("c", mf::test::test_sdp(), foreign.cb()));
  ASSERT_TRUE(wait_for([&] { return foreign.size() == 1; }));
  EXPECT_FALSE(foreign.all()[0].ok());
  EXPECT_EQ(rc.with([&] { return rc.offers.size() + rc.candidates.size() + rc.joined.size(); }),
            0u);

  // Generic request: peer.ping answers with a result.
  Replies ping;
  ASSERT_TRUE(a.request("peer.ping", "{}", ping.cb()));
  ASSERT_TRUE(a.request("peer.ping", "not json", ping.cb()));
  ASSERT_TRUE(wait_for([&] { return ping.size() == 2; }));
  auto pr = ping.all();
  std::sort(pr.begin(), pr.end(), [](auto &x, auto &y) { return x.code > y.code; });
  EXPECT_TRUE(pr[0].ok()) << pr[0].message;
  EXPECT_EQ(pr[1].code, ce::kInvalidArgument);
}

TEST(SignallingClient, PeerJoinedAndLeftAreDelivered) {
  ServerThread server;
  ASSERT_TRUE(server.start());
  Recorder ra, rb;
  sig::Client a(config(server.url(), "jl"), ra.callbacks());
  ASSERT_TRUE(a.start());
  ASSERT_TRUE(wait_for([&] { return announced(a); }));
  auto b = std::make_unique<sig::Client>(config(server.url(), "jl"), rb.callbacks());
  ASSERT_TRUE(b->start());
  ASSERT_TRUE(wait_for([&] { return announced(*b); }));
  std::string bid = b->peer_id();
  ASSERT_TRUE(wait_for([&] { return ra.with([&] { return ra.joined.size() == 1; }); }));
  EXPECT_EQ(ra.with([&] { return ra.joined[0].peer_id; }), bid);
  b->stop();  // peer.disconnect + close 1000
  ASSERT_TRUE(wait_for([&] { return ra.with([&] { return ra.left.size() == 1; }); }));
  EXPECT_EQ(ra.with([&] { return ra.left[0].first; }), bid);
  EXPECT_EQ(server.peers("jl"), std::vector<std::string>{a.peer_id()});
}

TEST(SignallingClient, RejectedAnnounceIsReportedAndRetriedNeverAHijack) {
  ServerThread server;
  ASSERT_TRUE(server.start());
  Recorder ra, rb;
  auto cfg = config(server.url(), "dup");
  cfg.peer_id = "same";
  sig::Client a(cfg, ra.callbacks());
  ASSERT_TRUE(a.start());
  ASSERT_TRUE(wait_for([&] { return announced(a); }));
  sig::Client b(cfg, rb.callbacks());  // the same peer id: refused while `a` holds it
  ASSERT_TRUE(b.start());
  ASSERT_TRUE(wait_for([&] {
    return rb.with([&] {
      return std::count_if(rb.errors.begin(), rb.errors.end(), [](auto &e) {
               return e.second.rfind("peer.announce failed", 0) == 0;
             }) >= 2;
    });
  }));
  EXPECT_NE(b.state(), sig::ClientState::Announced);
  // Two refused announces: the second came after at least one reconnect (the next one may still
  // be being scheduled when the second error is reported).
  EXPECT_GE(b.reconnects(), 1u);
  EXPECT_TRUE(announced(a));
  EXPECT_EQ(server.peers("dup"), std::vector<std::string>{"same"});
  a.stop();  // the id is free again: b gets it on a later attempt
  ASSERT_TRUE(wait_for([&] { return announced(b); }));
  EXPECT_EQ(b.peer_id(), "same");
  EXPECT_EQ(server.peers("dup"), std::vector<std::string>{"same"});
}

TEST(SignallingClient, ServerRestartClientsReturnWithSpreadBackoffAndNoDuplicates) {
  ServerThread server;
  ASSERT_TRUE(server.start());
  const unsigned port = server.port();
  constexpr int kClients = 10;
  std::vector<std::unique_ptr<Recorder>> recs;
  std::vector<std::unique_ptr<sig::Client>> clients;
  for (int i = 0; i < kClients; i++) {
    recs.push_back(std::make_unique<Recorder>());
    auto cfg = config(server.url(), "restart");
    clients.push_back(std::make_unique<sig::Client>(cfg, recs.back()->callbacks()));
    ASSERT_TRUE(clients.back()->start());
  }
  ASSERT_TRUE(wait_for([&] {
    return std::all_of(clients.begin(), clients.end(), [](auto &c) { return announced(*c); });
  }));
  std::vector<std::string> ids;
  for (auto &c : clients) ids.push_back(c->peer_id());
  ASSERT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), size_t(kClients));

  server.stop();  // graceful shutdown (1001), Server destroyed: the port now refuses
  // Let every client go through at least 3 refused attempts (50, 100, 200 ms nominal).
  ASSERT_TRUE(wait_for([&] {
    return std::all_of(clients.begin(), clients.end(),
                       [](auto &c) { return c->reconnect_delays().size() >= 3; });
  }));
  std::string err;
  ASSERT_TRUE(server.start(port, &err)) << "restart on the same port " << port << ": " << err;
  ASSERT_TRUE(wait_for([&] {
    for (size_t i = 0; i < clients.size(); i++)
      if (!announced(*clients[i]) || recs[i]->announce_count() < 2) return false;
    return true;
  }));

  // Same peer ids, and the room holds each exactly once.
  for (int i = 0; i < kClients; i++) {
    EXPECT_EQ(clients[i]->peer_id(), ids[i]);
    EXPECT_GE(clients[i]->reconnects(), 3u);
  }
  auto peers = server.peers("restart");
  EXPECT_EQ(peers.size(), size_t(kClients));
  EXPECT_EQ(std::set<std::string>(peers.begin(), peers.end()),
            std::set<std::string>(ids.begin(), ids.end()));

  // The schedule: every delay within +-20 % of its nominal step, and the clients spread out.
  sig::BackoffSchedule bounds(config("", "").backoff);
  std::map<unsigned, std::set<long>> by_attempt;
  for (auto &c : clients) {
    auto d = c->reconnect_delays();
    ASSERT_GE(d.size(), 3u);
    for (size_t k = 0; k < d.size(); k++) {
      EXPECT_EQ(d[k].attempt, k) << "backoff is reset only by a successful announce";
      EXPECT_EQ(d[k].nominal, bounds.nominal(d[k].attempt));
      EXPECT_GE(d[k].delay, bounds.lower_bound(d[k].attempt));
      EXPECT_LE(d[k].delay, bounds.upper_bound(d[k].attempt));
      by_attempt[d[k].attempt].insert(static_cast<long>(d[k].delay.count()));
    }
  }
  EXPECT_GT(by_attempt[0].size(), 1u) << "all first reconnect delays equal: no jitter";
  EXPECT_GT(by_attempt[2].size(), 1u) << "all third reconnect delays equal: no jitter";
  for (auto &c : clients) c->stop();
}

TEST(SignallingClient, HalfOpenServerIsDetectedByTheHeartbeatDeadline) {
  ScriptedServer half_open(ScriptedServer::Mode::Silent);
  ASSERT_NE(half_open.port(), 0u);
  Recorder r;
  auto cfg = config(half_open.url(), "ho");
  cfg.heartbeat = milliseconds(100);  // dead after 3 x 100 ms of silence
  cfg.request_timeout = std::chrono::seconds(60);  // so it is the heartbeat that notices
  sig::Client c(cfg, r.callbacks());
  ASSERT_TRUE(c.start());
  ASSERT_TRUE(wait_for([&] {
    return r.count_errors(ce::kHeartbeatTimeout) >= 2 && c.reconnects() >= 2;
  }));
  EXPECT_GE(half_open.accepted(), 2);
  EXPECT_TRUE(r.with([&] {
    return std::count(r.states.begin(), r.states.end(), sig::ClientState::Announced) == 0;
  }));
  auto t0 = std::chrono::steady_clock::now();
  c.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST(SignallingClient, StopDuringReconnectReturnsPromptly) {
  Recorder r;
  auto cfg = config("ws://127.0.0.1:" + std::to_string(free_port()) + "/rpc", "stop");
  cfg.backoff.initial = std::chrono::seconds(20);  // waiting it out would take 16..24 s
  cfg.backoff.max = std::chrono::seconds(20);
  sig::Client c(cfg, r.callbacks());
  Replies queued;
  ASSERT_TRUE(c.start());
  ASSERT_TRUE(c.request("peer.ping", "", queued.cb()));
  ASSERT_TRUE(wait_for([&] {
    return c.reconnects() >= 1 && c.state() == sig::ClientState::Reconnecting;
  }));
  EXPECT_GE(r.count_errors(ce::kConnectFailed), 1u);
  auto t0 = std::chrono::steady_clock::now();
  c.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_EQ(c.state(), sig::ClientState::Closed);
  ASSERT_EQ(queued.size(), 1u);  // failed before stop() returned
  EXPECT_EQ(queued.all()[0].code, ce::kClosed);
}

TEST(SignallingClient, StopDuringAHangingHandshakeReturnsPromptly) {
  // A TCP listener that never accepts: the connection sits in the backlog, no HTTP answer.
  GSocket *s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                            nullptr);
  GInetAddress *lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  GSocketAddress *a = g_inet_socket_address_new(lo, 0);
  ASSERT_TRUE(g_socket_bind(s, a, FALSE, nullptr));
  ASSERT_TRUE(g_socket_listen(s, nullptr));
  GSocketAddress *bound = g_socket_get_local_address(s, nullptr);
  unsigned port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  Recorder r;
  auto cfg = config("ws://127.0.0.1:" + std::to_string(port) + "/rpc", "hang");
  cfg.connect_timeout = std::chrono::seconds(60);
  sig::Client c(cfg, r.callbacks());
  ASSERT_TRUE(c.start());
  // The connection is in the listener's backlog (readable) and the client is waiting for the
  // HTTP upgrade answer that never comes.
  ASSERT_TRUE(wait_for([&] {
    return c.state() == sig::ClientState::Connecting && g_socket_condition_check(s, G_IO_IN);
  }));
  auto t0 = std::chrono::steady_clock::now();
  c.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_EQ(c.state(), sig::ClientState::Closed);
  g_object_unref(bound);
  g_object_unref(a);
  g_object_unref(lo);
  g_socket_close(s, nullptr);
  g_object_unref(s);
}

TEST(SignallingClient, RequestsInFlightAtDisconnectFailWithAnError) {
  ScriptedServer server(ScriptedServer::Mode::AnnounceOnly);  // answers only peer.announce
  Recorder r;
  auto cfg = config(server.url(), "r");
  sig::Client c(cfg, r.callbacks());
  ASSERT_TRUE(c.start());
  ASSERT_TRUE(wait_for([&] { return announced(c); }));
  EXPECT_EQ(c.peer_id(), "scripted-peer");
  EXPECT_EQ(c.announce_result().heartbeat_ms, 60000);

  Replies replies;
  for (int i = 0; i < 5; i++) ASSERT_TRUE(c.request("peer.ping", "{}", replies.cb()));
  ASSERT_TRUE(c.send_offer("x", mf::test::test_sdp()));  // no reply callback: on_error
  ASSERT_TRUE(wait_for([&] { return server.requests() >= 7; }));  // announce + 6: in flight
  EXPECT_EQ(replies.size(), 0u);
  server.close_all();
  ASSERT_TRUE(wait_for([&] { return replies.size() == 5; }));
  for (auto &rep : replies.all()) EXPECT_EQ(rep.code, ce::kDisconnected) << rep.message;
  ASSERT_TRUE(wait_for([&] {
    return r.with([&] {
      return std::any_of(r.errors.begin(), r.errors.end(), [](auto &e) {
        return e.first == ce::kDisconnected && e.second.find("peer.offer to 'x'") == 0;
      });
    });
  }));

  // It comes back, re-announces with the same id; a request in flight at stop() fails kClosed.
  ASSERT_TRUE(wait_for([&] { return announced(c) && r.announce_count() >= 2; }));
  Replies at_stop;
  const int before = server.requests();
  ASSERT_TRUE(c.request("peer.ping", "{}", at_stop.cb()));
  ASSERT_TRUE(wait_for([&] { return server.requests() > before; }));
  c.stop();
  ASSERT_EQ(at_stop.size(), 1u);
  EXPECT_EQ(at_stop.all()[0].code, ce::kClosed);
}

TEST(SignallingClient, BoundedQueueWhileNotAnnouncedDropsCandidatesFirst) {
  auto cfg = config("ws://127.0.0.1:" + std::to_string(free_port()) + "/rpc", "q");
  cfg.backoff.initial = std::chrono::seconds(20);
  cfg.max_queue = 3;
  Recorder r;
  sig::Client c(cfg, r.callbacks());
  ASSERT_TRUE(c.start());
  Replies cand1, cand2;
  ASSERT_TRUE(c.send_ice_candidate("p", mf::test::test_candidate(1), 0, "0", cand1.cb()));
  ASSERT_TRUE(c.send_ice_candidate("p", mf::test::test_candidate(2), 0, "0", cand2.cb()));
  ASSERT_TRUE(c.send_offer("p", "offer-1"));
  ASSERT_TRUE(c.send_answer("p", "answer-1"));  // full: the oldest candidate goes
  ASSERT_TRUE(wait_for([&] { return cand1.size() == 1; }));
  EXPECT_EQ(cand1.all()[0].code, ce::kQueueFull);
  EXPECT_EQ(cand2.size(), 0u);
  ASSERT_TRUE(c.send_offer("q", "offer-2"));  // full: the other candidate goes
  ASSERT_TRUE(wait_for([&] { return cand2.size() == 1; }));
  ASSERT_TRUE(c.send_offer("z", "offer-3"));  // full of offers/answers: the new one is refused
  ASSERT_TRUE(wait_for([&] { return r.count_errors(ce::kQueueFull) == 1; }));
  EXPECT_EQ(r.with([&] {
    for (auto &e : r.errors)
      if (e.first == ce::kQueueFull) return e.second;
    return std::string();
  }).rfind("peer.offer to 'z'", 0), 0u);
  c.stop();  // the three queued offers/answers are reported, never silently dropped
  EXPECT_EQ(r.count_errors(ce::kClosed), 3u);
  EXPECT_EQ(c.undelivered(), 6u);
}

TEST(SignallingClient, ManyClientsShareOneLoop) {
  ServerThread server;
  ASSERT_TRUE(server.start());
  auto loop = std::make_shared<sig::ClientLoop>();
  std::vector<std::unique_ptr<sig::Client>> clients;
  std::vector<std::unique_ptr<Recorder>> recs;
  for (int i = 0; i < 8; i++) {
    auto cfg = config(server.url(), "shared");
    cfg.loop = loop;
    recs.push_back(std::make_unique<Recorder>());
    clients.push_back(std::make_unique<sig::Client>(cfg, recs.back()->callbacks()));
    ASSERT_TRUE(clients.back()->start());
  }
  ASSERT_TRUE(wait_for([&] {
    return std::all_of(clients.begin(), clients.end(), [](auto &c) { return announced(*c); });
  }));
  EXPECT_EQ(server.peers("shared").size(), 8u);
  for (auto &r : recs) {
    auto threads = r->with([&] { return r->callback_threads; });
    EXPECT_EQ(threads.size(), 1u);
  }
  for (auto &c : clients) c->stop();
  EXPECT_TRUE(wait_for([&] { return server.peers("shared").empty(); }));
}
