// The Redis staging store in a build without hiredis: the CLI refuses
// coupling.staging=redis before a run starts (components.hpp).
#include <stdexcept>

#include "coupling/components.hpp"
#include "coupling/stores.hpp"

namespace motifbench::detail {

std::unique_ptr<StagingStore> make_redis_store(const std::string&, int, double, const std::string&) {
  throw std::runtime_error(missing_component_message("redis"));
}

std::string probe_redis(const std::string&, int, double, const std::string&) {
  throw std::runtime_error(missing_component_message("redis"));
}

}  // namespace motifbench::detail
