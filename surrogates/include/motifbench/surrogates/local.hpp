// The in-process (tight) surrogate runtime. Declares no LibTorch types, so the
// harness can include it without paying for <torch/...>.
#pragma once

#include <memory>
#include <string>

#include "motifbench/surrogate.hpp"

namespace motifbench::surrogates {

/// An in-process client: the built-in MLP of `spec`, or the TorchScript model at
/// spec.path. Throws std::runtime_error when the file cannot be loaded or its
/// shapes do not match the spec.
std::unique_ptr<SurrogateClient> make_local_client(const SurrogateSpec& spec);

/// Sets LibTorch's intra-op threads (0: one per online core). Call once, before
/// any model runs. Inter-op threads are set to 1: the harness never runs two
/// ops concurrently.
void set_threads(int intra_op_threads);
int threads();
std::string torch_version();

}  // namespace motifbench::surrogates
