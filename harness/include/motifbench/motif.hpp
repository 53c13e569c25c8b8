// The interface every mini-app implements.
//
// Lifecycle per repetition (the harness builds a fresh Motif each time):
//   setup(ctx)        allocate, generate data, pre-train; not measured
//   step(ctx) ...     warm-up steps (excluded), then measured steps until both
//                     run.min_time_s and run.min_iterations are reached
//   finish(ctx)       write science metrics into ctx.metrics()
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "motifbench/config.hpp"
#include "motifbench/coupling.hpp"
#include "motifbench/run_context.hpp"

namespace motifbench {

class Motif {
 public:
  virtual ~Motif() = default;
  virtual void setup(RunContext& ctx) = 0;
  virtual void step(RunContext& ctx) = 0;
  virtual void finish(RunContext& ctx) = 0;
  /// True once the motif has nothing left to do (e.g. a solution was found or
  /// the budget is spent); the runner then ends the measured part early.
  virtual bool done() const { return false; }
};

/// A size profile: overrides of config keys, as text, keyed by size name.
using SizeProfiles = std::map<std::string, std::map<std::string, std::string>>;

struct MotifInfo {
  std::string name;         ///< e.g. "digital_replica"
  std::string summary;      ///< one line: what it models
  std::vector<Coupling> couplings;  ///< modes this build supports for it
  /// Adds the motif's own keys to the schema (the harness adds run.* and energy.*).
  std::function<void(ConfigSchema&)> declare_config;
  /// Must define tiny, small, medium and large.
  SizeProfiles sizes;
  /// Optional: rules between keys that per-key ranges cannot express (e.g. a
  /// fraction in (0, 1], churn below the ensemble size). Returns "" when the
  /// config is acceptable, else a message naming the valid range; the CLI
  /// then refuses to run.
  std::function<std::string(const Config&)> check_config;
  /// Optional: an upper estimate of one rank's peak memory in bytes for this
  /// config (fields, buffers, model activations). The CLI refuses, before
  /// anything is allocated, a run whose ranks on a node would exceed the
  /// node's memory, and names the estimate.
  std::function<double(const Config&)> memory_bytes;
  std::function<std::unique_ptr<Motif>()> create;
};

}  // namespace motifbench
