// tanh over a float array with glibc's vector tanhf (libmvec, 8 lanes) where
// the CPU has AVX2, else the scalar std::tanh. LibTorch's own tanh costs
// about three times as much on this path's sizes.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace motifbench::surrogates {

#if defined(__x86_64__)
// glibc's vector tanhf for AVX2 (libmvec, glibc 2.35 and later).
extern "C" __attribute__((target("avx2"))) __m256 _ZGVdN8v_tanhf(__m256 x);

__attribute__((target("avx2"))) inline void tanh_avx2(float* p, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(p + i, _ZGVdN8v_tanhf(_mm256_loadu_ps(p + i)));
  for (; i < n; ++i) p[i] = std::tanh(p[i]);
}

inline bool has_vector_tanh() {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2;
}
#else
inline bool has_vector_tanh() { return false; }
#endif

/// In place over n values, on this thread.
inline void tanh_vector(float* p, std::int64_t n) {
#if defined(__x86_64__)
  if (has_vector_tanh()) return tanh_avx2(p, n);
#endif
  for (std::int64_t i = 0; i < n; ++i) p[i] = std::tanh(p[i]);
}

}  // namespace motifbench::surrogates
