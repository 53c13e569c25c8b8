// `motifbench sweep`: runs a matrix of motif x coupling x size, one child
// process per cell, so one failing cell never spoils the rest.
#pragma once

namespace motifbench::detail {

int sweep_main(int argc, char** argv);

}  // namespace motifbench::detail
