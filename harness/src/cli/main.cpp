#include "cli/cli.hpp"

int main(int argc, char** argv) { return motifbench::detail::cli_main(argc, argv); }
