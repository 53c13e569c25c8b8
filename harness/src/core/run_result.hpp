// Everything a run produced, computed once. Reporters only format this.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/cpu_idle.hpp"
#include "core/cpu_placement.hpp"
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
  std::vector<std::string> kokkos_backends;       // every enabled execution space
  std::vector<std::string> kokkos_architectures;  // Kokkos_ARCH_* it was built for
  std::string kokkos_memory_space;                // the default execution space's
  std::string torch_version;
  int torch_threads = 0;
  bool torch_cuda = false;         // LibTorch built with CUDA
  std::string torch_cuda_version;  // its CUDA runtime
  int torch_gpus = 0;              // GPUs it sees
  std::string model_device;        // where this run's tight models run (coupling.device resolved)
  std::vector<std::string> gpus;   // GPU models (NVML), empty without
  std::string gpus_detail;         // where the list came from, or why it is empty
  std::map<std::string, bool> components;  // optional components of this build
  std::string mpi_library;
  int mpi_ranks = 1;
  std::string mpi_init;  // initialised or not, and why
  int run_threads = 0;    // the thread count given to every library
  int ranks_on_node = 1;
  std::string git_commit;
  bool git_dirty = false;
  bool git_known = false;
  std::vector<std::string> argv;
  std::string start_time_utc;
  // What decides the figures besides the code: the BLAS, the threading
  // environment, the machine's load and frequency policy.
  std::string blas_library;
  int blas_threads = -1;  // -1: not OpenBLAS, unknown
  std::map<std::string, std::string> environment;  // OMP_*, OPENBLAS_*, KOKKOS_*, MKL_*, GOMP_*, TORCH_*
  double load_average_start = -1, load_average_end = -1;
  std::string cpu_governor;
  CpuIdle cpu_idle;
  bool optimised = true;
  std::string motifbench_version;
};

struct PhaseTotals {
  std::string name;
  double total_s = 0;
  std::uint64_t count = 0;
  Work work;  // summed over the measured part
  std::vector<double> counters;  // hardware counters, in the order of RunResult::counter_names
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
  EnergyReading gpu_energy;              // NVML, beside the host's source
  std::vector<ComponentCpu> components;  // CPU time of every process of the run
  MotifMetrics metrics;
  std::uint64_t harness_events = 0;
};

struct PhaseSummary {
  std::string name;
  RepStats total_s;           // per repetition
  double share_fraction = 0;  // mean total / mean measured time
  std::uint64_t count = 0;    // calls over all repetitions
  Work work;                  // over all repetitions
  // Rates over the declared work: empty where the phase declared none of that
  // kind (or took no time), so an undeclared figure never reads as zero.
  std::optional<double> items_per_s, bytes_per_s, flops_per_s, bytes_sent_per_s;
  std::optional<double> stream_fraction;  // bytes_per_s / STREAM copy; empty without either
  std::vector<double> counters;  // summed over repetitions (main thread)
};

struct ChannelSummary {
  std::string name;
  LatencySummary latency;
  LogHistogram histogram;
  // Spread over the ranks that recorded this channel (MPI): each rank's own
  // p50 and p99, smallest and largest.
  int ranks_count = 1;
  double rank_p50_min_ns = 0, rank_p50_max_ns = 0, rank_p99_min_ns = 0, rank_p99_max_ns = 0;
};

struct HarnessOverhead {
  // Measured: the null work with vs without the per-step machinery, interleaved.
  double null_without_ns_per_step = 0, null_with_ns_per_step = 0, null_per_step_ns = 0;
  double null_events_per_step = 0;
  int null_rounds = 0;
  std::int64_t null_steps_per_round = 0;
  double per_event_ns = 0;        // measured: null_per_step_ns / null_events_per_step
  double model_per_event_ns = 0;  // cross-check: a tight loop of events, calibrated in this run
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
  int interrupted_signal = 0;  // the signal that stopped the run early, or 0
  std::vector<std::string> invalid_reasons;
  std::vector<std::string> warnings;
  std::vector<RepetitionResult> reps;
  RepStats measured_s, iterations_per_s;
  std::vector<PhaseSummary> phases;
  std::vector<ChannelSummary> channels;
  // STREAM copy before the repetitions and after them (0: not measured); the
  // figure each phase's fraction uses is the larger, the machine's best in the run.
  double stream_copy_start_bytes_per_s = 0, stream_copy_end_bytes_per_s = 0;
  double stream_copy_bytes_per_s = 0;
  HarnessOverhead overhead;
  RepStats energy_j;
  std::string energy_source, energy_method, energy_detail, energy_scope;
  bool energy_available = false;
  RepStats gpu_energy_j;
  bool gpu_energy_available = false;
  std::string counters_status;  // "measured" or "unavailable: <why>"
  std::vector<std::string> counter_names;
  std::vector<ServiceInfo> services;
  std::string staging_store;                 // describe() of the store
  std::string tensor_transport;              // how inference tensors travel: in_process, request_bytes, system_shared_memory
  std::vector<std::string> server_endpoints; // every server of the run
  std::vector<RankPlacement> placements;     // per rank: node, host, the servers it uses
  std::vector<RankCpus> cpu_placement;       // per rank, over the repetitions that completed: its CPUs and its steps' CPUs
};

}  // namespace motifbench::detail
