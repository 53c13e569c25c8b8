// Mini-apps built outside this tree, loaded at run time:
//
//   // mine.cpp, built against an installed motifbench (find_package(motifbench);
//   // motifbench_add_plugin(mine mine.cpp)):
//   void register_mine(motifbench::Registry& registry) { registry.add(...); }
//   MOTIFBENCH_PLUGIN(register_mine)
//
//   motifbench --plugin=./libmine.so --motif=mine     (or MOTIFBENCH_PLUGINS=a.so:b.so)
//
// A plugin is a shared object that uses only the public headers (motifbench/*.hpp);
// it resolves the harness's symbols against the motifbench executable that
// loads it and must use the same Kokkos. The API version below changes when
// these headers change incompatibly; motifbench refuses a plugin built against
// another version.
#pragma once

#include "motifbench/registry.hpp"

#define MOTIFBENCH_PLUGIN_API_VERSION 1

#define MOTIFBENCH_PLUGIN(register_function)                                                      \
  extern "C" int motifbench_plugin_api_version() { return MOTIFBENCH_PLUGIN_API_VERSION; }       \
  extern "C" void motifbench_plugin_register(::motifbench::Registry& registry) { register_function(registry); }
