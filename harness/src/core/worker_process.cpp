#include "motifbench/worker_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "coupling/services.hpp"
#include "motifbench/config.hpp"

extern char** environ;

namespace motifbench {
namespace {

// How a reaped child ended, in words.
std::string ending(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
                                  strsignal(WTERMSIG(status)) + ")";
  return "ended";
}

std::mutex g_live_mutex;
std::vector<pid_t> g_live;

void set_live(pid_t pid, bool live) {
  std::lock_guard<std::mutex> lock(g_live_mutex);
  if (live)
    g_live.push_back(pid);
  else
    g_live.erase(std::remove(g_live.begin(), g_live.end(), pid), g_live.end());
}

// Closes the worker's socket (its end-of-file), waits up to `grace_s` for it to
// end, kills it after that, and reaps it. Returns how it ended, in words;
// `clean` (when given) says whether it exited with status 0 by itself.
std::string reap(pid_t& pid, int& fd, double grace_s, bool* clean = nullptr) {
  if (clean) *clean = false;
  if (fd >= 0) close(fd), fd = -1;
  if (pid <= 0) return "ended";
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(grace_s);
  pid_t r = 0;
  while ((r = waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  std::string how = ending(status);
  if (clean) *clean = r == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (r == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    how = "stopped answering and was killed";
  }
  detail::forget_child(pid);
  set_live(pid, false);
  pid = -1;
  return how;
}

}  // namespace

std::vector<pid_t> live_worker_pids() {
  std::lock_guard<std::mutex> lock(g_live_mutex);
  return g_live;
}

std::string program_beside_motifbench(const std::string& file) {
  std::array<char, 4096> self{};
  const ssize_t len = readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (len <= 0) throw std::runtime_error("cannot find the motifbench executable (/proc/self/exe)");
  std::string dir(self.data(), static_cast<std::size_t>(len));
  dir = dir.substr(0, dir.rfind('/') + 1);
  const std::string path = dir + file;
  if (access(path.c_str(), X_OK) != 0)
    throw std::runtime_error("cannot run " + path + ": " + std::strerror(errno) + " (" + file +
                             " is built and installed beside motifbench)");
  return path;
}

WorkerProcess::WorkerProcess(const std::string& program, const std::string& name, double timeout_s)
    : m_name(name), m_timeout_s(timeout_s) {
  int sv[2] = {-1, -1};
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    throw std::runtime_error(std::string("socketpair failed: ") + std::strerror(errno));
  // posix_spawn, not fork: no copy of this (large, threaded) process's page
  // tables, so a launch costs what the program's own start costs.
  if (sv[1] == kWorkerSocketFd) {  // dup2 onto itself would keep close-on-exec
    const int moved = fcntl(sv[1], F_DUPFD_CLOEXEC, kWorkerSocketFd + 1);
    close(sv[1]);
    sv[1] = moved;
  }
  const std::string parent = std::to_string(getpid());
  const char* argv[] = {program.c_str(), parent.c_str(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, sv[1], kWorkerSocketFd);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // Nothing the parent or its libraries opened without close-on-exec (MPI's
  // sockets) reaches the worker.
  posix_spawn_file_actions_addclosefrom_np(&actions, kWorkerSocketFd + 1);
#endif
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);  // a terminal's Ctrl-C reaches the parent, which stops us
  posix_spawnattr_setpgroup(&attr, 0);
  const int rc = posix_spawn(&m_pid, program.c_str(), &actions, &attr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    close(sv[0]);
    close(sv[1]);
    m_pid = -1;
    throw std::runtime_error("cannot start " + program + ": " + std::strerror(rc));
  }
  close(sv[1]);
  m_fd = sv[0];
  detail::remember_child(m_pid);
  set_live(m_pid, true);
}

WorkerProcess::~WorkerProcess() { stop(); }

std::string WorkerProcess::describe() const { return m_name + " (pid " + std::to_string(m_pid) + ")"; }

void WorkerProcess::fail(const std::string& what) {
  // The worker is gone or broken: reap it (briefly) so the message can say how it ended.
  if (m_pid <= 0) throw std::runtime_error("worker " + m_name + ": " + what + " after it was stopped");
  const pid_t pid = m_pid;
  const std::string how = reap(m_pid, m_fd, 0.5);
  throw std::runtime_error("worker " + m_name + " (pid " + std::to_string(pid) + ") " + how + " during " + what);
}

void WorkerProcess::send(const void* data, std::size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    if (m_fd < 0) fail("a send");
    const ssize_t n = ::send(m_fd, p, bytes, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("a send");
    p += n;
    bytes -= static_cast<std::size_t>(n);
  }
}

void WorkerProcess::receive(void* data, std::size_t bytes) {
  char* p = static_cast<char*>(data);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(m_timeout_s);
  while (bytes > 0) {
    if (m_fd < 0) fail("a receive");
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) fail("a receive (no answer within " + value_to_text(m_timeout_s) + " s)");
    pollfd pfd{m_fd, POLLIN, 0};
    const int ready = poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    const ssize_t n = ::recv(m_fd, p, bytes, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("a receive");
    p += n;
    bytes -= static_cast<std::size_t>(n);
  }
}

void WorkerProcess::stop() { reap(m_pid, m_fd, std::min(m_timeout_s, 5.0)); }

void WorkerProcess::end() {
  if (m_pid <= 0) return;
  const pid_t pid = m_pid;
  bool clean = false;
  const std::string how = reap(m_pid, m_fd, std::min(m_timeout_s, 5.0), &clean);
  if (!clean)
    throw std::runtime_error("worker " + m_name + " (pid " + std::to_string(pid) + ") " + how + " before its orderly end");
}

}  // namespace motifbench
