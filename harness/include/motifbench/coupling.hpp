// Coupling modes (DESIGN.md section 3).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace motifbench {

enum class Coupling {
  None,       ///< AI switched off: the baseline the other modes are measured against
  Tight,      ///< same process, in memory, one-to-one
  SemiTight,  ///< a server process on the same node (gRPC over a Unix socket)
  Loose,      ///< a service on other nodes (gRPC over TCP), many-to-many
};

const char* to_string(Coupling c);
std::optional<Coupling> parse_coupling(const std::string& text);
/// Every mode, in the order tight, semi-tight, loose, none.
const std::vector<Coupling>& all_couplings();

}  // namespace motifbench
