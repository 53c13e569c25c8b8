// The null system under test: a step of fixed, known work and nothing else.
// `motifbench --motif=null` measures the harness's own cost end to end, and the
// runner uses the same work to measure its per-step overhead directly in every
// run (with vs without the per-step machinery, side by side).
#pragma once

#include <cstdint>

#include <Kokkos_Core.hpp>

#include "motifbench/registry.hpp"

namespace motifbench::detail {

/// Registers the built-in `null` motif (not a mini-app folder: it belongs to
/// the harness and is always present).
void register_null_motif(Registry& registry);

/// The fixed work of one null step: every double of `cells` updated by one
/// fused multiply-add, in a labelled Kokkos kernel, fenced.
void null_work(const Kokkos::View<double*>& cells);

struct MeasuredOverhead {
  double without_ns_per_step = 0;  ///< the null work called directly
  double with_ns_per_step = 0;     ///< the same work under the runner's per-step machinery
  double per_step_ns = 0;          ///< median over rounds of (with - without); may be < 0 in noise
  double events_per_step = 0;      ///< harness events one machinery step makes
  double per_event_ns = 0;         ///< per_step_ns / events_per_step
  int rounds = 0;
  std::int64_t steps_per_round = 0;
};

/// Interleaves `rounds` rounds of `steps` null steps without and with the
/// per-step machinery (step index, one phase with fences, declared work, one
/// latency sample, the step latency, the loop's clock read). No Kokkos Tools
/// regions are pushed, so a loaded tool sees none of it.
MeasuredOverhead measure_harness_overhead(int rounds, std::int64_t steps, std::int64_t cells);

}  // namespace motifbench::detail
