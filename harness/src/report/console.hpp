// Human-readable summary of a RunResult. Formats only.
#pragma once

#include <cstdio>

#include "core/run_result.hpp"

namespace motifbench::detail {

void print_console(std::FILE* out, const RunResult& r);

}  // namespace motifbench::detail
