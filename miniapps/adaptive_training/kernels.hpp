// Kokkos kernels of the adaptive-training data generator. Templates on the
// execution space.
//
// The simulation: a nonlinear pendulum, theta'' = -sin(theta) - c theta',
// integrated with RK4 from (theta0, omega0) to time t. A sample maps
// (theta0 / 2.5, omega0, t / 3 * 2 - 1) to theta(t) / pi.
#pragma once

#include <Kokkos_Core.hpp>

#include "motifbench/kokkos_util.hpp"
#include "motifbench/work.hpp"
#include <cstdint>

namespace motifbench::adaptive_training {


KOKKOS_INLINE_FUNCTION float unit(std::uint64_t h) { return unit_float(h); }

/// Flops of the pendulum (README convention, sin counted as one): per RK4
/// step and per sample (the inputs, the step count and the outputs).
constexpr double kPendulumFlopsPerStep = 52;
constexpr double kPendulumFlopsPerSample = 14;

/// Declared work of `samples` samples that took `steps` RK4 steps in all:
/// writes x (3 floats) and y (1 float) per sample.
inline Work pendulum_work(std::int64_t samples, std::int64_t steps) {
  return Work{double(samples), 16.0 * samples, kPendulumFlopsPerSample * samples + kPendulumFlopsPerStep * steps, 0};
}

/// Generates samples [first, first + n) of the stream `seed` into x [n x 3], y
/// [n]. Returns the RK4 steps taken in all (they depend on each sample's end
/// time and on h), for the declared flops.
template <class ExecSpace, class X, class Y>
std::int64_t pendulum(const char* label, std::uint64_t seed, std::uint64_t first, float damping, float h, const X& x,
                      const Y& y) {
  const int n = static_cast<int>(y.extent(0));
  std::int64_t total_steps = 0;
  Kokkos::parallel_reduce(
      label, Kokkos::RangePolicy<ExecSpace>(0, n), KOKKOS_LAMBDA(int i, std::int64_t& steps_sum) {
        const std::uint64_t k = hash64(seed ^ ((first + i) * 0x9e3779b97f4a7c15ULL));
        const float th0 = 2.5f * (2.0f * unit(k) - 1.0f);
        const float om0 = 2.0f * unit(hash64(k)) - 1.0f;
        const float tend = 3.0f * unit(hash64(k ^ 0x5555ULL));
        float th = th0, om = om0;
        const int steps = static_cast<int>(tend / h);
        steps_sum += steps;
        for (int s = 0; s < steps; ++s) {
          const float k1t = om, k1o = -kmath::sin(th) - damping * om;
          const float k2t = om + 0.5f * h * k1o, k2o = -kmath::sin(th + 0.5f * h * k1t) - damping * (om + 0.5f * h * k1o);
          const float k3t = om + 0.5f * h * k2o, k3o = -kmath::sin(th + 0.5f * h * k2t) - damping * (om + 0.5f * h * k2o);
          const float k4t = om + h * k3o, k4o = -kmath::sin(th + h * k3t) - damping * (om + h * k3o);
          th += h / 6.0f * (k1t + 2 * k2t + 2 * k3t + k4t);
          om += h / 6.0f * (k1o + 2 * k2o + 2 * k3o + k4o);
        }
        x(i, 0) = th0 / 2.5f;
        x(i, 1) = om0;
        x(i, 2) = tend / 1.5f - 1.0f;
        y(i) = th / 3.14159265f;
      },
      total_steps);
  return total_steps;
}

}  // namespace motifbench::adaptive_training
