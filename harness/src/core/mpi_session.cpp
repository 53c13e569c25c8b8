#include "core/mpi_session.hpp"

#include <mpi.h>

#include <cstdlib>
#include <string>

namespace motifbench::detail {

namespace {

bool g_active = false;

// Variables that a launcher sets in each process it starts.
constexpr const char* kLauncherVars[] = {
    "PMI_RANK",            // MPICH Hydra, Intel MPI, srun --mpi=pmi2
    "PMI_FD",              // Hydra / PMI-1 and PMI-2 wire-up
    "PMIX_RANK",           // PMIx: Open MPI's prterun, srun --mpi=pmix
    "OMPI_COMM_WORLD_SIZE",// Open MPI mpirun
    "MPI_LOCALNRANKS",     // Hydra
    "PALS_RANKID",         // HPE PALS (mpiexec on Polaris, Aurora)
    "ALPS_APP_PE",         // Cray ALPS aprun
    "MV2_COMM_WORLD_RANK", // MVAPICH mpirun_rsh
};

}  // namespace

MpiDecision decide_mpi(const char* (*lookup)(const char*)) {
  MpiDecision d;
  const char* forced = lookup("MOTIFBENCH_MPI");
  const std::string mode = forced ? forced : "auto";
  if (mode == "on") {
    d.initialise = true;
    d.reason = "initialised: MOTIFBENCH_MPI=on";
    return d;
  }
  if (mode == "off") {
    d.reason = "not initialised: MOTIFBENCH_MPI=off";
    return d;
  }
  if (mode != "auto" && !mode.empty()) {
    d.error = "MOTIFBENCH_MPI=" + mode + " is not valid; valid: auto (initialise under a launcher), on, off";
    return d;
  }
  for (const char* var : kLauncherVars) {
    if (lookup(var)) {
      d.initialise = true;
      d.reason = std::string("initialised: launcher found (") + var + ")";
      return d;
    }
  }
  // srun with several tasks and no PMI variables (e.g. a PMI library that
  // reads SLURM_* itself).
  const char* step_tasks = lookup("SLURM_STEP_NUM_TASKS");
  if (lookup("SLURM_STEP_ID") && step_tasks && std::atoi(step_tasks) > 1) {
    d.initialise = true;
    d.reason = "initialised: launcher found (SLURM_STEP_NUM_TASKS)";
    return d;
  }
  d.reason = "not initialised: no launcher found (one rank; MOTIFBENCH_MPI=on forces MPI)";
  return d;
}

MpiDecision start_mpi(int* argc, char*** argv) {
  MpiDecision d = decide_mpi([](const char* name) -> const char* { return std::getenv(name); });
  if (d.initialise && d.error.empty()) {
    int provided = 0;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    g_active = true;
  }
  return d;
}

bool mpi_active() { return g_active; }

void stop_mpi() {
  if (g_active) MPI_Finalize();
  g_active = false;
}

int world_rank() {
  int rank = 0;
  if (g_active) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int world_size() {
  int size = 1;
  if (g_active) MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

int node_local_ranks() {
  if (!g_active) return 1;
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank(), MPI_INFO_NULL, &node);
  int local = 1;
  MPI_Comm_size(node, &local);
  MPI_Comm_free(&node);
  return local;
}

}  // namespace motifbench::detail
