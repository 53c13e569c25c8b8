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
  Services services;                   // embedded children (rank 0; node leaders for node-local servers)
  std::vector<ServiceInfo> service_info;  // what this rank started or was given
  std::vector<ServiceInfo> other_nodes;   // rank 0: the node-local servers of the other nodes
  std::vector<RankPlacement> placements;  // rank 0: every rank's servers and node
  RemoteOptions remote;                // endpoints etc. for semi-tight / loose
  std::unique_ptr<StagingStore> store;
  /// Rank 0: watches the embedded children and the external services.
  std::unique_ptr<ServiceWatcher> watcher;
};

/// Starts or connects what `mode` needs. Under MPI, rank 0 starts embedded
/// services and broadcasts their addresses, except semi-tight's servers,
/// which are node-local: the first rank of each node starts
/// coupling.servers_per_node of them (default coupling.servers) and the ranks
/// of that node use only those, over Unix sockets. Throws std::runtime_error naming
/// the component that failed (every rank throws the same message).
std::unique_ptr<CouplingEnv> prepare_coupling(const Config& config, Coupling mode, int rank);

}  // namespace motifbench::detail
