// The remote client in a build without gRPC: the CLI refuses semi-tight and
// loose before a run starts (components.hpp), so these are reached only by a
// caller that skipped that check.
#include <stdexcept>

#include "coupling/components.hpp"
#include "coupling/grpc_client.hpp"

namespace motifbench::detail {

std::unique_ptr<SurrogateClient> make_grpc_client(const SurrogateSpec&, const RemoteOptions&, LatencySink) {
  throw std::runtime_error(missing_component_message("grpc"));
}

std::string wait_server_ready(const std::string&, double, const ChannelSecurity&) {
  throw std::runtime_error(missing_component_message("grpc"));
}

}  // namespace motifbench::detail
