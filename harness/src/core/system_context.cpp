#include <mpi.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <string>

#include <Kokkos_Core.hpp>

#include "build_info.hpp"
#include "core/runner.hpp"
#include "motifbench/surrogates/local.hpp"

namespace motifbench::detail {
namespace {

std::string run_command(const std::string& cmd, bool* ok) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    *ok = false;
    return out;
  }
  std::array<char, 256> buf{};
  while (fgets(buf.data(), buf.size(), p) != nullptr) out += buf.data();
  *ok = pclose(p) == 0;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

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

}  // namespace

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
  std::array<char, MPI_MAX_LIBRARY_VERSION_STRING> lib{};
  int len = 0;
  MPI_Get_library_version(lib.data(), &len);
  c.mpi_library = std::string(lib.data(), static_cast<std::size_t>(len));
  auto nl = c.mpi_library.find('\n');
  if (nl != std::string::npos) c.mpi_library = c.mpi_library.substr(0, nl);
  c.mpi_ranks = nranks;
  bool ok = false;
  std::string src = MOTIFBENCH_SOURCE_DIR;
  c.git_commit = run_command("git -C '" + src + "' rev-parse HEAD 2>/dev/null", &ok);
  c.git_known = ok && !c.git_commit.empty();
  if (!c.git_known) {
    c.git_commit = "unknown";
  } else {
    std::string status = run_command("git -C '" + src + "' status --porcelain --untracked-files=no 2>/dev/null", &ok);
    c.git_dirty = ok && !status.empty();
  }
  c.argv = argv;
  std::time_t now = std::time(nullptr);
  std::array<char, 32> ts{};
  std::strftime(ts.data(), ts.size(), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  c.start_time_utc = ts.data();
  c.motifbench_version = MOTIFBENCH_VERSION;
  return c;
}

}  // namespace motifbench::detail
