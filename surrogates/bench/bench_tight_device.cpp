// Tight coupling on a GPU: the in-process SurrogateClient's infer_device() on
// device memory the caller owns (as a Kokkos CUDA View's), against a bare
// LibTorch forward pass of the same layers and weights on the same device
// tensor, interleaved in one benchmark. The counters report the medians,
// tight_speed_vs_bare = bare time / tight time (floor 0.95), and the tight
// client's copied bytes, which must stay 0 (otherwise the benchmark fails).
// Both time to the end of the GPU work (stream synchronised). Without a GPU
// the benchmark is skipped and says so.
#include <benchmark/benchmark.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "bench_common.hpp"
#include "motifbench/surrogates/local.hpp"

namespace {

using motifbench::bench::median;

void BM_TightVsBareOnDevice(benchmark::State& state) {
  if (!torch::cuda::is_available()) {
    state.SkipWithError("no GPU: this LibTorch has no CUDA or sees no device");
    return;
  }
  const std::int64_t n = state.range(0), width = state.range(1);
  motifbench::SurrogateSpec spec;
  spec.in_features = 2;
  spec.out_features = 1;
  spec.hidden = {width, width};
  spec.seed = 1;
  auto client = motifbench::surrogates::make_local_client(spec, "cuda:0");
  const torch::Device dev("cuda:0");
  torch::nn::Sequential bare(torch::nn::Linear(2, width), torch::nn::Tanh(), torch::nn::Linear(width, width),
                             torch::nn::Tanh(), torch::nn::Linear(width, 1));
  motifbench::bench::copy_client_weights(*client, bare, "motifbench_bench_device_weights.pt");
  bare->to(dev);
  // The caller's device buffers (what a Kokkos CUDA View holds).
  auto x = torch::rand({n, 2}, torch::TensorOptions().device(dev));
  auto out = torch::empty({n, 1}, torch::TensorOptions().device(dev));
  std::vector<double> t_bare, t_tight;
  bool bare_first = true;
  auto run_bare = [&] {
    auto a = std::chrono::steady_clock::now();
    auto y = bare->forward(x);
    torch::cuda::synchronize();
    t_bare.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  };
  auto run_tight = [&] {
    auto a = std::chrono::steady_clock::now();
    client->infer_device(x.data_ptr<float>(), n, out.data_ptr<float>());  // synchronises before returning
    t_tight.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  };
  for (auto _ : state) {
    c10::InferenceMode guard;
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
  state.counters["tight_speed_vs_bare"] = mb / mt;
  state.counters["floor"] = 0.95;
  state.counters["tight_inferences_per_s"] = n / mt;
  state.counters["tight_bytes_copied"] = static_cast<double>(client->bytes_copied());
  {
    c10::InferenceMode guard;
    const float diff = (bare->forward(x) - out).abs().max().item<float>();
    state.counters["max_abs_difference"] = diff;
    if (diff > 1e-4f) state.SkipWithError("the tight output differs from the bare forward beyond 1e-4");
  }
  if (client->bytes_copied() != 0) state.SkipWithError("the device path copied tensor bytes");
}

// small, medium and large Digital Replica grids; tiny with a narrower model.
BENCHMARK(BM_TightVsBareOnDevice)
    ->Args({16384, 32})
    ->Args({262144, 32})
    ->Args({4194304, 32})
    ->Args({1024, 16})
    ->MinTime(1.0)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
