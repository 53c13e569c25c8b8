#pragma once

namespace motifbench::detail {

/// The whole command line program; returns the process exit code:
/// 0 valid result, 1 the run failed or is invalid, 2 bad usage or input.
int cli_main(int argc, char** argv);

}  // namespace motifbench::detail
