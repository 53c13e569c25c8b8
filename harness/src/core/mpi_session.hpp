// MPI only where a launcher started the process.
//
// Initialising MPI in a single-process run is not free: MPICH's UCX layer
// opens TCP listeners on every interface and installs signal handlers that
// turn a crash into a hang. So MPI is initialised only when a launcher's
// environment is present (mpiexec/Hydra, srun, PMIx, PALS, ALPS ...), or when
// MOTIFBENCH_MPI=on asks for it. Everything else runs as one rank.
#pragma once

#include <string>

namespace motifbench::detail {

struct MpiDecision {
  bool initialise = false;
  std::string reason;  // why, recorded in the result's context
  std::string error;   // non-empty: MOTIFBENCH_MPI has a value we do not know
};

// Pure: decides from a getenv-like lookup (tests pass a fake environment).
MpiDecision decide_mpi(const char* (*lookup)(const char*));

// Initialises MPI (MPI_THREAD_FUNNELED) if decided; returns the decision.
MpiDecision start_mpi(int* argc, char*** argv);
// True between a start_mpi that initialised MPI and stop_mpi.
bool mpi_active();
void stop_mpi();

// Rank and size of MPI_COMM_WORLD, or 0 and 1 without MPI.
int world_rank();
int world_size();
// Ranks of this node (MPI's shared-memory split), or 1 without MPI. Collective.
int node_local_ranks();

}  // namespace motifbench::detail
