// Gradient averaging on the GPU with NCCL, for data-parallel training whose
// model is on a GPU (one GPU per rank). NCCL and the CUDA runtime are loaded
// with dlopen at run time, so the build needs neither.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "motifbench/surrogate.hpp"

namespace motifbench::detail {

/// Receives the reducer's timings: "straggler_wait" and "allreduce", in ns.
using ReducerSink = std::function<void(const char* channel, double ns)>;

/// An NCCL communicator over MPI_COMM_WORLD's ranks (the unique id goes
/// through MPI), on CUDA device `device_index`. allreduce_sum() takes device
/// pointers (memory_space() is Cuda) and returns when the sum is in place
/// (the stream is synchronised). Throws std::runtime_error naming the
/// library, symbol or call that failed.
std::unique_ptr<GradientReducer> make_nccl_reducer(const std::string& nccl_library, int device_index,
                                                   ReducerSink sink);

}  // namespace motifbench::detail
