#include "coupling/services.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sched.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <thread>

#include "coupling/grpc_client.hpp"
#include "coupling/stores.hpp"
#include "motifbench/config.hpp"
#include "motifbench/surrogates/local.hpp"

namespace motifbench::detail {
namespace {

// Fixed-size tables so the signal handler touches no allocator.
constexpr int kMaxEntries = 128;
constexpr int kPathLen = 256;
volatile sig_atomic_t g_pids[kMaxEntries];
char g_files[kMaxEntries][kPathLen];
char g_shm[kMaxEntries][kPathLen];

void put_name(char (*table)[kPathLen], const std::string& s) {
  for (int i = 0; i < kMaxEntries; ++i) {
    if (table[i][0] == '\0') {
      std::strncpy(table[i], s.c_str(), kPathLen - 1);
      return;
    }
  }
}

void drop_name(char (*table)[kPathLen], const std::string& s) {
  for (int i = 0; i < kMaxEntries; ++i)
    if (s == table[i]) table[i][0] = '\0';
}

void cleanup_now() {
  for (int i = 0; i < kMaxEntries; ++i)
    if (g_pids[i] > 0) kill(static_cast<pid_t>(g_pids[i]), SIGKILL);
  for (int i = 0; i < kMaxEntries; ++i)
    if (g_files[i][0] != '\0') unlink(g_files[i]);
  for (int i = 0; i < kMaxEntries; ++i)  // then the (now empty) private folders
    if (g_files[i][0] != '\0') rmdir(g_files[i]);
  for (int i = 0; i < kMaxEntries; ++i)
    if (g_shm[i][0] != '\0') shm_unlink(g_shm[i]);
}

volatile sig_atomic_t g_interrupted = 0;

void hard_stop(int sig) {
  cleanup_now();
  signal(sig, SIG_DFL);
  raise(sig);
}

std::atomic<long> g_interrupted_at_ms{0};  // monotonic, when the first signal came
static_assert(std::atomic<long>::is_always_lock_free, "read and written in a signal handler");

// A copy of the first signal within this window is the same request, not a
// second one: a scheduler's SIGTERM to every process of a job, or a sweep
// passing on the signal that its cell also received.
constexpr long kSameSignalWindowMs = 1000;

long monotonic_ms() {  // clock_gettime is async-signal-safe
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Runs on whichever thread the kernel picked; async-signal-safe only.
void on_signal(int sig) {
  if (g_interrupted != 0) {
    if (sig == g_interrupted && monotonic_ms() - g_interrupted_at_ms < kSameSignalWindowMs) return;
    hard_stop(sig);  // a second signal: stop now
  }
  g_interrupted_at_ms = monotonic_ms();
  g_interrupted = sig;
}

// The run reacts to the first signal after its current step; if it does not
// within this bound (a step blocked in a library), the watchdog stops it.
constexpr int kInterruptGraceMs = 10000;

void interrupt_watchdog() {
  int waited_ms = 0;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (g_interrupted == 0) continue;
    waited_ms += 100;
    if (waited_ms >= kInterruptGraceMs) {
      std::fprintf(stderr, "motifbench: no clean stop within %d s of the signal; stopping now\n",
                   kInterruptGraceMs / 1000);
      hard_stop(g_interrupted);
    }
  }
}

}  // namespace

// In a forked child before exec: async-signal-safe calls only.
void close_descriptors_from(int first) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, static_cast<unsigned>(first), ~0U, 0) == 0) return;
#endif
  const long max_fd = sysconf(_SC_OPEN_MAX);
  for (long fd = first; fd < (max_fd > 0 ? max_fd : 65536); ++fd) close(static_cast<int>(fd));
}

namespace {

// A line from `fd`, or what came before the end of the stream (*closed) or
// the timeout.
std::string read_line_with_timeout(int fd, double timeout_s, bool* closed) {
  *closed = false;
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    if (poll(&p, 1, std::max(1, left)) <= 0) continue;
    char c = 0;
    ssize_t n = read(fd, &c, 1);
    if (n <= 0) {
      *closed = true;
      break;
    }
    if (c == '\n') return line;
    line += c;
  }
  return line;
}

}  // namespace

void remember_child(pid_t pid) {
  for (int i = 0; i < kMaxEntries; ++i)
    if (g_pids[i] == 0) {
      g_pids[i] = pid;
      return;
    }
}
void forget_child(pid_t pid) {
  for (int i = 0; i < kMaxEntries; ++i)
    if (g_pids[i] == pid) g_pids[i] = 0;
}
void remember_file(const std::string& p) { put_name(g_files, p); }
void forget_file(const std::string& p) { drop_name(g_files, p); }
void remember_shm_segment(const std::string& n) { put_name(g_shm, n); }
void forget_shm_segment(const std::string& n) { drop_name(g_shm, n); }

void install_signal_cleanup() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
  std::thread(interrupt_watchdog).detach();
}

int interrupted_signal() { return g_interrupted; }

void default_crash_handling() {
  // UCX (loaded with MPICH) catches these in a library constructor to print a
  // backtrace; on a stack overflow its handler deadlocks, so a crash becomes
  // a hang. A crash must end the process (and under a launcher, the job).
  // (Its UCX_HANDLE_ERRORS setting is read in that constructor, before main.)
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) signal(sig, SIG_DFL);
}

bool endpoint_reachable(const std::string& endpoint) {
  int fd = -1;
  int rc = -1;
  if (endpoint.rfind("unix:", 0) == 0) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    const std::string path = endpoint.substr(5);
    if (path.size() >= sizeof a.sun_path) return false;
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    const auto colon = endpoint.rfind(':');
    if (colon == std::string::npos) return false;
    std::string host = endpoint.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host.c_str(), endpoint.substr(colon + 1).c_str(), &hints, &res) != 0 || res == nullptr)
      return false;
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0) {
      rc = connect(fd, res->ai_addr, res->ai_addrlen);
      if (rc != 0 && errno == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        int err = 0;
        socklen_t len = sizeof err;
        rc = (poll(&p, 1, 1000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) ? 0 : -1;
      }
    }
    freeaddrinfo(res);
  }
  if (fd >= 0) close(fd);
  return rc == 0;
}

ServiceWatcher::~ServiceWatcher() {
  m_stop = true;
  if (m_thread.joinable()) m_thread.join();
}

void ServiceWatcher::watch_child(pid_t pid, const std::string& name) { m_children.push_back(Child{pid, name}); }

void ServiceWatcher::watch_endpoint(const std::string& endpoint, const std::string& name, double timeout_s) {
  m_endpoints.push_back(Endpoint{endpoint, name, timeout_s});
}

void ServiceWatcher::start() {
  if (m_children.empty() && m_endpoints.empty()) return;
  m_thread = std::thread([this] { loop(); });
}

std::optional<std::string> ServiceWatcher::failure() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_failure;
}

void ServiceWatcher::loop() {
  const auto t0 = std::chrono::steady_clock::now();
  auto last_probe = t0 - std::chrono::seconds(10);
  auto fail = [this](std::string why) {
    std::lock_guard<std::mutex> lock(m_mutex);
    if (!m_failure) m_failure = std::move(why);
  };
  while (!m_stop) {
    for (const auto& c : m_children) {
      // WNOWAIT: look without reaping, so stop_all() still collects the child.
      siginfo_t info{};
      if (waitid(P_PID, static_cast<id_t>(c.pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == c.pid) {
        const std::string how = info.si_code == CLD_EXITED ? "exited with status " + std::to_string(info.si_status)
                                                            : "was killed by signal " + std::to_string(info.si_status);
        fail("embedded " + c.name + " (pid " + std::to_string(c.pid) + ") " + how + " during the run");
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_probe >= std::chrono::seconds(1)) {
      last_probe = now;
      const double t = std::chrono::duration<double>(now - t0).count();
      for (auto& e : m_endpoints) {
        if (endpoint_reachable(e.endpoint)) {
          e.unreachable_since_s = -1;
        } else if (e.unreachable_since_s < 0) {
          e.unreachable_since_s = t;
        } else if (t - e.unreachable_since_s >= e.timeout_s) {
          fail(e.name + " at " + e.endpoint + " has been unreachable for " + std::to_string(int(e.timeout_s)) +
               " s (coupling.timeout_s)");
        }
      }
    }
    if (failure()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int free_loopback_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) close(fd);
    throw std::runtime_error("cannot find a free loopback port");
  }
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

pid_t Services::spawn(const std::vector<std::string>& argv, int* stdout_fd, const std::vector<int>& cpus) {
  int pipefd[2] = {-1, -1};
  if (stdout_fd != nullptr && pipe(pipefd) != 0) throw std::runtime_error("pipe failed");
  cpu_set_t affinity;  // made before the fork: the child only applies it
  CPU_ZERO(&affinity);
  for (int c : cpus) CPU_SET(c, &affinity);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    // The child dies with its parent, even if the parent is SIGKILLed.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    setpgid(0, 0);  // a terminal's Ctrl-C reaches the parent only; it stops us
    if (!cpus.empty() && sched_setaffinity(0, sizeof affinity, &affinity) != 0) {
      static const char msg[] = "motifbench: cannot set the service's CPU affinity (coupling.server_cpus)\n";
      [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
      _exit(126);
    }
    if (stdout_fd != nullptr) {
      dup2(pipefd[1], STDOUT_FILENO);
      close(pipefd[0]);
      close(pipefd[1]);
    } else {
      // A service's own chatter (Redis' banner) stays out of the report.
      int devnull = open("/dev/null", O_WRONLY);
      if (devnull >= 0) {
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
        close(devnull);
      }
    }
    // Nothing the parent or its libraries opened (MPI's listening sockets
    // included) reaches the service: close every descriptor above stderr.
    close_descriptors_from(3);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::fprintf(stderr, "motifbench: cannot start %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  remember_child(pid);
  if (stdout_fd != nullptr) {
    close(pipefd[1]);
    *stdout_fd = pipefd[0];
  }
  return pid;
}

std::string random_hex(int bytes) {
  std::vector<unsigned char> raw(static_cast<std::size_t>(bytes));
  std::ifstream ur("/dev/urandom", std::ios::binary);
  ur.read(reinterpret_cast<char*>(raw.data()), bytes);
  if (!ur) throw std::runtime_error("cannot read /dev/urandom for a private name or secret");
  std::string hex;
  char two[3];
  for (unsigned char c : raw) {
    std::snprintf(two, sizeof two, "%02x", c);
    hex += two;
  }
  return hex;
}

// An owner-only file (O_EXCL, 0600) holding `text`, remembered for cleanup.
void write_secret_file(const std::string& path, const std::string& text) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 || write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    if (fd >= 0) close(fd);
    throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
  }
  close(fd);
  remember_file(path);
}

void Services::ensure_run_dir() {
  if (!m_run_dir.empty()) return;
  // Sockets and secrets live in a private folder (mkdtemp, mode 0700): no
  // other user can reach them or plant anything at their paths.
  std::string templ = "/tmp/motifbench-" + std::to_string(getpid()) + "-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr)
    throw std::runtime_error(std::string("cannot create a private folder in /tmp: ") + std::strerror(errno));
  m_run_dir = templ;
  remember_file(m_run_dir);
}

ServiceInfo Services::start_redis(double timeout_s) {
  // Redis requires a password (AUTH) that only this run knows; it is given in
  // an owner-only config file, never on the command line where ps shows it.
  ensure_run_dir();
  if (m_redis_password.empty()) {
    m_redis_password = random_hex(16);
    m_redis_conf = m_run_dir + "/redis.conf";
    write_secret_file(m_redis_conf, "requirepass " + m_redis_password + "\n");
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    const int port = free_loopback_port();
    pid_t pid = spawn({"redis-server", m_redis_conf, "--port", std::to_string(port), "--bind", "127.0.0.1", "--save", "",
                       "--appendonly", "no", "--protected-mode", "yes", "--loglevel", "warning",
                       "--daemonize", "no"},
                      nullptr);
    m_children.push_back(Child{pid, "redis-server", ""});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        forget_child(pid);
        m_children.pop_back();
        break;  // exited (e.g. the port was taken meanwhile): try another
      }
      try {
        const std::string version = probe_redis("127.0.0.1", port, 0.2, m_redis_password);
        return ServiceInfo{"redis", "127.0.0.1:" + std::to_string(port), version, true, pid};
      } catch (const std::runtime_error&) {
        // not up yet
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  throw std::runtime_error("redis-server did not start (is the redis-server package installed?)");
}

std::vector<ServiceInfo> Services::start_servers(int n, bool unix_sockets, const ServeSettings& s, double timeout_s) {
  std::array<char, 4096> self{};
  ssize_t len = readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (len <= 0) throw std::runtime_error("cannot find the motifbench executable (/proc/self/exe)");
  std::vector<ServiceInfo> out;
  std::vector<int> fds;
  ensure_run_dir();
  if (m_token_file.empty()) {
    // The run's token: 128 random bits, in an owner-only file the servers read.
    if (m_token.empty()) m_token = random_hex(16);
    m_token_file = m_run_dir + "/token";
    write_secret_file(m_token_file, m_token);
  }
  for (int i = 0; i < n; ++i) {
    std::string listen, socket_path;
    if (unix_sockets) {
      socket_path = m_run_dir + "/serve-" + std::to_string(m_children.size()) + ".sock";  // unique in this run
      listen = "unix:" + socket_path;
      remember_file(socket_path);
    } else {
      listen = "127.0.0.1:0";
    }
    int fd = -1;
    std::vector<std::string> args = {self.data(), "serve", "--listen", listen, "--token-file", m_token_file,
                                     "--threads", std::to_string(s.torch_threads),
                                     "--concurrency", std::to_string(s.concurrency),
                                     "--max-queue", std::to_string(s.max_queue),
                                     "--poll-us", std::to_string(s.poll_us),
                                     "--poll-ahead", s.poll_ahead ? "true" : "false", "--kernels", s.kernels,
                                     "--max-batch-rows", std::to_string(s.max_batch_rows), "--max-queue-delay-us",
                                     std::to_string(s.max_queue_delay_us)};
    if (!s.tls_cert_file.empty()) args.insert(args.end(), {"--tls-cert", s.tls_cert_file, "--tls-key", s.tls_key_file});
    // Server i of a node takes that node's GPU i (mod the GPUs), as ranks do.
    std::string why;
    const std::string device = surrogates::resolve_device(s.device, i, &why);
    if (device.empty()) throw std::runtime_error("coupling.device: " + why);
    args.insert(args.end(), {"--device", device});
    pid_t pid = spawn(args, &fd, s.cpus);
    m_children.push_back(Child{pid, "motifbench serve", socket_path});
    fds.push_back(fd);
    out.push_back(ServiceInfo{"inference_server", listen, "", true, pid});
    out.back().threads = s.torch_threads;
  }
  for (int i = 0; i < n; ++i) {
    // The server prints "motifbench serve: listening on <endpoint>" once bound.
    bool closed = false;
    std::string line = read_line_with_timeout(fds[static_cast<std::size_t>(i)], timeout_s, &closed);
    close(fds[static_cast<std::size_t>(i)]);
    const std::string tag = "listening on ";
    auto p = line.find(tag);
    if (p == std::string::npos && closed)
      throw std::runtime_error("motifbench serve #" + std::to_string(i) +
                               " ended before it listened (its own message is above)");
    if (p == std::string::npos)
      throw std::runtime_error("motifbench serve #" + std::to_string(i) + " did not start within " +
                               value_to_text(timeout_s) + " s (coupling.start_timeout_s)");
    out[static_cast<std::size_t>(i)].endpoint = line.substr(p + tag.size());
    out[static_cast<std::size_t>(i)].version = wait_server_ready(out[static_cast<std::size_t>(i)].endpoint, timeout_s,
                                                           ChannelSecurity{s.tls_ca_pem, s.tls_server_name});
  }
  return out;
}

void Services::stop_all() {
  for (auto& c : m_children) kill(c.pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (auto& c : m_children) {
    int status = 0;
    while (waitpid(c.pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(c.pid, SIGKILL);
        waitpid(c.pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    forget_child(c.pid);
    if (!c.socket_path.empty()) {
      unlink(c.socket_path.c_str());
      forget_file(c.socket_path);
    }
  }
  m_children.clear();
  for (std::string* secret : {&m_token_file, &m_redis_conf}) {
    if (secret->empty()) continue;
    unlink(secret->c_str());
    forget_file(*secret);
    secret->clear();
  }
  if (!m_run_dir.empty()) {
    rmdir(m_run_dir.c_str());
    forget_file(m_run_dir);
    m_run_dir.clear();
  }
}

int sweep_stale_entries() {
  // Entries are named motifbench-<pid>-...; remove those of a process that is
  // gone (kill -9 leaves them), and only our own (same owner).
  int removed = 0;
  for (const char* dir : {"/tmp", "/dev/shm"}) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("motifbench-", 0) != 0) continue;
      const std::string rest = name.substr(11);
      const auto dash = rest.find('-');
      if (dash == 0 || dash == std::string::npos) continue;
      const std::string digits = rest.substr(0, dash);
      if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
      const pid_t pid = static_cast<pid_t>(std::stol(digits));
      if (pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to judge)
      struct stat st {};
      if (lstat(e.path().c_str(), &st) != 0 || st.st_uid != geteuid()) continue;
      std::filesystem::remove_all(e.path(), ec);
      if (!ec) ++removed;
    }
  }
  return removed;
}

}  // namespace motifbench::detail
