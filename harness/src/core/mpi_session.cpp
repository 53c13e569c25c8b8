#include "core/mpi_session.hpp"

#include <mpi.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace motifbench::detail {

namespace {

bool g_active = false;
MPI_Comm g_node = MPI_COMM_NULL;

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

// Rank 0 of `comm`'s text on every rank of it. Collective on `comm`.
std::string bcast_on(MPI_Comm comm, std::string text) {
  int len = static_cast<int>(text.size());
  MPI_Bcast(&len, 1, MPI_INT, 0, comm);
  text.resize(static_cast<std::size_t>(len));
  MPI_Bcast(text.data(), len, MPI_CHAR, 0, comm);
  return text;
}

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
  if (g_node != MPI_COMM_NULL) MPI_Comm_free(&g_node);
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

std::vector<std::string> allgather_text(const std::string& mine) {
  if (!g_active) return {mine};
  const int n = world_size();
  int len = static_cast<int>(mine.size());
  std::vector<int> lens(static_cast<std::size_t>(n)), displs(static_cast<std::size_t>(n));
  MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, MPI_COMM_WORLD);
  int total = 0;
  for (int r = 0; r < n; ++r) {
    displs[static_cast<std::size_t>(r)] = total;
    total += lens[static_cast<std::size_t>(r)];
  }
  std::string all(static_cast<std::size_t>(total), '\0');
  MPI_Allgatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, MPI_COMM_WORLD);
  std::vector<std::string> out;
  for (int r = 0; r < n; ++r)
    out.push_back(all.substr(static_cast<std::size_t>(displs[static_cast<std::size_t>(r)]),
                             static_cast<std::size_t>(lens[static_cast<std::size_t>(r)])));
  return out;
}

const NodeLayout& node_layout() {
  static NodeLayout layout;
  static bool done = false;
  if (done) return layout;
  done = true;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown");
  layout.host = host;
  layout.name = host;
  const char* var = std::getenv("MOTIFBENCH_NODE_VAR");
  if (var != nullptr && *var != '\0') {
    const char* value = std::getenv(var);
    layout.name = value ? value : std::string("(") + var + " unset)";
  }
  if (!g_active) return layout;
  const int me = world_rank();
  if (var != nullptr && *var != '\0') {
    const auto names = allgather_text(layout.name);
    int color = 0;
    while (names[static_cast<std::size_t>(color)] != layout.name) ++color;
    MPI_Comm_split(MPI_COMM_WORLD, color, me, &g_node);
  } else {
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, me, MPI_INFO_NULL, &g_node);
  }
  MPI_Comm_rank(g_node, &layout.local_rank);
  MPI_Comm_size(g_node, &layout.local_size);
  return layout;
}

int node_local_ranks() { return node_layout().local_size; }

std::string world_bcast_text(const std::string& text) {
  return g_active ? bcast_on(MPI_COMM_WORLD, text) : text;
}

std::string node_bcast_text(const std::string& text) {
  return g_active && node_layout().local_size > 1 ? bcast_on(g_node, text) : text;
}

}  // namespace motifbench::detail
