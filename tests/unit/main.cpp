// Unit-test main: the runner needs Kokkos; MPI starts as in the tool (only
// under a launcher), so the tests see what a single-process run sees.
#include <gtest/gtest.h>

#include <cstdio>

#include <Kokkos_Core.hpp>

#include "core/mpi_session.hpp"

int main(int argc, char** argv) {
  const auto mpi = motifbench::detail::start_mpi(&argc, &argv);
  if (!mpi.error.empty()) {
    std::fprintf(stderr, "%s\n", mpi.error.c_str());
    return 2;
  }
  ::testing::InitGoogleTest(&argc, argv);
  Kokkos::initialize(argc, argv);
  int rc = RUN_ALL_TESTS();
  Kokkos::finalize();
  motifbench::detail::stop_mpi();
  return rc;
}
