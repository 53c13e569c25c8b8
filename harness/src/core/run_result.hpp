// Everything a run produced, computed once. Reporters only format this.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "coupling/services.hpp"
#include "motifbench/energy.hpp"
#include "motifbench/metrics.hpp"
#include "motifbench/stats.hpp"
#include "motifbench/work.hpp"

namespace motifbench::detail {

struct SystemContext {
  std::string host, cpu_model, os, compiler, compiler_flags, build_type;
  int cores = 0;
  std::uint64_t memory_bytes = 0;
  std::string kokkos_version, kokkos_backend;
  int kokkos_concurrency = 0;
  std::string torch_version;
  int torch_threads = 0;
  std::string mpi_library;
  int mpi_ranks = 1;
  std::string git_commit;
  bool git_dirty = false;
  bool git_known = false;
  std::vector<std::string> argv;
  std::string start_time_utc;
  std::string motifbench_version;
};

struct PhaseTotals {
  std::string name;
  double total_s = 0;
  std::uint64_t count = 0;
  Work work;  // summed over the measured part
};

struct RepetitionResult {
  int index = 0;
  std::uint64_t seed = 0;
  double setup_s = 0;
  double warmup_s = 0;
  std::int64_t warmup_iterations = 0;
  double measured_s = 0;
  std::int64_t iterations = 0;
  std::vector<PhaseTotals> phases;
  std::map<std::string, LatencySummary> latency;  // this rank's samples of this repetition
  EnergyReading energy;
  MotifMetrics metrics;
  std::uint64_t harness_events = 0;
};

struct PhaseSummary {
  std::string name;
  RepStats total_s;           // per repetition
  double share_fraction = 0;  // mean total / mean measured time
  std::uint64_t count = 0;    // calls over all repetitions
  Work work;                  // over all repetitions
  double items_per_s = 0, bytes_per_s = 0, flops_per_s = 0, bytes_sent_per_s = 0;
  double stream_fraction = 0;  // bytes_per_s / STREAM copy
};

struct ChannelSummary {
  std::string name;
  LatencySummary latency;
  LogHistogram histogram;
};

struct HarnessOverhead {
  double per_event_ns = 0;
  std::uint64_t events = 0;
  double overhead_s = 0;
  double measured_s = 0;
  double fraction = 0;
};

struct RunResult {
  SystemContext context;
  std::string motif, coupling, size;
  std::map<std::string, std::string> config_requested;
  std::map<std::string, std::string> config_requested_source;
  std::map<std::string, std::string> config_effective;
  std::string config_hash;
  std::uint64_t base_seed = 0;
  bool valid = true;
  std::vector<std::string> invalid_reasons;
  std::vector<std::string> warnings;
  std::vector<RepetitionResult> reps;
  RepStats measured_s, iterations_per_s;
  std::vector<PhaseSummary> phases;
  std::vector<ChannelSummary> channels;
  double stream_copy_bytes_per_s = 0;
  HarnessOverhead overhead;
  RepStats energy_j;
  std::string energy_source, energy_method, energy_detail;
  bool energy_available = false;
  std::vector<ServiceInfo> services;
  std::string staging_store;                 // describe() of the store
  std::vector<std::string> server_endpoints; // every rank shards over all of them
};

}  // namespace motifbench::detail
