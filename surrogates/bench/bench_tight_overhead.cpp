// Tight-coupling overhead: the in-process SurrogateClient path on a Kokkos
// View of the simulation's features, against (1) a bare LibTorch forward pass
// of the same architecture on a tensor of the same shape and (2) the same
// layers written directly with OpenBLAS: cblas_sgemm per layer with the bias
// as its C operand, then tanh over the layer's output, on as many OpenMP
// threads as LibTorch has, with glibc's vectorised tanhf (libmvec, 8 lanes)
// where the CPU has AVX2; (3) the same with a scalar std::tanh on one thread,
// the plain loop. All run interleaved in one benchmark so that machine noise
// hits them alike; the counters report the medians, tight / bare, and tight's
// speed against each BLAS forward (tight_speed_vs_blas = time of (2) / tight
// time, the floor is 0.7; tight_speed_vs_blas_scalar_tanh against (3)), with
// GFLOP/s and inferences per second.
#include <benchmark/benchmark.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <dlfcn.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <Kokkos_Core.hpp>

#include "bench_common.hpp"
#include "builtin_mlp.hpp"
#include "motifbench/surrogates/local.hpp"
#include "vector_tanh.hpp"

namespace {

using Features = Kokkos::View<float* [2], Kokkos::LayoutRight>;

using motifbench::bench::median;

double seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// cblas_sgemm from the BLAS LibTorch already loaded (OpenBLAS on Debian).
using Sgemm = void (*)(int order, int transa, int transb, int m, int n, int k, float alpha, const float* a, int lda,
                       const float* b, int ldb, float beta, float* c, int ldc);
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

using motifbench::surrogates::has_vector_tanh;
using motifbench::surrogates::tanh_vector;

// tanh in place over n values: split over the OpenMP threads (LibTorch's
// setting), vectorised where the CPU allows; or a scalar loop on this thread.
void tanh_in_place(float* p, std::int64_t n, bool vectorised) {
  if (!vectorised) {
    for (std::int64_t i = 0; i < n; ++i) p[i] = std::tanh(p[i]);
    return;
  }
  // LibTorch's grain for element-wise work: 32768 values per thread.
  const int threads = static_cast<int>(std::min<std::int64_t>(omp_get_max_threads(), std::max<std::int64_t>(1, n / 32768)));
  if (threads == 1) return tanh_vector(p, n);
#pragma omp parallel num_threads(threads)
  {
    const std::int64_t t = omp_get_thread_num(), k = omp_get_num_threads();
    const std::int64_t a = n * t / k / 8 * 8, b = t + 1 == k ? n : n * (t + 1) / k / 8 * 8;
    tanh_vector(p + a, b - a);
  }
}

// y = tanh(... tanh(x W0^T + b0) ...) W2^T + b2, row-major, with sgemm.
struct BlasMlp {
  Sgemm sgemm = nullptr;
  std::vector<std::vector<float>> w, b;  // w[l]: [out x in]
  std::vector<std::int64_t> in, out;
  std::vector<std::vector<float>> act;
  void forward(const float* x, std::int64_t n, float* y, bool vectorised) {
    const float* src = x;
    for (std::size_t l = 0; l < w.size(); ++l) {
      const bool last = l + 1 == w.size();
      act[l].resize(static_cast<std::size_t>(n * out[l]));
      float* dst = last ? y : act[l].data();
      for (std::int64_t r = 0; r < n; ++r) std::copy(b[l].begin(), b[l].end(), dst + r * out[l]);
      sgemm(kRowMajor, kNoTrans, kTrans, static_cast<int>(n), static_cast<int>(out[l]), static_cast<int>(in[l]), 1.0f,
            src, static_cast<int>(in[l]), w[l].data(), static_cast<int>(in[l]), 1.0f, dst, static_cast<int>(out[l]));
      if (!last) tanh_in_place(dst, n * out[l], vectorised);
      src = dst;
    }
  }
  double flops(std::int64_t n) const {
    double f = 0;
    for (std::size_t l = 0; l < w.size(); ++l) f += 2.0 * n * in[l] * out[l];
    return f;
  }
};

void BM_TightVsBareForward(benchmark::State& state) {
  const std::int64_t n = state.range(0), width = state.range(1);
  motifbench::SurrogateSpec spec;
  spec.in_features = 2;
  spec.out_features = 1;
  spec.hidden = {width, width};
  spec.seed = 1;
  auto client = motifbench::surrogates::make_local_client(spec);

  BlasMlp blas;
  blas.sgemm = reinterpret_cast<Sgemm>(dlsym(RTLD_DEFAULT, "cblas_sgemm"));
  if (blas.sgemm == nullptr) {
    state.SkipWithError("no cblas_sgemm in this process's BLAS");
    return;
  }
  torch::nn::Sequential bare(torch::nn::Linear(2, width), torch::nn::Tanh(), torch::nn::Linear(width, width),
                             torch::nn::Tanh(), torch::nn::Linear(width, 1));
  // Identical weights: export the client's model and copy its parameters.
  for (auto* lin : motifbench::bench::copy_client_weights(*client, bare, "motifbench_bench_weights.pt")) {
    auto wt = lin->weight.contiguous(), bt = lin->bias.contiguous();
    blas.w.emplace_back(wt.data_ptr<float>(), wt.data_ptr<float>() + wt.numel());
    blas.b.emplace_back(bt.data_ptr<float>(), bt.data_ptr<float>() + bt.numel());
    blas.in.push_back(wt.size(1));
    blas.out.push_back(wt.size(0));
  }
  blas.act.resize(blas.w.size());
  Features features("bench::features", n);
  Kokkos::View<float*> out("bench::out", n);
  Kokkos::parallel_for(
      "bench::fill", n, KOKKOS_LAMBDA(int i) {
        features(i, 0) = 0.001f * (i % 1000);
        features(i, 1) = 0.002f * (i % 500);
      });
  Kokkos::fence();
  // Same values in separate memory: the bare path owns an ordinary tensor.
  auto x = torch::from_blob(features.data(), {n, 2}).clone();

  std::vector<double> t_bare, t_tight, t_blas, t_scalar;
  std::vector<float> blas_out(static_cast<std::size_t>(n)), scalar_out(static_cast<std::size_t>(n));
  bool forwards = true;
  auto run_blas = [&](bool vectorised) {
    auto& dst = vectorised ? blas_out : scalar_out;
    auto a = std::chrono::steady_clock::now();
    blas.forward(features.data(), n, dst.data(), vectorised);
    benchmark::DoNotOptimize(dst.data());
    (vectorised ? t_blas : t_scalar).push_back(seconds(a, std::chrono::steady_clock::now()));
  };
  auto run_bare = [&] {
    auto a = std::chrono::steady_clock::now();
    auto y = bare->forward(x);
    benchmark::DoNotOptimize(y.data_ptr<float>());
    t_bare.push_back(seconds(a, std::chrono::steady_clock::now()));
  };
  auto run_tight = [&] {
    auto a = std::chrono::steady_clock::now();
    client->infer(features.data(), n, out.data());
    benchmark::DoNotOptimize(out.data());
    t_tight.push_back(seconds(a, std::chrono::steady_clock::now()));
  };
  for (auto _ : state) {
    c10::InferenceMode guard;
    // Alternate the order so that no path always runs on a warmer cache.
    if (forwards) {
      run_bare();
      run_tight();
      run_blas(true);
      run_blas(false);
    } else {
      run_blas(false);
      run_blas(true);
      run_tight();
      run_bare();
    }
    forwards = !forwards;
  }
  const double mb = median(t_bare), mt = median(t_tight);
  state.counters["bare_median_s"] = mb;
  state.counters["tight_median_s"] = mt;
  state.counters["tight_over_bare_ratio"] = mt / mb;
  state.counters["tight_bytes_copied"] = static_cast<double>(client->bytes_copied());
  const double mblas = median(t_blas), mscalar = median(t_scalar);
  state.counters["blas_median_s"] = mblas;
  state.counters["blas_scalar_tanh_median_s"] = mscalar;
  state.counters["blas_vector_tanh"] = has_vector_tanh() ? 1 : 0;
  state.counters["tight_speed_vs_blas"] = mblas / mt;
  state.counters["tight_speed_vs_blas_scalar_tanh"] = mscalar / mt;
  state.counters["blas_floor"] = 0.7;
  state.counters["tight_GFLOPps"] = blas.flops(n) / mt * 1e-9;
  state.counters["blas_GFLOPps"] = blas.flops(n) / mblas * 1e-9;
  state.counters["tight_inferences_per_s"] = n / mt;
  state.counters["blas_inferences_per_s"] = n / mblas;
  // The same numbers (BLAS kernels and tanh implementations differ: a stated
  // tolerance).
  float worst = 0;
  for (std::int64_t i = 0; i < n; ++i)
    worst = std::max({worst, std::fabs(blas_out[i] - out.data()[i]), std::fabs(scalar_out[i] - out.data()[i])});
  state.counters["max_abs_difference"] = worst;
  if (worst > 1e-4f) state.SkipWithError("the BLAS forwards and the tight path disagree beyond 1e-4");
  state.counters["inferences_per_s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

// small: 128 x 128 cells; medium: 512 x 512 (width 32); tiny: 32 x 32, width 16; batch 1.
BENCHMARK(BM_TightVsBareForward)
    ->Args({16384, 32})
    ->Args({262144, 32})
    ->Args({1024, 16})
    ->Args({1, 32})
    ->MinTime(2.0)
    ->UseRealTime();

// The built-in MLP's CPU paths side by side on the same weights and rows,
// interleaved (2 -> width -> width -> 1, tanh): the measurements behind
// BuiltinMlp's bounds (direct_rows(), blocked_rows(), onednn_rows()). Each
// counter is a path's median time in us; a path that does not apply (oneDNN
// without oneDNN, the direct loops beyond 256 rows) is left out.
void BM_BuiltinMlpPaths(benchmark::State& state) {
  using motifbench::surrogates::BuiltinMlp;
  const std::int64_t n = state.range(0), width = state.range(1);
  torch::manual_seed(1);
  std::vector<torch::Tensor> w{torch::randn({width, 2}) * 0.5, torch::randn({width, width}) * 0.2,
                               torch::randn({1, width}) * 0.2};
  std::vector<torch::Tensor> b{torch::randn({width}) * 0.1, torch::randn({width}) * 0.1, torch::randn({1}) * 0.1};
  BuiltinMlp mlp;
  mlp.pack(w, b, "tanh");
  mlp.refresh();
  std::vector<float> x(static_cast<std::size_t>(2 * n)), y(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 13) / 6.0f - 1.0f;
  using Path = std::int64_t (BuiltinMlp::*)(const float*, std::int64_t, float*) const;
  std::vector<std::pair<const char*, Path>> paths{{"dense_us", &BuiltinMlp::forward_dense}};
  if (mlp.has_blocked()) paths.emplace_back("blocked_us", &BuiltinMlp::forward_blocked);
  if (mlp.has_onednn()) paths.emplace_back("onednn_us", &BuiltinMlp::forward_onednn);
  if (n <= 256) paths.emplace_back("direct_us", &BuiltinMlp::forward_direct);
  std::vector<std::vector<double>> times(paths.size());
  for (auto _ : state) {
    for (std::size_t p = 0; p < paths.size(); ++p) {
      const auto a = std::chrono::steady_clock::now();
      (mlp.*paths[p].second)(x.data(), n, y.data());
      benchmark::DoNotOptimize(y.data());
      times[p].push_back(seconds(a, std::chrono::steady_clock::now()));
    }
  }
  for (std::size_t p = 0; p < paths.size(); ++p) state.counters[paths[p].first] = median(times[p]) * 1e6;
  state.counters["onednn_threads"] = mlp.onednn_threads(n, omp_get_max_threads());
}
BENCHMARK(BM_BuiltinMlpPaths)
    ->ArgsProduct({{1, 2, 4, 8, 16, 32, 64, 256, 1024, 2048, 4096, 8192}, {16, 32, 64, 128, 256}})
    ->MinTime(0.5)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  motifbench::surrogates::ensure_runtime_settings(argv);  // as motifbench runs: the same allocator and OpenMP
  Kokkos::initialize(argc, argv);
  // MOTIFBENCH_BENCH_THREADS picks LibTorch's threads (default: one per core).
  const char* t = std::getenv("MOTIFBENCH_BENCH_THREADS");
  motifbench::surrogates::set_threads(t ? std::atoi(t) : 0);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  Kokkos::finalize();
  return 0;
}
