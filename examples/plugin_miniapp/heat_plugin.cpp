// heat_plugin: an out-of-tree mini-app. A 1-D heat equation (explicit Kokkos
// stencil) whose flux closure is learnt online: every step the surrogate
// predicts each cell's next value from its neighbourhood (the AI "replaces" a
// stencil evaluation), and every few steps it is retrained on exact updates.
// It uses only the public headers, so it runs in every coupling mode.
#include <Kokkos_Core.hpp>
#include <cmath>
#include <vector>

#include "motifbench/motif.hpp"
#include "motifbench/plugin.hpp"

namespace {

class HeatPlugin final : public motifbench::Motif {
 public:
  void setup(motifbench::RunContext& ctx) override {
    const auto& cfg = ctx.config();
    m_n = cfg.get_int("heat.cells");
    m_retrain_every = cfg.get_int("heat.retrain_every");
    m_u = Kokkos::View<float*>("heat::u", static_cast<std::size_t>(m_n));
    m_next = Kokkos::View<float*>("heat::next", static_cast<std::size_t>(m_n));
    const double phase = static_cast<double>(ctx.seed() % 1000) / 1000.0;
    auto u = m_u;
    const std::int64_t n = m_n;
    Kokkos::parallel_for(
        "heat::init", n, KOKKOS_LAMBDA(std::int64_t i) {
          u(i) = static_cast<float>(std::sin(6.283185307179586 * (static_cast<double>(i) / n + phase)));
        });
    m_sim = ctx.phase("simulate");
    m_infer = ctx.phase("infer");
    m_train = ctx.phase("train");
    if (ctx.coupling() != motifbench::Coupling::None) {
      motifbench::SurrogateSpec spec;
      spec.name = "heat_plugin";
      spec.in_features = 3;
      spec.out_features = 1;
      spec.hidden = {16};
      spec.seed = ctx.seed();
      spec.learning_rate = 1e-2;
      m_model = ctx.make_surrogate(spec);
    }
  }

  void step(motifbench::RunContext& ctx) override {
    {
      motifbench::ScopedPhase p(ctx, m_sim);
      exact_step();  // m_next from m_u
    }
    ctx.declare_work(m_sim, motifbench::Work{static_cast<double>(m_n), 8.0 * m_n, 4.0 * m_n, 0});
    if (m_model) learn_update(ctx);
    std::swap(m_u, m_next);
  }

  void learn_update(motifbench::RunContext& ctx) {
    // Host copies of the neighbourhoods: [u(i-1), u(i), u(i+1)] -> next(i).
    auto host_u = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), m_u);
    auto host_next = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), m_next);
    std::vector<float> x(static_cast<std::size_t>(3 * m_n)), y(static_cast<std::size_t>(m_n)),
        pred(static_cast<std::size_t>(m_n));
    for (std::int64_t i = 0; i < m_n; ++i) {
      x[3 * i] = host_u((i + m_n - 1) % m_n);
      x[3 * i + 1] = host_u(i);
      x[3 * i + 2] = host_u((i + 1) % m_n);
      y[i] = host_next(i);
    }
    {
      motifbench::ScopedPhase p(ctx, m_infer);
      m_model->infer(x.data(), m_n, pred.data());
    }
    double err = 0;
    for (std::int64_t i = 0; i < m_n; ++i) err += std::fabs(pred[i] - y[i]);
    m_last_error = err / static_cast<double>(m_n);
    if (m_steps++ % m_retrain_every == 0) {
      motifbench::ScopedPhase p(ctx, m_train);
      motifbench::TrainOptions opt;
      opt.epochs = 5;
      opt.batch_size = 64;
      opt.seed = ctx.seed();
      m_model->train(x.data(), y.data(), m_n, opt);
    }
  }

  void finish(motifbench::RunContext& ctx) override {
    auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), m_u);
    double energy = 0;  // sum of u^2
    for (std::int64_t i = 0; i < m_n; ++i) energy += static_cast<double>(host(i)) * host(i);
    ctx.metrics().scalar("mean_square_ratio", energy / static_cast<double>(m_n));  // decays as heat spreads
    if (m_model) ctx.metrics().scalar("surrogate_mean_abs_error_fraction", m_last_error);
    ctx.metrics().note("what", "out-of-tree plugin: 1-D heat equation with a learnt update");
  }

 private:
  void exact_step() {
    auto u = m_u, next = m_next;
    const std::int64_t n = m_n;
    Kokkos::parallel_for(
        "heat::step", n, KOKKOS_LAMBDA(std::int64_t i) {
          const std::int64_t l = i == 0 ? n - 1 : i - 1, r = i + 1 == n ? 0 : i + 1;
          next(i) = u(i) + 0.25f * (u(l) - 2.0f * u(i) + u(r));
        });
  }

  std::int64_t m_n = 0, m_retrain_every = 1, m_steps = 0;
  double m_last_error = 0;
  Kokkos::View<float*> m_u, m_next;
  motifbench::PhaseId m_sim = 0, m_infer = 0, m_train = 0;
  std::unique_ptr<motifbench::SurrogateClient> m_model;
};

void register_heat_plugin(motifbench::Registry& registry) {
  using motifbench::Coupling;
  motifbench::MotifInfo info;
  info.name = "heat_plugin";
  info.summary = "out-of-tree example: 1-D heat equation whose update a surrogate learns online";
  info.couplings = {Coupling::Tight, Coupling::SemiTight, Coupling::Loose, Coupling::None};
  info.declare_config = [](motifbench::ConfigSchema& s) {
    s.add_int("heat.cells", 4096, 8, 1 << 26, "cells of the 1-D grid");
    s.add_int("heat.retrain_every", 5, 1, 1000000, "steps between retrainings");
  };
  info.sizes = {{"tiny", {{"run.min_time_s", "0.2"}, {"run.repetitions", "2"}, {"heat.cells", "1024"}}},
                {"small", {{"heat.cells", "16384"}}},
                {"medium", {{"heat.cells", "262144"}}},
                {"large", {{"heat.cells", "4194304"}}}};
  info.create = [] { return std::make_unique<HeatPlugin>(); };
  registry.add(std::move(info));
}

}  // namespace

MOTIFBENCH_PLUGIN(register_heat_plugin)
