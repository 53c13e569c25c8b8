// The in-process (tight) surrogate runtime. Declares no LibTorch types, so the
// harness can include it without paying for <torch/...>.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "motifbench/surrogate.hpp"

namespace motifbench::surrogates {

/// An in-process client: the built-in MLP of `spec`, or the TorchScript model at
/// spec.path, on `device` (auto, cpu, cuda or cuda:N; see resolve_device).
/// `kernels` (coupling.kernels, one of kernel_choices()) is how the built-in
/// MLP infers on the CPU: "auto" (row loops for small batches, blocked
/// sgemm for layers up to 64 wide, oneDNN for larger batches where LibTorch
/// has it, LibTorch's addmm otherwise; the bounds depend on the width, see
/// BuiltinMlp) or "libtorch" (addmm at every size).
/// Throws std::runtime_error when the file cannot be loaded, its shapes do
/// not match the spec, the device is not there, or `kernels` is unknown.
std::unique_ptr<SurrogateClient> make_local_client(const SurrogateSpec& spec, const std::string& device = "cpu",
                                                   const std::string& kernels = "auto");

/// The values of `kernels` above (coupling.kernels, serve --kernels); the
/// first is the default.
inline const std::vector<std::string>& kernel_choices() {
  static const std::vector<std::string> choices{"auto", "libtorch"};
  return choices;
}

/// The LibTorch device for a requested one: "cpu"; "cuda:N"; "cuda" (the
/// GPU local_rank mod the GPUs LibTorch sees); "auto" (that GPU when there is
/// one, else cpu). Returns "" with `why` (naming the valid choices) when the
/// device is malformed or absent.
std::string resolve_device(const std::string& requested, int local_rank, std::string* why);

/// What this LibTorch was built with and sees.
struct TorchBuild {
  std::string version;
  bool cuda = false;         ///< built with CUDA
  std::string cuda_version;  ///< CUDA runtime it was built against ("" without)
  int gpus = 0;              ///< GPUs it sees
};
TorchBuild torch_build();

/// Sets LibTorch's intra-op threads (0: one per online core) and OpenBLAS'
/// pool to the same count. Call once, before any model runs. Inter-op
/// threads are set to 1: the harness never runs two ops concurrently.
void set_threads(int intra_op_threads);
int threads();
/// Makes the calling thread's OpenMP thread count set_threads()'s. OpenMP
/// keeps that count per thread: set_threads() sets it in the thread that
/// calls it, and every other thread starts with one per core, which oneDNN
/// uses as it is (LibTorch's own kernels set it on their first parallel
/// loop). So a server's gRPC threads ran oneDNN's layers on two threads
/// after `--threads 1`, each waking the other several times per call. Call
/// it in each thread before a model runs (cheap after the first call).
void adopt_threads();
std::string torch_version();

/// Process settings that the figures depend on and that must be in the
/// environment before the C library and OpenMP start, so the process
/// re-executes itself once (`argv` as given to main) when any is missing:
/// - OMP_WAIT_POLICY=passive, unless set: spinning OpenMP threads burn the
///   cores that the simulation, the servers and the other ranks need;
/// - OPENBLAS_THREAD_TIMEOUT=4, unless set: OpenBLAS's idle workers sleep
///   at once instead of spinning on sched_yield for 2^28 cycles (its
///   default) after every call, which took a core from LibTorch's own
///   OpenMP workers between the matrix products;
/// - GLIBC_TUNABLES, unless set, keeps freed blocks in the heap
///   (mmap_threshold 1 GiB, trim_threshold 4 GiB, one arena): LibTorch
///   allocates every activation afresh, and above glibc's default threshold
///   each one is a new mapping whose pages fault in on first touch, which
///   cost 8-10x the inference itself at 16384 to 262144 rows.
/// Returns only when nothing was missing or the exec failed; then installs
/// LibTorch's CPU allocator with a cache of freed blocks of 1 MiB and more by
/// size (at most 1 GiB cached): glibc cannot reuse a freed 64-byte-aligned
/// block for a request of the same size, so with small allocations between
/// inferences (a server's RPCs) the heap grew without bound and each
/// inference touched fresh pages.
void ensure_runtime_settings(char** argv);

}  // namespace motifbench::surrogates
