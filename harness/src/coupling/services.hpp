// Embedded services: the child processes a coupling mode needs when no
// addresses are given (redis-server, N x `motifbench serve`), and the
// process-wide cleanup that removes them, their socket files and shared-memory
// segments on every exit path, SIGINT and SIGTERM included.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace motifbench::detail {

struct ServiceInfo {
  std::string kind;      ///< "inference_server" | "redis"
  std::string endpoint;  ///< "unix:/path", "host:port"
  std::string version;
  bool embedded = false;  ///< started by this run (true) or given by the user
  long pid = 0;           ///< embedded only
};

struct ServeSettings {
  int torch_threads = 1;
  long max_batch_rows = 0;
  long max_queue_delay_us = 500;
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

 private:
  struct Child {
    pid_t pid;
    std::string name, socket_path;
  };
  pid_t spawn(const std::vector<std::string>& argv, int* stdout_fd);
  std::vector<Child> m_children;
};

/// Installs SIGINT/SIGTERM/SIGHUP handlers that kill remembered children and
/// remove remembered files and shm segments, then end the process with the
/// signal's usual status. Idempotent.
void install_signal_cleanup();
void remember_child(pid_t pid);
void forget_child(pid_t pid);
void remember_file(const std::string& path);
void forget_file(const std::string& path);
void remember_shm_segment(const std::string& name);
void forget_shm_segment(const std::string& name);

/// A free TCP port on 127.0.0.1 (bound then released).
int free_loopback_port();

}  // namespace motifbench::detail
