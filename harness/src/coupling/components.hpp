// The optional components of this build (CMake options MOTIFBENCH_WITH_GRPC,
// _REDIS, _MPI, _PAPI): which are in, and what a run that needs a missing one
// is told.
#pragma once

#include <string>
#include <vector>

#include "motifbench/coupling.hpp"

namespace motifbench::detail {

struct Component {
  const char* name;     ///< "grpc" | "redis" | "mpi" | "papi"
  bool built;           ///< compiled into this binary
  const char* enables;  ///< what it is for
};

/// Every optional component, in or out of this build.
const std::vector<Component>& build_components();
bool have_component(const std::string& name);

/// Why `name` is unavailable and how to get it, for error messages.
std::string missing_component_message(const std::string& name);

/// Empty when this build can run `mode` with staging `staging` ("auto" or a
/// kind); otherwise the message naming what the build lacks and what it can run.
std::string coupling_unavailable(Coupling mode, const std::string& staging);

}  // namespace motifbench::detail
