// The harness's RunContext: phase accumulators, latency channels, declared work.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/run_result.hpp"
#include "coupling/environment.hpp"
#include "measure/counters.hpp"
#include "motifbench/run_context.hpp"

namespace motifbench::detail {

/// The LibTorch device of this rank's tight models (coupling.device resolved
/// for the rank's place on its node). Throws std::runtime_error naming the
/// valid choices when the device is malformed or absent.
std::string model_device(const Config& config);
/// Why coupling.reducer cannot be had in this run ("" when it can): NCCL
/// needs the tight models on a GPU.
std::string reducer_refusal(const Config& config, Coupling coupling);

class RunContextImpl final : public RunContext {
 public:
  /// env may be null only for contexts that never ask for a client or store.
  RunContextImpl(const Config& config, Coupling coupling, std::uint64_t seed, int rank, int nranks,
                 CouplingEnv* env = nullptr);

  const Config& config() const override { return m_config; }
  Coupling coupling() const override { return m_coupling; }
  std::uint64_t seed() const override { return m_seed; }
  int rank() const override { return m_rank; }
  int nranks() const override { return m_nranks; }
  std::int64_t step_index() const override { return m_step; }
  bool warming_up() const override { return m_warmup; }
  PhaseId phase(const std::string& name) override;
  void declare_work(PhaseId phase, const Work& work) override;
  void record_latency_ns(const std::string& channel, double ns) override;
  MotifMetrics& metrics() override { return m_metrics; }
  void invalidate(const std::string& reason) override { m_invalid.push_back(reason); }
  std::unique_ptr<SurrogateClient> make_surrogate(const SurrogateSpec& spec) override;
  StagingStore& staging() override;
  void allreduce_sum(double* values, std::size_t n) override;
  GradientReducer* gradient_reducer() override;
  void phase_begin(PhaseId phase) override;
  void phase_end(PhaseId phase) override;

  // Runner side.
  /// Off for the harness's own overhead measurements, so that a loaded Kokkos
  /// tool sees only the motif's regions.
  void set_profile_regions(bool on) { m_profile_regions = on; }
  /// Hardware counters read at the outer edges of every phase (may be null).
  void set_counters(HardwareCounters* counters) { m_counters = counters; }
  void set_step(std::int64_t step, bool warmup) {
    m_step = step;
    m_warmup = warmup;
  }
  /// Drops everything accumulated so far (called at the end of warm-up).
  void reset_measurements();
  std::vector<PhaseTotals> phase_totals() const;
  std::map<std::string, std::vector<double>> take_latencies() {
    std::lock_guard<std::mutex> lock(m_latency_mutex);
    return std::move(m_latency);
  }
  std::uint64_t events() const { return m_events.load(std::memory_order_relaxed); }
  void count_event() { m_events.fetch_add(1, std::memory_order_relaxed); }
  const std::vector<std::string>& invalid_reasons() const { return m_invalid; }

 private:
  struct PhaseAcc {
    std::string name;
    std::int64_t total_ns = 0;
    std::uint64_t count = 0;
    std::int64_t started_ns = 0;
    int depth = 0;
    Work work;
    std::vector<long long> counters_started, counters_total;
  };
  HardwareCounters* m_counters = nullptr;
  std::vector<long long> m_counter_scratch;
  const Config& m_config;
  Coupling m_coupling;
  std::uint64_t m_seed;
  int m_rank, m_nranks;
  std::int64_t m_step = -1;
  bool m_warmup = true;
  bool m_profile_regions = true;
  std::vector<PhaseAcc> m_phases;
  // Latency samples may come from any thread (a remote client's completion
  // thread, a motif's worker); the lock is uncontended on the main thread.
  std::mutex m_latency_mutex;
  std::map<std::string, std::vector<double>> m_latency;
  MotifMetrics m_metrics;
  std::vector<std::string> m_invalid;
  std::atomic<std::uint64_t> m_events{0};
  CouplingEnv* m_env = nullptr;
  std::unique_ptr<GradientReducer> m_reducer;
};

}  // namespace motifbench::detail
