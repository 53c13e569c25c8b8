// Small Kokkos helpers shared by mini-app kernels (header-only, device-safe).
#pragma once

#include <Kokkos_Core.hpp>
#include <cstdint>

/// Host loops that the compiler vectorises: on x86-64 with GCC or Clang, the
/// function is built twice, for AVX2 and for the baseline, and the loader
/// picks the one this CPU runs (an ifunc), so one binary stays portable. No
/// FMA: the AVX2 clone rounds exactly as the baseline does, so results are
/// bit-identical on every x86-64 CPU. Elsewhere (and in CUDA translation
/// units) it is empty.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__) && \
    !defined(MOTIFBENCH_NO_TARGET_CLONES)
#define MOTIFBENCH_HOST_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MOTIFBENCH_HOST_CLONES
#endif

namespace motifbench {

// Math functions moved from Kokkos::Experimental to Kokkos in 3.7; kernels
// call kmath::exp etc. and work with any Kokkos >= 3.4.
#if KOKKOS_VERSION >= 30700
namespace kmath = ::Kokkos;
#else
namespace kmath = ::Kokkos::Experimental;
#endif

/// splitmix64 finaliser: a counter-based random stream, so kernels give the
/// same numbers on every backend and thread count.
KOKKOS_INLINE_FUNCTION std::uint64_t hash64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// A float in [0, 1) from a hash.
KOKKOS_INLINE_FUNCTION float unit_float(std::uint64_t h) {
  return static_cast<float>((h >> 40) * (1.0 / 16777216.0));
}

}  // namespace motifbench
