// Inverse Design: find the hidden heat sources that produced an observed
// temperature field. Each iteration trains a forward surrogate (parameters ->
// sensor readings) online on every simulation so far, searches through it for
// the inputs whose predicted readings match the observation, verifies the best
// proposals with the Kokkos forward simulation, and adds them to the training
// set, until the misfit is below tolerance or the simulation budget is spent.
// The baselines of the same simulation budget take no AI decision:
// `--set design.strategy=evolution`, a (1+lambda) evolution strategy, and
// `design.strategy=random` (also mode `none`, which has no AI), uniform random
// search.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include <Kokkos_Core.hpp>

#include "kernels.hpp"
#include "motifbench/motif.hpp"
#include "motifbench/registry.hpp"

namespace motifbench {
namespace inverse_design {
namespace {

using Exec = Kokkos::DefaultExecutionSpace;
using Field = Kokkos::View<float*, Exec>;

void declare(ConfigSchema& s) {
  s.add_int("grid.n", 48, 8, 1 << 14, "grid points per axis of the forward model");
  s.add_int("sim.iterations", 400, 1, 1 << 24, "Jacobi sweeps per forward simulation");
  s.add_int("sources.count", 2, 1, kMaxSources, "hidden heat sources (3 parameters each)");
  s.add_int("sensors.per_axis", 5, 1, 256, "sensor lattice per axis");
  s.add_choice("design.strategy", "surrogate", {"surrogate", "evolution", "random"},
               "surrogate: AI-proposed inputs; evolution: a (1+lambda) evolution strategy (lambda = design.batch, "
               "step size by the 1/5 success rule), the classical baseline; random: uniform random search; "
               "each of the same simulation budget");
  s.add_int("design.initial", 24, 1, 1 << 20, "random simulations before the loop starts");
  s.add_int("design.budget", 200, 1, 1 << 24, "forward simulations at most, the initial ones included");
  s.add_int("design.batch", 2, 1, 4096, "proposals verified by simulation per iteration");
  s.add_int("design.candidates", 4096, 1, 1 << 24, "candidate inputs scored by the surrogate per iteration");
  s.add_real("design.tolerance", 0.03, 0.0, 10.0, "relative RMS misfit that counts as a solution");
  s.add_real("design.parameter_tolerance", 0.1, 0.0, 10.0,
             "RMS error of the recovered parameters against the hidden truth (unit design space) within which a "
             "solution counts as recovered (parameters_recovered_count)");
  s.add_int("train.epochs", 60, 1, 100000, "epochs per surrogate training");
  s.add_int("surrogate.width", 64, 1, 1 << 14, "hidden layer width");
}

struct Eval {
  std::vector<float> theta;
  double misfit;
};

class InverseDesign final : public Motif {
 public:
  void setup(RunContext& ctx) override {
    const Config& c = ctx.config();
    m_n = static_cast<int>(c.get_int("grid.n"));
    m_iters = static_cast<int>(c.get_int("sim.iterations"));
    m_sources = static_cast<int>(c.get_int("sources.count"));
    m_sensors_axis = static_cast<int>(c.get_int("sensors.per_axis"));
    m_sensors = m_sensors_axis * m_sensors_axis;
    m_dim = 3 * m_sources;
    m_budget = c.get_int("design.budget");
    m_batch = static_cast<int>(c.get_int("design.batch"));
    m_candidates = static_cast<int>(c.get_int("design.candidates"));
    m_tol = c.get_real("design.tolerance");
    m_param_tol = c.get_real("design.parameter_tolerance");
    m_epochs = c.get_int("train.epochs");
    const auto initial = c.get_int("design.initial");
    if (initial >= m_budget)
      throw std::invalid_argument("design.initial must be below design.budget (" + std::to_string(m_budget) + ")");
    m_rng.seed(ctx.seed());
    m_ph_sim = ctx.phase("simulate");
    m_ph_train = ctx.phase("train");
    m_ph_infer = ctx.phase("infer");
    m_ph_decide = ctx.phase("decide");
    m_f = Field("id::source", m_n * m_n);
    m_u = Field("id::u", m_n * m_n);
    m_tmp = Field("id::tmp", m_n * m_n);
    m_out = Field("id::sensors", m_sensors);

    // The hidden truth and its observation.
    m_truth = random_theta();
    m_obs = forward_raw(m_truth);
    double ss = 0;
    for (float v : m_obs) ss += v * double(v);
    m_scale = static_cast<float>(std::sqrt(ss / m_obs.size()));
    for (float& v : m_obs) v /= m_scale;

    SurrogateSpec spec;
    spec.name = "forward_surrogate";
    spec.in_features = m_dim;
    spec.out_features = m_sensors;
    const auto w = c.get_int("surrogate.width");
    spec.hidden = {w, w};
    spec.seed = ctx.seed();
    spec.learning_rate = 3e-3;
    m_model = ctx.make_surrogate(spec);
    m_infer_flops = inference_flops_per_row(spec);
    m_train_flops = training_flops_per_sample(spec);
    m_strategy = c.get_string("design.strategy");
    if (!m_model && m_strategy == "surrogate") m_strategy = "random";  // mode none has no AI

    for (std::int64_t i = 0; i < initial; ++i) evaluate(random_theta(), nullptr);
  }

  bool done() const override { return m_solved || m_sims >= m_budget; }

  void step(RunContext& ctx) override {
    if (ctx.warming_up()) return;  // the simulation budget is the measure
    if (m_t0 == 0) m_t0 = now_ns();
    std::vector<std::vector<float>> proposals;
    if (m_strategy == "surrogate") {
      {
        ScopedPhase p(ctx, m_ph_train);
        const auto n = static_cast<std::int64_t>(m_y.size() / static_cast<std::size_t>(m_sensors));
        auto rep = m_model->train(m_x.data(), m_y.data(), n, TrainOptions{m_epochs, 32, m_rng()});
        ctx.declare_work(m_ph_train, Work{double(rep.samples_trained), 0, m_train_flops * rep.samples_trained, 0});
      }
      proposals = propose(ctx);
    } else if (m_strategy == "evolution") {
      ScopedPhase p(ctx, m_ph_decide);
      proposals = mutate();
    } else {
      ScopedPhase p(ctx, m_ph_decide);
      for (int b = 0; b < m_batch; ++b) proposals.push_back(random_theta());
    }
    const double best_before = m_best.misfit;
    for (auto& theta : proposals) {
      if (m_sims >= m_budget || m_solved) break;
      evaluate(theta, &ctx);
    }
    if (m_strategy == "evolution") {
      // The 1/5 success rule, per generation: grow the step after a success,
      // shrink it after a failure (equilibrium at a success rate of 1/5).
      m_sigma *= m_best.misfit < best_before ? 1.5 : std::pow(1.5, -0.25);
      m_sigma = std::min(0.5, std::max(1e-4, m_sigma));
    }
    ++m_iterations;
    ctx.metrics().append("misfit", {{"iteration_index", double(m_iterations)},
                                    {"forward_simulations_count", double(m_sims)},
                                    {"best_misfit_fraction", m_best.misfit}});
  }

  void finish(RunContext& ctx) override {
    auto& m = ctx.metrics();
    m.note("strategy", m_strategy == "surrogate"   ? "surrogate search (" + m_model->describe() + ")"
                       : m_strategy == "evolution" ? "(1+lambda) evolution strategy baseline of the same budget"
                                                   : "random search baseline of the same budget");
    if (m_strategy == "surrogate")
      m.scalar("surrogate_bytes_copied_bytes", static_cast<double>(m_model->bytes_copied()));
    m.scalar("budget_simulations_count", static_cast<double>(m_budget));
    m.scalar("forward_simulations_count", static_cast<double>(m_sims));
    m.scalar("iterations_count", static_cast<double>(m_iterations));
    m.scalar("solved_count", m_solved ? 1.0 : 0.0);
    m.scalar("best_misfit_fraction", m_best.misfit);
    const double error = parameter_error(m_best.theta);
    m.scalar("parameter_error_fraction", error);
    // Low misfit alone can match the sensors with the wrong sources.
    m.scalar("parameters_recovered_count", m_solved && error <= m_param_tol ? 1.0 : 0.0);
    if (m_solved) {
      m.scalar("simulations_to_solution_count", static_cast<double>(m_sims));
      m.scalar("time_to_solution_s", m_solve_s);
    }
  }

 private:
  std::vector<float> random_theta() {
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::vector<float> t(static_cast<std::size_t>(m_dim));
    for (float& v : t) v = u(m_rng);
    return t;
  }

  // (1+lambda): design.batch offspring of the best so far, Gaussian steps of
  // the adapted size, clipped to the design space.
  std::vector<std::vector<float>> mutate() {
    std::normal_distribution<double> g(0.0, 1.0);
    std::vector<std::vector<float>> out;
    for (int b = 0; b < m_batch; ++b) {
      std::vector<float> t = m_best.theta;
      for (float& v : t) v = static_cast<float>(std::min(1.0, std::max(0.0, v + m_sigma * g(m_rng))));
      out.push_back(std::move(t));
    }
    return out;
  }

  Sources to_sources(const std::vector<float>& t) const {
    Sources s;
    s.count = m_sources;
    for (int k = 0; k < m_sources; ++k) {
      s.x[k] = 0.15f + 0.7f * t[3 * k];
      s.y[k] = 0.15f + 0.7f * t[3 * k + 1];
      s.amp[k] = 0.5f + t[3 * k + 2];
    }
    return s;
  }

  std::vector<float> forward_raw(const std::vector<float>& theta) {
    heat_source<Exec>("inverse_design::source", m_n, to_sources(theta), m_f);
    Kokkos::deep_copy(m_u, 0.0f);
    jacobi<Exec>("inverse_design::jacobi", m_n, m_iters, m_f, m_u, m_tmp);
    sense<Exec>("inverse_design::sense", m_n, m_sensors_axis, m_u, m_out);
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), m_out);
    return std::vector<float>(h.data(), h.data() + h.extent(0));
  }

  double misfit_of(const float* readings) const {
    double se = 0, ss = 0;
    for (int k = 0; k < m_sensors; ++k) {
      se += (readings[k] - m_obs[k]) * double(readings[k] - m_obs[k]);
      ss += m_obs[k] * double(m_obs[k]);
    }
    return std::sqrt(se / ss);
  }

  // One forward simulation: the verification of a proposal.
  void evaluate(const std::vector<float>& theta, RunContext* ctx) {
    std::vector<float> r;
    if (ctx != nullptr) {
      ScopedPhase p(*ctx, m_ph_sim);
      r = forward_raw(theta);
      ctx->declare_work(m_ph_sim, jacobi_work(m_n, m_iters));
    } else {
      r = forward_raw(theta);
    }
    for (float& v : r) v /= m_scale;
    ++m_sims;
    const double mis = misfit_of(r.data());
    m_x.insert(m_x.end(), theta.begin(), theta.end());
    m_y.insert(m_y.end(), r.begin(), r.end());
    if (m_best.theta.empty() || mis < m_best.misfit) m_best = Eval{theta, mis};
    if (ctx != nullptr && mis < m_tol && !m_solved) {
      m_solved = true;
      m_solve_s = (now_ns() - m_t0) * 1e-9;
    }
  }

  // Candidates: half uniform over the design space, half around the best so
  // far; the surrogate predicts their readings and the best predicted
  // matches go to simulation.
  std::vector<std::vector<float>> propose(RunContext& ctx) {
    // The candidates and predictions in the model's own buffers where it
    // offers them (semi-tight through shared memory: no copy per call).
    const auto io = m_model->io_buffers(m_candidates);
    float* cand = io.in;
    float* pred = io.out;
    if (cand == nullptr || pred == nullptr) {
      m_cand.resize(static_cast<std::size_t>(m_candidates) * m_dim);
      m_pred.resize(static_cast<std::size_t>(m_candidates) * m_sensors);
      cand = m_cand.data();
      pred = m_pred.data();
    }
    {
      ScopedPhase p(ctx, m_ph_decide);
      std::uniform_real_distribution<float> u(0.0f, 1.0f);
      const float sigma = static_cast<float>(std::max(0.02, 0.5 * m_best.misfit));
      std::normal_distribution<float> g(0.0f, sigma);
      for (int i = 0; i < m_candidates; ++i)
        for (int d = 0; d < m_dim; ++d) {
          float v = i % 2 ? m_best.theta[static_cast<std::size_t>(d)] + g(m_rng) : u(m_rng);
          cand[static_cast<std::size_t>(i) * m_dim + d] = std::min(1.0f, std::max(0.0f, v));
        }
    }
    {
      ScopedPhase p(ctx, m_ph_infer);
      const auto t = now_ns();
      m_model->infer(cand, m_candidates, pred);
      ctx.record_latency_ns("infer_call", static_cast<double>(now_ns() - t));
      ctx.declare_work(m_ph_infer, Work{double(m_candidates), 4.0 * (m_dim + m_sensors) * m_candidates,
                                        m_infer_flops * m_candidates, 0});
    }
    ScopedPhase p(ctx, m_ph_decide);
    std::vector<int> order(static_cast<std::size_t>(m_candidates));
    std::iota(order.begin(), order.end(), 0);
    std::vector<double> score(static_cast<std::size_t>(m_candidates));
    for (int i = 0; i < m_candidates; ++i) score[static_cast<std::size_t>(i)] = misfit_of(&pred[static_cast<std::size_t>(i) * m_sensors]);
    const int b = std::min(m_batch, m_candidates);
    std::partial_sort(order.begin(), order.begin() + b, order.end(), [&](int x, int y) { return score[x] < score[y]; });
    std::vector<std::vector<float>> out;
    for (int k = 0; k < b; ++k) {
      const auto* c = &cand[static_cast<std::size_t>(order[static_cast<std::size_t>(k)]) * m_dim];
      out.emplace_back(c, c + m_dim);
    }
    return out;
  }

  // RMS error against the hidden truth, over the best matching of sources.
  double parameter_error(const std::vector<float>& theta) const {
    std::vector<int> perm(static_cast<std::size_t>(m_sources));
    std::iota(perm.begin(), perm.end(), 0);
    double best = 1e30;
    do {
      double se = 0;
      for (int k = 0; k < m_sources; ++k)
        for (int d = 0; d < 3; ++d) {
          const double diff = theta[static_cast<std::size_t>(3 * perm[static_cast<std::size_t>(k)] + d)] -
                              m_truth[static_cast<std::size_t>(3 * k + d)];
          se += diff * diff;
        }
      best = std::min(best, std::sqrt(se / m_dim));
    } while (std::next_permutation(perm.begin(), perm.end()));
    return best;
  }

  int m_n = 0, m_iters = 0, m_sources = 0, m_sensors_axis = 0, m_sensors = 0, m_dim = 0, m_batch = 1, m_candidates = 1;
  std::int64_t m_budget = 0, m_sims = 0, m_iterations = 0, m_epochs = 1, m_t0 = 0;
  double m_tol = 0, m_param_tol = 0.1, m_solve_s = 0, m_sigma = 0.2;
  bool m_solved = false;
  float m_scale = 1;
  std::string m_strategy;
  std::mt19937_64 m_rng;
  PhaseId m_ph_sim = 0, m_ph_train = 0, m_ph_infer = 0, m_ph_decide = 0;
  Field m_f, m_u, m_tmp, m_out;
  std::vector<float> m_truth, m_obs, m_x, m_y;
  std::vector<float> m_cand, m_pred;  // propose()'s, where the model offers no buffers of its own
  Eval m_best{{}, 1e30};
  std::unique_ptr<SurrogateClient> m_model;
  double m_infer_flops = 0, m_train_flops = 0;  // declared, per row and per sample trained
};

}  // namespace
}  // namespace inverse_design

void register_inverse_design(Registry& registry) {
  MotifInfo info;
  info.name = "inverse_design";
  info.summary = "find hidden heat sources from sensor readings: online surrogate proposes, simulation verifies";
  info.couplings = {Coupling::Tight, Coupling::SemiTight, Coupling::Loose, Coupling::None};
  info.declare_config = inverse_design::declare;
  info.check_config = [](const Config& c) -> std::string {
    if (c.get_int("design.initial") >= c.get_int("design.budget"))
      return "design.initial must be in [1, design.budget - 1] = [1, " + std::to_string(c.get_int("design.budget") - 1) +
             "], got " + std::to_string(c.get_int("design.initial"));
    return "";
  };
  info.sizes = {
      {"tiny", budget_profile({{"grid.n", "32"}, {"sim.iterations", "250"}, {"design.budget", "120"}, {"design.initial", "16"},
                     {"design.candidates", "2048"}, {"train.epochs", "40"}, {"run.repetitions", "2"}})},
      {"small", budget_profile({{"design.budget", "300"}})},
      {"medium", budget_profile({{"grid.n", "128"}, {"sim.iterations", "2000"}, {"sources.count", "3"},
                       {"sensors.per_axis", "8"}, {"design.budget", "600"}, {"design.initial", "64"}})},
      {"large", budget_profile({{"grid.n", "512"}, {"sim.iterations", "10000"}, {"sources.count", "4"},
                      {"sensors.per_axis", "12"}, {"design.budget", "2000"}, {"design.initial", "128"},
                      {"design.batch", "8"}})},
  };
  info.create = [] { return std::make_unique<inverse_design::InverseDesign>(); };
  registry.add(std::move(info));
}

}  // namespace motifbench
