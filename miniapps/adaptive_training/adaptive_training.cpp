// Adaptive Training (HPO/NAS-style). Kokkos simulations (a damped nonlinear
// pendulum) generate training data, streamed through the coupling mode's
// staging store. A population of candidate models with different widths,
// depths and learning rates trains concurrently (interleaved, one training
// step each per round). ASHA stops weak candidates at rungs and spawns new
// ones; `search.early_stopping=false` trains every candidate to the end: the
// baseline. Each candidate's training is data-parallel over MPI ranks (every
// rank simulates its own shard; gradients are averaged by allreduce).
// Mode `none` runs the data generation only.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <stdexcept>
#include <vector>

#include <Kokkos_Core.hpp>

#include "kernels.hpp"
#include "motifbench/motif.hpp"
#include "motifbench/registry.hpp"

namespace motifbench {
namespace adaptive_training {
namespace {

using Exec = Kokkos::DefaultExecutionSpace;
using X = Kokkos::View<float* [3], Kokkos::LayoutRight, Exec>;
using Y = Kokkos::View<float*, Exec>;

void declare(ConfigSchema& s) {
  s.add_int("data.batch", 512, 1, 1 << 26, "samples each rank simulates per round");
  s.add_int("data.lag", 1, 0, 1 << 20, "rounds between a batch being produced and consumed (pipeline depth)");
  s.add_int("data.window", 4096, 1, 1 << 28, "most recent samples a training step uses");
  s.add_int("val.samples", 1024, 1, 1 << 24, "validation samples per rank");
  s.add_real("sim.damping", 0.1, 0.0, 100.0, "pendulum damping");
  s.add_real("sim.dt", 0.01, 1e-6, 1.0, "RK4 step of the simulation");
  s.add_int("population.size", 8, 1, 1 << 16, "candidates training at once");
  s.add_int("population.trials", 24, 1, 1 << 24, "candidates started at most (spawns included)");
  s.add_bool("search.early_stopping", true, "ASHA early stopping (false: train every candidate to the end)");
  s.add_int("search.rounds", 200, 1, 1 << 30, "round budget");
  s.add_int("asha.min_steps", 4, 1, 1 << 20, "first rung: training steps");
  s.add_int("asha.eta", 3, 2, 64, "rung growth and keep-one-in-eta factor");
  s.add_int("asha.max_steps", 108, 1, 1 << 24, "training steps of a candidate trained to the end");
  s.add_real("target.accuracy", 0.9, 0.0, 1.0, "validation accuracy to reach, in (0, 1]");
  s.add_real("target.tolerance", 0.05, 1e-6, 10.0, "a prediction counts as accurate within this absolute error");
}

struct Trial {
  int id = 0;
  std::int64_t width = 16, depth = 1;
  double lr = 1e-3;
  std::uint64_t seed = 0;  // weights and the order of its training samples
  std::unique_ptr<SurrogateClient> model;
  double infer_flops = 0, train_flops = 0;  // declared, per row and per sample trained
  std::int64_t steps = 0;
  int rung = 0;
  double accuracy = 0;
  bool active = true;
};

class AdaptiveTraining final : public Motif {
 public:
  void setup(RunContext& ctx) override {
    const Config& c = ctx.config();
    m_batch = c.get_int("data.batch");
    m_lag = c.get_int("data.lag");
    m_window = static_cast<std::size_t>(c.get_int("data.window"));
    m_pop = static_cast<int>(c.get_int("population.size"));
    m_max_trials = static_cast<int>(c.get_int("population.trials"));
    m_early = c.get_bool("search.early_stopping");
    m_rounds = c.get_int("search.rounds");
    m_r0 = c.get_int("asha.min_steps");
    m_eta = c.get_int("asha.eta");
    m_rmax = c.get_int("asha.max_steps");
    m_target = c.get_real("target.accuracy");
    m_tol = static_cast<float>(c.get_real("target.tolerance"));
    m_damping = static_cast<float>(c.get_real("sim.damping"));
    m_h = static_cast<float>(c.get_real("sim.dt"));
    m_data_seed = ctx.seed();  // each rank simulates its own shard
    // The population must be identical on every rank: use rank 0's seed.
    double s = ctx.rank() == 0 ? static_cast<double>(ctx.seed()) : 0.0;
    ctx.allreduce_sum(&s, 1);
    m_rng.seed(static_cast<std::uint64_t>(s));
    m_reducer = ctx.gradient_reducer();

    m_ph_sim = ctx.phase("simulate");
    m_ph_stage = ctx.phase("stage_io");
    m_ph_train = ctx.phase("train");
    m_ph_infer = ctx.phase("infer");
    m_ph_decide = ctx.phase("decide");

    const auto nval = c.get_int("val.samples");
    X vx("at::val_x", nval);
    Y vy("at::val_y", nval);
    pendulum<Exec>("adaptive_training::validation", m_data_seed ^ 0xfeedULL, 0, m_damping, m_h, vx, vy);
    auto hx = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), vx);
    auto hy = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), vy);
    m_val_x.assign(hx.data(), hx.data() + hx.size());
    m_val_y.assign(hy.data(), hy.data() + hy.size());

    m_ai = ctx.coupling() != Coupling::None;
    if (m_ai)
      while (static_cast<int>(m_trials.size()) < m_pop) spawn(ctx);
  }

  bool done() const override { return m_round >= m_rounds || m_reached; }

  void step(RunContext& ctx) override {
    if (ctx.warming_up()) return;  // the round budget is the measure
    if (m_t0 == 0) m_t0 = now_ns();
    produce(ctx);
    consume(ctx);
    if (m_ai && !m_data_x.empty()) train_round(ctx);
    ++m_round;
  }

  void finish(RunContext& ctx) override {
    auto& m = ctx.metrics();
    m.note("search", !m_ai ? "none: data generation only" : (m_early ? "ASHA early stopping" : "every candidate to the end"));
    m.scalar("rounds_count", static_cast<double>(m_round));
    m.scalar("simulated_samples_count", static_cast<double>(m_produced));
    m.scalar("ranks_count", ctx.nranks());
    if (m_consumed_batches > 0) m.scalar("sample_staleness_mean_ratio", m_staleness / m_consumed_batches);
    if (!m_ai) return;
    m.scalar("trials_started_count", static_cast<double>(m_trials.size()));
    m.scalar("trials_stopped_count", static_cast<double>(m_stopped));
    m.scalar("trained_samples_count", m_trained_samples);
    const double elapsed = (now_ns() - m_t0) * 1e-9;
    if (elapsed > 0) {
      m.scalar("trials_per_s", m_trials.size() / elapsed);
      m.scalar("trained_samples_per_s", m_trained_samples / elapsed);
    }
    double best = 0;
    for (const auto& t : m_trials) best = std::max(best, t.accuracy);
    m.scalar("best_accuracy_fraction", best);
    m.scalar("reached_target_count", m_reached ? 1.0 : 0.0);
    if (m_reached) {
      m.scalar("time_to_target_s", m_time_to_target_s);
      m.scalar("samples_to_target_count", m_samples_to_target);
    }
    if (m_train_s > 0) {
      m.scalar("allreduce_share_fraction", m_reducer->allreduce_s() / m_train_s);
      m.scalar("straggler_wait_share_fraction", m_reducer->straggler_wait_s() / m_train_s);
    }
    m.scalar("allreduce_s", m_reducer->allreduce_s());
  }

 private:
  void spawn(RunContext& ctx) {
    static const std::int64_t widths[] = {4, 8, 16, 32, 64};
    Trial t;
    t.id = static_cast<int>(m_trials.size());
    t.width = widths[std::uniform_int_distribution<int>(0, 4)(m_rng)];
    t.depth = std::uniform_int_distribution<int>(1, 3)(m_rng);
    t.lr = std::pow(10.0, std::uniform_real_distribution<double>(-4.0, -1.5)(m_rng));
    SurrogateSpec spec;
    spec.name = "trial" + std::to_string(t.id);
    spec.in_features = 3;
    spec.out_features = 1;
    spec.hidden.assign(static_cast<std::size_t>(t.depth), t.width);
    spec.learning_rate = t.lr;
    spec.seed = m_rng();
    t.seed = spec.seed;
    t.model = ctx.make_surrogate(spec);
    t.infer_flops = inference_flops_per_row(spec);
    t.train_flops = training_flops_per_sample(spec);
    // Trial k draws the same hyperparameters, weights and sample order with or
    // without early stopping (m_rng serves only spawns, in trial order), so the
    // baseline differs from ASHA in the stopping rule alone.
    ctx.metrics().event("trial_started", {{"trial_index", double(t.id)},
                                          {"width_count", double(t.width)},
                                          {"depth_count", double(t.depth)},
                                          {"learning_rate_ratio", t.lr},
                                          {"round_index", double(m_round)}});
    m_trials.push_back(std::move(t));
  }

  // The simulation produces this round's batch and stages it.
  void produce(RunContext& ctx) {
    X x("at::x", m_batch);
    Y y("at::y", m_batch);
    {
      ScopedPhase p(ctx, m_ph_sim);
      const auto steps = pendulum<Exec>("adaptive_training::simulate", m_data_seed, m_produced, m_damping, m_h, x, y);
      ctx.declare_work(m_ph_sim, pendulum_work(m_batch, steps));
    }
    ScopedPhase p(ctx, m_ph_stage);
    auto hx = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), x);
    auto hy = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), y);
    std::vector<float> rec(hx.data(), hx.data() + hx.size());
    rec.insert(rec.end(), hy.data(), hy.data() + hy.size());
    ctx.staging().put(key(m_round), rec.data(), rec.size() * sizeof(float));
    ctx.declare_work(m_ph_stage, Work{double(m_batch), double(rec.size() * sizeof(float)), 0, double(rec.size() * sizeof(float))});
    m_produced += static_cast<std::uint64_t>(m_batch);
  }

  // The trainers fetch the batch produced `data.lag` rounds ago.
  void consume(RunContext& ctx) {
    const std::int64_t r = m_round - m_lag;
    if (r < 0) return;
    ScopedPhase p(ctx, m_ph_stage);
    std::vector<char> bytes;
    if (!ctx.staging().get(key(r), bytes))
      throw std::runtime_error("staging store " + ctx.staging().describe() + " lost batch " + std::to_string(r));
    ctx.staging().erase(key(r));
    const float* f = reinterpret_cast<const float*>(bytes.data());
    m_data_x.insert(m_data_x.end(), f, f + 3 * m_batch);
    m_data_y.insert(m_data_y.end(), f + 3 * m_batch, f + 4 * m_batch);
    if (m_data_y.size() > m_window) {
      const std::size_t drop = m_data_y.size() - m_window;
      m_data_y.erase(m_data_y.begin(), m_data_y.begin() + static_cast<std::ptrdiff_t>(drop));
      m_data_x.erase(m_data_x.begin(), m_data_x.begin() + static_cast<std::ptrdiff_t>(3 * drop));
    }
    m_staleness += static_cast<double>(m_round - r);
    ++m_consumed_batches;
  }

  double accuracy(RunContext& ctx, const Trial& trial) {
    std::vector<float> pred(m_val_y.size());
    {
      ScopedPhase p(ctx, m_ph_infer);
      const auto t = now_ns();
      trial.model->infer(m_val_x.data(), static_cast<std::int64_t>(m_val_y.size()), pred.data());
      ctx.record_latency_ns("infer_call", static_cast<double>(now_ns() - t));
      const double rows = static_cast<double>(m_val_y.size());
      ctx.declare_work(m_ph_infer, Work{rows, 16.0 * rows, trial.infer_flops * rows, 0});
    }
    double hits[2] = {0, static_cast<double>(m_val_y.size())};
    for (std::size_t i = 0; i < pred.size(); ++i) hits[0] += std::fabs(pred[i] - m_val_y[i]) < m_tol ? 1.0 : 0.0;
    ctx.allreduce_sum(hits, 2);  // the accuracy over every rank's validation shard
    return hits[0] / hits[1];
  }

  std::int64_t rung_steps(int rung) const {
    std::int64_t r = m_r0;
    for (int k = 0; k < rung; ++k) r *= m_eta;
    return std::min(r, m_rmax);
  }

  void train_round(RunContext& ctx) {
    const auto n = static_cast<std::int64_t>(m_data_y.size());
    // The population trains concurrently, one step each per round: the cost
    // to the target is counted at the end of the round that reached it, so
    // it does not depend on where the winner sits in the list of trials.
    bool reached_now = false;
    for (auto& t : m_trials) {
      if (!t.active) continue;
      {
        ScopedPhase p(ctx, m_ph_train);
        const auto t0 = now_ns();
        auto rep = t.model->train(m_data_x.data(), m_data_y.data(), n,
                                  TrainOptions{1, 128, t.seed * 0x9E3779B97F4A7C15ULL + std::uint64_t(t.steps), m_reducer});
        m_train_s += (now_ns() - t0) * 1e-9;
        m_trained_samples += static_cast<double>(rep.samples_trained) * ctx.nranks();
        ctx.declare_work(m_ph_train, Work{double(rep.samples_trained), 0, t.train_flops * rep.samples_trained, 0});
      }
      ++t.steps;
      t.accuracy = accuracy(ctx, t);
      if (!m_reached && !reached_now && t.accuracy >= m_target) {
        reached_now = true;
        ctx.metrics().event("target_reached", {{"trial_index", double(t.id)},
                                              {"accuracy_fraction", t.accuracy},
                                              {"round_index", double(m_round)},
                                              {"trained_samples_count", m_trained_samples}});
      }
      ScopedPhase p(ctx, m_ph_decide);
      if (t.steps >= m_rmax) {
        t.active = false;  // trained to the end
        continue;
      }
      if (m_early && t.steps == rung_steps(t.rung)) {
        // ASHA: continue only when in the top 1/eta of every trial that
        // reached this rung so far.
        auto& seen = m_rung_scores[t.rung];
        seen.push_back(t.accuracy);
        std::vector<double> sorted = seen;
        std::sort(sorted.rbegin(), sorted.rend());
        const std::size_t keep = std::max<std::size_t>(1, sorted.size() / static_cast<std::size_t>(m_eta));
        if (t.accuracy >= sorted[keep - 1]) {
          ++t.rung;
        } else {
          t.active = false;
          ++m_stopped;
          ctx.metrics().event("trial_stopped", {{"trial_index", double(t.id)},
                                                {"accuracy_fraction", t.accuracy},
                                                {"steps_count", double(t.steps)},
                                                {"round_index", double(m_round)}});
        }
      }
    }
    if (reached_now) {
      m_reached = true;
      m_time_to_target_s = (now_ns() - m_t0) * 1e-9;
      m_samples_to_target = m_trained_samples;
    }
    // Keep the population full while trials remain.
    int active = 0;
    for (const auto& t : m_trials) active += t.active ? 1 : 0;
    while (active < m_pop && static_cast<int>(m_trials.size()) < m_max_trials) {
      spawn(ctx);
      ++active;
    }
  }

  std::string key(std::int64_t round) const { return "adaptive_training/" + std::to_string(m_data_seed) + "/" + std::to_string(round); }

  std::int64_t m_batch = 0, m_lag = 0, m_rounds = 0, m_round = 0, m_r0 = 1, m_eta = 3, m_rmax = 1, m_t0 = 0;
  std::size_t m_window = 0;
  int m_pop = 0, m_max_trials = 0, m_stopped = 0;
  bool m_early = true, m_ai = false, m_reached = false;
  double m_target = 0.9, m_staleness = 0, m_trained_samples = 0, m_train_s = 0, m_time_to_target_s = 0,
         m_samples_to_target = 0;
  std::int64_t m_consumed_batches = 0;
  float m_tol = 0.05f, m_damping = 0.1f, m_h = 0.01f;
  std::uint64_t m_data_seed = 0, m_produced = 0;
  std::mt19937_64 m_rng;
  GradientReducer* m_reducer = nullptr;
  PhaseId m_ph_sim = 0, m_ph_stage = 0, m_ph_train = 0, m_ph_infer = 0, m_ph_decide = 0;
  std::vector<float> m_val_x, m_val_y, m_data_x, m_data_y;
  std::vector<Trial> m_trials;
  std::map<int, std::vector<double>> m_rung_scores;  // accuracies seen at each rung
};

}  // namespace
}  // namespace adaptive_training

void register_adaptive_training(Registry& registry) {
  MotifInfo info;
  info.name = "adaptive_training";
  info.summary = "HPO: simulation-fed population of models, ASHA early stopping, data-parallel training over MPI";
  info.couplings = {Coupling::Tight, Coupling::SemiTight, Coupling::Loose, Coupling::None};
  info.declare_config = adaptive_training::declare;
  info.check_config = [](const Config& c) -> std::string {
    const double t = c.get_real("target.accuracy");
    if (!(t > 0.0) || t > 1.0) return "target.accuracy must be in (0, 1], got " + value_to_text(c.value("target.accuracy"));
    if (c.get_int("population.trials") < c.get_int("population.size"))
      return "population.trials must be >= population.size (" + std::to_string(c.get_int("population.size")) + ")";
    return "";
  };
  info.sizes = {
      // tiny: one fixed set of trials trained at once; small and up: ASHA
      // also spawns trials into the slots that early stopping frees.
      {"tiny", budget_profile({{"population.size", "12"}, {"population.trials", "12"}, {"search.rounds", "60"},
                     {"data.batch", "256"}, {"data.window", "2048"}, {"val.samples", "512"}, {"asha.max_steps", "36"},
                     {"asha.min_steps", "4"}, {"target.accuracy", "0.6"}, {"run.repetitions", "1"}})},
      {"small", budget_profile({{"population.size", "16"}, {"search.rounds", "150"}, {"target.accuracy", "0.8"}})},
      {"medium", budget_profile({{"population.size", "32"}, {"population.trials", "128"}, {"search.rounds", "600"},
                       {"data.batch", "4096"}, {"data.window", "65536"}, {"asha.max_steps", "324"},
                       {"target.accuracy", "0.9"}})},
      {"large", budget_profile({{"population.size", "128"}, {"population.trials", "1024"}, {"search.rounds", "2000"},
                      {"data.batch", "16384"}, {"data.window", "262144"}, {"asha.max_steps", "972"},
                      {"target.accuracy", "0.95"}})},
  };
  info.create = [] { return std::make_unique<adaptive_training::AdaptiveTraining>(); };
  registry.add(std::move(info));
}

}  // namespace motifbench
