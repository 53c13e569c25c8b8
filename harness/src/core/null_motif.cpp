#include "core/null_motif.hpp"

#include <algorithm>
#include <vector>

#include <Kokkos_Core.hpp>

#include "core/cpu_placement.hpp"
#include "core/run_context_impl.hpp"
#include "motifbench/motif.hpp"

namespace motifbench::detail {
namespace {

class NullMotif final : public Motif {
 public:
  void setup(RunContext& ctx) override {
    m_cells = ctx.config().get_int("null.cells");
    m_view = Kokkos::View<double*>("motifbench::null", static_cast<std::size_t>(m_cells));
    Kokkos::deep_copy(m_view, 1.0);
    m_phase = ctx.phase("simulate");
  }
  void step(RunContext& ctx) override {
    {
      ScopedPhase p(ctx, m_phase);
      null_work(m_view);
    }
    // Read + write of each double, one FMA (2 flops) per cell.
    ctx.declare_work(m_phase, Work{static_cast<double>(m_cells), 16.0 * m_cells, 2.0 * m_cells, 0});
  }
  void finish(RunContext& ctx) override {
    ctx.metrics().note("what", "fixed work per step (one FMA per cell); the figures are the harness's own cost");
  }

 private:
  std::int64_t m_cells = 0;
  Kokkos::View<double*> m_view;
  PhaseId m_phase = 0;
};

}  // namespace

void null_work(const Kokkos::View<double*>& cells) {
  auto v = cells;
  Kokkos::parallel_for(
      "motifbench::null_work", Kokkos::RangePolicy<>(0, v.extent(0)),
      KOKKOS_LAMBDA(std::size_t i) { v(i) = v(i) * 0.999999 + 1e-6; });
  Kokkos::fence();  // a kernel writing memory is never dropped; no host read (device Views)
}

void register_null_motif(Registry& registry) {
  MotifInfo info;
  info.name = "null";
  info.summary = "null system under test: fixed work per step; measures the harness's own cost";
  info.couplings = {Coupling::None};
  info.declare_config = [](ConfigSchema& s) {
    s.add_int("null.cells", 1024, 1, 1 << 26, "doubles updated per step (one FMA each)");
  };
  info.sizes = {{"tiny", {{"run.min_time_s", "0.2"}, {"run.repetitions", "2"}, {"null.cells", "1024"}}},
                {"small", {{"run.min_time_s", "2"}, {"null.cells", "1024"}}},
                {"medium", {{"run.min_time_s", "10"}, {"null.cells", "65536"}}},
                {"large", {{"run.min_time_s", "30"}, {"null.cells", "1048576"}}}};
  info.create = [] { return std::make_unique<NullMotif>(); };
  registry.add(std::move(info));
}

MeasuredOverhead measure_harness_overhead(int rounds, std::int64_t steps, std::int64_t cells) {
  ConfigSchema schema;
  Config cfg(schema);
  RunContextImpl ctx(cfg, Coupling::None, 0, 0, 1);
  ctx.set_profile_regions(false);
  const PhaseId p = ctx.phase("null");
  Kokkos::View<double*> view("motifbench::null_overhead", static_cast<std::size_t>(cells));
  Kokkos::deep_copy(view, 1.0);
  std::vector<double> without, with, diff;
  std::uint64_t events_total = 0;
  StepCpus cpus;  // as the run's loop counts its steps' CPUs
  for (int r = 0; r < rounds; ++r) {
    auto t0 = now_ns();
    for (std::int64_t i = 0; i < steps; ++i) null_work(view);
    auto t1 = now_ns();
    ctx.reset_measurements();
    for (std::int64_t i = 0; i < steps; ++i) {
      ctx.set_step(i, false);
      const auto ts = now_ns();
      {
        ScopedPhase s(ctx, p);
        null_work(view);
      }
      ctx.declare_work(p, Work{1, 1, 1, 0});
      ctx.record_latency_ns("null", 1.0);
      ctx.record_latency_ns("step", static_cast<double>(now_ns() - ts));
      cpus.add(sched_getcpu());
      ctx.count_event();
      (void)now_ns();  // the loop's own clock read
    }
    auto t2 = now_ns();
    events_total += ctx.events();
    const double a = static_cast<double>(t1 - t0) / steps, b = static_cast<double>(t2 - t1) / steps;
    without.push_back(a);
    with.push_back(b);
    diff.push_back(b - a);
    (void)ctx.take_latencies();
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  MeasuredOverhead m;
  m.rounds = rounds;
  m.steps_per_round = steps;
  m.without_ns_per_step = median(without);
  m.with_ns_per_step = median(with);
  m.per_step_ns = median(diff);
  m.events_per_step = rounds > 0 ? static_cast<double>(events_total) / (static_cast<double>(rounds) * steps) : 0;
  m.per_event_ns = m.events_per_step > 0 ? m.per_step_ns / m.events_per_step : 0;
  return m;
}

}  // namespace motifbench::detail
