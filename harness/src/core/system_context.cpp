#include <dlfcn.h>
#include <mpi.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <string>

#include <Kokkos_Core.hpp>

#include "build_info.hpp"
#include "core/mpi_session.hpp"
#include "core/runner.hpp"
#include "motifbench/surrogates/local.hpp"

extern char** environ;

namespace motifbench::detail {

const char* build_git_commit();
bool build_git_dirty();
bool build_git_known();

namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

// Which BLAS this process really mapped (LibTorch's), from /proc/self/maps.
std::string mapped_blas() {
  std::ifstream in("/proc/self/maps");
  std::string line, found;
  while (std::getline(in, line)) {
    auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    auto base = path.substr(path.rfind('/') + 1);
    if (base.rfind("libopenblas", 0) == 0 || base.rfind("libblas", 0) == 0 || base.rfind("libmkl", 0) == 0 ||
        base.rfind("libblis", 0) == 0) {
      if (found.find(path) == std::string::npos) found += (found.empty() ? "" : ", ") + path;
    }
  }
  return found.empty() ? "none mapped" : found;
}

void fill_runtime_provenance(SystemContext& c) {
  c.blas_library = mapped_blas();
  // OpenBLAS' own thread count, when OpenBLAS is the BLAS.
  using GetThreads = int (*)();
  if (auto f = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"))) c.blas_threads = f();
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string kv = *e;
    for (const char* prefix : {"OMP_", "OPENBLAS_", "KOKKOS_", "MKL_", "GOMP_", "TORCH_", "GLIBC_TUNABLES"}) {
      if (kv.rfind(prefix, 0) == 0) {
        auto eq = kv.find('=');
        if (eq != std::string::npos) c.environment[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
    }
  }
  double load[1] = {0};
  if (getloadavg(load, 1) == 1) c.load_average_start = load[0];
  c.cpu_governor = read_first_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
  if (c.cpu_governor.empty()) c.cpu_governor = "unreadable";
  c.optimised = c.build_type == "Release" || c.build_type == "RelWithDebInfo" || c.build_type == "MinSizeRel";
}

}  // namespace

double load_average_now() {
  double load[1] = {0};
  return getloadavg(load, 1) == 1 ? load[0] : -1.0;
}

std::vector<std::string> context_warnings(const SystemContext& c) {
  std::vector<std::string> w;
  if (!c.optimised)
    w.push_back("the build is not optimised (CMAKE_BUILD_TYPE=" + c.build_type + "); figures are not comparable");
  auto busy = [&](double load, const char* when) {
    if (load > c.cores)
      w.push_back("load average " + std::to_string(load).substr(0, 5) + " at " + when + " exceeds the " +
                  std::to_string(c.cores) + " cores: the machine was busy with other work");
  };
  busy(c.load_average_start, "start");
  busy(c.load_average_end, "end");
  if (c.run_threads * c.ranks_on_node > c.cores)
    w.push_back(std::to_string(c.ranks_on_node) + " rank(s) x " + std::to_string(c.run_threads) +
                " thread(s) on this node exceed its " + std::to_string(c.cores) +
                " cores: threads compete for cores (choose --threads=" +
                std::to_string(std::max(1, c.cores / std::max(1, c.ranks_on_node))) + ")");
  return w;
}

SystemContext gather_system_context(const std::vector<std::string>& argv, int nranks) {
  SystemContext c;
  std::array<char, 256> host{};
  gethostname(host.data(), host.size() - 1);
  c.host = host.data();
  c.cpu_model = cpu_model();
  c.cores = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  c.memory_bytes = static_cast<std::uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  utsname u{};
  if (uname(&u) == 0) c.os = std::string(u.sysname) + " " + u.release + " " + u.machine;
  c.compiler = MOTIFBENCH_CXX_COMPILER;
  c.compiler_flags = MOTIFBENCH_CXX_FLAGS;
  c.build_type = MOTIFBENCH_BUILD_TYPE;
  c.kokkos_version = std::to_string(KOKKOS_VERSION / 10000) + "." + std::to_string(KOKKOS_VERSION / 100 % 100) + "." +
                     std::to_string(KOKKOS_VERSION % 100);
  c.kokkos_backend = Kokkos::DefaultExecutionSpace::name();
  c.kokkos_concurrency = Kokkos::DefaultExecutionSpace().concurrency();
  c.torch_version = surrogates::torch_version();
  c.torch_threads = surrogates::threads();
  c.run_threads = surrogates::threads();  // the CLI gives every library this count
  c.ranks_on_node = node_local_ranks();
  std::array<char, MPI_MAX_LIBRARY_VERSION_STRING> lib{};
  int len = 0;
  MPI_Get_library_version(lib.data(), &len);
  c.mpi_library = std::string(lib.data(), static_cast<std::size_t>(len));
  auto nl = c.mpi_library.find('\n');
  if (nl != std::string::npos) c.mpi_library = c.mpi_library.substr(0, nl);
  c.mpi_ranks = nranks;
  // Recorded when the binary was built, not read from whatever is checked out now.
  c.git_commit = build_git_commit();
  c.git_dirty = build_git_dirty();
  c.git_known = build_git_known();
  fill_runtime_provenance(c);
  c.argv = argv;
  std::time_t now = std::time(nullptr);
  std::array<char, 32> ts{};
  std::strftime(ts.data(), ts.size(), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  c.start_time_utc = ts.data();
  c.motifbench_version = MOTIFBENCH_VERSION;
  return c;
}

}  // namespace motifbench::detail
