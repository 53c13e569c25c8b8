// Kokkos kernels of the inverse-design forward model. Templates on the
// execution space.
//
// The forward simulation: the steady temperature of a plate with zero
// boundary temperature, heated by S Gaussian sources with parameters
// (x, y, amplitude) each, i.e. -lap(u) = f, solved by `iterations` Jacobi
// sweeps on an n x n grid. The observation is u at a lattice of sensors.
#pragma once

#include <Kokkos_Core.hpp>

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

template <class ExecSpace, class Field>
void jacobi(const char* label, int n, int iterations, const Field& f, Field& u, Field& tmp) {
  const float h2 = 1.0f / (static_cast<float>(n) * n);
  for (int it = 0; it < iterations; ++it) {
    auto src = u, dst = tmp;
    Kokkos::parallel_for(
        label, Kokkos::RangePolicy<ExecSpace>(0, n * n), KOKKOS_LAMBDA(int idx) {
          const int i = idx / n, j = idx % n;
          const float up = i > 0 ? src(idx - n) : 0.0f, dn = i + 1 < n ? src(idx + n) : 0.0f;
          const float lf = j > 0 ? src(idx - 1) : 0.0f, rt = j + 1 < n ? src(idx + 1) : 0.0f;
          dst(idx) = 0.25f * (up + dn + lf + rt + h2 * f(idx));
        });
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
