// MPI only where a launcher started the process.
//
// Initialising MPI in a single-process run is not free: MPICH's UCX layer
// opens TCP listeners on every interface and installs signal handlers that
// turn a crash into a hang. So MPI is initialised only when a launcher's
// environment is present (mpiexec/Hydra, srun, PMIx, PALS, ALPS ...), or when
// MOTIFBENCH_MPI=on asks for it. Everything else runs as one rank.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace motifbench::detail {

struct MpiDecision {
  bool initialise = false;
  std::string reason;  // why, recorded in the result's context
  std::string error;   // non-empty: MOTIFBENCH_MPI has a value we do not know
};

// Pure: decides from a getenv-like lookup (tests pass a fake environment).
MpiDecision decide_mpi(const char* (*lookup)(const char*));

// Initialises MPI (MPI_THREAD_FUNNELED) if decided; returns the decision.
// In a build without MPI (MOTIFBENCH_WITH_MPI=OFF) a launcher's environment
// is an error (d.error): N copies of one rank would each write the result.
MpiDecision start_mpi(int* argc, char*** argv);
// True between a start_mpi that initialised MPI and stop_mpi.
bool mpi_active();
void stop_mpi();

// Rank and size of MPI_COMM_WORLD, or 0 and 1 without MPI.
int world_rank();
int world_size();
// The ranks of a node: MPI's shared-memory split, or, when
// MOTIFBENCH_NODE_VAR names an environment variable (e.g. SLURMD_NODENAME),
// the ranks whose value of it is the same (to emulate several nodes on one
// host). Collective the first time; cached after.
struct NodeLayout {
  std::string name;      // the host name, or the value of $MOTIFBENCH_NODE_VAR
  std::string host;      // gethostname()
  int local_rank = 0;    // rank within the node
  int local_size = 1;    // ranks on the node
};
const NodeLayout& node_layout();
// The host and node names of this process, without MPI (node_layout's start).
NodeLayout local_node_names();
int node_local_ranks();
// World rank 0's text on every rank. Collective.
std::string world_bcast_text(const std::string& text);
// Rank `local_rank` 0's text on every rank of its node. Collective on the node.
std::string node_bcast_text(const std::string& text);
// Every rank's text, in world rank order. Collective.
std::vector<std::string> allgather_text(const std::string& mine);
// Every rank's text at rank 0, in world rank order (empty elsewhere). Collective.
std::vector<std::string> gather_text(const std::string& mine);
// Collectives over MPI_COMM_WORLD; without MPI, the operation over one rank.
void world_barrier();
bool world_any(bool local);  // logical or
void world_sum(double* values, std::size_t n);
void world_sum(float* values, std::size_t n);
int world_bcast_int(int value);
// MPI_Get_library_version's first line ("" without MPI).
std::string mpi_library_version();

}  // namespace motifbench::detail
