// Keys every run has, whatever the motif (run.*, energy.*).
#pragma once

#include <string>

#include "motifbench/config.hpp"

namespace motifbench::detail {

void declare_harness_config(ConfigSchema& schema);

/// Checks the harness keys that name files (TLS) before a run starts; returns
/// what is wrong, or an empty string.
std::string check_harness_config(const Config& cfg);

}  // namespace motifbench::detail
