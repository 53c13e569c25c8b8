// Kokkos kernels of the multistage pipeline. Templates on the execution space.
//
// A candidate is a rigid 2-D "ligand" of A charged atoms; the target is a
// fixed "pocket" of K charged atoms. Physics scoring minimises the
// interaction energy (softened Lennard-Jones + screened Coulomb) over the
// ligand's translation and rotation by gradient descent from `starts`
// orientations; the best minimum is the candidate's score (lower is better).
#pragma once

#include <Kokkos_Core.hpp>

#include "motifbench/kokkos_util.hpp"
#include "motifbench/work.hpp"
#include <cstdint>

namespace motifbench::multistage_pipeline {


constexpr int kMaxAtoms = 16;
constexpr int kDescriptors = 8;

struct Minimiser {
  int iterations = 200;
  int starts = 1;
  float step = 0.01f;
};

KOKKOS_INLINE_FUNCTION float unit(std::uint64_t h) { return unit_float(h); }

/// Generates the library: atom offsets (x, y) and charges, deterministic in seed.
template <class ExecSpace, class Atoms>
void generate_library(const char* label, std::uint64_t seed, int atoms, const Atoms& lib) {
  const int n = static_cast<int>(lib.extent(0));
  Kokkos::parallel_for(
      label, Kokkos::RangePolicy<ExecSpace>(0, n), KOKKOS_LAMBDA(int c) {
        const float spread = 0.4f + 0.8f * unit(hash64(seed ^ (std::uint64_t(c) << 20)));
        for (int a = 0; a < atoms; ++a) {
          const std::uint64_t h = hash64(seed ^ (std::uint64_t(c) << 20) ^ (std::uint64_t(a + 1) * 0x51ed27ULL));
          const float r = spread * kmath::sqrt(unit(h));
          const float t = 6.2831853f * unit(hash64(h));
          lib(c, a, 0) = r * kmath::cos(t);
          lib(c, a, 1) = r * kmath::sin(t);
          const float q = unit(hash64(h ^ 0xabcdefULL));
          lib(c, a, 2) = q < 0.35f ? -1.0f : (q < 0.7f ? 1.0f : 0.0f);
        }
      });
}

/// Declared work (README convention). descriptors: reads each candidate's id
/// and atoms (x, y, q: 12 B each), writes kDescriptors floats.
inline Work descriptors_work(std::int64_t candidates, int atoms, int descriptors) {
  return Work{double(candidates), candidates * (4.0 + 12.0 * atoms + 4.0 * descriptors), 0, 0};
}
/// minimise: reads each candidate's id and atoms and the pocket (12 B per
/// site, once per kernel), writes one score; 40 flops per atom-site pair per
/// iteration and start.
inline Work minimise_work(std::int64_t candidates, int atoms, int sites, int iterations, int starts) {
  const double pairs = double(candidates) * iterations * starts * atoms * sites;
  return Work{double(candidates), candidates * (4.0 + 12.0 * atoms + 4.0) + 12.0 * sites, 40.0 * pairs, 0};
}

/// Cheap descriptors for the stage-1 surrogate: charge counts, net charge,
/// radius of gyration, dipole, max extent, positive-charge radius.
template <class ExecSpace, class Atoms, class Desc, class Ids>
void descriptors(const char* label, int atoms, const Atoms& lib, const Ids& ids, const Desc& out) {
  const int n = static_cast<int>(ids.extent(0));
  Kokkos::parallel_for(
      label, Kokkos::RangePolicy<ExecSpace>(0, n), KOKKOS_LAMBDA(int i) {
        const int c = ids(i);
        float neg = 0, pos = 0, rg = 0, dx = 0, dy = 0, ext = 0, rpos = 0;
        for (int a = 0; a < atoms; ++a) {
          const float x = lib(c, a, 0), y = lib(c, a, 1), q = lib(c, a, 2), r2 = x * x + y * y;
          neg += q < 0 ? 1.0f : 0.0f;
          pos += q > 0 ? 1.0f : 0.0f;
          rg += r2;
          dx += q * x;
          dy += q * y;
          ext = r2 > ext ? r2 : ext;
          rpos += q > 0 ? kmath::sqrt(r2) : 0.0f;
        }
        out(i, 0) = neg / atoms;
        out(i, 1) = pos / atoms;
        out(i, 2) = (pos - neg) / atoms;
        out(i, 3) = kmath::sqrt(rg / atoms);
        out(i, 4) = kmath::sqrt(dx * dx + dy * dy) / atoms;
        out(i, 5) = kmath::sqrt(ext);
        out(i, 6) = pos > 0 ? rpos / pos : 0.0f;
        out(i, 7) = 1.0f;
      });
}

/// Physics scoring of the candidates in `ids` against the pocket.
template <class ExecSpace, class Atoms, class Pocket, class Ids, class Scores>
void minimise(const char* label, int atoms, const Minimiser& m, const Atoms& lib, const Pocket& pocket, const Ids& ids,
              const Scores& out) {
  const int n = static_cast<int>(ids.extent(0));
  const int k = static_cast<int>(pocket.extent(0));
  Kokkos::parallel_for(
      label, Kokkos::RangePolicy<ExecSpace>(0, n), KOKKOS_LAMBDA(int i) {
        const int c = ids(i);
        float best = 1e30f;
        for (int s = 0; s < m.starts; ++s) {
          float tx = 0, ty = 0, th = 6.2831853f * s / m.starts;
          float e = 0;
          for (int it = 0; it < m.iterations; ++it) {
            float gx = 0, gy = 0, gt = 0;
            e = 0;
            const float ct = kmath::cos(th), st = kmath::sin(th);
            for (int a = 0; a < atoms; ++a) {
              const float ax = lib(c, a, 0), ay = lib(c, a, 1), q = lib(c, a, 2);
              const float x = ct * ax - st * ay + tx, y = st * ax + ct * ay + ty;
              for (int p = 0; p < k; ++p) {
                const float rx = x - pocket(p, 0), ry = y - pocket(p, 1);
                const float r2 = rx * rx + ry * ry + 0.01f;
                const float inv2 = 0.09f / r2, inv6 = inv2 * inv2 * inv2;
                const float lj = 4.0f * (inv6 * inv6 - inv6);
                const float coul = q * pocket(p, 2) * kmath::exp(-kmath::sqrt(r2)) / kmath::sqrt(r2);
                e += lj + coul;
                // dE/dr2, then chain rule to x, y
                const float dlj = 4.0f * (-6.0f * inv6 * inv6 + 3.0f * inv6) / r2;
                const float r = kmath::sqrt(r2);
                const float dcoul = q * pocket(p, 2) * kmath::exp(-r) * (-1.0f / r - 1.0f / r2) * (0.5f / r);
                const float d = dlj + dcoul;
                const float fx = 2.0f * rx * d, fy = 2.0f * ry * d;
                gx += fx;
                gy += fy;
                gt += fx * (-st * ax - ct * ay) + fy * (ct * ax - st * ay);
              }
            }
            const float clip = 1.0f;
            gx = gx > clip ? clip : (gx < -clip ? -clip : gx);
            gy = gy > clip ? clip : (gy < -clip ? -clip : gy);
            gt = gt > clip ? clip : (gt < -clip ? -clip : gt);
            tx -= m.step * gx;
            ty -= m.step * gy;
            th -= m.step * gt;
          }
          best = e < best ? e : best;
        }
        out(i) = best;
      });
}

}  // namespace motifbench::multistage_pipeline
