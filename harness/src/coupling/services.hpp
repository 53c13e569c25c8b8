// Embedded services: the child processes a coupling mode needs when no
// addresses are given (redis-server, N x `motifbench serve`), and the
// process-wide cleanup that removes them, their socket files and shared-memory
// segments on every exit path, SIGINT and SIGTERM included.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace motifbench::detail {

struct ServiceInfo {
  std::string kind;      ///< "inference_server" | "redis"
  std::string endpoint;  ///< "unix:/path", "host:port"
  std::string version;
  bool embedded = false;  ///< started by this run (true) or given by the user
  long pid = 0;           ///< embedded only
  std::string node;       ///< the node it runs on (node-local servers)
  bool local = true;      ///< on this process's node, so its pid is readable here
  int threads = 0;        ///< embedded servers: their LibTorch threads (serve --threads)
};

/// Which servers a rank uses, and where it runs (for the result).
struct RankPlacement {
  std::string node, host;
  std::vector<std::string> endpoints;
  std::string first_endpoint;  ///< where its rotation over them starts
};

struct ServeSettings {
  int torch_threads = 1;
  int concurrency = 4;   ///< serve --concurrency
  int max_queue = 256;   ///< serve --max-queue
  long poll_us = 50;     ///< serve --poll-us
  bool poll_ahead = false;  ///< serve --poll-ahead
  std::string tls_cert_file, tls_key_file;  ///< both set: the servers speak TLS only
  std::string tls_ca_pem, tls_server_name;  ///< how this process verifies them
  long max_batch_rows = 0;
  long max_queue_delay_us = 500;
  std::string device = "cpu";  ///< coupling.device: auto, cpu, cuda, cuda:N
  std::string kernels = "auto";  ///< coupling.kernels: serve --kernels
  std::vector<int> cpus;  ///< coupling.server_cpus: the CPUs the servers may run on (empty: the rank's)
};

/// Owns embedded children; stops them (SIGTERM, then SIGKILL after 2 s) and
/// removes their socket files when destroyed.
class Services {
 public:
  Services() = default;
  Services(const Services&) = delete;
  Services& operator=(const Services&) = delete;
  ~Services() { stop_all(); }

  /// redis-server on a free loopback port, persistence off; waits for PING.
  ServiceInfo start_redis(double timeout_s);
  /// n `motifbench serve` processes on Unix sockets (unix_sockets) or on
  /// 127.0.0.1 TCP ports; waits until each answers ServerReady.
  std::vector<ServiceInfo> start_servers(int n, bool unix_sockets, const ServeSettings& s, double timeout_s);
  void stop_all();
  /// The token every embedded server requires (empty before start_servers).
  const std::string& token() const { return m_token; }
  /// Uses `token` (the run's, made by rank 0) instead of making one; call
  /// before start_servers.
  void use_token(const std::string& token) { m_token = token; }
  /// The password the embedded Redis requires (AUTH; empty before start_redis).
  const std::string& redis_password() const { return m_redis_password; }

 private:
  struct Child {
    pid_t pid;
    std::string name, socket_path;
  };
  /// cpus: the child's CPU affinity (empty: inherited).
  pid_t spawn(const std::vector<std::string>& argv, int* stdout_fd, const std::vector<int>& cpus = {});
  void ensure_run_dir();
  std::vector<Child> m_children;
  std::string m_run_dir;  // private folder of this run's sockets and token (mode 0700)
  std::string m_token, m_token_file, m_redis_password, m_redis_conf;
};

/// Removes what a killed run left (its private folders in /tmp, its segments
/// in /dev/shm: entries named motifbench-<pid>-* whose process is gone and
/// that belong to this user). Returns how many entries it removed.
int sweep_stale_entries();

/// Watches the services a run depends on, from a thread of its own: an
/// embedded child that exits (noticed within ~50 ms, without reaping it) and an
/// external endpoint that stays unreachable for its timeout. The runner asks
/// failure() after every step and ends the run, naming the component.
class ServiceWatcher {
 public:
  ServiceWatcher() = default;
  ServiceWatcher(const ServiceWatcher&) = delete;
  ServiceWatcher& operator=(const ServiceWatcher&) = delete;
  ~ServiceWatcher();
  void watch_child(pid_t pid, const std::string& name);
  /// `endpoint` is host:port or unix:/path; probed by connecting once a second.
  void watch_endpoint(const std::string& endpoint, const std::string& name, double timeout_s);
  /// Starts the thread (call after the watch_* calls).
  void start();
  /// The first failure seen, if any. Thread-safe.
  std::optional<std::string> failure() const;

 private:
  struct Child {
    pid_t pid;
    std::string name;
  };
  struct Endpoint {
    std::string endpoint, name;
    double timeout_s;
    double unreachable_since_s = -1;
  };
  void loop();
  std::vector<Child> m_children;
  std::vector<Endpoint> m_endpoints;
  mutable std::mutex m_mutex;
  std::optional<std::string> m_failure;
  std::atomic<bool> m_stop{false};
  std::thread m_thread;
};

/// True when `endpoint` (host:port or unix:/path) accepts a connection within ~1 s.
bool endpoint_reachable(const std::string& endpoint);

/// Installs SIGINT/SIGTERM/SIGHUP handlers, first thing in main, so that the
/// handler runs whichever thread the signal reaches (library threads created
/// before main included). The first signal only records itself: the runner
/// sees interrupted_signal() after the step in progress, stops its children and
/// writes a partial result marked invalid. A second signal (not the same one
/// again within 1 s: a scheduler signals every process of a job, and a sweep
/// passes on what its cell may also have received), or no reaction within
/// 10 s, kills remembered children, removes remembered files and shm
/// segments, and ends the process with the signal's usual status. Idempotent.
void install_signal_cleanup();
/// Crash signals get their default action (UCX's handlers removed), so a crash
/// ends the process instead of hanging in a library's handler.
void default_crash_handling();
/// The signal that asked the run to stop, or 0.
int interrupted_signal();
void remember_child(pid_t pid);
/// In a forked child before exec: closes every descriptor from `first` up
/// (async-signal-safe).
void close_descriptors_from(int first);
void forget_child(pid_t pid);
void remember_file(const std::string& path);
void forget_file(const std::string& path);
void remember_shm_segment(const std::string& name);
void forget_shm_segment(const std::string& name);

/// `bytes` random bytes from /dev/urandom as hex (names and secrets no one can guess).
std::string random_hex(int bytes);

/// A free TCP port on 127.0.0.1 (bound then released).
int free_loopback_port();

}  // namespace motifbench::detail
