#include "coupling/components.hpp"

#include "build_info.hpp"

namespace motifbench::detail {

const std::vector<Component>& build_components() {
  static const std::vector<Component> all{
      {"grpc", MOTIFBENCH_HAVE_GRPC != 0, "semi-tight and loose coupling, motifbench serve"},
      {"redis", MOTIFBENCH_HAVE_REDIS != 0, "coupling.staging=redis (loose's default staging)"},
      {"mpi", MOTIFBENCH_HAVE_MPI != 0, "several ranks under mpiexec or srun"},
      {"papi", MOTIFBENCH_HAVE_PAPI != 0, "hardware counters (--counters)"},
  };
  return all;
}

bool have_component(const std::string& name) {
  for (const auto& c : build_components())
    if (name == c.name) return c.built;
  return false;
}

std::string missing_component_message(const std::string& name) {
  std::string option = "MOTIFBENCH_WITH_";
  for (char ch : name) option += static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch);
  std::string what = name;
  for (const auto& c : build_components())
    if (name == c.name) what = c.enables;
  return "this build of motifbench has no " + name + " (configured with " + option + "=OFF, or " + name +
         " was not found), which " + what + " needs; rebuild with it (scripts/setup.sh installs it)";
}

std::string coupling_unavailable(Coupling mode, const std::string& staging) {
  const bool remote = mode == Coupling::SemiTight || mode == Coupling::Loose;
  if (remote && !have_component("grpc"))
    return std::string("--coupling=") + to_string(mode) + ": " + missing_component_message("grpc") +
           ". This build runs: tight, none";
  const bool redis = staging == "redis" || (staging == "auto" && mode == Coupling::Loose);
  if (redis && !have_component("redis"))
    return std::string(staging == "auto" ? "--coupling=loose stages through Redis by default: " : "coupling.staging=redis: ") +
           missing_component_message("redis") + ". Without it choose coupling.staging=memory, shm or file";
  return "";
}

}  // namespace motifbench::detail
