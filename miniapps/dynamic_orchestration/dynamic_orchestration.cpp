// Dynamic Orchestration (like DeepDriveMD and Colmena): an ensemble of Kokkos
// Langevin simulations streams frames to an AI analysis, an autoencoder whose
// reconstruction error scores how novel each member's state is. A policy
// terminates the least novel members and spawns copies of the most novel ones
// while the ensemble runs. Mode `none` runs the same ensemble unsteered, for
// the same number of member-steps: the baseline of equal simulation cost.
#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <vector>

#include <Kokkos_Core.hpp>

#include "kernels.hpp"
#include "members.hpp"
#include "motifbench/async_inference.hpp"
#include "motifbench/motif.hpp"
#include "motifbench/registry.hpp"
#include "motifbench/staging_producers.hpp"

namespace motifbench {
namespace dynamic_orchestration {
namespace {

using Exec = Kokkos::DefaultExecutionSpace;
using Positions = Kokkos::View<float* [2], Kokkos::LayoutRight, Exec>;
using Frames = Kokkos::View<float**, Kokkos::LayoutRight, Exec>;
using Bins = Kokkos::View<int*, Exec>;

void declare(ConfigSchema& s) {
  s.add_int("ensemble.members", 16, 1, 1 << 20, "simulations in the ensemble");
  s.add_int("ensemble.particles", 16, 1, 1 << 20, "particles per member");
  s.add_int("ensemble.rounds", 60, 1, 1 << 30, "rounds (one step each) in the measured budget");
  s.add_int("ensemble.substeps", 200, 1, 1 << 24, "Langevin steps per member per round");
  s.add_int("policy.churn", 4, 0, 1 << 20, "members terminated and respawned per decision (< members)");
  s.add_int("potential.wells", 5, 2, 64, "wells per axis");
  s.add_real("potential.height", 7.0, 0.0, 100.0, "barrier height in kT");
  s.add_real("sim.dt", 2e-4, 1e-8, 1.0, "Langevin time step");
  s.add_int("coverage.bins", 40, 2, 4096, "coverage grid bins per axis");
  s.add_int("ae.latent", 2, 1, 1024, "autoencoder latent width");
  s.add_int("ae.width", 16, 1, 4096, "autoencoder hidden width");
  s.add_int("ae.train_every", 5, 1, 1 << 20, "rounds between autoencoder trainings");
  s.add_int("ae.epochs", 20, 1, 100000, "epochs per training");
  s.add_int("ae.buffer", 2048, 1, 1 << 24, "frames kept for training (most recent)");
  s.add_choice("ensemble.members_as", "array", {"array", "processes"},
               "array: members are slices of one Kokkos View; processes: each member is a process of its own, "
               "ended and started for real when the policy terminates or spawns it (phases terminate and spawn)");
  s.add_int("staging.producers", 1, 1, 4096,
            "threads that put the frames into the staging store, each a slice under its own key with its own "
            "handle (many producers, one consumer; may exceed the cores)");
  s.add_bool("steer.overlap", false,
             "score round r's frames while the ensemble runs round r+1, and apply the decision one round late "
             "(the result's ai_hidden_fraction says how much of the inference was hidden)");
}

class DynamicOrchestration final : public Motif {
 public:
  void setup(RunContext& ctx) override {
    const Config& c = ctx.config();
    m_members = static_cast<int>(c.get_int("ensemble.members"));
    m_particles = static_cast<int>(c.get_int("ensemble.particles"));
    m_rounds = c.get_int("ensemble.rounds");
    m_substeps = static_cast<int>(c.get_int("ensemble.substeps"));
    m_churn = static_cast<int>(c.get_int("policy.churn"));
    if (m_churn >= m_members)
      throw std::invalid_argument("policy.churn must be in [0, ensemble.members - 1] = [0, " +
                                  std::to_string(m_members - 1) + "], got " + std::to_string(m_churn));
    m_land.wells = static_cast<int>(c.get_int("potential.wells"));
    m_land.height = static_cast<float>(c.get_real("potential.height"));
    m_land.dt = static_cast<float>(c.get_real("sim.dt"));
    m_bins = static_cast<int>(c.get_int("coverage.bins"));
    m_train_every = c.get_int("ae.train_every");
    m_epochs = c.get_int("ae.epochs");
    m_buffer_cap = static_cast<std::size_t>(c.get_int("ae.buffer"));
    m_features = m_land.wells * m_land.wells;
    m_seed = ctx.seed();
    m_as_processes = c.get_string("ensemble.members_as") == "processes";
    m_overlap = c.get_bool("steer.overlap");

    m_ph_sim = ctx.phase("simulate");
    m_ph_stage = ctx.phase("stage_io");
    m_ph_infer = ctx.phase("infer");
    m_ph_decide = ctx.phase("decide");
    m_ph_train = ctx.phase("train");
    if (m_as_processes) {
      m_ph_spawn = ctx.phase("spawn");
      m_ph_terminate = ctx.phase("terminate");
    }

    m_pos = Positions("do::positions", static_cast<std::size_t>(m_members) * m_particles);
    m_visited = Bins("do::visited", static_cast<std::size_t>(m_bins) * m_bins);
    m_frames = Frames("do::frames", m_members, m_features);
    // Every member starts in the corner well: exploration has to be earned.
    const float start = m_land.box / (2.0f * m_land.wells);
    Kokkos::deep_copy(m_pos, start);
    m_host_pos = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), m_pos);
    if (m_as_processes) {
      m_host_visited = std::vector<int>(static_cast<std::size_t>(m_bins) * m_bins, 0);
      m_procs = std::make_unique<MemberProcesses>(m_land, m_members, m_particles, m_bins, m_seed,
                                                  c.get_real("coupling.timeout_s"));
      for (int k = 0; k < m_members; ++k) m_procs->launch(k, member_positions(k));
    }

    SurrogateSpec spec;
    spec.name = "autoencoder";
    spec.in_features = m_features;
    spec.out_features = m_features;
    const auto w = c.get_int("ae.width");
    spec.hidden = {w, c.get_int("ae.latent"), w};
    spec.seed = ctx.seed();
    spec.learning_rate = 5e-3;
    m_ae = ctx.make_surrogate(spec);
    m_infer_flops = inference_flops_per_row(spec);
    m_train_flops = training_flops_per_sample(spec);
    m_recon.resize(static_cast<std::size_t>(m_members) * m_features);
    if (m_ae && m_overlap) m_async = std::make_unique<AsyncInference>(*m_ae);
    if (m_ae && c.get_int("staging.producers") > 1)
      m_producers = std::make_unique<StagingProducers>(ctx.staging(), static_cast<int>(c.get_int("staging.producers")));
  }

  bool done() const override { return m_round >= m_rounds; }

  void step(RunContext& ctx) override {
    if (ctx.warming_up()) return;  // the budget is counted in measured rounds only
    // Overlapped steering: last round's frames are scored while this round runs.
    const bool scoring = m_async && !m_pending.empty();
    if (scoring) {
      const auto t = now_ns();
      stage(ctx, m_pending.data(), m_staged);
      m_async->start(reinterpret_cast<const float*>(m_staged.data()), m_members, m_recon.data());
      m_ai_s += (now_ns() - t) * 1e-9;
    }
    simulate(ctx);
    m_member_steps += static_cast<double>(m_members) * m_substeps;
    if (m_ae) {
      const auto t = now_ns();
      if (m_async) {
        if (scoring) {
          {
            ScopedPhase p(ctx, m_ph_infer);  // the inference time that was not hidden
            const auto w = now_ns();
            const double ns = m_async->wait();
            m_ai_waited_ns += static_cast<double>(now_ns() - w);
            m_ai_busy_ns += ns;
            ctx.record_latency_ns("infer_call", ns);
            ctx.declare_work(m_ph_infer, infer_work());
          }
          steer(ctx, reinterpret_cast<const float*>(m_staged.data()), m_pending_ns);
        }
        m_pending.assign(m_frames_host.data(), m_frames_host.data() + m_frames_host.size());
        m_pending_ns = m_frames_ns;
      } else {
        stage(ctx, m_frames_host.data(), m_staged);
        const float* frame = reinterpret_cast<const float*>(m_staged.data());
        {
          ScopedPhase p(ctx, m_ph_infer);
          const auto i = now_ns();
          m_ae->infer(frame, m_members, m_recon.data());
          ctx.record_latency_ns("infer_call", static_cast<double>(now_ns() - i));
          ctx.declare_work(m_ph_infer, infer_work());
        }
        steer(ctx, frame, m_frames_ns);
      }
      m_ai_s += (now_ns() - t) * 1e-9;
    }
    ++m_round;
    if (m_round % std::max<std::int64_t>(1, m_rounds / 20) == 0 || m_round == m_rounds)
      ctx.metrics().append("coverage", {{"round_index", double(m_round)},
                                         {"member_steps_count", m_member_steps},
                                         {"coverage_fraction", coverage()}});
  }

  void finish(RunContext& ctx) override {
    if (m_procs) m_procs->end_all();  // a member that died since its last step fails the repetition
    auto& m = ctx.metrics();
    m.note("model", "overdamped Langevin in a " + std::to_string(m_land.wells) + "x" + std::to_string(m_land.wells) +
                        " well lattice; novelty = autoencoder reconstruction error of each member's well occupancy");
    m.note("steering", m_ae ? "on (" + m_ae->describe() + ")" : "off: unsteered baseline of equal member-steps");
    m.scalar("coverage_fraction", coverage());
    m.scalar("wells_visited_count", wells_visited());
    m.scalar("member_steps_count", m_member_steps);
    m.scalar("rounds_count", static_cast<double>(m_round));
    m.scalar("decisions_count", static_cast<double>(m_decisions));
    m.scalar("spawns_count", static_cast<double>(m_spawns));
    m.scalar("terminations_count", static_cast<double>(m_spawns));  // every spawn replaces a terminated member
    m.scalar("trainings_count", static_cast<double>(m_trainings));
    // The ensemble waits while the AI decides, so its idle time is the AI time
    // that the main thread spent (overlapped inference excluded).
    if (m_busy_s + m_ai_s > 0) m.scalar("ensemble_utilization_fraction", m_busy_s / (m_busy_s + m_ai_s));
    if (m_ai_s > 0) m.scalar("decisions_per_s", m_decisions / m_ai_s);
    if (m_producers)
      m.note("staging", std::to_string(m_producers->size()) + " producer threads put the frames, one slice each, "
                        "through handles of their own; this thread gets them");
    m.note("members", m_procs ? "one process each (ensemble.members_as=processes): a spawn ends the terminated "
                                "member's process and starts a new one with the novel member's state"
                              : "slices of one Kokkos View (ensemble.members_as=array)");
    if (m_async && m_ai_busy_ns > 0) {
      m.note("overlap", "round r's frames are scored while the ensemble runs round r+1; decisions apply one round late");
      m.scalar("ai_busy_s", m_ai_busy_ns * 1e-9);
      m.scalar("ai_waited_s", m_ai_waited_ns * 1e-9);
      m.scalar("ai_hidden_fraction", std::max(0.0, 1.0 - m_ai_waited_ns / m_ai_busy_ns));
    }
  }

 private:
  // One round of every member; with the AI on, the members' frames follow.
  void simulate(RunContext& ctx) {
    const std::int64_t particles = static_cast<std::int64_t>(m_members) * m_particles;
    const auto t_sim = now_ns();
    const std::uint64_t step0 = static_cast<std::uint64_t>(m_round) * m_substeps;
    {
      ScopedPhase p(ctx, m_ph_sim);
      if (m_procs) {
        // Each member steps in its own process; their states come back here.
        m_procs->step(step0, m_substeps, m_host_pos.data(), m_host_visited.data());
        Kokkos::deep_copy(m_pos, m_host_pos);
        Kokkos::deep_copy(m_visited, Kokkos::View<const int*, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>(
                                         m_host_visited.data(), m_host_visited.size()));
        ctx.declare_work(m_ph_sim, Work{0, 2.0 * 8.0 * particles + 2.0 * m_members * m_bins * m_bins, 0, 0});
      } else {
        langevin<Exec>("dynamic_orchestration::langevin", m_land, m_substeps, m_seed, step0, m_pos, m_visited, m_bins);
      }
      ctx.declare_work(m_ph_sim, langevin_work(particles, m_substeps, m_bins));
      if (m_ae) {
        frames<Exec>("dynamic_orchestration::frames", m_land, m_particles, m_pos, m_frames);
        ctx.declare_work(m_ph_sim, frames_work(m_members, m_particles, m_land.wells));
      }
    }
    m_busy_s += (now_ns() - t_sim) * 1e-9;  // the phase fenced on exit
    if (m_ae) {
      // Staging stores and the autoencoder read host memory (a no-op mirror when the Views are there).
      m_frames_host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), m_frames);
      m_frames_ns = now_ns();  // the frame exists from here on
    }
  }

  // Frames through the staging store, as the AI side receives them.
  void stage(RunContext& ctx, const float* frames, std::vector<char>& out) {
    ScopedPhase p(ctx, m_ph_stage);
    const std::string key = "dynamic_orchestration/" + std::to_string(ctx.rank()) + "/frames";
    const std::size_t n = static_cast<std::size_t>(m_members) * m_features * sizeof(float);
    // One put, or one slice per producer thread (staging.producers).
    bool staged = false;
    if (m_producers) {
      m_producers->put(key, frames, static_cast<std::size_t>(m_members), m_features * sizeof(float));
      staged = m_producers->get(ctx.staging(), key, out);
    } else {
      ctx.staging().put(key, frames, n);
      staged = ctx.staging().get(key, out);
    }
    if (!staged || out.size() != n)
      throw std::runtime_error("staging store " + ctx.staging().describe() + " lost the frames");
    ctx.declare_work(m_ph_stage, Work{double(m_members), 2.0 * n, 0, double(n)});
  }

  Work infer_work() const { return Work{double(m_members), 8.0 * m_members * m_features, m_infer_flops * m_members, 0}; }

  // The policy on scored frames (novelty = reconstruction error in m_recon):
  // spawns and terminations, then the autoencoder's periodic retraining.
  void steer(RunContext& ctx, const float* frame, std::int64_t frame_ns) {
    std::vector<double> novelty(static_cast<std::size_t>(m_members), 0.0);
    std::vector<int> order(static_cast<std::size_t>(m_members));
    {
      ScopedPhase p(ctx, m_ph_decide);
      for (int mbr = 0; mbr < m_members; ++mbr)
        for (int f = 0; f < m_features; ++f) {
          const double d = m_recon[mbr * m_features + f] - frame[mbr * m_features + f];
          novelty[static_cast<std::size_t>(mbr)] += d * d;
        }
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return novelty[a] > novelty[b]; });
      // Terminate the least novel `churn` members; respawn each from one of
      // the `churn` most novel states. In the array a respawn is a copy, part
      // of the decision; as processes it has phases of its own (respawn()).
      for (int k = 0; k < m_churn; ++k) {
        const int from = order[static_cast<std::size_t>(k)], to = order[static_cast<std::size_t>(m_members - 1 - k)];
        if (from == to) continue;
        if (!m_procs) clone_member<Exec>("dynamic_orchestration::spawn", m_particles, from, to, m_pos);
        ++m_spawns;
      }
      ++m_decisions;
      ctx.declare_work(m_ph_decide, Work{double(m_members), 0, 0, 0});
    }
    if (m_procs) {
      for (int k = 0; k < m_churn; ++k) {
        const int from = order[static_cast<std::size_t>(k)], to = order[static_cast<std::size_t>(m_members - 1 - k)];
        if (from != to) respawn(ctx, from, to);
      }
      Kokkos::deep_copy(m_pos, m_host_pos);  // the respawned members' states
    }
    Kokkos::fence();
    ctx.record_latency_ns("decision", static_cast<double>(now_ns() - frame_ns));
    // Frames join the training buffer; the autoencoder retrains periodically
    // on what the ensemble has seen, so "novel" follows the exploration.
    m_buffer.insert(m_buffer.end(), frame, frame + static_cast<std::size_t>(m_members) * m_features);
    const std::size_t cap = m_buffer_cap * static_cast<std::size_t>(m_features);
    if (m_buffer.size() > cap) m_buffer.erase(m_buffer.begin(), m_buffer.end() - static_cast<std::ptrdiff_t>(cap));
    if ((m_round + 1) % m_train_every == 0 || m_trainings == 0) {
      ScopedPhase p(ctx, m_ph_train);
      const auto n = static_cast<std::int64_t>(m_buffer.size() / static_cast<std::size_t>(m_features));
      auto rep = m_ae->train(m_buffer.data(), m_buffer.data(), n, TrainOptions{m_epochs, 64, m_seed + m_round});
      ctx.declare_work(m_ph_train, Work{double(rep.samples_trained), 0, m_train_flops * rep.samples_trained, 0});
      ++m_trainings;
    }
  }

  // Member process `to` ends and starts over from member `from`'s state
  // (in m_host_pos; the caller copies it to the device once).
  void respawn(RunContext& ctx, int from, int to) {
    {
      ScopedPhase p(ctx, m_ph_terminate);
      const auto t = now_ns();
      m_procs->terminate(to);
      ctx.record_latency_ns("member_teardown", static_cast<double>(now_ns() - t));
    }
    ScopedPhase p(ctx, m_ph_spawn);
    const auto t = now_ns();
    std::copy(member_positions(from), member_positions(from) + 2 * m_particles, member_positions(to));
    m_procs->launch(to, member_positions(to));  // launch and state transfer
    ctx.record_latency_ns("member_launch", static_cast<double>(now_ns() - t));
  }

  float* member_positions(int k) { return m_host_pos.data() + static_cast<std::size_t>(k) * 2 * m_particles; }

  double coverage() const {
    int visited = 0;
    auto bins = m_visited;
    Kokkos::parallel_reduce(
        "dynamic_orchestration::coverage", Kokkos::RangePolicy<Exec>(0, static_cast<int>(bins.extent(0))),
        KOKKOS_LAMBDA(int i, int& acc) { acc += bins(i); }, visited);
    return static_cast<double>(visited) / static_cast<double>(bins.extent(0));
  }

  double wells_visited() const {
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), m_visited);
    std::vector<char> seen(static_cast<std::size_t>(m_land.wells) * m_land.wells, 0);
    for (int i = 0; i < m_bins; ++i)
      for (int j = 0; j < m_bins; ++j)
        if (h(i * m_bins + j)) seen[static_cast<std::size_t>((i * m_land.wells / m_bins) * m_land.wells + j * m_land.wells / m_bins)] = 1;
    return static_cast<double>(std::count(seen.begin(), seen.end(), 1));
  }

  int m_members = 0, m_particles = 0, m_substeps = 0, m_churn = 0, m_bins = 0, m_features = 0;
  std::int64_t m_rounds = 0, m_round = 0, m_train_every = 1, m_epochs = 1;
  std::size_t m_buffer_cap = 0;
  std::uint64_t m_seed = 0;
  Landscape m_land;
  PhaseId m_ph_sim = 0, m_ph_stage = 0, m_ph_infer = 0, m_ph_decide = 0, m_ph_train = 0;
  double m_infer_flops = 0, m_train_flops = 0;  // declared, per row and per sample trained
  PhaseId m_ph_spawn = 0, m_ph_terminate = 0;
  bool m_as_processes = false, m_overlap = false;
  Positions m_pos;
  Positions::HostMirror m_host_pos;
  std::vector<int> m_host_visited;            // members_as=processes: the coverage grid, kept here
  std::unique_ptr<MemberProcesses> m_procs;   // members_as=processes
  Frames::HostMirror m_frames_host;
  std::int64_t m_frames_ns = 0, m_pending_ns = 0;
  std::vector<float> m_pending, m_recon;      // steer.overlap: last round's frames; the autoencoder's output
  std::vector<char> m_staged;
  double m_ai_busy_ns = 0, m_ai_waited_ns = 0;
  Bins m_visited;
  Frames m_frames;
  std::unique_ptr<SurrogateClient> m_ae;
  std::unique_ptr<AsyncInference> m_async;  // after the client: goes first, so never outlives it
  std::unique_ptr<StagingProducers> m_producers;  // staging.producers > 1
  std::vector<float> m_buffer;
  double m_member_steps = 0, m_ai_s = 0, m_busy_s = 0;
  std::int64_t m_decisions = 0, m_spawns = 0, m_trainings = 0;
};

}  // namespace
}  // namespace dynamic_orchestration

void register_dynamic_orchestration(Registry& registry) {
  MotifInfo info;
  info.name = "dynamic_orchestration";
  info.summary = "Langevin ensemble steered by an autoencoder novelty score: terminate dull members, spawn novel ones";
  info.couplings = {Coupling::Tight, Coupling::SemiTight, Coupling::Loose, Coupling::None};
  info.declare_config = dynamic_orchestration::declare;
  info.check_config = [](const Config& c) -> std::string {
    const auto members = c.get_int("ensemble.members"), churn = c.get_int("policy.churn");
    if (churn >= members)
      return "policy.churn must be in [0, ensemble.members - 1] = [0, " + std::to_string(members - 1) + "], got " +
             std::to_string(churn);
    return "";
  };
  info.memory_bytes = [](const Config& c) {
    const double particles =
        static_cast<double>(c.get_int("ensemble.members")) * static_cast<double>(c.get_int("ensemble.particles"));
    const double bins = static_cast<double>(c.get_int("coverage.bins"));
    // Positions (two floats per particle, and a copy for the unsteered control) and the coverage grid.
    return particles * 8.0 * 2.0 + bins * bins * 4.0 * 2.0;
  };
  info.sizes = {
      {"tiny", budget_profile({{"ensemble.members", "12"}, {"ensemble.rounds", "40"}, {"ensemble.substeps", "150"},
                               {"policy.churn", "3"}, {"run.repetitions", "2"}})},
      {"small", budget_profile({{"ensemble.members", "32"}, {"ensemble.particles", "32"}, {"ensemble.rounds", "100"},
                                {"potential.height", "11"}, {"ensemble.substeps", "400"}, {"policy.churn", "8"}})},
      {"medium", budget_profile({{"ensemble.members", "128"}, {"ensemble.particles", "64"}, {"ensemble.rounds", "400"},
                                 {"ensemble.substeps", "1000"}, {"policy.churn", "32"}, {"potential.wells", "8"}})},
      {"large", budget_profile({{"ensemble.members", "1024"}, {"ensemble.particles", "128"}, {"ensemble.rounds", "1000"},
                                {"ensemble.substeps", "2000"}, {"policy.churn", "256"}, {"potential.wells", "16"}})},
  };
  info.create = [] { return std::make_unique<dynamic_orchestration::DynamicOrchestration>(); };
  registry.add(std::move(info));
}

}  // namespace motifbench
