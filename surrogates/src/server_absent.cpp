// `motifbench serve` in a build without gRPC (MOTIFBENCH_WITH_GRPC=OFF, or
// gRPC not found when configuring): the command says so and exits 2.
#include <cstdio>
#include <stdexcept>

#include "motifbench/surrogates/server.hpp"

namespace motifbench::surrogates {
namespace {
constexpr const char* kNoGrpc =
    "this build of motifbench has no gRPC (configured with MOTIFBENCH_WITH_GRPC=OFF, or gRPC was not found), so it "
    "cannot serve models; rebuild with gRPC (scripts/setup.sh installs it)";
}

std::unique_ptr<InferenceServer> start_server(const ServerOptions&) { throw std::runtime_error(kNoGrpc); }

int serve_main(int, char**, const std::string&) {
  std::fprintf(stderr, "motifbench serve: error: %s\n", kNoGrpc);
  return 2;
}

}  // namespace motifbench::surrogates
