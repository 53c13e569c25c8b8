// Kokkos kernels of the digital replica. Templates on the execution space;
// they never read configuration (the motif passes plain parameters).
//
// Model (non-dimensional, unit grid spacing, periodic): a fuel field c and a
// temperature field T diffuse; fuel is fed towards 1 and heat is lost towards
// T0; a stiff second-order Arrhenius reaction c -> heat consumes fuel:
//   dc/dt = -k(T) c^2,   dT/dt = +q k(T) c^2,   k(T) = A exp(-Ea / T).
// The reaction over one step is the closure: the fraction of c consumed,
// frac = 1 - c_after / c_before, from an implicit (backward Euler) integration
// with `substeps` Newton-solved sub-steps. That is the expensive per-cell
// computation the surrogate replaces.
#pragma once

#include <Kokkos_Core.hpp>
#include <cstdint>

#include "motifbench/kokkos_util.hpp"
#include "motifbench/work.hpp"

namespace motifbench::digital_replica {


struct Physics {
  float dt = 0.2f;
  float diff_c = 0.5f;   // diffusion coefficients (grid units^2 per time)
  float diff_t = 1.0f;
  float feed = 0.05f;    // fuel feed rate towards c = 1
  float cool = 0.05f;    // heat loss rate towards t0
  float t0 = 1.0f;
  float q = 1.0f;        // heat released per unit fuel
};

struct Closure {
  double prefactor = 50.0;  // A
  double activation = 4.0;  // Ea
  double q = 1.0;
  double dt = 0.2;
  int substeps = 32;
  int newton_max = 20;
  double tolerance = 1e-10;
};

/// Flops of the exact closure (see the README's work convention): per cell,
/// h, e0 and the final fraction; per Newton iteration, the update and its test.
constexpr double kClosureFlopsPerCell = 5;
constexpr double kClosureFlopsPerNewton = 27;

/// Exact closure: fraction of fuel consumed over dt for one cell. Adds the
/// Newton iterations it took to `newton` (for the declared flops).
KOKKOS_INLINE_FUNCTION double exact_fraction(double c0, double t0, const Closure& p, std::int64_t& newton) {
  if (c0 <= 1e-12) return 0.0;
  const double h = p.dt / p.substeps;
  const double e0 = t0 + p.q * c0;  // T + q c is conserved by the reaction
  double c = c0;
  for (int s = 0; s < p.substeps; ++s) {
    // Solve g(x) = x - c + h k(T(x)) x^2 = 0 with T(x) = e0 - q x.
    double x = c;
    for (int it = 0; it < p.newton_max; ++it) {
      ++newton;
      const double t = e0 - p.q * x;
      const double k = p.prefactor * kmath::exp(-p.activation / t);
      const double dk = k * p.activation / (t * t) * (-p.q);
      const double g = x - c + h * k * x * x;
      const double dg = 1.0 + h * (dk * x * x + 2.0 * k * x);
      double step = g / dg;
      double nx = x - step;
      if (nx < 0) nx = 0.5 * x;  // keep the iterate physical
      if (kmath::fabs(nx - x) <= p.tolerance * (c0 + 1e-30)) {
        x = nx;
        break;
      }
      x = nx;
    }
    c = x;
  }
  double f = 1.0 - c / c0;
  return f < 0 ? 0 : (f > 1 ? 1 : f);
}

KOKKOS_INLINE_FUNCTION double exact_fraction(double c0, double t0, const Closure& p) {
  std::int64_t newton = 0;
  return exact_fraction(c0, t0, p, newton);
}

/// Declared work of the kernels below, per the README's convention: bytes
/// read + written, each array element once per kernel; flops as written.
/// predict: reads c, t; writes cn, tn and two features (4 B each); 24 flops.
inline Work predict_work(std::int64_t cells) { return Work{double(cells), 24.0 * cells, 24.0 * cells, 0}; }
/// apply_closure: reads frac, c, t; writes c, t; 4 flops.
inline Work apply_closure_work(std::int64_t cells) { return Work{0, 20.0 * cells, 4.0 * cells, 0}; }
/// exact closure of `cells` cells that took `newton` iterations in all:
/// reads two features, writes the fraction.
inline Work exact_closure_work(std::int64_t cells, std::int64_t newton) {
  return Work{double(cells), 12.0 * cells, kClosureFlopsPerCell * cells + kClosureFlopsPerNewton * newton, 0};
}

/// Features a surrogate sees for one cell: (c, (T - t0) / q).
struct FeatureScale {
  float t0 = 1.0f;
  float q = 1.0f;
};

/// One cell of the predictor, given the flat indices of its four periodic
/// neighbours.
template <class V1, class V2>
KOKKOS_FORCEINLINE_FUNCTION void predict_cell(const Physics& p, const V1& c, const V1& t, const V1& cn,
                                              const V1& tn, const V2& features, std::int64_t idx, std::int64_t im,
                                              std::int64_t ip, std::int64_t jm, std::int64_t jp) {
  const float c0 = c(idx), t0 = t(idx);
  const float lc = c(im) + c(ip) + c(jm) + c(jp) - 4.0f * c0;
  const float lt = t(im) + t(ip) + t(jm) + t(jp) - 4.0f * t0;
  float cc = c0 + p.dt * (p.diff_c * lc + p.feed * (1.0f - c0));
  const float tt = t0 + p.dt * (p.diff_t * lt + p.cool * (p.t0 - t0));
  cc = cc < 0.0f ? 0.0f : cc;
  cn(idx) = cc;
  tn(idx) = tt;
  features(idx, 0) = cc;
  features(idx, 1) = (tt - p.t0) / p.q;
}

/// One row of the predictor on contiguous host memory: restrict-qualified
/// pointers and a straight interior loop, which the compiler vectorises
/// (for AVX2 too, where the CPU has it: MOTIFBENCH_HOST_CLONES).
/// `up` and `down` are the flat offsets of the neighbouring rows.
MOTIFBENCH_HOST_CLONES inline void predict_row(const Physics& p, std::int64_t ny, std::int64_t row, std::int64_t up, std::int64_t down,
                        const float* __restrict c, const float* __restrict t, float* __restrict cn,
                        float* __restrict tn, float* __restrict f) {
  auto cell = [&](std::int64_t j, std::int64_t jm, std::int64_t jp) {
    const float c0 = c[row + j], t0 = t[row + j];
    const float lc = c[up + j] + c[down + j] + c[row + jm] + c[row + jp] - 4.0f * c0;
    const float lt = t[up + j] + t[down + j] + t[row + jm] + t[row + jp] - 4.0f * t0;
    float cc = c0 + p.dt * (p.diff_c * lc + p.feed * (1.0f - c0));
    const float tt = t0 + p.dt * (p.diff_t * lt + p.cool * (p.t0 - t0));
    cc = cc < 0.0f ? 0.0f : cc;
    cn[row + j] = cc;
    tn[row + j] = tt;
    f[2 * (row + j)] = cc;
    f[2 * (row + j) + 1] = (tt - p.t0) / p.q;
  };
  cell(0, ny - 1, ny > 1 ? 1 : 0);
#pragma GCC ivdep
  for (std::int64_t j = 1; j < ny - 1; ++j) cell(j, j - 1, j + 1);
  if (ny > 1) cell(ny - 1, ny - 2, 0);
}

/// Predictor: diffusion + feed + cooling from (c, t) into (cn, tn), and the
/// surrogate's input features [ncells x 2] of the predicted state.
/// On host spaces each work item is a row, whose interior is a straight loop
/// without division or modulo (the compiler vectorises it); on devices a 2-D
/// range, one thread per cell. The periodic wrap is only at the edges.
/// Rows [row_begin, row_end) only (row_end < 0: to the last row), so that a
/// block's stencil can overlap another block's inference.
template <class ExecSpace, class V1, class V2>
void predict(const char* label, int nx_, int ny_, const Physics& p, const V1& c, const V1& t, const V1& cn, const V1& tn,
             const V2& features, std::int64_t row_begin = 0, std::int64_t row_end = -1) {
  // 64-bit cell indices: nx * ny may exceed 2^31.
  const std::int64_t nx = nx_, ny = ny_;
  if (row_end < 0) row_end = nx;
  if constexpr (Kokkos::SpaceAccessibility<ExecSpace, Kokkos::HostSpace>::accessible) {
    const bool flat = c.span_is_contiguous() && t.span_is_contiguous() && cn.span_is_contiguous() &&
                      tn.span_is_contiguous() && features.span_is_contiguous() && features.stride(0) == 2 &&
                      features.stride(1) == 1;
    if (flat) {
      const float *cp = c.data(), *tp = t.data();
      float *cnp = cn.data(), *tnp = tn.data(), *fp = features.data();
      Kokkos::parallel_for(
          label, Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<std::int64_t>>(row_begin, row_end),
          [=](std::int64_t i) {
            const std::int64_t up = (i == 0 ? nx - 1 : i - 1) * ny, down = (i + 1 == nx ? 0 : i + 1) * ny;
            predict_row(p, ny, i * ny, up, down, cp, tp, cnp, tnp, fp);
          });
      return;
    }
  }
  {
    using Policy = Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>, Kokkos::IndexType<std::int64_t>>;
    Kokkos::parallel_for(
        label, Policy({row_begin, 0}, {row_end, ny}), KOKKOS_LAMBDA(std::int64_t i, std::int64_t j) {
          const std::int64_t idx = i * ny + j;
          const std::int64_t im = (i == 0 ? nx - 1 : i - 1) * ny + j, ip = (i + 1 == nx ? 0 : i + 1) * ny + j;
          const std::int64_t jm = i * ny + (j == 0 ? ny - 1 : j - 1), jp = i * ny + (j + 1 == ny ? 0 : j + 1);
          predict_cell(p, c, t, cn, tn, features, idx, im, ip, jm, jp);
        });
  }
}

/// The closure update of cells [first, last) on contiguous host memory, as a
/// straight loop the compiler vectorises.
MOTIFBENCH_HOST_CLONES inline void apply_closure_span(std::int64_t first, std::int64_t last, float q,
                                                      const float* __restrict frac, float* __restrict c,
                                                      float* __restrict t) {
#pragma GCC ivdep
  for (std::int64_t idx = first; idx < last; ++idx) {
    float f = frac[idx];
    f = f < 0.0f ? 0.0f : (f > 1.0f ? 1.0f : f);
    const float burnt = f * c[idx];
    c[idx] -= burnt;
    t[idx] += q * burnt;
  }
}

/// Applies the closure: c -= frac c, T += q frac c. frac is clamped to [0, 1].
/// Cells [first, ncells). On host spaces each work item is a chunk of cells
/// (a straight loop); on devices one thread per cell. The same arithmetic.
template <class ExecSpace, class V1>
void apply_closure(const char* label, std::int64_t ncells, float q, const V1& frac, const V1& c, const V1& t,
                   std::int64_t first = 0) {
  if constexpr (Kokkos::SpaceAccessibility<ExecSpace, Kokkos::HostSpace>::accessible) {
    if (frac.span_is_contiguous() && c.span_is_contiguous() && t.span_is_contiguous()) {
      constexpr std::int64_t kChunk = 4096;
      const float* fp = frac.data();
      float *cp = c.data(), *tp = t.data();
      const std::int64_t chunks = (ncells - first + kChunk - 1) / kChunk;
      Kokkos::parallel_for(label, Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<std::int64_t>>(0, chunks),
                           [=](std::int64_t k) {
                             const std::int64_t b = first + k * kChunk;
                             apply_closure_span(b, b + kChunk < ncells ? b + kChunk : ncells, q, fp, cp, tp);
                           });
      return;
    }
  }
  Kokkos::parallel_for(
      label, Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<std::int64_t>>(first, ncells), KOKKOS_LAMBDA(std::int64_t idx) {
        float f = frac(idx);
        f = f < 0.0f ? 0.0f : (f > 1.0f ? 1.0f : f);
        const float burnt = f * c(idx);
        c(idx) -= burnt;
        t(idx) += q * burnt;
      });
}

/// Exact closure for every cell of `features` (the `none` baseline). Returns
/// the Newton iterations taken, for the declared flops.
template <class ExecSpace, class V1, class V2>
std::int64_t exact_closure(const char* label, std::int64_t ncells, const Closure& cl, const FeatureScale& fs,
                           const V2& features, const V1& frac) {
  std::int64_t newton = 0;
  Kokkos::parallel_reduce(
      label, Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<std::int64_t>>(0, ncells),
      KOKKOS_LAMBDA(std::int64_t idx, std::int64_t& iters) {
        const double c0 = features(idx, 0);
        const double t0 = fs.t0 + fs.q * features(idx, 1);
        frac(idx) = static_cast<float>(exact_fraction(c0, t0, cl, iters));
      },
      newton);
  return newton;
}

/// Exact closure for a sample of cells: gathers their features into xs and
/// the exact fraction into ys.
template <class ExecSpace, class VI, class V1, class V2>
std::int64_t exact_sample(const char* label, const Closure& cl, const FeatureScale& fs, const VI& cells,
                          const V2& features, const V2& xs, const V1& ys) {
  std::int64_t newton = 0;
  Kokkos::parallel_reduce(
      label, Kokkos::RangePolicy<ExecSpace>(0, static_cast<int>(cells.extent(0))),
      KOKKOS_LAMBDA(int s, std::int64_t& iters) {
        const std::int64_t idx = cells(s);
        xs(s, 0) = features(idx, 0);
        xs(s, 1) = features(idx, 1);
        ys(s) = static_cast<float>(exact_fraction(features(idx, 0), fs.t0 + fs.q * features(idx, 1), cl, iters));
      },
      newton);
  return newton;
}

}  // namespace motifbench::digital_replica
