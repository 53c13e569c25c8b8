// What a mini-app sees of the harness during a run.
//
// Threading: a RunContext belongs to one rank's main thread, except
// record_latency_ns, which any thread may call (samples are merged at the end).
// Timing: ScopedPhase fences the Kokkos default execution space at both edges
// and opens a Kokkos Tools profiling region, so no mini-app has to.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "motifbench/config.hpp"
#include "motifbench/coupling.hpp"
#include "motifbench/metrics.hpp"
#include "motifbench/staging.hpp"
#include "motifbench/surrogate.hpp"
#include "motifbench/work.hpp"

namespace motifbench {

using PhaseId = int;

class RunContext {
 public:
  virtual ~RunContext() = default;

  virtual const Config& config() const = 0;
  virtual Coupling coupling() const = 0;
  /// The seed of this repetition (derived from --seed and the repetition index).
  virtual std::uint64_t seed() const = 0;
  virtual int rank() const = 0;
  virtual int nranks() const = 0;

  /// Index of the current step within the measured part; negative during warm-up.
  virtual std::int64_t step_index() const = 0;
  virtual bool warming_up() const = 0;

  /// Registers (or finds) a phase by name. Call in setup; use the id per step.
  /// Standard names: simulate, infer, train, transfer, decide, stage_io, wait.
  virtual PhaseId phase(const std::string& name) = 0;
  /// Adds declared work to a phase for the current step (see work.hpp).
  virtual void declare_work(PhaseId phase, const Work& work) = 0;
  /// Records one latency sample in nanoseconds on a named channel. Safe to call
  /// from any thread. The harness itself records `step` (each measured step).
  virtual void record_latency_ns(const std::string& channel, double ns) = 0;

  /// Figures a mini-app reports at the end of a repetition.
  virtual MotifMetrics& metrics() = 0;
  /// Marks the run invalid with a reason (e.g. a fidelity check failed).
  virtual void invalidate(const std::string& reason) = 0;

  /// The client for the current coupling mode; nullptr in mode `none`. May
  /// throw std::runtime_error when a server is unreachable.
  virtual std::unique_ptr<SurrogateClient> make_surrogate(const SurrogateSpec& spec) = 0;
  /// The staging store of the current coupling mode (memory, shm, redis, file).
  virtual StagingStore& staging() = 0;

  /// Sums `n` doubles over all ranks in place (a no-op with one rank). Every
  /// rank must call it the same number of times.
  virtual void allreduce_sum(double* values, std::size_t n) = 0;
  /// Averages gradients over the ranks (MPI) for data-parallel training; the
  /// time spent waiting for the slowest rank and in the allreduce is recorded
  /// on the latency channels `straggler_wait` and `allreduce`.
  virtual GradientReducer* gradient_reducer() = 0;

  // Used by ScopedPhase; not for mini-apps.
  virtual void phase_begin(PhaseId phase) = 0;
  virtual void phase_end(PhaseId phase) = 0;
};

/// Times one phase: fence + region push + clock on entry; fence + clock +
/// region pop on exit. Nesting different phases is allowed; time is then
/// counted in both.
class ScopedPhase {
 public:
  ScopedPhase(RunContext& ctx, PhaseId phase) : m_ctx(ctx), m_phase(phase) { m_ctx.phase_begin(m_phase); }
  ~ScopedPhase() { m_ctx.phase_end(m_phase); }
  ScopedPhase(const ScopedPhase&) = delete;
  ScopedPhase& operator=(const ScopedPhase&) = delete;

 private:
  RunContext& m_ctx;
  PhaseId m_phase;
};

/// Steady-clock nanoseconds, for latency samples a mini-app takes itself.
std::int64_t now_ns();

}  // namespace motifbench
