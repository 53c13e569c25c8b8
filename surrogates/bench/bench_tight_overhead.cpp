// Tight-coupling overhead: the in-process SurrogateClient path on a Kokkos
// View of the simulation's features, against a bare LibTorch forward pass of
// the same architecture on a tensor of the same shape. Both run interleaved in
// one benchmark so that machine noise hits them alike; the counters report the
// medians and their ratio (tight / bare).
#include <benchmark/benchmark.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <Kokkos_Core.hpp>

#include "motifbench/surrogates/local.hpp"

namespace {

using Features = Kokkos::View<float* [2], Kokkos::LayoutRight>;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

void BM_TightVsBareForward(benchmark::State& state) {
  const std::int64_t n = state.range(0), width = state.range(1);
  motifbench::SurrogateSpec spec;
  spec.in_features = 2;
  spec.out_features = 1;
  spec.hidden = {width, width};
  spec.seed = 1;
  auto client = motifbench::surrogates::make_local_client(spec);

  torch::nn::Sequential bare(torch::nn::Linear(2, width), torch::nn::Tanh(), torch::nn::Linear(width, width),
                             torch::nn::Tanh(), torch::nn::Linear(width, 1));
  {
    // Identical weights: export the client's model and copy its parameters.
    const std::string path = "motifbench_bench_weights.pt";
    client->save(path);
    auto saved = torch::jit::load(path);
    std::remove(path.c_str());
    torch::NoGradGuard ng;
    int layer = 0;
    for (auto& m : bare->children()) {
      if (auto* lin = m->as<torch::nn::Linear>()) {
        lin->weight.copy_(saved.attr("w" + std::to_string(layer)).toTensor());
        lin->bias.copy_(saved.attr("b" + std::to_string(layer)).toTensor());
        ++layer;
      }
    }
  }
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

  std::vector<double> t_bare, t_tight;
  bool bare_first = true;
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
    // Alternate the order so neither path always runs on a warmer cache.
    if (bare_first) {
      run_bare();
      run_tight();
    } else {
      run_tight();
      run_bare();
    }
    bare_first = !bare_first;
  }
  const double mb = median(t_bare), mt = median(t_tight);
  state.counters["bare_median_s"] = mb;
  state.counters["tight_median_s"] = mt;
  state.counters["tight_over_bare_ratio"] = mt / mb;
  state.counters["tight_bytes_copied"] = static_cast<double>(client->bytes_copied());
  state.counters["inferences_per_s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

// small: 128 x 128 cells, width 32; tiny: 32 x 32, width 16; batch 1.
BENCHMARK(BM_TightVsBareForward)->Args({16384, 32})->Args({1024, 16})->Args({1, 32})->MinTime(2.0)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
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
