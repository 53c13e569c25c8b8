// Keys every run has, whatever the motif (run.*, energy.*).
#pragma once

#include "motifbench/config.hpp"

namespace motifbench::detail {

void declare_harness_config(ConfigSchema& schema);

}  // namespace motifbench::detail
