// The mini-apps' main Kokkos kernels beside a STREAM copy, in the same run,
// with the same threads. Each benchmark times, interleaved: the kernel; a
// STREAM copy (two 64 MiB arrays, as the harness's roofline: memory, not
// cache); and a copy of the kernel's own footprint (bytes read + written,
// which may fit in cache). It reports the kernel's bandwidth from its declared
// bytes, stream_fraction (kernel / STREAM; the floor is 0.8) and
// same_bytes_copy_fraction (kernel / the copy of its footprint: what the
// kernel leaves on the table against a copy that enjoys the same caches).
// Sizes: the grids of sizes small and medium. Build with the default
// (Release) preset: the ci preset's -O2 does not vectorise these loops.
#include <benchmark/benchmark.h>

#include <Kokkos_Core.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <vector>

#include "digital_replica/kernels.hpp"
#include "inverse_design/kernels.hpp"

namespace {

using Exec = Kokkos::DefaultExecutionSpace;
namespace dr = motifbench::digital_replica;

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// A copy kernel moving `bytes` (half read, half written) in floats.
struct Copy {
  Kokkos::View<float*> a, b;
  explicit Copy(double bytes)
      : a("bench::copy_a", static_cast<std::size_t>(std::max(1.0, bytes / 8))),
        b("bench::copy_b", static_cast<std::size_t>(std::max(1.0, bytes / 8))) {
    Kokkos::deep_copy(a, 1.0f);
  }
  void run() const {
    auto x = a, y = b;
    Kokkos::parallel_for("bench::stream_copy", Kokkos::RangePolicy<Exec>(0, x.extent(0)),
                         KOKKOS_LAMBDA(std::size_t i) { y(i) = x(i); });
    Kokkos::fence();
  }
};

// STREAM: two 64 MiB arrays, each element read once and written once.
constexpr double kStreamBytes = 2.0 * 64 * 1024 * 1024;
std::unique_ptr<Copy> g_stream;

// Times `kernel` and a copy of `bytes`, interleaved, reps times each; reports
// the medians' bandwidths and their ratio.
template <class F>
void side_by_side(benchmark::State& state, double bytes, F&& kernel) {
  const Copy& stream = *g_stream;
  Copy same(bytes);
  std::vector<double> tk, ts, tc;
  for (auto _ : state) {
    double t0 = now_s();
    kernel();
    Kokkos::fence();
    tk.push_back(now_s() - t0);
    state.PauseTiming();
    t0 = now_s();
    same.run();
    tc.push_back(now_s() - t0);
    if (ts.size() < 64 || ts.size() * 64 < tk.size()) {  // the big copy now and then: it is slow
      t0 = now_s();
      stream.run();
      ts.push_back(now_s() - t0);
    }
    state.ResumeTiming();
  }
  const double kernel_bw = bytes / median(tk), stream_bw = kStreamBytes / median(ts), same_bw = bytes / median(tc);
  state.counters["kernel_GBps"] = kernel_bw * 1e-9;
  state.counters["stream_copy_GBps"] = stream_bw * 1e-9;
  state.counters["stream_fraction"] = kernel_bw / stream_bw;
  state.counters["same_bytes_copy_fraction"] = kernel_bw / same_bw;
  state.counters["floor"] = 0.8;
}

struct Grid {
  int n;
  Kokkos::View<float*> c, t, cn, tn, frac;
  Kokkos::View<float* [2], Kokkos::LayoutRight> features;
  explicit Grid(int n_)
      : n(n_), c("c", std::size_t(n_) * n_), t("t", std::size_t(n_) * n_), cn("cn", std::size_t(n_) * n_),
        tn("tn", std::size_t(n_) * n_), frac("frac", std::size_t(n_) * n_), features("f", std::size_t(n_) * n_) {
    Kokkos::deep_copy(c, 0.5f);
    Kokkos::deep_copy(t, 1.2f);
    Kokkos::deep_copy(frac, 0.1f);
  }
};

void BM_DrPredict(benchmark::State& state) {
  Grid g(static_cast<int>(state.range(0)));
  dr::Physics p;
  const double bytes = dr::predict_work(std::int64_t(g.n) * g.n).bytes;
  side_by_side(state, bytes, [&] { dr::predict<Exec>("bench::predict", g.n, g.n, p, g.c, g.t, g.cn, g.tn, g.features); });
}
BENCHMARK(BM_DrPredict)->Arg(128)->Arg(512)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_DrApplyClosure(benchmark::State& state) {
  Grid g(static_cast<int>(state.range(0)));
  const std::int64_t cells = std::int64_t(g.n) * g.n;
  const double bytes = dr::apply_closure_work(cells).bytes;
  side_by_side(state, bytes, [&] { dr::apply_closure<Exec>("bench::apply", cells, 1.0f, g.frac, g.cn, g.tn); });
}
BENCHMARK(BM_DrApplyClosure)->Arg(128)->Arg(512)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Inverse Design's forward model: one forward simulation, as the mini-app
// runs it (one call of sim.iterations Jacobi sweeps: 400 on grid.n 48 at
// small, 2000 on 128 at medium). Timed per call, a sample of a few hundred
// µs: a single sweep at small takes under a µs, about the clock reads and
// the fence around it.
void BM_IdJacobi(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0)), sweeps = static_cast<int>(state.range(1));
  Kokkos::View<float*> f("f", std::size_t(n) * n), u("u", std::size_t(n) * n), tmp("tmp", std::size_t(n) * n);
  Kokkos::deep_copy(f, 1.0f);
  const double bytes = motifbench::inverse_design::jacobi_work(n, sweeps).bytes;
  side_by_side(state, bytes, [&] { motifbench::inverse_design::jacobi<Exec>("bench::jacobi", n, sweeps, f, u, tmp); });
}
BENCHMARK(BM_IdJacobi)->Args({48, 400})->Args({128, 2000})->Unit(benchmark::kMicrosecond)->UseRealTime();

// What the machine leaves in this core's caches while the core computes
// without touching memory: the time to read 192 KiB (Digital Replica's
// fields at size small are about that) right after reading it, and after
// `gap` ms of arithmetic on registers only (exp, as the exact closure
// does). On bare metal the two match; on a shared VM other tenants and the
// hypervisor evict the data meanwhile, which is what the kernels of a
// `none` run meet after each step's exact closure (about 50 ms at small).
void BM_CacheKeptOverCompute(benchmark::State& state) {
  const double gap_s = state.range(0) * 1e-3;
  std::vector<float> data(192 * 1024 / sizeof(float));
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i % 7);
  auto read = [&] {
    const double t0 = now_s();
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (std::size_t i = 0; i + 8 <= data.size(); i += 8)
      for (int k = 0; k < 8; ++k) acc[k] += data[i + k];
    benchmark::DoNotOptimize(acc);
    return now_s() - t0;
  };
  std::vector<double> hot, after;
  volatile double sink = 0;
  for (auto _ : state) {
    read();
    hot.push_back(read());
    double x = 1.0001;
    for (const double t0 = now_s(); now_s() - t0 < gap_s;)
      for (int k = 0; k < 100; ++k) x = std::exp(x * 0.5) * 0.3;
    sink = sink + x;
    after.push_back(read());
  }
  state.counters["hot_read_us"] = median(hot) * 1e6;
  state.counters["read_after_gap_us"] = median(after) * 1e6;
  state.counters["after_over_hot"] = median(after) / median(hot);
}
BENCHMARK(BM_CacheKeptOverCompute)->Arg(0)->Arg(1)->Arg(10)->Arg(50)->Iterations(41)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  Kokkos::initialize(argc, argv);
  benchmark::Initialize(&argc, argv);
  g_stream = std::make_unique<Copy>(kStreamBytes);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_stream.reset();
  Kokkos::finalize();
  return 0;
}
