// motifbench-do-member: one ensemble member of Dynamic Orchestration as a
// process of its own (ensemble.members_as=processes; see members.hpp). It
// links Kokkos and nothing heavier, as a workflow's simulation program would,
// so its launch costs what such a program's launch costs.
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <Kokkos_Core.hpp>

#include "members.hpp"

namespace motifbench::dynamic_orchestration {
namespace {

// Start, then Step after Step until the parent closes the socket.
int member_main() {
  using Host = Kokkos::DefaultHostExecutionSpace;
  MemberStart start;
  if (!worker_receive(&start, sizeof start)) return 0;
  if (start.particles <= 0 || start.bins <= 0) throw std::runtime_error("malformed start message");
  Kokkos::View<float* [2], Kokkos::LayoutRight, Kokkos::HostSpace> pos("member::positions", start.particles);
  Kokkos::View<int*, Kokkos::HostSpace> visited("member::visited", static_cast<std::size_t>(start.bins) * start.bins);
  std::vector<std::uint8_t> bins(visited.extent(0));
  if (!worker_receive(pos.data(), sizeof(float) * 2 * pos.extent(0))) return 0;
  const char ready = 'R';
  worker_send(&ready, 1);
  MemberStep cmd;
  while (worker_receive(&cmd, sizeof cmd)) {
    Kokkos::deep_copy(visited, 0);
    langevin<Host>("dynamic_orchestration::member_langevin", start.land, static_cast<int>(cmd.substeps), start.seed,
                   cmd.step0, pos, visited, start.bins, start.index0);
    Kokkos::fence();
    for (std::size_t b = 0; b < bins.size(); ++b) bins[b] = visited(b) != 0;
    worker_send(pos.data(), sizeof(float) * 2 * pos.extent(0));
    worker_send(bins.data(), bins.size());
  }
  return 0;  // the parent closed the socket: this member was terminated
}

}  // namespace
}  // namespace motifbench::dynamic_orchestration

int main(int argc, char** argv) {
  if (const std::string why = motifbench::worker_start(argc, argv); !why.empty()) {
    std::fprintf(stderr, "motifbench-do-member: %s (ensemble.members_as=processes)\n", why.c_str());
    return 2;
  }
  // One thread: the ensemble's parallelism is its processes.
#if KOKKOS_VERSION >= 30700
  Kokkos::ScopeGuard kokkos(Kokkos::InitializationSettings().set_num_threads(1));
#else
  Kokkos::InitArguments args;
  args.num_threads = 1;
  Kokkos::ScopeGuard kokkos(args);
#endif
  try {
    return motifbench::dynamic_orchestration::member_main();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "motifbench-do-member: error: %s\n", e.what());
    return 1;
  }
}
