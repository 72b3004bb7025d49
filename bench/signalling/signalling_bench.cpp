// Signalling benchmark: 100 mf::signalling::Client in 10 rooms against the real server on
// loopback, and a baseline measured in the same run: a plain libsoup WebSocket echo server (no
// JSON-RPC, no routing) driven by the same number of plain libsoup WebSocket clients, with the
// same message text, on the same threads and cores.
//
// Threads: the server (or the echo server) on a thread + GMainContext of its own, pinned to CPU 0
// when there are >= 2 CPUs; all clients on one other thread (one shared ClientLoop), pinned to
// CPU 1. CPU % of one core per thread comes from /proc/self/task/<tid>/stat (utime + stime) over
// the measuring window only (after a warm-up).
//
// Figures:
//   rtt (sequential): one request in flight in the whole system, round robin over the clients:
//                     the latency of one hop client -> server -> client without queueing.
//   rtt (100 in flight): every client keeps one request in flight (closed loop): latency under
//                     load.
//   forwarded msgs/s: every client keeps `kWindow` peer.ice_candidate requests in flight to the
//                     other peers of its room; counted where they arrive (on_ice_candidate).
//                     Per forwarded message the server reads 1 message and writes 2 (the forward
//                     and the reply to the sender); per echo it reads 1 and writes 1.
// Targets (issue 3): p99 < 2 ms; >= 20,000 forwarded messages/s with the server on one core.
#include <glib.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "meshflow/metrics/registry.h"
#include "meshflow/signalling/client.h"
#include "meshflow/signalling/server.h"

namespace sig = mf::signalling;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kClients = 100;
constexpr int kRooms = 10;
constexpr int kWindow = 4;                 // requests in flight per client (throughput phase)
constexpr int kSequentialSamples = 5000;   // after kWarmup
constexpr int kWarmup = 500;
constexpr auto kLoadedWindow = std::chrono::seconds(2);
constexpr auto kThroughputWarmup = std::chrono::seconds(1);
constexpr auto kThroughputWindow = std::chrono::seconds(3);

const char *kCandidate = "candidate:1 1 UDP 2122260223 127.0.0.1 40000 typ host";

// ------------------------------------------------------------------------------------ helpers
class LoopThread {
 public:
  LoopThread() {
    ctx_ = g_main_context_new();
    loop_ = g_main_loop_new(ctx_, FALSE);
    std::promise<int> started;
    auto fut = started.get_future();
    thread_ = std::thread([this, &started] {
      g_main_context_push_thread_default(ctx_);
      started.set_value(static_cast<int>(syscall(SYS_gettid)));
      g_main_loop_run(loop_);
      g_main_context_pop_thread_default(ctx_);
    });
    tid_ = fut.get();
  }
  ~LoopThread() {
    call([this] { g_main_loop_quit(loop_); });
    thread_.join();
    g_main_loop_unref(loop_);
    g_main_context_unref(ctx_);
  }
  template <typename F> auto call(F f) -> decltype(f()) {
    return call_on(ctx_, std::move(f));
  }
  template <typename F> static auto call_on(GMainContext *ctx, F f) -> decltype(f()) {
    using R = decltype(f());
    std::packaged_task<R()> task(std::move(f));
    auto fut = task.get_future();
    g_main_context_invoke_full(
        ctx, G_PRIORITY_DEFAULT,
        [](gpointer p) -> gboolean {
          (*static_cast<std::packaged_task<R()> *>(p))();
          return G_SOURCE_REMOVE;
        },
        &task, nullptr);
    return fut.get();
  }
  int tid() const { return tid_; }

 private:
  GMainContext *ctx_;
  GMainLoop *loop_;
  std::thread thread_;
  int tid_ = 0;
};

int cpu_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return CPU_COUNT(&set);
}

// The n-th CPU this process may run on.
int nth_cpu(int n) {
  cpu_set_t set;
  CPU_ZERO(&set);
  sched_getaffinity(0, sizeof(set), &set);
  for (int c = 0, seen = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &set) && seen++ == n) return c;
  return -1;
}

bool pin(int tid, int cpu) {
  if (cpu < 0) return false;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(tid, sizeof(set), &set) == 0;
}

// utime + stime of one thread, in seconds.
double thread_cpu_seconds(int tid) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto p = s.rfind(')');
  if (p == std::string::npos) return 0;
  std::istringstream in(s.substr(p + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; i++) {  // field 3 is the state
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Time a thread spent runnable but waiting for a CPU (schedstat field 2), in seconds.
double thread_runqueue_seconds(int tid) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/schedstat");
  unsigned long long on_cpu = 0, waiting = 0;
  f >> on_cpu >> waiting;
  return static_cast<double>(waiting) / 1e9;
}

struct CpuWindow {
  int tid;
  double cpu0, wait0;
  Clock::time_point t0;
  explicit CpuWindow(int t)
      : tid(t), cpu0(thread_cpu_seconds(t)), wait0(thread_runqueue_seconds(t)), t0(Clock::now()) {}
  double wall() const { return std::chrono::duration<double>(Clock::now() - t0).count(); }
  double percent() const {
    double w = wall();
    return w > 0 ? 100.0 * (thread_cpu_seconds(tid) - cpu0) / w : 0;
  }
  // % of the window the thread was runnable but not running (other processes had its CPU).
  double waiting_percent() const {
    double w = wall();
    return w > 0 ? 100.0 * (thread_runqueue_seconds(tid) - wait0) / w : 0;
  }
};

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

struct Percentiles {
  double p50 = 0, p99 = 0;
  size_t n = 0;
};
Percentiles percentiles(std::vector<double> v) {
  Percentiles p;
  p.n = v.size();
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  p.p50 = v[v.size() / 2];
  p.p99 = v[std::min(v.size() - 1, static_cast<size_t>(static_cast<double>(v.size()) * 0.99))];
  return p;
}

double us_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

// TCP_NODELAY on every connected TCP socket of this process (both ends are in this process).
std::pair<int, int> nodelay_census() {
  int on = 0, total = 0;
  DIR *d = opendir("/proc/self/fd");
  if (!d) return {0, 0};
  while (dirent *e = readdir(d)) {
    int fd = atoi(e->d_name);
    if (fd <= 2) continue;
    int type = 0, listening = 0, v = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) continue;
    len = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening) continue;
    len = sizeof(v);
    if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) != 0) continue;  // not TCP
    total++;
    if (v) on++;
  }
  closedir(d);
  return {on, total};
}

// The baseline's payloads: the same JSON-RPC texts the clients send (built once with json-glib;
// the echo server never parses them, so the id can stay fixed).
std::string request_text(const char *method, bool candidate) {
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "jsonrpc");
  json_builder_add_string_value(b, "2.0");
  json_builder_set_member_name(b, "method");
  json_builder_add_string_value(b, method);
  json_builder_set_member_name(b, "params");
  json_builder_begin_object(b);
  if (candidate) {
    json_builder_set_member_name(b, "to");
    json_builder_add_string_value(b, "r0-p1");
    json_builder_set_member_name(b, "candidate");
    json_builder_add_string_value(b, kCandidate);
    json_builder_set_member_name(b, "sdp_mline_index");
    json_builder_add_int_value(b, 0);
    json_builder_set_member_name(b, "sdp_mid");
    json_builder_add_string_value(b, "0");
  }
  json_builder_end_object(b);
  json_builder_set_member_name(b, "id");
  json_builder_add_int_value(b, 123456);
  json_builder_end_object(b);
  JsonNode *root = json_builder_get_root(b);
  gchar *text = json_to_string(root, FALSE);
  std::string out(text);
  g_free(text);
  json_node_unref(root);
  g_object_unref(b);
  return out;
}

struct Result {
  Percentiles seq, loaded;
  double msgs_per_s = 0;
  double server_cpu = 0, client_cpu = 0;
  double server_wait = 0, client_wait = 0;  // % of the window runnable but not running
  int nodelay_on = 0, nodelay_total = 0;
  uint64_t errors = 0;
  uint64_t setup_reconnects = 0;  // connects retried while the 100 clients joined
};

// ------------------------------------------------------------------------------- baseline (echo)
struct Echo {
  LoopThread server_thread, client_thread;
  SoupServer *server = nullptr;
  std::vector<SoupWebsocketConnection *> server_conns;
  SoupSession *session = nullptr;
  struct Conn {
    Echo *echo;
    SoupWebsocketConnection *ws = nullptr;
    Clock::time_point t0;
  };
  std::vector<std::unique_ptr<Conn>> conns;
  // phase state (client thread only)
  enum class Phase { Idle, Sequential, Loaded, Throughput } phase = Phase::Idle;
  std::vector<double> samples;
  int seq_index = 0;
  int seq_left = 0;
  std::promise<void> *seq_done = nullptr;
  std::atomic<uint64_t> received{0};
  bool stop_sending = false;

  unsigned start_server() {
    return server_thread.call([this] {
      server = soup_server_new(nullptr, nullptr);
      soup_server_add_websocket_handler(
          server, "/echo", nullptr, nullptr,
          [](SoupServer *, SoupServerMessage *, const char *, SoupWebsocketConnection *c,
             gpointer self) {
            auto *e = static_cast<Echo *>(self);
            e->server_conns.push_back(static_cast<SoupWebsocketConnection *>(g_object_ref(c)));
            soup_websocket_connection_set_max_incoming_payload_size(c, 64 * 1024);
            g_signal_connect(c, "message",
                             G_CALLBACK(+[](SoupWebsocketConnection *c, gint type, GBytes *m,
                                            gpointer) {
                               if (type == SOUP_WEBSOCKET_DATA_TEXT)
                                 soup_websocket_connection_send_message(c, SOUP_WEBSOCKET_DATA_TEXT,
                                                                        m);
                             }),
                             nullptr);
          },
          this, nullptr);
      GInetAddress *lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
      GSocketAddress *addr = g_inet_socket_address_new(lo, 0);
      GError *err = nullptr;
      soup_server_listen(server, addr, static_cast<SoupServerListenOptions>(0), &err);
      g_object_unref(addr);
      g_object_unref(lo);
      if (err) {
        g_printerr("echo server: %s\n", err->message);
        g_error_free(err);
        return 0u;
      }
      GSList *uris = soup_server_get_uris(server);
      unsigned port = uris ? g_uri_get_port(static_cast<GUri *>(uris->data)) : 0;
      g_slist_free_full(uris, reinterpret_cast<GDestroyNotify>(g_uri_unref));
      return port;
    });
  }

  bool connect_clients(unsigned port) {
    std::promise<bool> all;
    auto fut = all.get_future();
    std::atomic<int> left{kClients};
    client_thread.call([&] {
      session = soup_session_new_with_options("max-conns", 1000, "max-conns-per-host", 1000,
                                              nullptr);
      std::string url = "http://127.0.0.1:" + std::to_string(port) + "/echo";
      for (int i = 0; i < kClients; i++) {
        conns.push_back(std::make_unique<Conn>());
        Conn *c = conns.back().get();
        c->echo = this;
        SoupMessage *msg = soup_message_new("GET", url.c_str());
        struct Ctx {
          Conn *c;
          std::promise<bool> *all;
          std::atomic<int> *left;
        };
        soup_session_websocket_connect_async(
            session, msg, nullptr, nullptr, G_PRIORITY_DEFAULT, nullptr,
            [](GObject *s, GAsyncResult *r, gpointer p) {
              std::unique_ptr<Ctx> ctx(static_cast<Ctx *>(p));
              GError *err = nullptr;
              ctx->c->ws = soup_session_websocket_connect_finish(SOUP_SESSION(s), r, &err);
              if (!ctx->c->ws) {
                g_printerr("echo client: %s\n", err->message);
                g_error_free(err);
                ctx->all->set_value(false);
                return;
              }
              g_signal_connect(ctx->c->ws, "message",
                               G_CALLBACK(+[](SoupWebsocketConnection *, gint, GBytes *,
                                              gpointer c) { static_cast<Conn *>(c)->echo->on_echo(
                                                static_cast<Conn *>(c)); }),
                               ctx->c);
              if (--*ctx->left == 0) ctx->all->set_value(true);
            },
            new Ctx{c, &all, &left});
        g_object_unref(msg);
      }
      return 0;
    });
    return fut.get();
  }

  void send(Conn *c, bool candidate) {
    c->t0 = Clock::now();
    static const std::string ping = request_text("peer.ping", false);
    static const std::string cand = request_text("peer.ice_candidate", true);
    soup_websocket_connection_send_text(c->ws, candidate ? cand.c_str() : ping.c_str());
  }

  void on_echo(Conn *c) {
    received++;
    switch (phase) {
      case Phase::Sequential:
        samples.push_back(us_since(c->t0));
        if (--seq_left <= 0) {
          phase = Phase::Idle;
          seq_done->set_value();
          return;
        }
        send(conns[static_cast<size_t>(++seq_index % kClients)].get(), false);
        break;
      case Phase::Loaded:
        samples.push_back(us_since(c->t0));
        if (!stop_sending) send(c, false);
        break;
      case Phase::Throughput:
        if (!stop_sending) send(c, true);
        break;
      case Phase::Idle:
        break;
    }
  }

  Result run(int server_cpu, int client_cpu) {
    Result res;
    unsigned port = start_server();
    pin(server_thread.tid(), server_cpu);
    pin(client_thread.tid(), client_cpu);
    if (!port || !connect_clients(port)) {
      res.errors = 1;
      return res;
    }
    auto nd = nodelay_census();
    res.nodelay_on = nd.first;
    res.nodelay_total = nd.second;
    // Sequential.
    std::promise<void> done;
    client_thread.call([&] {
      samples.clear();
      samples.reserve(kSequentialSamples + kWarmup);
      seq_left = kSequentialSamples + kWarmup;
      seq_done = &done;
      phase = Phase::Sequential;
      send(conns[0].get(), false);
      return 0;
    });
    done.get_future().get();
    std::vector<double> s(samples.begin() + kWarmup, samples.end());
    res.seq = percentiles(s);
    // Loaded: every client one in flight.
    client_thread.call([&] {
      samples.clear();
      stop_sending = false;
      phase = Phase::Loaded;
      for (auto &c : conns) send(c.get(), false);
      return 0;
    });
    std::this_thread::sleep_for(kLoadedWindow);
    auto loaded = client_thread.call([&] {
      stop_sending = true;
      return samples;
    });
    res.loaded = percentiles(loaded);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // drain
    // Throughput.
    client_thread.call([&] {
      stop_sending = false;
      phase = Phase::Throughput;
      for (auto &c : conns)
        for (int w = 0; w < kWindow; w++) send(c.get(), true);
      return 0;
    });
    std::this_thread::sleep_for(kThroughputWarmup);
    uint64_t r0 = received.load();
    CpuWindow scpu(server_thread.tid()), ccpu(client_thread.tid());
    auto t0 = Clock::now();
    std::this_thread::sleep_for(kThroughputWindow);
    uint64_t r1 = received.load();
    double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    res.server_cpu = scpu.percent();
    res.client_cpu = ccpu.percent();
    res.server_wait = scpu.waiting_percent();
    res.client_wait = ccpu.waiting_percent();
    res.msgs_per_s = static_cast<double>(r1 - r0) / wall;
    client_thread.call([&] {
      stop_sending = true;
      return 0;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return res;
  }

  ~Echo() {
    client_thread.call([&] {
      for (auto &c : conns) {
        if (!c->ws) continue;
        g_signal_handlers_disconnect_by_data(c->ws, c.get());
        soup_websocket_connection_close(c->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
        g_object_unref(c->ws);
      }
      if (session) g_object_unref(session);
      return 0;
    });
    server_thread.call([&] {
      for (auto *c : server_conns) g_object_unref(c);
      if (server) {
        soup_server_disconnect(server);
        g_object_unref(server);
      }
      return 0;
    });
  }
};

// ------------------------------------------------------------------------------- meshflow
struct Mesh {
  LoopThread server_thread;
  mf::metrics::Registry registry;
  std::unique_ptr<sig::Server> server;
  std::shared_ptr<sig::ClientLoop> loop = std::make_shared<sig::ClientLoop>();
  std::vector<std::unique_ptr<sig::Client>> clients;
  std::vector<std::string> ids;
  // client-thread state
  enum class Phase { Idle, Sequential, Loaded, Throughput };
  std::atomic<Phase> phase{Phase::Idle};
  std::vector<double> samples;
  int seq_index = 0;
  int seq_left = 0;
  std::promise<void> *seq_done = nullptr;
  std::atomic<bool> stop_sending{false};
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> errors{0};
  std::vector<int> next_peer;

  static sig::ServerConfig server_config() {
    sig::ServerConfig c;
    // The per-connection abuse limits are for the internet, not for a load test: raise them so
    // the benchmark measures the server's work, not its rate limiter.
    c.messages_per_second = 1e9;
    c.message_burst = 1e9;
    c.candidates_per_second = 1e9;
    c.candidate_burst = 1e9;
    c.max_candidates_per_peer = static_cast<size_t>(1) << 40;
    c.rate_limit_close_after = 1u << 30;
    c.max_outbound_bytes = 64 * 1024 * 1024;
    c.max_rooms = 100;
    return c;
  }

  void ping(int i) {
    auto t0 = Clock::now();
    auto &c = *clients[static_cast<size_t>(i)];
    c.request("peer.ping", "{}", [this, i, t0](const sig::Response &r) {
      if (!r.ok()) errors++;
      on_ping(i, us_since(t0));
    });
  }
  void on_ping(int i, double us) {
    switch (phase.load()) {
      case Phase::Sequential:
        samples.push_back(us);
        if (--seq_left <= 0) {
          phase = Phase::Idle;
          seq_done->set_value();
          return;
        }
        ping(++seq_index % kClients);
        break;
      case Phase::Loaded:
        samples.push_back(us);
        if (!stop_sending) ping(i);
        break;
      default:
        break;
    }
  }
  void candidate(int i) {
    // Round robin over the other 9 peers of the room.
    int room = i / (kClients / kRooms);
    int per_room = kClients / kRooms;
    int k = next_peer[static_cast<size_t>(i)]++ % (per_room - 1);
    int target = room * per_room + ((i % per_room) + 1 + k) % per_room;
    clients[static_cast<size_t>(i)]->send_ice_candidate(
        ids[static_cast<size_t>(target)], kCandidate, 0, "0", [this, i](const sig::Response &r) {
          if (!r.ok()) errors++;
          if (!stop_sending) candidate(i);
        });
  }

  Result run(int server_cpu, int client_cpu) {
    Result res;
    unsigned port = server_thread.call([&] {
      server = std::make_unique<sig::Server>(server_config(), registry);
      std::string err;
      if (!server->listen("127.0.0.1", 0, &err)) {
        g_printerr("server: %s\n", err.c_str());
        return 0u;
      }
      return server->port();
    });
    pin(server_thread.tid(), server_cpu);
    pin(loop->tid(), client_cpu);
    if (!port) {
      res.errors = 1;
      return res;
    }
    std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/rpc";
    next_peer.assign(kClients, 0);
    for (int i = 0; i < kClients; i++) {
      int room = i / (kClients / kRooms);
      ids.push_back("r" + std::to_string(room) + "-p" + std::to_string(i % (kClients / kRooms)));
      sig::ClientConfig cfg;
      cfg.url = url;
      cfg.room = "room-" + std::to_string(room);
      cfg.peer_id = ids.back();
      cfg.loop = loop;
      cfg.max_queue = 4096;
      sig::ClientCallbacks cb;
      cb.on_ice_candidate = [this](const std::string &, const sig::IceCandidate &) {
        delivered++;
      };
      cb.on_error = [this](int code, const std::string &m) {
        if (errors++ < 5) g_printerr("client error %d: %s\n", code, m.c_str());
      };
      clients.push_back(std::make_unique<sig::Client>(cfg, cb));
      clients.back()->start();
    }
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline &&
           !std::all_of(clients.begin(), clients.end(), [](auto &c) {
             return c->state() == sig::ClientState::Announced;
           }))
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    int announced = static_cast<int>(std::count_if(clients.begin(), clients.end(), [](auto &c) {
      return c->state() == sig::ClientState::Announced;
    }));
    if (announced != kClients) {
      g_printerr("only %d of %d clients announced\n", announced, kClients);
      res.errors = 1;
      return res;
    }
    auto nd = nodelay_census();
    res.nodelay_on = nd.first;
    res.nodelay_total = nd.second;
    for (auto &c : clients) res.setup_reconnects += c->reconnects();
    errors = 0;  // from here on: errors during the measurements only
    GMainContext *ctx = loop->context();

    std::promise<void> done;
    LoopThread::call_on(ctx, [&] {
      samples.clear();
      samples.reserve(kSequentialSamples + kWarmup);
      seq_left = kSequentialSamples + kWarmup;
      seq_done = &done;
      phase = Phase::Sequential;
      ping(0);
      return 0;
    });
    done.get_future().get();
    res.seq = percentiles(std::vector<double>(samples.begin() + kWarmup, samples.end()));

    LoopThread::call_on(ctx, [&] {
      samples.clear();
      stop_sending = false;
      phase = Phase::Loaded;
      for (int i = 0; i < kClients; i++) ping(i);
      return 0;
    });
    std::this_thread::sleep_for(kLoadedWindow);
    auto loaded = LoopThread::call_on(ctx, [&] {
      stop_sending = true;
      return samples;
    });
    res.loaded = percentiles(loaded);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));

    LoopThread::call_on(ctx, [&] {
      stop_sending = false;
      phase = Phase::Throughput;
      for (int i = 0; i < kClients; i++)
        for (int w = 0; w < kWindow; w++) candidate(i);
      return 0;
    });
    std::this_thread::sleep_for(kThroughputWarmup);
    uint64_t d0 = delivered.load();
    CpuWindow scpu(server_thread.tid()), ccpu(loop->tid());
    auto t0 = Clock::now();
    std::this_thread::sleep_for(kThroughputWindow);
    uint64_t d1 = delivered.load();
    double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    res.server_cpu = scpu.percent();
    res.client_cpu = ccpu.percent();
    res.server_wait = scpu.waiting_percent();
    res.client_wait = ccpu.waiting_percent();
    res.msgs_per_s = static_cast<double>(d1 - d0) / wall;
    stop_sending = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    res.errors = errors.load();
    return res;
  }

  ~Mesh() {
    for (auto &c : clients) c->stop();
    clients.clear();
    loop.reset();
    auto until = Clock::now() + std::chrono::seconds(5);
    while (Clock::now() < until &&
           server_thread.call([&] { return server ? server->connection_count() : size_t(0); }))
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    server_thread.call([&] {
      if (server) {
        server->shutdown();
        server.reset();
      }
      return 0;
    });
  }
};

}  // namespace

int main() {
  int ncpu = cpu_count();
  int server_cpu = ncpu >= 2 ? nth_cpu(0) : -1;
  int client_cpu = ncpu >= 2 ? nth_cpu(1) : -1;
  std::printf("signalling benchmark: %d clients in %d rooms on loopback; %d CPUs available; ",
              kClients, kRooms, ncpu);
  if (server_cpu >= 0)
    std::printf("server thread pinned to CPU %d, client thread to CPU %d\n", server_cpu,
                client_cpu);
  else
    std::printf("one CPU: no pinning (server and clients share it)\n");

  std::printf("load average at start: %s (other processes on these CPUs distort every figure; "
              "see the 'waiting for its CPU' lines)\n", loadavg().c_str());
  Result base, mesh;
  {
    Echo echo;
    base = echo.run(server_cpu, client_cpu);
  }
  {
    Mesh m;
    mesh = m.run(server_cpu, client_cpu);
  }
  if (base.errors || (mesh.errors && mesh.seq.n == 0)) {
    std::printf("benchmark setup failed\n");
    return 1;
  }

  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  std::printf("TCP_NODELAY (connected TCP sockets of this process, both ends): baseline %d/%d on, "
              "meshflow %d/%d on\n",
              base.nodelay_on, base.nodelay_total, mesh.nodelay_on, mesh.nodelay_total);
  std::printf("%-44s %12s %16s %8s\n", "", "meshflow", "baseline(echo)", "ratio");
  std::printf("%-44s %12.1f %16.1f %8.2f\n", "rtt sequential p50 (us)", mesh.seq.p50,
              base.seq.p50, ratio(mesh.seq.p50, base.seq.p50));
  std::printf("%-44s %12.1f %16.1f %8.2f\n", "rtt sequential p99 (us)", mesh.seq.p99,
              base.seq.p99, ratio(mesh.seq.p99, base.seq.p99));
  std::printf("%-44s %12.1f %16.1f %8.2f\n", "rtt 100 in flight p50 (us)", mesh.loaded.p50,
              base.loaded.p50, ratio(mesh.loaded.p50, base.loaded.p50));
  std::printf("%-44s %12.1f %16.1f %8.2f\n", "rtt 100 in flight p99 (us)", mesh.loaded.p99,
              base.loaded.p99, ratio(mesh.loaded.p99, base.loaded.p99));
  std::printf("%-44s %12.0f %16.0f %8.2f\n", "forwarded (echoed) messages/s", mesh.msgs_per_s,
              base.msgs_per_s, ratio(mesh.msgs_per_s, base.msgs_per_s));
  std::printf("%-44s %12.0f %16.0f\n", "server thread CPU % of one core", mesh.server_cpu,
              base.server_cpu);
  std::printf("%-44s %12.0f %16.0f\n", "client thread CPU % of one core", mesh.client_cpu,
              base.client_cpu);
  double per_core = mesh.server_cpu > 0 ? mesh.msgs_per_s * 100.0 / mesh.server_cpu : 0;
  double base_per_core = base.server_cpu > 0 ? base.msgs_per_s * 100.0 / base.server_cpu : 0;
  std::printf("%-44s %12.0f %16.0f\n", "server thread waiting for its CPU, % of time",
              mesh.server_wait, base.server_wait);
  std::printf("%-44s %12.0f %16.0f\n", "client thread waiting for its CPU, % of time",
              mesh.client_wait, base.client_wait);
  // Messages per CPU-second of the server thread: what one core sustains, and the figure least
  // distorted by other processes competing for the CPUs.
  std::printf("%-44s %12.0f %16.0f %8.2f\n", "messages/s per server core (msgs / CPU time)",
              per_core, base_per_core, ratio(per_core, base_per_core));
  std::printf("samples: sequential %zu, loaded %zu (meshflow) / %zu (baseline); errors during "
              "the measurements %llu; connects retried while joining %llu\n",
              mesh.seq.n, mesh.loaded.n, base.loaded.n,
              static_cast<unsigned long long>(mesh.errors),
              static_cast<unsigned long long>(mesh.setup_reconnects));
  std::printf("load average at end: %s\n", loadavg().c_str());
  std::printf("target rtt p99 < 2 ms: sequential %s (%.2f ms), 100 in flight %s (%.2f ms)\n",
              mesh.seq.p99 < 2000 ? "MET" : "NOT MET", mesh.seq.p99 / 1000,
              mesh.loaded.p99 < 2000 ? "MET" : "NOT MET", mesh.loaded.p99 / 1000);
  std::printf("target >= 20000 forwarded messages/s on one core: measured %s (%.0f/s, server at "
              "%.0f%% of its core%s); per server CPU-second %s (%.0f/s)\n",
              mesh.msgs_per_s >= 20000 ? "MET" : "NOT MET", mesh.msgs_per_s, mesh.server_cpu,
              mesh.client_cpu > 90 ? ", client thread saturated: a lower bound" : "",
              per_core >= 20000 ? "MET" : "NOT MET", per_core);
  return 0;
}
