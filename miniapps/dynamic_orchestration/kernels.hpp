// Kokkos kernels of the dynamic-orchestration ensemble. Templates on the
// execution space; plain parameters, no configuration reads.
//
// Overdamped Langevin dynamics of 2-D particles in a W x W lattice of wells:
//   V(x, y) = h (sin^2(pi W x / L) + sin^2(pi W y / L)),  reflecting walls at 0 and L,
//   x += -dV/dx dt + sqrt(2 kT dt) xi.
// Random numbers are counter-based (a hash of seed, particle and step), so a
// run is reproducible on any backend and thread count.
#pragma once

#include <Kokkos_Core.hpp>

#include "motifbench/kokkos_util.hpp"
#include "motifbench/work.hpp"
#include <cstdint>

namespace motifbench::dynamic_orchestration {


struct Landscape {
  float box = 1.0f;    // L
  int wells = 4;       // W per axis
  float height = 6.0f; // h, in units of kT
  float dt = 1e-4f;
  float kt = 1.0f;
};

KOKKOS_INLINE_FUNCTION std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// Two standard normals from a counter (Box-Muller).
KOKKOS_INLINE_FUNCTION void normal2(std::uint64_t counter, float& a, float& b) {
  const std::uint64_t r = mix64(counter);
  const double u1 = ((r >> 11) + 1.0) * (1.0 / 9007199254740993.0);
  const double u2 = (mix64(r ^ 0x9e3779b97f4a7c15ULL) >> 11) * (1.0 / 9007199254740992.0);
  const double rad = kmath::sqrt(-2.0 * kmath::log(u1));
  a = static_cast<float>(rad * kmath::cos(6.283185307179586 * u2));
  b = static_cast<float>(rad * kmath::sin(6.283185307179586 * u2));
}

/// Advances every particle `substeps` steps and marks the coverage bins it visits.
/// `index0` is the ensemble-wide index of pos(0): a member that runs as its own
/// process draws the same random numbers as it would inside the whole ensemble.
template <class ExecSpace, class Pos, class Bins>
void langevin(const char* label, const Landscape& land, int substeps, std::uint64_t seed, std::uint64_t step0,
              const Pos& pos, const Bins& visited, int bins, std::uint64_t index0 = 0) {
  // 64-bit: members x particles may exceed 2^31.
  const std::int64_t n = static_cast<std::int64_t>(pos.extent(0));
  Kokkos::parallel_for(
      label, Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<std::int64_t>>(0, n), KOKKOS_LAMBDA(std::int64_t i) {
        float x = pos(i, 0), y = pos(i, 1);
        const float k = 3.14159265f * land.wells / land.box;
        const float noise = kmath::sqrt(2.0f * land.kt * land.dt);
        for (int s = 0; s < substeps; ++s) {
          float gx, gy;
          normal2(seed ^ ((index0 + static_cast<std::uint64_t>(i)) << 32) ^ (step0 + s) * 0x632be59bd9b4e019ULL, gx, gy);
          x += -land.height * land.kt * k * kmath::sin(2.0f * k * x) * land.dt + noise * gx;
          y += -land.height * land.kt * k * kmath::sin(2.0f * k * y) * land.dt + noise * gy;
          x = x < 0 ? -x : (x > land.box ? 2 * land.box - x : x);
          y = y < 0 ? -y : (y > land.box ? 2 * land.box - y : y);
          int bx = static_cast<int>(x / land.box * bins), by = static_cast<int>(y / land.box * bins);
          bx = bx < 0 ? 0 : (bx >= bins ? bins - 1 : bx);
          by = by < 0 ? 0 : (by >= bins ? bins - 1 : by);
          visited(bx * bins + by) = 1;
        }
        pos(i, 0) = x;
        pos(i, 1) = y;
      });
}

/// Frame of each member: the share of its particles in each well (W*W values).
template <class ExecSpace, class Pos, class Frames>
void frames(const char* label, const Landscape& land, int particles, const Pos& pos, const Frames& out) {
  const int members = static_cast<int>(out.extent(0));
  const int w = land.wells;
  Kokkos::parallel_for(
      label, Kokkos::RangePolicy<ExecSpace>(0, members), KOKKOS_LAMBDA(int m) {
        for (int f = 0; f < w * w; ++f) out(m, f) = 0.0f;
        for (int p = 0; p < particles; ++p) {
          const std::int64_t i = static_cast<std::int64_t>(m) * particles + p;
          int wx = static_cast<int>(pos(i, 0) / land.box * w), wy = static_cast<int>(pos(i, 1) / land.box * w);
          wx = wx < 0 ? 0 : (wx >= w ? w - 1 : wx);
          wy = wy < 0 ? 0 : (wy >= w ? w - 1 : wy);
          out(m, wx * w + wy) += 1.0f / particles;
        }
      });
}

/// Declared work (README convention: bytes read + written, each array element
/// once per kernel; flops as written, a transcendental counted as one).
/// langevin: reads and writes each position once (16 B per particle) and may
/// write every coverage bin (4 B each); per particle 5 flops (k, noise), per
/// particle-step 36 (Box-Muller 12, two updates of 10, two bin indices of 2).
inline Work langevin_work(std::int64_t particles, int substeps, int bins) {
  return Work{double(particles) * substeps, 16.0 * particles + 4.0 * bins * bins,
              particles * (5.0 + 36.0 * substeps), 0};
}
/// frames: reads each position once (8 B), writes members x W^2 shares; 6 flops per particle.
inline Work frames_work(int members, int particles_per_member, int wells) {
  const double particles = double(members) * particles_per_member;
  return Work{0, 8.0 * particles + 4.0 * members * wells * wells, 6.0 * particles, 0};
}

/// Copies member `from`'s particles over member `to`'s (a spawn from a novel state).
template <class ExecSpace, class Pos>
void clone_member(const char* label, int particles, int from, int to, const Pos& pos) {
  Kokkos::parallel_for(
      label, Kokkos::RangePolicy<ExecSpace>(0, particles), KOKKOS_LAMBDA(int p) {
        const std::int64_t dst = static_cast<std::int64_t>(to) * particles + p;
        const std::int64_t src = static_cast<std::int64_t>(from) * particles + p;
        pos(dst, 0) = pos(src, 0);
        pos(dst, 1) = pos(src, 1);
      });
}

}  // namespace motifbench::dynamic_orchestration
