// Energy measurement behind one interface.
//
// Every reading states its source and method. A source that cannot be read is
// `unavailable` with a reason and no energy figure; it is never reported as 0 J.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace motifbench {

enum class EnergyMethod { Measured, Estimated, Unavailable };
const char* to_string(EnergyMethod m);

/// CPU time of one process the run uses, over the measured interval.
struct ComponentCpu {
  std::string name;     ///< "ranks" (summed over MPI), "inference_server[0]", "redis", ...
  long pid = 0;         ///< 0 for the ranks (several processes)
  double cpu_s = 0;     ///< user + system seconds
  bool visible = true;  ///< false: the process is elsewhere (an external service); cpu_s unknown
  std::string where;    ///< endpoint or how it was read
};

struct EnergyReading {
  std::string source;            ///< e.g. "powercap", "cray_pm_counters", "estimated_cpu_time"
  EnergyMethod method = EnergyMethod::Unavailable;
  std::optional<double> energy_j;  ///< empty when unavailable
  std::map<std::string, double> domains_j;  ///< per domain (package-0, dram-0) or per component (estimate)
  std::string detail;            ///< how it was obtained, or why it is unavailable
  /// What the figure covers: "node" (a node counter: every process on rank 0's
  /// node), "processes" (every process of the run), or "partial: <why>".
  std::string scope;
  std::string fallback_reason;   ///< why `auto` used the estimate, when it did
};

/// user + system CPU seconds of a process from <proc_root>/<pid>/stat; empty
/// when the process is gone or the file is unreadable.
std::optional<double> proc_cpu_s(long pid, const std::string& proc_root = "/proc");
/// user + system CPU seconds of this process (getrusage).
double self_cpu_s();
/// user + system CPU seconds of this process's ended and reaped children
/// (getrusage RUSAGE_CHILDREN).
double reaped_children_cpu_s();

/// The estimate over every component: sum of visible CPU-seconds x
/// watts_per_core + wall x idle_watts; per-component figures in domains_j. The
/// scope is partial (and named) when a component is not visible.
EnergyReading estimate_energy(const std::vector<ComponentCpu>& components, double wall_s, double watts_per_core,
                              double idle_watts, const std::string& fallback_reason);

/// start() begins an interval, poll() may be called often to catch counter
/// wrap-around on long runs, stop() ends it and returns the energy used.
class EnergyMeter {
 public:
  virtual ~EnergyMeter() = default;
  virtual void start() = 0;
  virtual void poll() {}
  virtual EnergyReading stop() = 0;
};

/// Linux powercap (intel-rapl / amd-rapl) under `root` (normally
/// /sys/class/powercap): each socket's package zone (<driver>:<N>) plus its
/// DRAM sub-zone (a sub-zone named "dram", which the package does not
/// include). Core/uncore sub-zones are parts of the package and are not added;
/// a platform zone ("psys") overlaps the packages and is reported but not
/// added. Returns nullptr and sets `why_not` when no readable zone exists.
std::unique_ptr<EnergyMeter> make_powercap_meter(const std::string& root, std::string* why_not);

/// HPE/Cray node counters under `root` (normally /sys/cray/pm_counters).
std::unique_ptr<EnergyMeter> make_cray_meter(const std::string& root, std::string* why_not);

/// An explicit model: process CPU-seconds x watts_per_core + wall-seconds x
/// idle_watts. Labelled `estimated`.
std::unique_ptr<EnergyMeter> make_estimated_meter(double watts_per_core, double idle_watts);

std::unique_ptr<EnergyMeter> make_unavailable_meter(const std::string& reason);

/// NVIDIA GPUs through NVML, loaded at run time with dlopen(`library`) (normally
/// libnvidia-ml.so.1), so the build needs no CUDA. Sums
/// nvmlDeviceGetTotalEnergyConsumption over every GPU, per GPU in domains_j.
/// Returns nullptr and sets `why_not` when the library, its symbols or a GPU
/// with an energy counter are missing.
std::unique_ptr<EnergyMeter> make_nvml_meter(const std::string& library, std::string* why_not);
/// The model names of the GPUs that make_nvml_meter would read; empty, with
/// the reason in `detail`, when it would not.
std::vector<std::string> nvml_gpu_names(const std::string& library, std::string* detail);

/// Selects by name: auto | powercap | cray | estimated | none. `auto` tries the
/// measured sources in order and falls back to `estimated`. A measured source
/// that was asked for but cannot be read gives `unavailable` with the reason.
std::unique_ptr<EnergyMeter> make_energy_meter(const std::string& source, double watts_per_core,
                                               double idle_watts, const std::string& powercap_root,
                                               const std::string& cray_root);

}  // namespace motifbench
