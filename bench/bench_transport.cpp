// Transport micro-benchmarks. Each transport of the coupling layer is measured
// beside its raw floor for the same payload, in the same run:
//   gRPC ModelInfer through motifbench's client (identity model) vs a plain gRPC unary Echo
//   the Redis staging store (put + get)       vs raw hiredis SET + GET
//   the shared-memory and file stores         vs memcpy
//   a Unix-socket ping-pong and memcpy as the floors of local IPC
// plus batch-1 inference round trips for tight, semi-tight and loose.
// Servers are real `serve` processes (this binary re-executed) on loopback or
// Unix sockets, and a real redis-server; all are stopped at exit.
#include <benchmark/benchmark.h>
#include <grpcpp/grpcpp.h>
#include <hiredis/hiredis.h>
#include <dirent.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "coupling/grpc_client.hpp"
#include "coupling/services.hpp"
#include "coupling/stores.hpp"
#include "core/cpu_placement.hpp"
#include "inference.grpc.pb.h"
#include "motifbench/stats.hpp"
#include "motifbench/surrogates/local.hpp"
#include "motifbench/surrogates/server.hpp"

namespace {

using namespace motifbench;
using namespace motifbench::detail;

struct World {
  Services services;
  std::string unix_server, tcp_server, redis;
  // The floors' own servers: default, --poll-us 0, --poll-ahead true, and
  // --concurrency 1 (one request computed at a time, whatever is in flight).
  std::string unix_floor, unix_floor_no_poll, unix_floor_ahead, unix_floor_serial;
  std::map<std::string, pid_t> pid_of;  // each floor server's process, by endpoint
};
World* g_world = nullptr;

// The embedded servers require the run's token on model calls and Echo.
void authorize_bench(grpc::ClientContext& ctx) {
  ctx.AddMetadata("authorization", "Bearer " + g_world->services.token());
}

constexpr long kFeatures = 16;  // floats per row in the transport benchmarks

void set_bytes(benchmark::State& state, double bytes_per_iter) {
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes_per_iter) * state.iterations());
}

std::unique_ptr<inference::GRPCInferenceService::Stub> stub_for(const std::string& endpoint) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  return inference::GRPCInferenceService::NewStub(
      grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), args));
}

const std::string& endpoint(int which) { return which == 0 ? g_world->unix_server : g_world->tcp_server; }

// Plain gRPC unary echo of `bytes` (request and response both carry it).
void BM_GrpcEcho(benchmark::State& state) {
  auto stub = stub_for(endpoint(static_cast<int>(state.range(1))));
  inference::EchoRequest q;
  q.set_payload(std::string(static_cast<std::size_t>(state.range(0)), 'x'));
  inference::EchoResponse r;
  for (auto _ : state) {
    grpc::ClientContext ctx;
    authorize_bench(ctx);
    auto s = stub->Echo(&ctx, q, &r);
    if (!s.ok()) state.SkipWithError(s.error_message().c_str());
  }
  set_bytes(state, 2.0 * static_cast<double>(state.range(0)));
}

// motifbench's inference client (KServe v2 ModelInfer) to the identity model.
void BM_GrpcModelInfer(benchmark::State& state) {
  const long bytes = state.range(0);
  const long rows = std::max<long>(1, bytes / static_cast<long>(kFeatures * sizeof(float)));
  SurrogateSpec spec;
  spec.name = "transport";
  spec.in_features = kFeatures;
  spec.out_features = kFeatures;
  spec.hidden = {};
  RemoteOptions opt;
  opt.endpoints = {endpoint(static_cast<int>(state.range(1)))};
  opt.max_inflight = 1;
  opt.model_suffix = "-bench";
  opt.token = g_world->services.token();
  opt.check_version = false;  // the null model replaces the pushed MLP below, on purpose
  auto client = make_grpc_client(spec, opt, [](const std::string&, double) {});
  {
    // Swap the pushed MLP for the null model so only transport is measured.
    auto stub = stub_for(opt.endpoints[0]);
    grpc::ClientContext ctx;
    authorize_bench(ctx);
    inference::RepositoryModelLoadRequest q;
    q.set_model_name("transport-bench");
    (*q.mutable_parameters())["identity"].set_bool_param(true);
    (*q.mutable_parameters())["in_features"].set_int64_param(kFeatures);
    inference::RepositoryModelLoadResponse r;
    stub->RepositoryModelLoad(&ctx, q, &r);
  }
  std::vector<float> in(static_cast<std::size_t>(rows * kFeatures), 1.0f), out(in.size());
  for (auto _ : state) client->infer(in.data(), rows, out.data());
  if (out[0] != 1.0f) state.SkipWithError("identity model did not echo");
  set_bytes(state, 2.0 * static_cast<double>(rows * kFeatures * sizeof(float)));
}

void BM_RedisStorePutGet(benchmark::State& state) {
  auto colon = g_world->redis.rfind(':');
  auto store = make_redis_store(g_world->redis.substr(0, colon), std::stoi(g_world->redis.substr(colon + 1)), 5.0,
                                g_world->services.redis_password());
  std::vector<char> payload(static_cast<std::size_t>(state.range(0)), 'x'), back;
  for (auto _ : state) {
    store->put("bench", payload.data(), payload.size());
    store->get("bench", back);
  }
  set_bytes(state, 2.0 * static_cast<double>(payload.size()));
}

void BM_HiredisRawSetGet(benchmark::State& state) {
  auto colon = g_world->redis.rfind(':');
  redisContext* c = redisConnect(g_world->redis.substr(0, colon).c_str(), std::stoi(g_world->redis.substr(colon + 1)));
  freeReplyObject(redisCommand(c, "AUTH %s", g_world->services.redis_password().c_str()));
  std::vector<char> payload(static_cast<std::size_t>(state.range(0)), 'x');
  for (auto _ : state) {
    freeReplyObject(redisCommand(c, "SET %s %b", "raw", payload.data(), payload.size()));
    auto* r = static_cast<redisReply*>(redisCommand(c, "GET %s", "raw"));
    benchmark::DoNotOptimize(r->str);
    freeReplyObject(r);
  }
  redisFree(c);
  set_bytes(state, 2.0 * static_cast<double>(payload.size()));
}

template <int Kind>
void BM_StorePutGet(benchmark::State& state) {
  std::unique_ptr<StagingStore> store;
  const std::string tag = "motifbench-" + std::to_string(getpid()) + "-bench";
  if (Kind == 0) store = make_memory_store();
  if (Kind == 1) store = make_shm_store("/" + tag);
  if (Kind == 2) store = make_file_store("/tmp");
  std::vector<char> payload(static_cast<std::size_t>(state.range(0)), 'x'), back;
  for (auto _ : state) {
    store->put("bench", payload.data(), payload.size());
    store->get("bench", back);
  }
  set_bytes(state, 2.0 * static_cast<double>(payload.size()));
}

void BM_UnixSocketPingPong(benchmark::State& state) {
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  std::thread echo([&] {
    std::vector<char> buf(n);
    while (true) {
      std::size_t got = 0;
      while (got < n) {
        ssize_t r = read(sv[1], buf.data() + got, n - got);
        if (r <= 0) return;
        got += static_cast<std::size_t>(r);
      }
      std::size_t put = 0;
      while (put < n) put += static_cast<std::size_t>(write(sv[1], buf.data() + put, n - put));
    }
  });
  std::vector<char> msg(n, 'x'), back(n);
  for (auto _ : state) {
    std::size_t put = 0;
    while (put < n) put += static_cast<std::size_t>(write(sv[0], msg.data() + put, n - put));
    std::size_t got = 0;
    while (got < n) got += static_cast<std::size_t>(read(sv[0], back.data() + got, n - got));
  }
  shutdown(sv[0], SHUT_RDWR);
  close(sv[0]);
  echo.join();
  close(sv[1]);
  set_bytes(state, 2.0 * static_cast<double>(n));
}

// The median, as the results compute it (nearest rank; unit-free here).
double median_of(std::vector<double> v) { return summarize_latency(std::move(v)).p50_ns; }

// A thread at the other end of a Unix socket pair that answers each 64 B
// message with itself, after `work` of busy work.
class EchoPeer {
 public:
  explicit EchoPeer(std::chrono::microseconds work = std::chrono::microseconds(0)) {
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, m_sv) != 0) return;
    m_thread = std::thread([this, work] {
      char buf[64];
      while (read(m_sv[1], buf, sizeof buf) == static_cast<ssize_t>(sizeof buf)) {
        const auto until = std::chrono::steady_clock::now() + work;
        while (std::chrono::steady_clock::now() < until) {
        }
        if (write(m_sv[1], buf, sizeof buf) != static_cast<ssize_t>(sizeof buf)) return;
      }
    });
  }
  ~EchoPeer() {
    if (!m_thread.joinable()) return;
    shutdown(m_sv[0], SHUT_RDWR);
    close(m_sv[0]);
    m_thread.join();
    close(m_sv[1]);
  }
  EchoPeer(const EchoPeer&) = delete;
  EchoPeer& operator=(const EchoPeer&) = delete;
  bool ok() const { return m_thread.joinable(); }
  bool ping() {
    return write(m_sv[0], m_msg, sizeof m_msg) == static_cast<ssize_t>(sizeof m_msg) &&
           read(m_sv[0], m_msg, sizeof m_msg) == static_cast<ssize_t>(sizeof m_msg);
  }

 private:
  int m_sv[2] = {-1, -1};
  char m_msg[64] = {0};
  std::thread m_thread;
};

// The cost of waking a blocked thread: a 64 B Unix-socket ping-pong whose
// answer comes after `work_us` of busy work in the other thread (as a client
// waits while its server computes). wake_us is the round trip minus the work:
// a few microseconds on bare metal; a virtual machine whose idle vCPU halts
// can take far longer, and every semi-tight call pays it on each leg.
void BM_UnixPingPongAfterWork(benchmark::State& state) {
  const auto work = std::chrono::microseconds(state.range(0));
  EchoPeer peer(work);
  if (!peer.ok()) {
    state.SkipWithError("socketpair failed");
    return;
  }
  std::vector<double> over;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    if (!peer.ping()) state.SkipWithError("ping-pong failed");
    over.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0 - work).count());
  }
  if (!over.empty()) state.counters["wake_us"] = median_of(over);  // a preempted iteration does not count
}

void BM_Memcpy(benchmark::State& state) {
  std::vector<char> a(static_cast<std::size_t>(state.range(0)), 'x'), b(a.size());
  for (auto _ : state) {
    std::memcpy(b.data(), a.data(), a.size());
    benchmark::DoNotOptimize(b.data());
    std::memcpy(a.data(), b.data(), a.size());
    benchmark::ClobberMemory();
  }
  set_bytes(state, 2.0 * static_cast<double>(a.size()));
}

// Batch-1 inference round trip of the digital replica's MLP (2-32-32-1):
// 0 tight (in process), 1 semi-tight (Unix socket), 2 loose (TCP loopback).
void BM_InferBatch1(benchmark::State& state) {
  SurrogateSpec spec;
  spec.name = "batch1";
  spec.in_features = 2;
  spec.out_features = 1;
  spec.hidden = {32, 32};
  std::unique_ptr<SurrogateClient> client;
  if (state.range(0) == 0) {
    client = surrogates::make_local_client(spec);
  } else {
    RemoteOptions opt;
    opt.endpoints = {endpoint(state.range(0) == 1 ? 0 : 1)};
    opt.model_suffix = "-b1";
    opt.token = g_world->services.token();
    client = make_grpc_client(spec, opt, [](const std::string&, double) {});
  }
  float in[2] = {0.5f, 0.25f}, out[1] = {0};
  for (auto _ : state) client->infer(in, 1, out);
  state.SetLabel(state.range(0) == 0 ? "tight" : state.range(0) == 1 ? "semi-tight" : "loose");
}

// The digital replica's MLP (2-32-32-1) through the semi-tight client with
// system shared memory (1) or tensor bytes in the requests (0).
std::unique_ptr<SurrogateClient> semi_tight_client(const SurrogateSpec& spec, bool shared_memory) {
  RemoteOptions opt;
  opt.endpoints = {endpoint(0)};
  opt.model_suffix = shared_memory ? "-shm" : "-bytes";
  opt.token = g_world->services.token();
  opt.shared_memory = shared_memory;
  return make_grpc_client(spec, opt, [](const std::string&, double) {});
}

// A shared-memory client of the floors' own server: one stream, as a rank
// and its server.
RemoteOptions floor_options() {
  RemoteOptions opt;
  opt.endpoints = {g_world->unix_floor};
  opt.model_suffix = "-shm";
  opt.token = g_world->services.token();
  opt.shared_memory = true;
  return opt;
}

SurrogateSpec replica_mlp(const char* name) {
  SurrogateSpec spec;
  spec.name = name;
  spec.in_features = 2;
  spec.out_features = 1;
  spec.hidden = {32, 32};
  return spec;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Pins every thread of a process (its threads to come inherit it) to `cpus`.
// A thread that ended meanwhile is no failure.
bool pin_process(pid_t pid, const cpu_set_t& cpus) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return false;
  bool ok = true;
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    if (sched_setaffinity(static_cast<pid_t>(std::atoi(e->d_name)), sizeof cpus, &cpus) != 0 && errno != ESRCH)
      ok = false;
  }
  closedir(d);
  return ok;
}

cpu_set_t cpu_set_of(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) CPU_SET(c, &set);
  return set;
}

// Where the two sides of a semi-tight vs tight comparison compute. The vCPUs
// of a virtual machine need not run alike: on the 2-vCPU VM of the README,
// BM_TightVsBareForward/16384 ran at 29.6-32.7 GFLOP/s on one and 36.4-44.7
// on the other, minutes apart. Left to the scheduler, a server computes on
// whichever vCPU it lands on and the tight call on another, and the ratio
// says as much about the vCPUs as about the transport (semi-tight came out
// 1.1x tight at 262144 rows). A placement puts the compute of both sides on
// one CPU (the tight call's thread, every thread of the servers) and the
// semi-tight client on another, and swaps the two CPUs from one round to the
// next (four rounds a run of `iterations`: a thread moved to another CPU
// finds its caches cold there, which a call of a block of one would otherwise
// pay every time), so that each side computes as often on each. It needs two
// CPUs that the process may use; with fewer it places nothing (on() is false).
class Placement {
 public:
  Placement(std::vector<pid_t> servers, benchmark::IterationCount iterations)
      : m_servers(std::move(servers)), m_cpus(allowed_cpus()),
        m_period(std::max<std::size_t>(1, static_cast<std::size_t>(iterations) / 4)) {
    m_all = cpu_set_of(m_cpus);
    if (m_cpus.size() < 2) return;
    m_cpus.resize(2);
    for (pid_t p : m_servers)
      if (p <= 0) return;
    m_on = true;
  }
  ~Placement() {
    if (!m_on) return;
    sched_setaffinity(0, sizeof m_all, &m_all);
    for (pid_t p : m_servers) pin_process(p, m_all);
  }
  Placement(const Placement&) = delete;
  Placement& operator=(const Placement&) = delete;
  bool on() const { return m_on; }
  // Before each iteration: the servers to this round's compute_cpu() (moved
  // only when the round changes). False if a server could not be pinned.
  bool next_iteration() {
    const std::size_t k = m_iteration++ / m_period;
    if (!m_on || (m_pinned && k == m_round)) return true;
    m_round = k;
    m_pinned = true;
    const cpu_set_t set = cpu_set_of({compute_cpu()});
    bool ok = true;
    for (pid_t p : m_servers) ok = pin_process(p, set) && ok;
    return ok;
  }
  // The current round (round() % 2 picks the compute CPU of the two), and
  // its CPUs (-1 when not on).
  std::size_t round() const { return m_round; }
  int compute_cpu() const { return m_on ? m_cpus[m_round % 2] : -1; }
  int client_cpu() const { return m_on ? m_cpus[(m_round + 1) % 2] : -1; }
  // The calling thread to the CPU that computes (a tight call) or to the client's.
  void compute_side() const { pin_self(compute_cpu()); }
  void client_side() const { pin_self(client_cpu()); }
  static void pin_self(int cpu) {
    if (cpu < 0) return;
    const cpu_set_t set = cpu_set_of({cpu});
    sched_setaffinity(0, sizeof set, &set);
  }

 private:
  std::vector<pid_t> m_servers;
  std::vector<int> m_cpus;
  cpu_set_t m_all;
  std::size_t m_period, m_iteration = 0, m_round = 0;
  bool m_on = false, m_pinned = false;
};

// Semi-tight batch-1 round trip (shared memory, on a ModelStreamInfer stream:
// the default) against a raw Unix-socket ping-pong of 64 B between two
// threads, interleaved with the same call carrying the tensor's bytes, with
// unary ModelInfer calls (coupling.rpc=unary) and with the same streamed call
// polled on neither side (coupling.poll_us=0, serve --poll-us 0): each
// iteration times 200 of each. The shared-memory calls have their servers to
// themselves, as a rank has. Floor: semi-tight within 3x of the ping-pong.
void BM_SemiTightBatch1VsPingPong(benchmark::State& state) {
  std::map<std::string, std::vector<double>> parts;  // the shared-memory calls' timings, by channel
  bool record = false;
  RemoteOptions opt = floor_options();
  auto shm = make_grpc_client(replica_mlp("b1floor"), opt, [&](const std::string& channel, double ns) {
    if (record) parts[channel].push_back(ns);
  });
  auto bytes = semi_tight_client(replica_mlp("b1floor"), false);
  // The same shared-memory stream without polling, on either side: a server
  // started with --poll-us 0 and a client with poll_us 0.
  RemoteOptions quiet = opt;
  quiet.endpoints = {g_world->unix_floor_no_poll};
  quiet.poll_us = 0;
  quiet.model_suffix = "-nopoll";
  auto no_poll = make_grpc_client(replica_mlp("b1floor"), quiet, [&](const std::string& channel, double ns) {
    if (record) parts["no_poll_" + channel].push_back(ns);
  });
  opt.stream = false;  // the same, one unary ModelInfer per call
  opt.endpoints = {endpoint(0)};
  opt.model_suffix = "-unary";
  auto unary = make_grpc_client(replica_mlp("b1floor"), opt, [&](const std::string& channel, double ns) {
    if (record) parts["unary_" + channel].push_back(ns);
  });
  EchoPeer peer;
  if (!peer.ok()) {
    state.SkipWithError("socketpair failed");
    return;
  }
  constexpr int kCalls = 200;
  float in[2] = {0.5f, 0.25f}, out[1] = {0};
  double t_shm = 0, t_bytes = 0, t_ping = 0, t_unary = 0, t_no_poll = 0;
  for (int i = 0; i < 20; ++i) {  // warm-up: connections, TorchScript's profiling runs
    shm->infer(in, 1, out);
    no_poll->infer(in, 1, out);
    bytes->infer(in, 1, out);
    unary->infer(in, 1, out);
  }
  record = true;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kCalls; ++i) shm->infer(in, 1, out);
    t_shm += seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kCalls; ++i)
      if (!peer.ping()) state.SkipWithError("ping-pong failed");
    t_ping += seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kCalls; ++i) bytes->infer(in, 1, out);
    t_bytes += seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kCalls; ++i) unary->infer(in, 1, out);
    t_unary += seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kCalls; ++i) no_poll->infer(in, 1, out);
    t_no_poll += seconds_since(t0);
  }
  const double n = static_cast<double>(state.iterations()) * kCalls;
  state.counters["semi_tight_shm_us"] = 1e6 * t_shm / n;
  state.counters["semi_tight_bytes_us"] = 1e6 * t_bytes / n;
  state.counters["semi_tight_shm_unary_us"] = 1e6 * t_unary / n;
  state.counters["semi_tight_shm_no_poll_us"] = 1e6 * t_no_poll / n;
  state.counters["unix_pingpong_us"] = 1e6 * t_ping / n;
  state.counters["shm_over_pingpong"] = t_shm / t_ping;
  state.counters["floor_at_most"] = 3.0;
  // Where a shared-memory call's time goes (medians, µs): the server's part,
  // and on the wire the request's leg and the reply's.
  for (const char* c : {"rpc_server_compute", "rpc_request_leg", "rpc_reply_leg"}) {
    if (!parts[c].empty()) state.counters[std::string(c + 4) + "_p50_us"] = median_of(parts[c]) * 1e-3;
    for (const std::string other : {"unary_", "no_poll_"}) {
      const std::string u = other + c;
      if (!parts[u].empty()) state.counters[other + std::string(c + 4) + "_p50_us"] = median_of(parts[u]) * 1e-3;
    }
  }
}

// The shared-memory store against the memory store, put + get of the same
// payload, interleaved in each iteration (batches of 256, so the clock reads
// cost little). Floor: the shared-memory store within 10x of the memory store.
void BM_ShmVsMemoryStorePutGet(benchmark::State& state) {
  const std::string tag = "motifbench-" + std::to_string(getpid()) + "-bench-vs";
  auto memory = make_memory_store();
  auto shm = make_shm_store("/" + tag);
  std::vector<char> payload(static_cast<std::size_t>(state.range(0)), 'x'), back;
  constexpr int kBatch = 256;
  auto batch = [&](StagingStore& store) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kBatch; ++i) {
      store.put("bench", payload.data(), payload.size());
      store.get("bench", back);
    }
    return seconds_since(t0) / kBatch;
  };
  batch(*memory);  // first put: the segment's creation is not the steady state
  batch(*shm);
  std::vector<double> t_memory, t_shm;
  for (auto _ : state) {
    t_memory.push_back(batch(*memory));
    t_shm.push_back(batch(*shm));
  }
  const double m = median_of(t_memory), s = median_of(t_shm);
  state.counters["memory_put_get_ns"] = m * 1e9;
  state.counters["shm_put_get_ns"] = s * 1e9;
  state.counters["shm_over_memory"] = s / m;
  state.counters["floor_at_most"] = 10;
}

// The calling thread's CPU time, seconds.
double thread_cpu_s() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Large-batch inference, semi-tight with shared memory against tight (in
// process, same weights, same threads: 1), each path's tensors where it
// takes them without a copy (the semi-tight client's io_buffers(), as
// Digital Replica uses them), and the same semi-tight calls
// with coupling.poll_ahead on both sides (`ahead_*`, a server of its own
// started with --poll-ahead, as each semi-tight client has: as a rank has).
// Each iteration runs a block of range(1) calls of each path back to back,
// the three blocks in an order that rotates from one iteration to the next,
// so each path waits as long between its blocks as the others and none
// keeps its caches warmer (after 3 ms of other work a tight call here takes
// about 1.3x its back-to-back time). Blocks of several calls measure the
// throughput of a stream of batches; one call per block, a call between
// other work (a simulation step), where each leg of a remote call wakes a
// thread that slept through the other side's work
// (BM_UnixPingPongAfterWork). With two CPUs or more, the tight calls and
// the servers compute on one CPU and the semi-tight client runs on another,
// the two swapped four times a run (Placement): the ratio compares the
// transports, not the CPUs. Floor: semi-tight throughput at least 0.9x
// tight. The breakdown says where a semi-tight call's time goes (the
// server's compute, about the tight call's, and the two legs), and the
// client thread's CPU time per call what polling ahead costs;
// tight_cpu_time_ratio, tight's time per call on the lower-numbered CPU over
// the other, how unlike the two CPUs ran.
void BM_SemiTightVsTightLargeBatch(benchmark::State& state) {
  const std::int64_t rows = state.range(0);
  const int block = static_cast<int>(state.range(1));
  auto spec = replica_mlp("large");
  auto tight = surrogates::make_local_client(spec);
  std::map<std::string, std::vector<double>> parts;  // the semi-tight calls' timings, by channel
  bool record = false;
  // Their mirrors on the servers have the same deterministic weights.
  auto shm = make_grpc_client(spec, floor_options(), [&](const std::string& channel, double ns) {
    if (record) parts[channel].push_back(ns);
  });
  RemoteOptions eager = floor_options();
  eager.endpoints = {g_world->unix_floor_ahead};
  eager.poll_ahead = true;
  auto ahead = make_grpc_client(spec, eager, [&](const std::string& channel, double ns) {
    if (record) parts["ahead_" + channel].push_back(ns);
  });
  std::vector<float> in(static_cast<std::size_t>(rows * 2));
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>((i * 37) % 101) / 101.0f - 0.5f;
  struct Path {
    SurrogateClient* client;
    const float* in = nullptr;
    float* out = nullptr;
    std::vector<float> own_out;
    double wall_s = 0, cpu_s = 0;
    double first_s = 0;  // the first call of each block: after the other paths' blocks
  };
  std::array<Path, 3> paths{Path{tight.get()}, Path{shm.get()}, Path{ahead.get()}};
  for (auto& p : paths) {
    // Each path's inputs where its simulation would write them, as Digital
    // Replica does: the caller's memory in process, the semi-tight client's
    // registered buffers (io_buffers) otherwise, so no call copies a tensor.
    const auto io = p.client->io_buffers(rows);
    if (io.in != nullptr) {
      std::copy(in.begin(), in.end(), io.in);
      p.in = io.in;
      p.out = io.out;
    } else {
      p.own_out.resize(static_cast<std::size_t>(rows));
      p.in = in.data();
      p.out = p.own_out.data();
    }
  }
  if (paths[1].in == in.data() || paths[2].in == in.data()) {
    state.SkipWithError("a semi-tight client offers no shared-memory buffers");
    return;
  }
  for (int i = 0; i < 3; ++i)  // warm-up: TorchScript's profiling runs, first touch of the segment
    for (auto& p : paths) p.client->infer(p.in, rows, p.out);
  Placement place({g_world->pid_of[g_world->unix_floor], g_world->pid_of[g_world->unix_floor_ahead]},
                  state.max_iterations);
  std::array<double, 2> tight_by_cpu{0, 0};  // tight's wall time by the placement's CPU (first, second)
  record = true;
  std::size_t first = 0;
  for (auto _ : state) {
    if (!place.next_iteration()) {
      state.SkipWithError("could not pin a server's threads");
      return;
    }
    for (std::size_t k = 0; k < paths.size(); ++k) {
      Path& p = paths[(first + k) % paths.size()];
      const bool is_tight = &p == &paths[0];
      if (is_tight)
        place.compute_side();
      else
        place.client_side();
      const double c0 = thread_cpu_s();
      const auto t0 = std::chrono::steady_clock::now();
      for (int c = 0; c < block; ++c) {
        p.client->infer(p.in, rows, p.out);
        if (c == 0) p.first_s += seconds_since(t0);
      }
      const double wall = seconds_since(t0);
      p.wall_s += wall;
      p.cpu_s += thread_cpu_s() - c0;
      if (is_tight) tight_by_cpu[place.round() % 2] += wall;
    }
    first = (first + 1) % paths.size();
  }
  const auto& [t, s, a] = paths;
  double diff = 0;
  for (std::size_t i = 0; i < static_cast<std::size_t>(rows); ++i)
    diff = std::max({diff, static_cast<double>(std::abs(t.out[i] - s.out[i])),
                     static_cast<double>(std::abs(t.out[i] - a.out[i]))});
  if (diff > 1e-4) state.SkipWithError("semi-tight and tight outputs differ by more than 1e-4");
  if (s.client->bytes_copied() != 0 || a.client->bytes_copied() != 0)
    state.SkipWithError("a semi-tight call copied tensor bytes");
  const double calls = static_cast<double>(state.iterations()) * block;
  const double n = calls * static_cast<double>(rows);
  state.counters["tight_inferences_per_s"] = n / t.wall_s;
  state.counters["semi_tight_shm_inferences_per_s"] = n / s.wall_s;
  state.counters["shm_over_tight_speed"] = t.wall_s / s.wall_s;
  state.counters["ahead_over_tight_speed"] = t.wall_s / a.wall_s;
  state.counters["tight_us"] = 1e6 * t.wall_s / calls;
  state.counters["shm_us"] = 1e6 * s.wall_s / calls;
  state.counters["ahead_us"] = 1e6 * a.wall_s / calls;
  // Blocks of several calls: the first of each block apart from the rest.
  // Every path's first call finds its caches cold after the other paths'
  // blocks; the rest show each path back to back.
  if (block > 1) {
    const double blocks = static_cast<double>(state.iterations());
    for (const auto& [name, p] : {std::pair<const char*, const Path*>{"tight", &t}, {"shm", &s}, {"ahead", &a}}) {
      state.counters[std::string(name) + "_first_us"] = 1e6 * p->first_s / blocks;
      state.counters[std::string(name) + "_rest_us"] = 1e6 * (p->wall_s - p->first_s) / (calls - blocks);
    }
    state.counters["ahead_rest_over_tight_rest"] = (t.wall_s - t.first_s) / (a.wall_s - a.first_s);
  }
  state.counters["client_cpu_us"] = 1e6 * s.cpu_s / calls;
  state.counters["ahead_client_cpu_us"] = 1e6 * a.cpu_s / calls;
  double server_ns = 0;
  for (double ns : parts["rpc_server_compute"]) server_ns += ns;
  state.counters["server_compute_share"] = server_ns * 1e-9 / s.wall_s;  // of the semi-tight calls' time
  state.counters["floor_at_least"] = 0.9;
  state.counters["block_calls"] = block;
  // 1: each side computed on one CPU, the two swapped every round (Placement).
  state.counters["placed"] = place.on() ? 1 : 0;
  // How unlike the two CPUs ran: tight's time on the lower-numbered over the other.
  if (place.on() && tight_by_cpu[1] > 0) state.counters["tight_cpu_time_ratio"] = tight_by_cpu[0] / tight_by_cpu[1];
  // Where a semi-tight call's time goes (medians, µs), beside the tight call's.
  for (const char* c : {"rpc_serialize", "rpc_deserialize"})
    if (!parts[c].empty()) state.counters[std::string(c + 4) + "_p50_us"] = median_of(parts[c]) * 1e-3;
  // The legs' means too: a wait that missed its polling window shows there,
  // not in the median.
  for (const std::string other : {"", "ahead_"})
    for (const char* c : {"rpc_server_compute", "rpc_request_leg", "rpc_reply_leg"}) {
      const std::string u = other + c;
      if (parts[u].empty()) continue;
      const auto st = summarize_latency(parts[u]);
      state.counters[other + std::string(c + 4) + "_p50_us"] = st.p50_ns * 1e-3;
      state.counters[other + std::string(c + 4) + "_mean_us"] = st.mean_ns * 1e-3;
    }
  state.counters["max_abs_difference"] = diff;
}

// A thread that runs blocks of calls on a client of its own when told to.
class CallerThread {
 public:
  CallerThread(SurrogateClient& client, const float* in, std::int64_t rows, float* out)
      : m_thread([this, &client, in, rows, out] {
          std::unique_lock<std::mutex> l(m_mutex);
          while (true) {
            m_cv.wait(l, [&] { return m_quit || m_todo > 0; });
            if (m_quit) return;
            const int n = m_todo;
            Placement::pin_self(m_cpu);
            l.unlock();
            std::string failure;
            try {
              for (int i = 0; i < n; ++i) client.infer(in, rows, out);
            } catch (const std::exception& e) {
              failure = e.what();
            }
            l.lock();
            m_todo = 0;
            m_failure = failure;
            m_cv.notify_all();
          }
        }) {}
  ~CallerThread() {
    {
      std::lock_guard<std::mutex> l(m_mutex);
      m_quit = true;
    }
    m_cv.notify_all();
    m_thread.join();
  }
  // `calls` calls, from CPU `cpu` (-1: wherever it is).
  void start(int calls, int cpu = -1) {
    std::lock_guard<std::mutex> l(m_mutex);
    m_todo = calls;
    m_cpu = cpu;
    m_cv.notify_all();
  }
  // Until the block is done; why it failed, or "".
  std::string wait() {
    std::unique_lock<std::mutex> l(m_mutex);
    m_cv.wait(l, [&] { return m_todo == 0; });
    return m_failure;
  }

 private:
  std::mutex m_mutex;
  std::condition_variable m_cv;
  int m_todo = 0, m_cpu = -1;
  bool m_quit = false;
  std::string m_failure;
  std::thread m_thread;  // last: starts once the rest is ready
};

// Large-batch throughput with two semi-tight calls in flight against tight:
// two clients (two streams, each with its own registered buffers, as two
// threads of a simulation or two ranks would have) call one server that
// computes one request at a time (--concurrency 1, one thread, as tight's
// one thread), each from its own thread and without waiting for the other,
// so that one's request is on its way while the other's computes. A block
// of range(1) calls (half on each client) against the same number of tight
// calls back to back, the two blocks in alternating order; the tight calls
// and the server on one CPU, both clients on another (Placement). The server's busy
// share says how much of the pipelined wall time it computed; the floor is
// the same as for serial calls: semi-tight throughput at least 0.9x tight.
void BM_SemiTightPipelinedVsTight(benchmark::State& state) {
  const std::int64_t rows = state.range(0);
  const int block = static_cast<int>(state.range(1));
  auto spec = replica_mlp("large");
  auto tight = surrogates::make_local_client(spec);
  RemoteOptions opt = floor_options();
  opt.endpoints = {g_world->unix_floor_serial};
  opt.model_suffix = "-serial";
  std::array<std::vector<double>, 2> compute_ns, queue_ns, rtt_ns;  // per client: each sink runs on its own thread
  bool record = false;
  auto sink = [&](int k) {
    return [&, k](const std::string& channel, double ns) {
      if (!record) return;
      if (channel == "rpc_server_compute") compute_ns[static_cast<std::size_t>(k)].push_back(ns);
      if (channel == "rpc_server_queue") queue_ns[static_cast<std::size_t>(k)].push_back(ns);
      if (channel == "rpc_roundtrip") rtt_ns[static_cast<std::size_t>(k)].push_back(ns);
    };
  };
  auto first = make_grpc_client(spec, opt, sink(0));
  opt.model_suffix = "-serial-2";  // a model of its own, as another rank's: the same weights
  auto second = make_grpc_client(spec, opt, sink(1));
  std::vector<float> in(static_cast<std::size_t>(rows * 2)), tight_out(static_cast<std::size_t>(rows));
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>((i * 37) % 101) / 101.0f - 0.5f;
  const auto a = first->io_buffers(rows), b = second->io_buffers(rows);
  if (a.in == nullptr || b.in == nullptr) {
    state.SkipWithError("a semi-tight client offers no shared-memory buffers");
    return;
  }
  std::copy(in.begin(), in.end(), a.in);
  std::copy(in.begin(), in.end(), b.in);
  CallerThread other(*second, b.in, rows, b.out);
  for (int i = 0; i < 3; ++i) {  // warm-up
    tight->infer(in.data(), rows, tight_out.data());
    first->infer(a.in, rows, a.out);
    second->infer(b.in, rows, b.out);
  }
  // Tight and the server compute on one CPU, both clients on the other (Placement).
  Placement place({g_world->pid_of[g_world->unix_floor_serial]}, state.max_iterations);
  record = true;
  double t_tight = 0, t_pipe = 0;
  std::string failure;
  bool tight_first = true;
  for (auto _ : state) {
    if (!place.next_iteration()) {
      state.SkipWithError("could not pin the server's threads");
      return;
    }
    for (int side = 0; side < 2; ++side) {
      if ((side == 0) == tight_first)
        place.compute_side();
      else
        place.client_side();
      const auto t0 = std::chrono::steady_clock::now();
      if ((side == 0) == tight_first) {
        for (int c = 0; c < block; ++c) tight->infer(in.data(), rows, tight_out.data());
        t_tight += seconds_since(t0);
      } else {
        other.start(block / 2, place.client_cpu());
        try {
          for (int c = 0; c < block - block / 2; ++c) first->infer(a.in, rows, a.out);
        } catch (const std::exception& e) {
          failure = e.what();
        }
        const std::string why = other.wait();
        t_pipe += seconds_since(t0);
        if (failure.empty()) failure = why;
      }
    }
    tight_first = !tight_first;
    if (!failure.empty()) {
      state.SkipWithError(failure.c_str());
      return;
    }
  }
  double diff = 0;
  for (std::size_t i = 0; i < tight_out.size(); ++i)
    diff = std::max({diff, static_cast<double>(std::abs(tight_out[i] - a.out[i])),
                     static_cast<double>(std::abs(tight_out[i] - b.out[i]))});
  if (diff > 1e-4) state.SkipWithError("semi-tight and tight outputs differ by more than 1e-4");
  if (first->bytes_copied() != 0 || second->bytes_copied() != 0)
    state.SkipWithError("a semi-tight call copied tensor bytes");
  const double calls = static_cast<double>(state.iterations()) * block;
  state.counters["tight_us"] = 1e6 * t_tight / calls;
  state.counters["pipelined_us"] = 1e6 * t_pipe / calls;  // wall time per call, two in flight
  state.counters["pipelined_over_tight_speed"] = t_tight / t_pipe;
  state.counters["tight_inferences_per_s"] = calls * static_cast<double>(rows) / t_tight;
  state.counters["pipelined_inferences_per_s"] = calls * static_cast<double>(rows) / t_pipe;
  std::vector<double> all_compute, all_queue, all_rtt;
  for (std::size_t k = 0; k < 2; ++k) {
    all_compute.insert(all_compute.end(), compute_ns[k].begin(), compute_ns[k].end());
    all_queue.insert(all_queue.end(), queue_ns[k].begin(), queue_ns[k].end());
    all_rtt.insert(all_rtt.end(), rtt_ns[k].begin(), rtt_ns[k].end());
  }
  double busy_ns = 0;
  for (double ns : all_compute) busy_ns += ns;
  state.counters["server_busy_share"] = busy_ns * 1e-9 / t_pipe;
  if (!all_compute.empty()) state.counters["server_compute_p50_us"] = median_of(all_compute) * 1e-3;
  if (!all_queue.empty()) state.counters["server_queue_p50_us"] = median_of(all_queue) * 1e-3;
  // About two computes when the calls overlap (each waits for the other's).
  if (!all_rtt.empty()) state.counters["roundtrip_p50_us"] = median_of(all_rtt) * 1e-3;
  state.counters["floor_at_least"] = 0.9;
  state.counters["block_calls"] = block;
  state.counters["placed"] = place.on() ? 1 : 0;
  state.counters["max_abs_difference"] = diff;
}

// Payloads from bytes to MB; the second argument picks the server (0 Unix socket, 1 TCP).
void payloads(benchmark::internal::Benchmark* b) {
  for (long bytes : {64L, 1024L, 65536L, 1048576L}) b->Args({bytes, 0})->Args({bytes, 1});
}
void payloads1(benchmark::internal::Benchmark* b) {
  for (long bytes : {64L, 1024L, 65536L, 1048576L}) b->Arg(bytes);
}

BENCHMARK(BM_GrpcEcho)->Apply(payloads)->UseRealTime();
BENCHMARK(BM_GrpcModelInfer)->Apply(payloads)->UseRealTime();
BENCHMARK(BM_HiredisRawSetGet)->Apply(payloads1)->UseRealTime();
BENCHMARK(BM_RedisStorePutGet)->Apply(payloads1)->UseRealTime();
// Many producers, one consumer through the node-shared shared-memory store:
// range(0) producer threads (beyond the core count on purpose), each with its
// own handle on the node's store as a rank would have, put 1 KiB under their
// own key 2000 times, the payload carrying the put's number; one consumer
// thread reads every key round-robin until it has seen each producer's last
// put. Reports the aggregate put rate, the consumer's gets, and how often a
// get found a newer value than the one before (fresh_fraction).
void BM_ShmManyProducersOneConsumer(benchmark::State& state) {
  const int producers = static_cast<int>(state.range(0));
  constexpr int kPuts = 2000;
  constexpr std::size_t kBytes = 1024;
  static int run = 0;
  double gets = 0, fresh = 0, puts = 0;
  for (auto _ : state) {
    const std::string prefix = "/motifbench-bench-" + std::to_string(getpid()) + "-mp" + std::to_string(run++);
    std::vector<std::thread> threads;
    // Each producer's handle lives until the consumer is done: its creator
    // unlinks a segment when the handle goes.
    std::vector<std::unique_ptr<StagingStore>> handles(static_cast<std::size_t>(producers));
    for (int p = 0; p < producers; ++p)
      threads.emplace_back([&, p] {
        auto& store = handles[static_cast<std::size_t>(p)];
        store = make_shm_store(prefix);
        std::vector<char> v(kBytes);
        for (int i = 1; i <= kPuts; ++i) {
          std::memcpy(v.data(), &i, sizeof i);
          store->put("producer" + std::to_string(p), v.data(), v.size());
        }
      });
    auto consumer = make_shm_store(prefix);
    std::vector<int> last(static_cast<std::size_t>(producers), 0);
    std::vector<char> out;
    int done = 0;
    while (done < producers) {
      for (int p = 0; p < producers; ++p) {
        if (last[static_cast<std::size_t>(p)] == kPuts) continue;
        if (!consumer->get("producer" + std::to_string(p), out) || out.size() != kBytes) continue;
        int seen = 0;
        std::memcpy(&seen, out.data(), sizeof seen);
        ++gets;
        if (seen > last[static_cast<std::size_t>(p)]) {
          ++fresh;
          last[static_cast<std::size_t>(p)] = seen;
          if (seen == kPuts) ++done;
        }
      }
    }
    for (auto& t : threads) t.join();
    handles.clear();
    puts += static_cast<double>(producers) * kPuts;
  }
  state.counters["puts_per_s"] = benchmark::Counter(puts, benchmark::Counter::kIsRate);
  state.counters["consumer_gets"] = gets / static_cast<double>(state.iterations());
  state.counters["fresh_fraction"] = gets > 0 ? fresh / gets : 0;
  state.counters["producers"] = producers;
}

BENCHMARK_TEMPLATE(BM_StorePutGet, 0)->Name("BM_MemoryStorePutGet")->Apply(payloads1)->UseRealTime();
BENCHMARK_TEMPLATE(BM_StorePutGet, 1)->Name("BM_ShmStorePutGet")->Apply(payloads1)->UseRealTime();
BENCHMARK_TEMPLATE(BM_StorePutGet, 2)->Name("BM_FileStorePutGet")->Apply(payloads1)->UseRealTime();
BENCHMARK(BM_ShmVsMemoryStorePutGet)->Arg(1024)->UseRealTime();
BENCHMARK(BM_UnixSocketPingPong)->Apply(payloads1)->UseRealTime();
BENCHMARK(BM_UnixPingPongAfterWork)->Arg(0)->Arg(300)->Arg(3000)->UseRealTime();
BENCHMARK(BM_Memcpy)->Apply(payloads1)->UseRealTime();
BENCHMARK(BM_InferBatch1)->Arg(0)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_SemiTightBatch1VsPingPong)->UseRealTime();
// A stream of batches (blocks of 8 calls at 16384 rows), and one call
// between other work at 16384 and 262144 rows.
BENCHMARK(BM_SemiTightVsTightLargeBatch)->Args({16384, 8})->Args({16384, 1})->Args({262144, 1})->UseRealTime();
// Two calls in flight, blocks of 16 and 64 calls of 16384 rows (the longer
// blocks tell the steady state from the start of a block).
BENCHMARK(BM_SemiTightPipelinedVsTight)->Args({16384, 16})->Args({16384, 64})->UseRealTime();
BENCHMARK(BM_ShmManyProducersOneConsumer)->Arg(1)->Arg(2)->Arg(8)->Arg(32)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  // The servers are this binary re-executed as `serve`.
  motifbench::surrogates::ensure_runtime_settings(argv);  // as motifbench runs: the same allocator and OpenMP
  if (argc >= 2 && std::string(argv[1]) == "serve") return motifbench::surrogates::serve_main(argc - 1, argv + 1, "bench");
  install_signal_cleanup();
  motifbench::surrogates::set_threads(1);
  World world;
  g_world = &world;
  try {
    ServeSettings s;
    world.unix_server = world.services.start_servers(1, true, s, 20).at(0).endpoint;
    world.tcp_server = world.services.start_servers(1, false, s, 20).at(0).endpoint;
    auto start = [&](const ServeSettings& settings) {
      const auto info = world.services.start_servers(1, true, settings, 20).at(0);
      world.pid_of[info.endpoint] = static_cast<pid_t>(info.pid);
      return info.endpoint;
    };
    world.unix_floor = start(s);
    ServeSettings quiet = s;
    quiet.poll_us = 0;
    world.unix_floor_no_poll = world.services.start_servers(1, true, quiet, 20).at(0).endpoint;
    ServeSettings ahead = s;
    ahead.poll_ahead = true;
    world.unix_floor_ahead = start(ahead);
    ServeSettings serial = s;
    serial.concurrency = 1;
    world.unix_floor_serial = start(serial);
    world.redis = world.services.start_redis(20).endpoint;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_transport: %s\n", e.what());
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  world.services.stop_all();
  return 0;
}
