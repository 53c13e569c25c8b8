#include "tools/sweep.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "build_info.hpp"
#include "cli/usage_error.hpp"
#include "coupling/components.hpp"
#include "core/plugins.hpp"
#include "motifbench/registry.hpp"
#include "report/json_result.hpp"

namespace motifbench::detail {
namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// A signal to the sweep (SIGINT, SIGTERM, SIGHUP) stops the run in progress
// the way a signal stops a run: its partial result is written, marked
// invalid. The run is asked once, with SIGTERM to its process group (a
// launcher such as srun or mpiexec passes SIGTERM on to its ranks; a lone
// SIGINT only makes srun print its status). A second signal kills the group.
// Then the sweep writes its index of what ran and exits with 128 + signal.
volatile sig_atomic_t g_signal = 0;
volatile sig_atomic_t g_child = 0;  // the process group of the run in progress

void on_sweep_signal(int sig) {  // async-signal-safe only
  const pid_t child = static_cast<pid_t>(g_child);
  if (g_signal != 0) {
    if (child > 0) kill(-child, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  g_signal = sig;
  if (child > 0) kill(-child, SIGTERM);
}

void install_sweep_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_sweep_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
}

// Runs argv with stdout and stderr to `log`, stdin from /dev/null, in its own
// process group (so a Ctrl-C reaches it once, through the sweep); returns the
// exit status (negative: killed by that signal).
int run_child(const std::vector<std::string>& argv, const std::string& log) {
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return 127;
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // a sweep killed outright leaves no run behind
    if (getppid() != parent) _exit(127);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    if (int in = open("/dev/null", O_RDONLY); in >= 0) {
      dup2(in, STDIN_FILENO);
      close(in);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());  // a launcher (srun, mpiexec, flux run) is found on PATH
    _exit(127);
  }
  setpgid(pid, pid);  // also here: no signal may find the group missing
  g_child = pid;
  if (g_signal != 0) kill(-pid, SIGTERM);  // the signal came while forking
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  g_child = 0;
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return WEXITSTATUS(status);
}

std::string last_line_with(const std::string& log, const std::string& needle) {
  std::ifstream in(log);
  std::string line, found;
  while (std::getline(in, line))
    if (line.find(needle) != std::string::npos) found = line;
  return found;
}

}  // namespace

int sweep_main(int argc, char** argv) {
  CLI::App app{"motifbench sweep: run motif x coupling x size, one result per cell plus an index"};
  std::string motifs = "all", couplings = "all", sizes = "tiny", out_dir = "results/sweep";
  std::vector<std::string> sets;
  std::string repetitions, min_time, warmup, seed, threads, config, launcher;
  app.add_option("--motif", motifs, "comma-separated motifs, or all")->capture_default_str();
  app.add_option("--coupling", couplings, "comma-separated couplings, or all (those each motif supports)")
      ->capture_default_str();
  app.add_option("--size", sizes, "comma-separated sizes")->capture_default_str();
  app.add_option("--out-dir", out_dir, "folder for the results and index.json")->capture_default_str();
  app.add_option("--set", sets, "passed to every run");
  app.add_option("--config", config, "passed to every run");
  app.add_option("--repetitions", repetitions, "passed to every run");
  app.add_option("--min-time-s", min_time, "passed to every run");
  app.add_option("--warmup-s", warmup, "passed to every run");
  app.add_option("--seed", seed, "passed to every run");
  app.add_option("--threads", threads, "passed to every run");
  app.add_option("--launcher", launcher,
                 "command that starts each run's ranks, e.g. \"srun --mpi=pmi2 -N 2 --ntasks-per-node=4\"");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return usage_error(app, e, "motifbench sweep");
  }

  Registry reg;
  register_all_motifs(reg);
  // Out-of-tree mini-apps: MOTIFBENCH_PLUGINS, which every run inherits.
  if (const std::string why = load_plugins(plugin_paths({}), reg); !why.empty()) {
    std::fprintf(stderr, "motifbench sweep: error: %s\n", why.c_str());
    return 2;
  }
  std::vector<const MotifInfo*> chosen;
  if (motifs == "all") {
    for (const auto& m : reg.motifs()) chosen.push_back(&m);
  } else {
    for (const auto& name : split(motifs)) {
      const MotifInfo* m = reg.find(name);
      if (m == nullptr) {
        std::fprintf(stderr, "motifbench sweep: error: unknown motif '%s'; valid motifs: %s\n", name.c_str(),
                     reg.name_list().c_str());
        return 2;
      }
      chosen.push_back(m);
    }
  }
  std::vector<std::string> size_list = split(sizes);
  for (const auto& s : size_list) {
    bool ok = false;
    for (const auto& v : size_names()) ok = ok || v == s;
    if (!ok) {
      std::fprintf(stderr, "motifbench sweep: error: unknown size '%s'; valid sizes: %s\n", s.c_str(),
                   join(size_names()).c_str());
      return 2;
    }
  }
  std::vector<std::string> wanted_couplings = split(couplings);
  if (couplings != "all")
    for (const auto& c : wanted_couplings)
      if (!parse_coupling(c)) {
        std::fprintf(stderr, "motifbench sweep: error: unknown coupling '%s'; valid couplings: tight, semi-tight, loose, none\n",
                     c.c_str());
        return 2;
      }
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (!check_writable(out_dir + "/index.json").empty()) {
    std::fprintf(stderr, "motifbench sweep: error: cannot write into '%s'\n", out_dir.c_str());
    return 2;
  }
  std::array<char, 4096> self{};
  ssize_t len = readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (len <= 0) return 2;

  install_sweep_signals();
  nlohmann::json cells = nlohmann::json::array();
  int failed = 0;
  std::printf("%-24s %-11s %-7s %-8s %9s  %s\n", "motif", "coupling", "size", "status", "wall", "result");
  for (const MotifInfo* m : chosen) {
    for (Coupling c : m->couplings) {
      const std::string cname = to_string(c);
      if (couplings != "all" && std::find(wanted_couplings.begin(), wanted_couplings.end(), cname) == wanted_couplings.end())
        continue;
      // "all" means all that this build has (a build without gRPC: tight, none).
      if (couplings == "all" && !coupling_unavailable(c, "auto").empty()) continue;
      for (const auto& size : size_list) {
        if (g_signal != 0) break;  // a signal: no further cell
        const std::string stem = m->name + "_" + cname + "_" + size;
        const std::string file = out_dir + "/" + stem + ".json", log = out_dir + "/" + stem + ".log";
        std::remove(file.c_str());
        std::vector<std::string> args;
        std::istringstream words(launcher);
        for (std::string w; words >> w;) args.push_back(w);
        args.insert(args.end(), {self.data(), "--motif=" + m->name, "--coupling=" + cname, "--size=" + size,
                                      "--out=" + file, "--quiet"});
        for (const auto& s : sets) args.push_back("--set=" + s);
        if (!config.empty()) args.push_back("--config=" + config);
        if (!repetitions.empty()) args.push_back("--repetitions=" + repetitions);
        if (!min_time.empty()) args.push_back("--min-time-s=" + min_time);
        if (!warmup.empty()) args.push_back("--warmup-s=" + warmup);
        if (!seed.empty()) args.push_back("--seed=" + seed);
        if (!threads.empty()) args.push_back("--threads=" + threads);
        const auto t0 = std::chrono::steady_clock::now();
        const int rc = run_child(args, log);
        const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const bool have_file = std::filesystem::exists(file);
        std::string status = rc == 0 ? "ok" : g_signal != 0 ? "interrupted" : (have_file ? "invalid" : "failed");
        std::string reason;
        if (rc != 0) {
          reason = last_line_with(log, "error");
          if (reason.empty()) reason = rc < 0 ? "killed by signal " + std::to_string(-rc) : "exit status " + std::to_string(rc);
          ++failed;
        }
        cells.push_back({{"motif", m->name},
                         {"coupling", cname},
                         {"size", size},
                         {"status", status},
                         {"exit_code", rc},
                         {"wall_s", wall},
                         {"result", have_file ? stem + ".json" : ""},
                         {"log", stem + ".log"},
                         {"reason", reason}});
        std::printf("%-24s %-11s %-7s %-8s %8.1fs  %s\n", m->name.c_str(), cname.c_str(), size.c_str(), status.c_str(),
                    wall, have_file ? file.c_str() : reason.c_str());
        std::fflush(stdout);
      }
    }
  }
  std::time_t now = std::time(nullptr);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  std::vector<std::string> arg_list(argv, argv + argc);
  nlohmann::json index = {{"kind", "motifbench-sweep-index"},
                          {"schema_version", MOTIFBENCH_SCHEMA_VERSION},
                          {"created_utc", ts},
                          {"argv", arg_list},
                          {"launcher", launcher},
                          {"interrupted_by_signal", g_signal != 0 ? nlohmann::json(static_cast<int>(g_signal)) : nlohmann::json(nullptr)},
                          {"cells", cells}};
  const std::string err = write_json_file(out_dir + "/index.json", index);
  if (!err.empty()) {
    std::fprintf(stderr, "motifbench sweep: error: %s\n", err.c_str());
    return 2;
  }
  std::printf("\n%zu cells, %zu ok, %d failed or invalid; index: %s/index.json\n", cells.size(),
              cells.size() - static_cast<std::size_t>(failed), failed, out_dir.c_str());
  if (g_signal != 0) {
    std::printf("interrupted by signal %d (%s): the cells after the last one listed did not run\n",
                static_cast<int>(g_signal), strsignal(g_signal));
    return 128 + g_signal;
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace motifbench::detail
