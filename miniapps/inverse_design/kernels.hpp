// Kokkos kernels of the inverse-design forward model. Templates on the
// execution space.
//
// The forward simulation: the steady temperature of a plate with zero
// boundary temperature, heated by S Gaussian sources with parameters
// (x, y, amplitude) each, i.e. -lap(u) = f, solved by `iterations` Jacobi
// sweeps on an n x n grid. The observation is u at a lattice of sensors.
#pragma once

#include <Kokkos_Core.hpp>
#include <cstdint>

#include "motifbench/kokkos_util.hpp"
#include "motifbench/work.hpp"

namespace motifbench::inverse_design {


constexpr int kMaxSources = 8;

struct Sources {
  int count = 2;
  float x[kMaxSources], y[kMaxSources], amp[kMaxSources];
  float width = 0.08f;
};

template <class ExecSpace, class Field>
void heat_source(const char* label, int n, const Sources& s, const Field& f) {
  Kokkos::parallel_for(
      label, Kokkos::RangePolicy<ExecSpace>(0, n * n), KOKKOS_LAMBDA(int idx) {
        const float x = (idx / n + 0.5f) / n, y = (idx % n + 0.5f) / n;
        float v = 0;
        for (int k = 0; k < s.count; ++k) {
          const float dx = x - s.x[k], dy = y - s.y[k];
          v += s.amp[k] * kmath::exp(-(dx * dx + dy * dy) / (2 * s.width * s.width));
        }
        f(idx) = v;
      });
}

/// `iterations` Jacobi sweeps of -lap(u) = f (grid spacing 1/n, u = 0 outside).
/// Declared work of `iterations` Jacobi sweeps on an n x n grid (README
/// convention): each sweep reads u and f and writes u' (4 B each, every element
/// once, whatever the stencil touches); 6 flops per cell.
inline Work jacobi_work(int n, int iterations) {
  const double cells = double(n) * n * iterations;
  return Work{cells, 12.0 * cells, 6.0 * cells, 0};
}

/// One Jacobi row on contiguous host memory (restrict pointers, a straight
/// interior loop the compiler vectorises, for AVX2 too where the CPU has it:
/// MOTIFBENCH_HOST_CLONES; no FMA, so the same rounding either way).
/// `above`/`below`: the neighbouring rows, or nullptr at the boundary (u = 0
/// outside).
MOTIFBENCH_HOST_CLONES inline void jacobi_row(std::int64_t n, float h2, const float* __restrict above,
                                              const float* __restrict row, const float* __restrict below,
                                              const float* __restrict f, float* __restrict out) {
  auto cell = [&](std::int64_t j, float lf, float rt) {
    const float up = above ? above[j] : 0.0f, dn = below ? below[j] : 0.0f;
    out[j] = 0.25f * (up + dn + lf + rt + h2 * f[j]);
  };
  if (n == 1) {
    cell(0, 0.0f, 0.0f);
    return;
  }
  cell(0, 0.0f, row[1]);
  if (above && below) {
#pragma GCC ivdep
    for (std::int64_t j = 1; j < n - 1; ++j) out[j] = 0.25f * (above[j] + below[j] + row[j - 1] + row[j + 1] + h2 * f[j]);
  } else {
    for (std::int64_t j = 1; j < n - 1; ++j) cell(j, row[j - 1], row[j + 1]);
  }
  cell(n - 1, row[n - 2], 0.0f);
}

/// On host spaces each work item is a row (no division or modulo per cell);
/// on devices a 2-D range, one thread per cell. Same arithmetic either way.
template <class ExecSpace, class Field>
void jacobi(const char* label, int n_, int iterations, const Field& f, Field& u, Field& tmp) {
  const std::int64_t n = n_;
  const float h2 = 1.0f / (static_cast<float>(n_) * n_);
  constexpr bool host = Kokkos::SpaceAccessibility<ExecSpace, Kokkos::HostSpace>::accessible;
  for (int it = 0; it < iterations; ++it) {
    auto src = u, dst = tmp;
    if (host && src.span_is_contiguous() && dst.span_is_contiguous() && f.span_is_contiguous()) {
      const float *s = src.data(), *fp = f.data();
      float* d = dst.data();
      Kokkos::parallel_for(
          label, Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<std::int64_t>>(0, n), [=](std::int64_t i) {
            jacobi_row(n, h2, i > 0 ? s + (i - 1) * n : nullptr, s + i * n, i + 1 < n ? s + (i + 1) * n : nullptr,
                       fp + i * n, d + i * n);
          });
    } else {
      using Policy = Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>, Kokkos::IndexType<std::int64_t>>;
      Kokkos::parallel_for(
          label, Policy({0, 0}, {n, n}), KOKKOS_LAMBDA(std::int64_t i, std::int64_t j) {
            const std::int64_t idx = i * n + j;
            const float up = i > 0 ? src(idx - n) : 0.0f, dn = i + 1 < n ? src(idx + n) : 0.0f;
            const float lf = j > 0 ? src(idx - 1) : 0.0f, rt = j + 1 < n ? src(idx + 1) : 0.0f;
            dst(idx) = 0.25f * (up + dn + lf + rt + h2 * f(idx));
          });
    }
    std::swap(u, tmp);
  }
}

/// Samples u at an s x s lattice of sensors.
template <class ExecSpace, class Field, class Out>
void sense(const char* label, int n, int s, const Field& u, const Out& out) {
  Kokkos::parallel_for(
      label, Kokkos::RangePolicy<ExecSpace>(0, s * s), KOKKOS_LAMBDA(int k) {
        const int i = static_cast<int>((k / s + 0.5f) / s * n), j = static_cast<int>((k % s + 0.5f) / s * n);
        out(k) = u(i * n + j);
      });
}

}  // namespace motifbench::inverse_design
