// A mini-app's task as an operating-system process of its own: a small
// executable of the mini-app (installed beside motifbench, linked with Kokkos
// only, as a workflow system's simulation executable would be), started with a
// connected socket on descriptor 3. Ensemble members that a policy starts and
// stops are such processes, so launch, teardown and state transfer cost what
// they cost a workflow system.
//
// Threading: a WorkerProcess belongs to one thread, which should live as long
// as the worker (PR_SET_PDEATHSIG follows the thread that started it). Cleanup: the child dies
// with its parent (PR_SET_PDEATHSIG), ends on end-of-file from its socket, and
// the destructor reaps it (SIGKILL after a grace period), on every exit path.
// Launch and teardown are posix_spawn and waitpid: nothing the program itself
// does not cost.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <vector>

namespace motifbench {

class WorkerProcess {
 public:
  /// Starts `program` (a path) with this process's pid as its one argument
  /// (see worker_start); `name` is for messages.
  /// Replies slower than `timeout_s` count as a failed worker. Throws
  /// std::runtime_error when the process cannot start.
  WorkerProcess(const std::string& program, const std::string& name, double timeout_s);
  ~WorkerProcess();
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  /// Sends all `bytes`; throws std::runtime_error naming the worker and how it
  /// ended when it is gone.
  void send(const void* data, std::size_t bytes);
  /// Receives exactly `bytes`; throws std::runtime_error when the worker ended
  /// (with its exit status or signal) or did not answer within the timeout.
  void receive(void* data, std::size_t bytes);
  /// Orderly end: closes the socket (the worker's end-of-file) and reaps it,
  /// killing it after the timeout. Idempotent; the destructor calls it.
  void stop();
  /// stop(), then throws std::runtime_error when the worker did not exit with
  /// status 0 by itself: a worker that died (a signal, a crash) since its last
  /// reply is a failed component even when it was about to be ended anyway.
  void end();

  pid_t pid() const { return m_pid; }
  /// "member (pid 1234)".
  std::string describe() const;

 private:
  [[noreturn]] void fail(const std::string& what);
  std::string m_name;
  double m_timeout_s;
  pid_t m_pid = -1;
  int m_fd = -1;
};

/// The pids of this process's WorkerProcesses that are running (for the
/// energy estimate's CPU time). Thread-safe.
std::vector<pid_t> live_worker_pids();

/// The path of `file` in the directory of the running motifbench executable
/// (where the build and `cmake --install` put a mini-app's worker programs).
/// Throws std::runtime_error naming the path when it is not an executable.
std::string program_beside_motifbench(const std::string& file);

/// In a worker: the socket to the parent.
constexpr int kWorkerSocketFd = 3;

/// First thing in a worker's main: checks that it was started by
/// WorkerProcess (argv[1] is the parent's pid, kWorkerSocketFd a socket) and
/// makes it die with its parent. Returns "" or why not (then exit 2).
std::string worker_start(int argc, char** argv);

/// Worker-side helpers on kWorkerSocketFd (library motifbench_worker_io, which
/// needs nothing else): false at end-of-file (the parent stopped this worker),
/// throw std::runtime_error on any other failure.
bool worker_receive(void* data, std::size_t bytes);
void worker_send(const void* data, std::size_t bytes);

}  // namespace motifbench
