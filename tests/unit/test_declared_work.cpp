// Declared work against hand counts on tiny inputs, per the README's
// convention: bytes read + written, each array element once per kernel
// (however often a stencil touches it); flops as written, a transcendental
// function counted as one.
#include <gtest/gtest.h>

#include <Kokkos_Core.hpp>
#include <algorithm>
#include <cmath>
#include <vector>

#include "adaptive_training/kernels.hpp"
#include "digital_replica/kernels.hpp"
#include "distributed_models/kernels.hpp"
#include "dynamic_orchestration/kernels.hpp"
#include "inverse_design/kernels.hpp"
#include "multistage_pipeline/kernels.hpp"
#include "motifbench/replay.hpp"
#include "motifbench/surrogate.hpp"

namespace motifbench {
namespace {

TEST(DeclaredWork, DigitalReplicaPredictAndApplyOn4x4) {
  // 16 cells; predict reads c, t (8 B) and writes cn, tn, 2 features (16 B).
  auto w = digital_replica::predict_work(16);
  EXPECT_DOUBLE_EQ(w.bytes, 16 * (8 + 16));
  EXPECT_DOUBLE_EQ(w.flops, 16 * 24);
  // apply: reads frac, c, t (12 B), writes c, t (8 B).
  EXPECT_DOUBLE_EQ(digital_replica::apply_closure_work(16).bytes, 16 * 20);
}

// The host paths (rows and chunks as straight loops, built for AVX2 too) do
// the per-cell arithmetic of the device path in the same order and without
// FMA, so on x86-64 they agree to the bit with a scalar loop over
// predict_cell; elsewhere the compiler may contract into FMA, so 1e-6
// relative. 67 x 71 cells: odd rows, and more than one 4096-cell chunk.
TEST(DeclaredWork, DigitalReplicaHostPathsMatchTheScalarCellByCell) {
  using namespace digital_replica;
  constexpr int nx = 67, ny = 71;
  constexpr std::int64_t n = std::int64_t(nx) * ny;
#if defined(__x86_64__)
  const double tol = 0.0;
#else
  const double tol = 1e-6;
#endif
  Kokkos::View<float*, Kokkos::HostSpace> c("c", n), t("t", n), cn("cn", n), tn("tn", n), frac("frac", n);
  Kokkos::View<float* [2], Kokkos::LayoutRight, Kokkos::HostSpace> f("f", n);
  std::vector<float> rc(n), rt(n), rf(2 * n);
  for (std::int64_t i = 0; i < n; ++i) {
    c(i) = unit_float(hash64(2 * i)) * 1.2f - 0.1f;  // some cells below zero: the clamp
    t(i) = 0.5f + unit_float(hash64(2 * i + 1));
    frac(i) = unit_float(hash64(3 * n + i)) * 1.4f - 0.2f;  // outside [0, 1] too: the clamp
  }
  Physics p;
  // Rows 5 to 60 only, as a block of the overlapped step does.
  predict<Kokkos::DefaultHostExecutionSpace>("test::predict", nx, ny, p, c, t, cn, tn, f, 5, 60);
  Kokkos::View<float*, Kokkos::HostSpace> ec("ec", n), et("et", n);
  Kokkos::View<float* [2], Kokkos::LayoutRight, Kokkos::HostSpace> ef("ef", n);
  for (std::int64_t i = 5; i < 60; ++i)
    for (std::int64_t j = 0; j < ny; ++j) {
      const std::int64_t idx = i * ny + j;
      const std::int64_t im = (i == 0 ? nx - 1 : i - 1) * ny + j, ip = (i + 1 == nx ? 0 : i + 1) * ny + j;
      const std::int64_t jm = i * ny + (j == 0 ? ny - 1 : j - 1), jp = i * ny + (j + 1 == ny ? 0 : j + 1);
      predict_cell(p, c, t, ec, et, ef, idx, im, ip, jm, jp);
    }
  auto near = [&](float a, float b) { return std::abs(double(a) - double(b)) <= tol * std::max(1.0, std::abs(double(b))); };
  std::int64_t bad = 0;
  for (std::int64_t idx = 5 * ny; idx < 60 * ny; ++idx)
    bad += !near(cn(idx), ec(idx)) + !near(tn(idx), et(idx)) + !near(f(idx, 0), ef(idx, 0)) + !near(f(idx, 1), ef(idx, 1));
  EXPECT_EQ(bad, 0) << "predict's host rows differ from the scalar cells";
  EXPECT_EQ(cn(5 * ny - 1), 0.0f) << "a row outside [5, 60) was written";
  EXPECT_EQ(cn(60 * ny), 0.0f) << "a row outside [5, 60) was written";
  // The update from cell 7 on, against the same loop written out.
  for (std::int64_t i = 0; i < n; ++i) {
    rc[i] = c(i);
    rt[i] = t(i);
  }
  apply_closure<Kokkos::DefaultHostExecutionSpace>("test::apply", n, p.q, frac, c, t, 7);
  bad = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    float fr = frac(i);
    fr = fr < 0.0f ? 0.0f : (fr > 1.0f ? 1.0f : fr);
    const float burnt = i < 7 ? 0.0f : fr * rc[i];
    const float want_c = i < 7 ? rc[i] : rc[i] - burnt, want_t = i < 7 ? rt[i] : rt[i] + p.q * burnt;
    bad += !near(c(i), want_c) + !near(t(i), want_t);
  }
  EXPECT_EQ(bad, 0) << "apply_closure's host chunks differ from the scalar update";
}

TEST(DeclaredWork, DigitalReplicaExactClosureCountsItsNewtonIterations) {
  using namespace digital_replica;
  Closure cl;
  FeatureScale fs;
  Kokkos::View<float* [2], Kokkos::LayoutRight> features("f", 4);
  Kokkos::View<float*> frac("frac", 4);
  auto h = Kokkos::create_mirror_view(features);
  const float cs[4] = {0.9f, 0.5f, 0.0f, 0.7f}, ts[4] = {0.2f, 0.8f, 0.5f, 1.5f};
  std::int64_t reference = 0;
  for (int i = 0; i < 4; ++i) {
    h(i, 0) = cs[i];
    h(i, 1) = ts[i];
    exact_fraction(cs[i], fs.t0 + fs.q * ts[i], cl, reference);
  }
  Kokkos::deep_copy(features, h);
  const auto newton = exact_closure<Kokkos::DefaultExecutionSpace>("test::exact", 4, cl, fs, features, frac);
  EXPECT_EQ(newton, reference);
  EXPECT_GE(newton, 3 * cl.substeps) << "three burning cells take at least one iteration per sub-step";
  auto w = exact_closure_work(4, newton);
  EXPECT_DOUBLE_EQ(w.bytes, 4 * 12);  // reads 2 features, writes the fraction
  EXPECT_DOUBLE_EQ(w.flops, 4 * 5.0 + 27.0 * newton);
  EXPECT_GT(w.flops, 0.0) << "the most expensive phase must declare its flops";
}

TEST(DeclaredWork, DynamicOrchestrationCountsEachPositionOnce) {
  // 2 members x 3 particles, 5 sub-steps, 4 x 4 bins: positions read and
  // written once (16 B each) whatever the sub-steps, bins written at most once.
  auto w = dynamic_orchestration::langevin_work(6, 5, 4);
  EXPECT_DOUBLE_EQ(w.bytes, 6 * 16 + 16 * 4);
  EXPECT_DOUBLE_EQ(w.flops, 6 * (5 + 36 * 5));
  EXPECT_DOUBLE_EQ(w.items, 30);
  auto f = dynamic_orchestration::frames_work(2, 3, 2);
  EXPECT_DOUBLE_EQ(f.bytes, 6 * 8 + 2 * 4 * 4);
}

TEST(DeclaredWork, DistributedModelsAnalysisReadsEachImageTwice) {
  // 2 frames of 8 x 8 floats (256 B): find_peaks and pool each read the image
  // once; a count (4 B) and 64 features (256 B) are written.
  auto a = distributed_models::analysis_work(2, 8);
  EXPECT_DOUBLE_EQ(a.bytes, 2 * (256 + 4 + 256 + 256));
  // Edge: the id read (4 B), the image written then read by pool, the features written.
  auto e = distributed_models::edge_work(2, 8);
  EXPECT_DOUBLE_EQ(e.bytes, 2 * (4 + 256 + 256 + 256));
}

TEST(DeclaredWork, AdaptiveTrainingFlopsFollowTheTimeStep) {
  using namespace adaptive_training;
  Kokkos::View<float**, Kokkos::LayoutRight> x("x", 8, 3);
  Kokkos::View<float*> y("y", 8);
  const auto coarse = pendulum<Kokkos::DefaultExecutionSpace>("test::pendulum", 7, 0, 0.1f, 0.02f, x, y);
  const auto fine = pendulum<Kokkos::DefaultExecutionSpace>("test::pendulum", 7, 0, 0.1f, 0.01f, x, y);
  // The same 8 samples: halving dt doubles the RK4 steps (to within rounding of each end time).
  EXPECT_NEAR(static_cast<double>(fine), 2.0 * coarse, 8.0);
  EXPECT_GT(pendulum_work(8, fine).flops, 1.9 * pendulum_work(8, coarse).flops - 14 * 8);
  EXPECT_DOUBLE_EQ(pendulum_work(8, fine).flops, 14.0 * 8 + 52.0 * fine);
  EXPECT_DOUBLE_EQ(pendulum_work(8, fine).bytes, 8 * 16);  // x (12 B) and y (4 B) written
}

TEST(DeclaredWork, InverseDesignJacobiOn4x4) {
  // 10 sweeps of 16 cells: u and f read, u' written (12 B); 6 flops.
  auto w = inverse_design::jacobi_work(4, 10);
  EXPECT_DOUBLE_EQ(w.bytes, 160 * 12);
  EXPECT_DOUBLE_EQ(w.flops, 160 * 6);
}

// The host rows (built for AVX2 too, no FMA) do the device path's per-cell
// arithmetic in the same order: on x86-64 bit-identical to a scalar loop
// over the cells, elsewhere within 1e-6 relative (FMA contraction). 37 x 37
// cells (an odd width: vector loops with a remainder), 3 sweeps.
TEST(DeclaredWork, InverseDesignJacobiHostRowsMatchTheScalarCellByCell) {
  constexpr int n = 37, sweeps = 3;
#if defined(__x86_64__)
  const double tol = 0.0;
#else
  const double tol = 1e-6;
#endif
  const std::size_t cells = std::size_t(n) * n;
  Kokkos::View<float*, Kokkos::HostSpace> f("f", cells), u("u", cells), tmp("tmp", cells);
  std::vector<float> ru(cells), rf(cells), next(cells);
  for (std::size_t i = 0; i < cells; ++i) {
    f(i) = rf[i] = unit_float(hash64(i)) * 2.0f - 1.0f;
    u(i) = ru[i] = unit_float(hash64(cells + i));
  }
  inverse_design::jacobi<Kokkos::DefaultHostExecutionSpace>("test::jacobi", n, sweeps, f, u, tmp);
  const float h2 = 1.0f / (static_cast<float>(n) * n);
  for (int s = 0; s < sweeps; ++s) {
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        const std::size_t idx = std::size_t(i) * n + j;
        const float up = i > 0 ? ru[idx - n] : 0.0f, dn = i + 1 < n ? ru[idx + n] : 0.0f;
        const float lf = j > 0 ? ru[idx - 1] : 0.0f, rt = j + 1 < n ? ru[idx + 1] : 0.0f;
        next[idx] = 0.25f * (up + dn + lf + rt + h2 * rf[idx]);
      }
    ru.swap(next);
  }
  std::size_t bad = 0;
  for (std::size_t i = 0; i < cells; ++i)
    bad += !(std::abs(double(u(i)) - double(ru[i])) <= tol * std::max(1.0, std::abs(double(ru[i]))));
  EXPECT_EQ(bad, 0u) << "the Jacobi host rows differ from the scalar cells";
}

TEST(DeclaredWork, MultistagePipelineDescriptorsAndMinimise) {
  // 3 candidates of 6 atoms: id (4 B) and atoms (72 B) read, 8 descriptors (32 B) written.
  EXPECT_DOUBLE_EQ(multistage_pipeline::descriptors_work(3, 6, 8).bytes, 3 * (4 + 72 + 32));
  // Plus the pocket of 5 sites (60 B) read once; one score (4 B) written per candidate.
  auto m = multistage_pipeline::minimise_work(3, 6, 5, 10, 2);
  EXPECT_DOUBLE_EQ(m.bytes, 3 * (4 + 72 + 4) + 60);
  EXPECT_DOUBLE_EQ(m.flops, 40.0 * 3 * 10 * 2 * 6 * 5);
}

// The replay buffer keeps the most recent samples, inputs and targets alike.
TEST(DeclaredWork, BuiltinMlpInferenceAndTrainingByHand) {
  SurrogateSpec s;
  s.in_features = 2;
  s.hidden = {32, 32};
  s.out_features = 1;
  // 2 x (2*32 + 32*32 + 32*1) multiply-adds.
  EXPECT_DOUBLE_EQ(inference_flops_per_row(s), 2240);
  // Forward, weight gradients (as many again), input gradients of the second
  // and third layers only: 2240 + 2240 + 2 x (32*32 + 32*1).
  EXPECT_DOUBLE_EQ(training_flops_per_sample(s), 2240 + 2240 + 2112);
  SurrogateSpec linear;
  linear.in_features = 3;
  linear.hidden = {};
  linear.out_features = 1;
  EXPECT_DOUBLE_EQ(inference_flops_per_row(linear), 6);
  EXPECT_DOUBLE_EQ(training_flops_per_sample(linear), 12) << "one layer: no input gradient";
  s.path = "model.pt";  // a TorchScript model: its shape is unknown, no flops declared
  EXPECT_EQ(inference_flops_per_row(s), 0);
  EXPECT_EQ(training_flops_per_sample(s), 0);
}

TEST(ReplayBuffer, KeepsTheMostRecentSamples) {
  std::vector<float> x, y;
  for (int i = 0; i < 10; ++i) {
    x.insert(x.end(), {float(i), float(i) + 0.5f});
    y.push_back(float(i));
  }
  EXPECT_EQ(keep_most_recent(x, y, 2, 16), 0u);
  EXPECT_EQ(y.size(), 10u);
  EXPECT_EQ(keep_most_recent(x, y, 2, 3), 7u);
  EXPECT_EQ(y, (std::vector<float>{7, 8, 9}));
  EXPECT_EQ(x, (std::vector<float>{7, 7.5f, 8, 8.5f, 9, 9.5f}));
}

}  // namespace
}  // namespace motifbench
