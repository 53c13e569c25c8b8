// The MPI side of mpi_session.hpp (builds with MOTIFBENCH_WITH_MPI).
#include <mpi.h>

#include <array>
#include <cstdlib>
#include <string>

#include "core/mpi_session.hpp"

namespace motifbench::detail {

namespace {

bool g_active = false;
MPI_Comm g_node = MPI_COMM_NULL;

// Rank 0 of `comm`'s text on every rank of it. Collective on `comm`.
std::string bcast_on(MPI_Comm comm, std::string text) {
  int len = static_cast<int>(text.size());
  MPI_Bcast(&len, 1, MPI_INT, 0, comm);
  text.resize(static_cast<std::size_t>(len));
  MPI_Bcast(text.data(), len, MPI_CHAR, 0, comm);
  return text;
}

}  // namespace

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
  layout = local_node_names();
  if (!g_active) return layout;
  const int me = world_rank();
  const char* var = std::getenv("MOTIFBENCH_NODE_VAR");
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

void world_barrier() {
  if (g_active) MPI_Barrier(MPI_COMM_WORLD);
}

bool world_any(bool local) {
  if (!g_active) return local;
  int v = local ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
  return v != 0;
}

void world_sum(double* values, std::size_t n) {
  if (g_active) MPI_Allreduce(MPI_IN_PLACE, values, static_cast<int>(n), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

void world_sum(float* values, std::size_t n) {
  if (g_active) MPI_Allreduce(MPI_IN_PLACE, values, static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

int world_bcast_int(int value) {
  if (g_active) MPI_Bcast(&value, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return value;
}

std::vector<std::string> gather_text(const std::string& mine) {
  if (!g_active) return {mine};
  const int n = world_size(), me = world_rank();
  int len = static_cast<int>(mine.size());
  std::vector<int> lens(static_cast<std::size_t>(n)), displs(static_cast<std::size_t>(n));
  MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  int total = 0;
  for (int r = 0; r < n; ++r) {
    displs[static_cast<std::size_t>(r)] = total;
    total += lens[static_cast<std::size_t>(r)];
  }
  std::string all(me == 0 ? static_cast<std::size_t>(total) : 0, '\0');
  MPI_Gatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, 0, MPI_COMM_WORLD);
  std::vector<std::string> out;
  if (me != 0) return out;
  for (int r = 0; r < n; ++r)
    out.push_back(all.substr(static_cast<std::size_t>(displs[static_cast<std::size_t>(r)]),
                             static_cast<std::size_t>(lens[static_cast<std::size_t>(r)])));
  return out;
}

std::string mpi_library_version() {
  std::array<char, MPI_MAX_LIBRARY_VERSION_STRING> lib{};
  int len = 0;
  MPI_Get_library_version(lib.data(), &len);
  std::string text(lib.data(), static_cast<std::size_t>(len));
  const auto nl = text.find('\n');
  return nl == std::string::npos ? text : text.substr(0, nl);
}

}  // namespace motifbench::detail
