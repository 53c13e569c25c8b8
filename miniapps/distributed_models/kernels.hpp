// Kokkos kernels of the edge-to-HPC mini-app. Templates on the execution space.
//
// An instrument frame is an n x n detector image: Gaussian noise plus, in an
// "interesting" frame, a few Bragg-like peaks (sharp Gaussians of several
// sigma); a dull frame may carry one faint spot. Random numbers are
// counter-based, so frames are reproducible on any backend.
#pragma once

#include <Kokkos_Core.hpp>

#include "motifbench/kokkos_util.hpp"
#include "motifbench/work.hpp"
#include <cstdint>

namespace motifbench::distributed_models {


constexpr int kPool = 8;  // edge features: kPool x kPool max-pooled image

KOKKOS_INLINE_FUNCTION float unit(std::uint64_t h) { return unit_float(h); }

struct FrameSpec {
  int n = 32;
  float interesting_probability = 0.1f;
};

/// Whether frame `id` of stream `seed` is interesting (known to the generator only).
KOKKOS_INLINE_FUNCTION bool interesting(std::uint64_t seed, std::uint64_t id, float p) {
  return unit(hash64(seed ^ (id * 0x2545f4914f6cdd1dULL))) < p;
}

/// Frames ids[0..k) of stream `seed` into images [k x n*n].
template <class ExecSpace, class Ids, class Images>
void generate(const char* label, std::uint64_t seed, const FrameSpec& f, const Ids& ids, const Images& img) {
  // 64-bit: edges x pixels may exceed 2^31.
  const std::int64_t k = static_cast<std::int64_t>(ids.extent(0));
  const int n = f.n;
  const std::int64_t nn = static_cast<std::int64_t>(n) * n;
  Kokkos::parallel_for(
      label, Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<std::int64_t>>(0, k * nn), KOKKOS_LAMBDA(std::int64_t idx) {
        const std::int64_t frame = idx / nn;
        const int pix = static_cast<int>(idx % nn);
        const std::uint64_t id = static_cast<std::uint64_t>(ids(frame));
        const int px = pix / n, py = pix % n;
        // Box-Muller noise
        const std::uint64_t h = hash64(seed ^ (id << 24) ^ static_cast<std::uint64_t>(pix));
        const float u1 = unit(h) + 1e-7f, u2 = unit(hash64(h));
        float v = 0.3f * kmath::sqrt(-2.0f * kmath::log(u1)) * kmath::cos(6.2831853f * u2);
        const bool hot = interesting(seed, id, f.interesting_probability);
        const int peaks = hot ? 1 + static_cast<int>(3 * unit(hash64(id ^ seed ^ 0x77ULL))) : 1;
        for (int p = 0; p < peaks; ++p) {
          const std::uint64_t hp = hash64(seed ^ (id * 131 + p) ^ 0xabcULL);
          const float cx = 3 + (n - 6) * unit(hp), cy = 3 + (n - 6) * unit(hash64(hp));
          const float amp = hot ? 2.0f + 2.0f * unit(hash64(hp ^ 1)) : 0.6f * unit(hash64(hp ^ 1));
          const float dx = px - cx, dy = py - cy;
          v += amp * kmath::exp(-(dx * dx + dy * dy) / 2.0f);
        }
        img(frame, pix) = v;
      });
}

/// Edge features: the kPool x kPool max-pooled image.
template <class ExecSpace, class Images, class Features>
void pool(const char* label, int n, const Images& img, const Features& out) {
  const int k = static_cast<int>(img.extent(0));
  const int cell = n / kPool;
  Kokkos::parallel_for(
      label, Kokkos::RangePolicy<ExecSpace>(0, k * kPool * kPool), KOKKOS_LAMBDA(int idx) {
        const int frame = idx / (kPool * kPool), c = idx % (kPool * kPool);
        const int cx = c / kPool, cy = c % kPool;
        float m = -1e30f;
        for (int i = 0; i < cell; ++i)
          for (int j = 0; j < cell; ++j) {
            const float v = img(frame, (cx * cell + i) * n + cy * cell + j);
            m = v > m ? v : m;
          }
        out(frame, c) = m;
      });
}

/// Declared work (README convention: bytes read + written, each array element
/// once per kernel). Edge production: generate reads the frame id and writes
/// the image; pool reads the image and writes kPool^2 features.
inline Work edge_work(std::int64_t frames, int n) {
  const double image = 4.0 * n * n;
  return Work{double(frames), frames * (4.0 + image + image + 4.0 * kPool * kPool), 0, 0};
}
/// HPC analysis: find_peaks reads each image once and writes a count; pool
/// reads it again and writes the features.
inline Work analysis_work(std::int64_t frames, int n) {
  const double image = 4.0 * n * n;
  return Work{double(frames), frames * (image + 4.0 + image + 4.0 * kPool * kPool), 0, 0};
}

/// HPC analysis: counts local maxima above `threshold` (the peak finder).
template <class ExecSpace, class Images, class Counts>
void find_peaks(const char* label, int n, float threshold, const Images& img, const Counts& out) {
  const int k = static_cast<int>(img.extent(0));
  Kokkos::parallel_for(
      label, Kokkos::RangePolicy<ExecSpace>(0, k), KOKKOS_LAMBDA(int frame) {
        int count = 0;
        for (int i = 1; i + 1 < n; ++i)
          for (int j = 1; j + 1 < n; ++j) {
            const float v = img(frame, i * n + j);
            if (v < threshold) continue;
            bool peak = true;
            for (int di = -1; di <= 1 && peak; ++di)
              for (int dj = -1; dj <= 1; ++dj)
                if ((di || dj) && img(frame, (i + di) * n + j + dj) > v) {
                  peak = false;
                  break;
                }
            count += peak ? 1 : 0;
          }
        out(frame) = count;
      });
}

}  // namespace motifbench::distributed_models
