// Energy measurement behind one interface.
//
// Every reading states its source and method. A source that cannot be read is
// `unavailable` with a reason and no energy figure; it is never reported as 0 J.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

namespace motifbench {

enum class EnergyMethod { Measured, Estimated, Unavailable };
const char* to_string(EnergyMethod m);

struct EnergyReading {
  std::string source;            ///< e.g. "powercap", "cray_pm_counters", "estimated_cpu_time"
  EnergyMethod method = EnergyMethod::Unavailable;
  std::optional<double> energy_j;  ///< empty when unavailable
  std::map<std::string, double> domains_j;  ///< per domain (e.g. package-0), when measured
  std::string detail;            ///< how it was obtained, or why it is unavailable
};

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
/// /sys/class/powercap). Top-level zones only, so sub-zones are not counted
/// twice. Returns nullptr and sets `why_not` when no readable zone exists.
std::unique_ptr<EnergyMeter> make_powercap_meter(const std::string& root, std::string* why_not);

/// HPE/Cray node counters under `root` (normally /sys/cray/pm_counters).
std::unique_ptr<EnergyMeter> make_cray_meter(const std::string& root, std::string* why_not);

/// An explicit model: process CPU-seconds x watts_per_core + wall-seconds x
/// idle_watts. Labelled `estimated`.
std::unique_ptr<EnergyMeter> make_estimated_meter(double watts_per_core, double idle_watts);

std::unique_ptr<EnergyMeter> make_unavailable_meter(const std::string& reason);

/// Selects by name: auto | powercap | cray | estimated | none. `auto` tries the
/// measured sources in order and falls back to `estimated`. A measured source
/// that was asked for but cannot be read gives `unavailable` with the reason.
std::unique_ptr<EnergyMeter> make_energy_meter(const std::string& source, double watts_per_core,
                                               double idle_watts, const std::string& powercap_root,
                                               const std::string& cray_root);

}  // namespace motifbench
