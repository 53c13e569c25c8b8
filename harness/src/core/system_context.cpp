#include <dlfcn.h>
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
#include "coupling/components.hpp"
#include "motifbench/surrogates/local.hpp"

extern char** environ;

namespace motifbench::detail {

const char* build_git_commit();
bool build_git_dirty();
bool build_git_known();

namespace {

std::vector<std::string> kokkos_backends() {
  std::vector<std::string> out;
#ifdef KOKKOS_ENABLE_SERIAL
  out.push_back("Serial");
#endif
#ifdef KOKKOS_ENABLE_OPENMP
  out.push_back("OpenMP");
#endif
#ifdef KOKKOS_ENABLE_THREADS
  out.push_back("Threads");
#endif
#ifdef KOKKOS_ENABLE_HPX
  out.push_back("HPX");
#endif
#ifdef KOKKOS_ENABLE_CUDA
  out.push_back("Cuda");
#endif
#ifdef KOKKOS_ENABLE_HIP
  out.push_back("HIP");
#endif
#ifdef KOKKOS_ENABLE_SYCL
  out.push_back("SYCL");
#endif
#ifdef KOKKOS_ENABLE_OPENMPTARGET
  out.push_back("OpenMPTarget");
#endif
  return out;
}

// The architectures Kokkos was configured for (the common ones; others show
// in Kokkos::print_configuration).
std::vector<std::string> kokkos_architectures() {
  std::vector<std::string> out;
#ifdef KOKKOS_ARCH_NATIVE
  out.push_back("NATIVE");
#endif
#ifdef KOKKOS_ARCH_SKX
  out.push_back("SKX");
#endif
#ifdef KOKKOS_ARCH_ZEN3
  out.push_back("ZEN3");
#endif
#ifdef KOKKOS_ARCH_ZEN4
  out.push_back("ZEN4");
#endif
#ifdef KOKKOS_ARCH_ARMV8_THUNDERX2
  out.push_back("ARMV8_THUNDERX2");
#endif
#ifdef KOKKOS_ARCH_ARMV9_GRACE
  out.push_back("ARMV9_GRACE");
#endif
#ifdef KOKKOS_ARCH_VOLTA70
  out.push_back("VOLTA70");
#endif
#ifdef KOKKOS_ARCH_AMPERE80
  out.push_back("AMPERE80");
#endif
#ifdef KOKKOS_ARCH_ADA89
  out.push_back("ADA89");
#endif
#ifdef KOKKOS_ARCH_HOPPER90
  out.push_back("HOPPER90");
#endif
#ifdef KOKKOS_ARCH_BLACKWELL100
  out.push_back("BLACKWELL100");
#endif
#ifdef KOKKOS_ARCH_AMD_GFX90A
  out.push_back("AMD_GFX90A");
#endif
#ifdef KOKKOS_ARCH_AMD_GFX942
  out.push_back("AMD_GFX942");
#endif
#ifdef KOKKOS_ARCH_INTEL_PVC
  out.push_back("INTEL_PVC");
#endif
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
    for (const char* prefix : {"OMP_", "OPENBLAS_", "KOKKOS_", "MKL_", "GOMP_", "TORCH_", "DNNL_", "GLIBC_TUNABLES"}) {
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
  c.cpu_idle = read_cpu_idle();
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
  if (const auto& limit = c.cpu_idle.wakeup_limit; limit.requested_us >= 0 && !limit.held)
    w.push_back("run.cpu_wakeup_latency_us=" + std::to_string(limit.requested_us) + " was " + limit.detail +
                "; the run kept the machine's idle states");
  if (const auto& limit = c.cpu_idle.wakeup_limit; limit.held && !limit.effective)
    w.push_back("run.cpu_wakeup_latency_us=" + std::to_string(limit.requested_us) + " was " + limit.detail);
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
  c.kokkos_backends = kokkos_backends();
  c.kokkos_architectures = kokkos_architectures();
  c.kokkos_memory_space = Kokkos::DefaultExecutionSpace::memory_space::name();
  const auto torch = surrogates::torch_build();
  c.torch_cuda = torch.cuda;
  c.torch_cuda_version = torch.cuda_version;
  c.torch_gpus = torch.gpus;
  for (const auto& comp : build_components()) c.components[comp.name] = comp.built;
  c.torch_version = surrogates::torch_version();
  c.torch_threads = surrogates::threads();
  c.run_threads = surrogates::threads();  // the CLI gives every library this count
  c.ranks_on_node = node_local_ranks();
  c.mpi_library = mpi_library_version();
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
