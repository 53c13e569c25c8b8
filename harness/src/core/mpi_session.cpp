#include "core/mpi_session.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace motifbench::detail {

namespace {

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

NodeLayout local_node_names() {
  NodeLayout layout;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown");
  layout.host = host;
  layout.name = host;
  const char* var = std::getenv("MOTIFBENCH_NODE_VAR");
  if (var != nullptr && *var != '\0') {
    const char* value = std::getenv(var);
    layout.name = value ? value : std::string("(") + var + " unset)";
  }
  return layout;
}

}  // namespace motifbench::detail
