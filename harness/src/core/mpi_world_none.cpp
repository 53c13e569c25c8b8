// mpi_session.hpp in a build without MPI (MOTIFBENCH_WITH_MPI=OFF, or no MPI
// found): always one rank. Started by a launcher, the run refuses, since every
// process would be rank 0 of 1 and write the same result.
#include <cstdlib>
#include <string>

#include "core/mpi_session.hpp"

namespace motifbench::detail {

MpiDecision start_mpi(int*, char***) {
  MpiDecision d = decide_mpi([](const char* name) -> const char* { return std::getenv(name); });
  if (d.initialise && d.error.empty())
    d.error = "this build of motifbench has no MPI (configured with MOTIFBENCH_WITH_MPI=OFF, or MPI was not found), "
              "but MPI was asked for (" + d.reason + "): every process would be rank 0 of 1 and write the same result. Run it without a launcher "
              "(MOTIFBENCH_MPI=off ignores the launcher), or rebuild with MPI (scripts/setup.sh installs MPICH)";
  d.initialise = false;
  if (d.error.empty()) d.reason = "not initialised: this build has no MPI (one rank)";
  return d;
}

bool mpi_active() { return false; }
void stop_mpi() {}
int world_rank() { return 0; }
int world_size() { return 1; }

const NodeLayout& node_layout() {
  static const NodeLayout layout = local_node_names();
  return layout;
}

int node_local_ranks() { return 1; }
std::string world_bcast_text(const std::string& text) { return text; }
std::string node_bcast_text(const std::string& text) { return text; }
std::vector<std::string> allgather_text(const std::string& mine) { return {mine}; }
std::vector<std::string> gather_text(const std::string& mine) { return {mine}; }
void world_barrier() {}
bool world_any(bool local) { return local; }
void world_sum(double*, std::size_t) {}
void world_sum(float*, std::size_t) {}
int world_bcast_int(int value) { return value; }
std::string mpi_library_version() { return ""; }

}  // namespace motifbench::detail
