// What a coupling mode needs for a run: servers and a staging store, embedded
// (started here) or given by address. Built once per invocation, before the
// repetitions, and torn down at exit.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "coupling/grpc_client.hpp"
#include "coupling/services.hpp"
#include "motifbench/config.hpp"
#include "motifbench/coupling.hpp"
#include "motifbench/staging.hpp"

namespace motifbench::detail {

struct CouplingEnv {
  Coupling mode = Coupling::Tight;
  Services services;                   // embedded children (rank 0 only)
  std::vector<ServiceInfo> service_info;
  RemoteOptions remote;                // endpoints etc. for semi-tight / loose
  std::unique_ptr<StagingStore> store;
  /// Rank 0: watches the embedded children and the external services.
  std::unique_ptr<ServiceWatcher> watcher;
};

/// Starts or connects what `mode` needs. Under MPI, rank 0 starts embedded
/// services and broadcasts their addresses. Throws std::runtime_error naming
/// the component that failed (every rank throws the same message).
std::unique_ptr<CouplingEnv> prepare_coupling(const Config& config, Coupling mode, int rank, int nranks);

}  // namespace motifbench::detail
