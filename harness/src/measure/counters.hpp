// Hardware counters (PAPI presets) read at the edges of every phase.
//
// Where the platform has none (no PAPI in the build, no perf events in the
// kernel, a VM without a PMU) the counters are `unavailable` with the reason;
// no figure is ever reported as 0 for lack of a counter.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace motifbench::detail {

class HardwareCounters {
 public:
  virtual ~HardwareCounters() = default;
  /// Names of the counters read, in the order read() fills them.
  virtual const std::vector<std::string>& names() const = 0;
  /// Current values of this thread's counters since start.
  virtual void read(long long* values) = 0;
};

/// `source`: auto | papi | none. Returns nullptr and sets `why_not` when no
/// counter can be read here.
std::unique_ptr<HardwareCounters> make_hardware_counters(const std::string& source, std::string* why_not);

}  // namespace motifbench::detail
