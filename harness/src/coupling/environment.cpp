#include "coupling/environment.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "core/cpu_placement.hpp"
#include "core/mpi_session.hpp"
#include "coupling/address.hpp"
#include "coupling/stores.hpp"
#include "motifbench/surrogates/server.hpp"

namespace motifbench::detail {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string staging_kind(const Config& cfg, Coupling mode) {
  std::string k = cfg.get_string("coupling.staging");
  if (k != "auto") return k;
  switch (mode) {
    case Coupling::SemiTight: return "shm";
    case Coupling::Loose: return "redis";
    default: return "memory";
  }
}

}  // namespace

std::unique_ptr<CouplingEnv> prepare_coupling(const Config& cfg, Coupling mode, int rank) {
  auto env = std::make_unique<CouplingEnv>();
  env->mode = mode;
  const double timeout = cfg.get_real("coupling.timeout_s");
  const double start_timeout = cfg.get_real("coupling.start_timeout_s");
  const bool remote = mode == Coupling::SemiTight || mode == Coupling::Loose;
  const std::string kind = staging_kind(cfg, mode);
  std::string given_servers = cfg.get_string("coupling.server_addresses");
  std::string given_redis = cfg.get_string("coupling.redis_address");

  // TLS: every rank reads the root certificate (checked before the run).
  ChannelSecurity security;
  if (const std::string ca = cfg.get_string("coupling.tls_ca"); !ca.empty() && remote) {
    std::string why;
    if (!surrogates::read_pem(ca, false, &security.ca_pem, &why)) throw std::runtime_error("coupling.tls_ca: " + why);
    security.server_name = cfg.get_string("coupling.tls_server_name");
  }

  ServeSettings serve;
  serve.torch_threads = static_cast<int>(cfg.get_int("coupling.server_threads"));
  serve.concurrency = static_cast<int>(cfg.get_int("coupling.server_concurrency"));
  serve.poll_us = cfg.get_int("coupling.poll_us");
  serve.poll_ahead = cfg.get_bool("coupling.poll_ahead");
  serve.max_queue = static_cast<int>(cfg.get_int("coupling.server_max_queue"));
  serve.max_batch_rows = cfg.get_int("coupling.max_batch_rows");
  serve.max_queue_delay_us = cfg.get_int("coupling.max_queue_delay_us");
  serve.device = cfg.get_string("coupling.device");
  serve.kernels = cfg.get_string("coupling.kernels");
  if (const std::string cpus = cfg.get_string("coupling.server_cpus"); !cpus.empty()) {
    std::string why;
    if (!parse_cpu_list(cpus, &serve.cpus, &why)) throw std::runtime_error("coupling.server_cpus: " + why);
  }
  serve.tls_cert_file = cfg.get_string("coupling.tls_cert");
  serve.tls_key_file = cfg.get_string("coupling.tls_key");
  serve.tls_ca_pem = security.ca_pem;
  serve.tls_server_name = security.server_name;
  // Semi-tight's embedded servers are node-local (Unix sockets cannot cross nodes).
  const bool node_local = mode == Coupling::SemiTight && given_servers.empty();
  const NodeLayout& node = node_layout();
  const long servers_per_node = cfg.get_int("coupling.servers_per_node") > 0 ? cfg.get_int("coupling.servers_per_node")
                                                                             : cfg.get_int("coupling.servers");
  // Default: a request computes with the threads its rank's inference would
  // have in process (the node's cores over its ranks), and the servers
  // started on a node (each node's own in semi-tight; all of them on rank 0's
  // node in loose) share its cores: cores / max(ranks, servers) there. A
  // client waiting on its call leaves its cores to the server.
  if (serve.torch_threads <= 0) {
    const long servers_here = node_local ? servers_per_node : cfg.get_int("coupling.servers");
    // With coupling.server_cpus, the servers share those CPUs instead.
    const long cores = serve.cpus.empty() ? std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)) : long(serve.cpus.size());
    const long sharing = serve.cpus.empty() ? std::max({1L, servers_here, long(node.local_size)})
                                            : std::max(1L, servers_here);
    serve.torch_threads = static_cast<int>(std::max(1L, cores / sharing));
  }

  // Rank 0 starts what is not given, and everyone learns the addresses.
  std::string servers_text, redis_text, error, token, redis_password;
  if (node_local) token = world_bcast_text(rank == 0 ? random_hex(16) : std::string());
  if (rank == 0) {
    try {
      if (remote && !node_local) {
        if (given_servers.empty()) {
          auto infos = env->services.start_servers(static_cast<int>(cfg.get_int("coupling.servers")), false, serve,
                                                   start_timeout);
          for (auto& i : infos) {
            servers_text += (servers_text.empty() ? "" : ",") + i.endpoint;
            env->service_info.push_back(i);
          }
          token = env->services.token();
        } else {
          for (const auto& e : split(given_servers, ',')) {
            std::string version = wait_server_ready(e, timeout, security);
            env->service_info.push_back(ServiceInfo{"inference_server", e, version, false, 0});
          }
          servers_text = given_servers;
          // Servers you started with --token-file: give the clients the token too.
          if (const char* t = std::getenv("MOTIFBENCH_TOKEN")) token = t;
        }
      }
      if (kind == "redis") {
        if (given_redis.empty()) {
          auto info = env->services.start_redis(start_timeout);
          redis_text = info.endpoint;
          redis_password = env->services.redis_password();
          env->service_info.push_back(info);
        } else {
          redis_text = given_redis;
          if (const char* pw = std::getenv("MOTIFBENCH_REDIS_PASSWORD")) redis_password = pw;
        }
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  if (node_local) {
    // The first rank of each node starts that node's servers.
    const long per_node = servers_per_node;
    if (node.local_rank == 0 && error.empty()) {
      try {
        env->services.use_token(token);
        for (auto& i : env->services.start_servers(static_cast<int>(per_node), true, serve, start_timeout)) {
          i.node = node.name;
          servers_text += (servers_text.empty() ? "" : ",") + i.endpoint;
          env->service_info.push_back(i);
        }
      } catch (const std::exception& e) {
        error = "node " + node.name + ": " + e.what();
      }
    }
    // Any rank's failure fails every rank, with the first message.
    for (const auto& e : allgather_text(error))
      if (!e.empty()) throw std::runtime_error(e);
    servers_text = node_bcast_text(servers_text);
    // Rank 0 lists the other nodes' servers in the result.
    std::string mine;
    if (node.local_rank == 0 && rank != 0)
      for (const auto& i : env->service_info)
        mine += i.endpoint + "\t" + i.version + "\t" + std::to_string(i.pid) + "\t" + i.node + "\t" +
                std::to_string(i.threads) + "\n";
    const auto all = allgather_text(mine);
    if (rank == 0)
      for (const auto& text : all)
        for (const auto& line : split(text, '\n')) {
          const auto f = split(line, '\t');
          if (f.size() == 5)
            env->other_nodes.push_back(ServiceInfo{"inference_server", f[0], f[1], true, std::stol(f[2]), f[3], false,
                                                   std::stoi(f[4])});
        }
  } else {
    error = world_bcast_text(error);
    if (!error.empty()) throw std::runtime_error(error);
    servers_text = world_bcast_text(servers_text);
  }
  redis_text = world_bcast_text(redis_text);
  token = world_bcast_text(token);
  redis_password = world_bcast_text(redis_password);

  env->remote.endpoints = split(servers_text, ',');
  env->remote.timeout_s = timeout;
  env->remote.max_inflight = static_cast<int>(cfg.get_int("coupling.max_inflight"));
  env->remote.request_rows = cfg.get_int("coupling.request_rows");
  env->remote.stream = cfg.get_string("coupling.rpc") == "stream";
  env->remote.poll_us = cfg.get_int("coupling.poll_us");
  env->remote.poll_ahead = cfg.get_bool("coupling.poll_ahead");
  env->remote.server_cpus = std::make_shared<ServerCpus>();
  env->remote.first_endpoint = node_local ? node.local_rank : rank;
  env->remote.model_suffix = "-r" + std::to_string(rank);
  env->remote.token = token;
  env->remote.security = security;
  // Shared memory needs the servers on this host: on by default only over Unix sockets.
  const std::string shm = cfg.get_string("coupling.shared_memory");
  bool all_unix = !env->remote.endpoints.empty();
  for (const auto& e : env->remote.endpoints) all_unix = all_unix && e.rfind("unix:", 0) == 0;
  env->remote.shared_memory = shm == "on" || (shm == "auto" && all_unix);

  if (kind == "memory") {
    env->store = make_memory_store();
  } else if (kind == "shm") {
    // One prefix per node, from its first rank: the node's ranks share keys.
    const std::string node_prefix =
        node_bcast_text(node.local_rank == 0 ? "/motifbench-" + std::to_string(getpid()) + "-" + random_hex(8) : "");
    env->store = make_shm_store(node_prefix);
  } else if (kind == "file") {
    std::string dir = cfg.get_string("coupling.file_dir");
    env->store = make_file_store(dir.empty() ? std::string("/tmp") : dir);
  } else {
    // A given address was checked before the run (check_harness_config); an
    // embedded Redis reports 127.0.0.1:PORT.
    if (const std::string why = address_problem(redis_text, AddressKind::HostPort, 1); !why.empty())
      throw std::runtime_error("redis: " + why);
    const HostPortText hp = split_host_port(redis_text);
    env->store = make_redis_store(hp.bare_host(), std::stoi(hp.port), timeout, redis_password);
    if (!given_redis.empty() && rank == 0)
      env->service_info.push_back(ServiceInfo{"redis", redis_text, env->store->describe(), false, 0});
  }
  // Where each rank runs and which servers it uses, for the result.
  {
    const auto& eps = env->remote.endpoints;
    const std::string first =
        eps.empty() ? "-" : eps[static_cast<std::size_t>(env->remote.first_endpoint) % eps.size()];
    const auto all = allgather_text(node.name + "\t" + node.host + "\t" + first + "\t" + servers_text);
    if (rank == 0)
      for (const auto& text : all) {
        const auto f = split(text, '\t');  // node, host, first, endpoints (absent without servers)
        RankPlacement p{f.at(0), f.at(1), {}, f.at(2) == "-" ? "" : f[2]};
        if (f.size() > 3) p.endpoints = split(f[3], ',');
        env->placements.push_back(p);
      }
  }
  // Rank 0 watches what it started or was given; a node's first rank, its node's servers.
  if (rank == 0 || !env->service_info.empty()) {
    env->watcher = std::make_unique<ServiceWatcher>();
    int servers = 0;
    for (const auto& s : env->service_info) {
      const std::string name = s.kind == "redis" ? "redis-server" : "inference server " + std::to_string(servers++);
      if (s.embedded)
        env->watcher->watch_child(static_cast<pid_t>(s.pid), name);
      else
        env->watcher->watch_endpoint(s.endpoint, "external " + name, timeout);
    }
    env->watcher->start();
  }
  return env;
}

}  // namespace motifbench::detail
