// Runs one motif x coupling x size: repetitions, warm-up, measured part.
#pragma once

#include <string>
#include <vector>

#include "core/run_result.hpp"
#include "coupling/environment.hpp"
#include "motifbench/config.hpp"
#include "motifbench/coupling.hpp"
#include "motifbench/motif.hpp"

namespace motifbench::detail {

struct RunRequest {
  const MotifInfo* motif = nullptr;
  Coupling coupling = Coupling::Tight;
  std::string size;
  std::vector<std::string> argv;
  int rank = 0;
  int nranks = 1;
  bool quiet = false;  ///< no progress lines on stderr
};

/// Runs the request. Never throws for workload problems: a failing component
/// ends the run and is recorded in RunResult::invalid_reasons.
RunResult run_motif(const RunRequest& request, const Config& config, CouplingEnv* env);

/// The fields every result has (what was asked for), before anything ran.
RunResult begin_result(const RunRequest& request, const Config& config);

/// Measures a STREAM-like copy (bytes read + written per second) with Kokkos.
double measure_stream_copy_bytes_per_s();

/// Mean cost of one harness bookkeeping event (phase edge, sample, work), in ns.
double calibrate_event_cost_ns();

SystemContext gather_system_context(const std::vector<std::string>& argv, int nranks);
/// The 1-minute load average now (-1 when unreadable).
double load_average_now();
/// Warnings about the context: an unoptimised build, a machine busier than its cores.
std::vector<std::string> context_warnings(const SystemContext& context);

/// Where a repetition's figures are not finite (NaN or infinite), one line
/// each; a non-empty answer makes the run invalid.
std::vector<std::string> non_finite_figures(const MotifMetrics& metrics, const std::vector<PhaseTotals>& phases);

/// Repetition r's seed, derived from the base seed with splitmix64.
std::uint64_t repetition_seed(std::uint64_t base, int r);

/// A stable hash of the effective config (hex), for matching runs in compare.
std::string config_hash(const std::map<std::string, std::string>& effective);

}  // namespace motifbench::detail
