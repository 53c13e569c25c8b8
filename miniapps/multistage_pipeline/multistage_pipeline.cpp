// Multistage Pipeline (like IMPECCABLE virtual screening). Stage 1: a cheap
// surrogate scores a synthetic candidate library from descriptors. An AI
// filter passes the top fraction to stage 2, an expensive Kokkos physics
// scoring (energy minimisation in a pocket), and the best of those go to
// stage 3, a longer multi-start refinement. Stage outputs move through the
// coupling mode's staging store; stage 1 of the next chunk runs concurrently
// with stage 2 of the current one. The surrogate learns online from stage-2
// results. Mode `none` passes a random fraction instead: the baseline of equal
// physics cost.
#include <algorithm>
#include <cmath>
#include <future>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#include <Kokkos_Core.hpp>

#include "kernels.hpp"
#include "motifbench/motif.hpp"
#include "motifbench/registry.hpp"
#include "motifbench/replay.hpp"

namespace motifbench {
namespace multistage_pipeline {
namespace {

using Exec = Kokkos::DefaultExecutionSpace;
using Library = Kokkos::View<float***, Kokkos::LayoutRight, Exec>;
using Pocket = Kokkos::View<float* [3], Kokkos::LayoutRight, Exec>;
using Desc = Kokkos::View<float**, Kokkos::LayoutRight, Exec>;
using Ids = Kokkos::View<int*, Exec>;
using Scores = Kokkos::View<float*, Exec>;

void declare(ConfigSchema& s) {
  s.add_int("library.size", 4096, 1, 1 << 28, "candidates in the library");
  s.add_int("library.atoms", 6, 2, kMaxAtoms, "atoms per candidate");
  s.add_int("pipeline.chunk", 512, 1, 1 << 26, "candidates per pipeline step");
  s.add_real("filter.fraction", 0.1, 0.0, 1.0, "share of each chunk passed to stage 2, in (0, 1]");
  s.add_real("refine.fraction", 0.25, 0.0, 1.0, "share of stage-2 results refined in stage 3, in (0, 1]");
  s.add_int("stage2.iterations", 150, 1, 1 << 20, "minimisation steps of the physics scoring");
  s.add_int("stage3.iterations", 400, 1, 1 << 20, "minimisation steps of the refinement");
  s.add_int("stage3.starts", 4, 1, 64, "refinement starting orientations");
  s.add_int("train.initial", 256, 1, 1 << 24, "random candidates scored by physics to seed the surrogate");
  s.add_int("train.every", 2, 1, 1 << 20, "chunks between surrogate retrainings");
  s.add_int("train.epochs", 40, 1, 100000, "epochs per training");
  s.add_int("train.max_samples", 8192, 16, 1 << 26,
            "replay buffer: the most recent samples kept for training (older ones are dropped), so the cost of "
            "a retraining does not grow with the run's length");
  s.add_int("truth.top_k", 50, 1, 1 << 24, "size of the true top-k the science metric tracks");
  s.add_bool("truth.exhaustive", false, "score the whole library by physics in setup to know the true top-k");
}

class MultistagePipeline final : public Motif {
 public:
  void setup(RunContext& ctx) override {
    const Config& c = ctx.config();
    m_n = static_cast<int>(c.get_int("library.size"));
    m_atoms = static_cast<int>(c.get_int("library.atoms"));
    m_chunk = static_cast<int>(std::min<std::int64_t>(c.get_int("pipeline.chunk"), m_n));
    m_filter = c.get_real("filter.fraction");
    m_refine = c.get_real("refine.fraction");
    if (!(m_filter > 0.0) || m_filter > 1.0)
      throw std::invalid_argument("filter.fraction must be in (0, 1], got " + std::to_string(m_filter));
    if (!(m_refine > 0.0) || m_refine > 1.0)
      throw std::invalid_argument("refine.fraction must be in (0, 1], got " + std::to_string(m_refine));
    m_stage2.iterations = static_cast<int>(c.get_int("stage2.iterations"));
    m_stage3.iterations = static_cast<int>(c.get_int("stage3.iterations"));
    m_stage3.starts = static_cast<int>(c.get_int("stage3.starts"));
    m_train_every = c.get_int("train.every");
    m_epochs = c.get_int("train.epochs");
    m_max_samples = c.get_int("train.max_samples");
    m_top_k = static_cast<int>(std::min<std::int64_t>(c.get_int("truth.top_k"), m_n));
    m_rng.seed(ctx.seed());

    for (const char* name : {"stage1", "wait", "filter", "stage_io", "stage2", "stage3", "train"})
      m_ph.push_back(ctx.phase(name));

    m_lib = Library("msp::library", m_n, m_atoms, 3);
    generate_library<Exec>("multistage_pipeline::library", ctx.config().get_int("run.seed") * 7919ULL + 17, m_atoms, m_lib);
    // A ring pocket with negative charges: small, positively charged ligands
    // that fit the ring bind best, a relation the descriptors can reveal.
    const int k = 10;
    m_pocket = Pocket("msp::pocket", k);
    auto hp = Kokkos::create_mirror_view(m_pocket);
    for (int p = 0; p < k; ++p) {
      hp(p, 0) = 0.9f * std::cos(6.2831853f * p / k);
      hp(p, 1) = 0.9f * std::sin(6.2831853f * p / k);
      hp(p, 2) = p % 2 ? -1.0f : -0.5f;
    }
    Kokkos::deep_copy(m_pocket, hp);

    if (c.get_bool("truth.exhaustive")) {
      std::vector<int> all(static_cast<std::size_t>(m_n));
      std::iota(all.begin(), all.end(), 0);
      auto e = physics(all, m_stage2, "multistage_pipeline::truth");
      std::vector<int> order = all;
      std::partial_sort(order.begin(), order.begin() + m_top_k, order.end(), [&](int a, int b) { return e[a] < e[b]; });
      m_truth.insert(order.begin(), order.begin() + m_top_k);
    }

    SurrogateSpec spec;
    spec.name = "stage1_scorer";
    spec.in_features = kDescriptors;
    spec.out_features = 1;
    spec.hidden = {32, 32};
    spec.seed = ctx.seed();
    spec.learning_rate = 3e-3;
    m_model = ctx.make_surrogate(spec);
    m_train_flops = training_flops_per_sample(spec);

    // Seed the surrogate with a random sample scored by physics. Both modes
    // pay for it, so compute stays equal.
    std::vector<int> ids(static_cast<std::size_t>(m_n));
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), m_rng);
    ids.resize(static_cast<std::size_t>(std::min<std::int64_t>(c.get_int("train.initial"), m_n)));
    auto e = physics(ids, m_stage2, "multistage_pipeline::initial");
    record_evaluated(ids);
    if (m_model) {
      auto d = describe(ids);
      m_train_x.insert(m_train_x.end(), d.begin(), d.end());
      for (float v : e) m_train_y.push_back(target(v));
      m_model->train(m_train_x.data(), m_train_y.data(), static_cast<std::int64_t>(m_train_y.size()),
                     TrainOptions{m_epochs * 2, 64, ctx.seed()});
    }
    m_chunks = (m_n + m_chunk - 1) / m_chunk;
  }

  bool done() const override { return m_next_chunk >= m_chunks; }

  void step(RunContext& ctx) override {
    if (ctx.warming_up()) return;  // the library is the budget; every chunk is measured
    if (m_t0 == 0) m_t0 = now_ns();
    const int chunk = m_next_chunk++;
    const std::vector<int> ids = chunk_ids(chunk);

    // Stage 1 (this chunk): the result launched last step, or computed now.
    std::vector<float> scores;
    if (m_model) {
      if (!m_pending.valid()) {
        ScopedPhase p(ctx, m_ph[0]);  // nothing overlapped the first chunk
        scores = launch_stage1(ctx, ids, /*async=*/false).get();
      } else {
        ScopedPhase p(ctx, m_ph[1]);  // stage 2 idles until stage 1 delivers
        scores = m_pending.get();
      }
      if (chunk + 1 < m_chunks) {
        ScopedPhase p(ctx, m_ph[0]);
        m_pending = launch_stage1(ctx, chunk_ids(chunk + 1), /*async=*/true);
      }
    }
    std::vector<int> passed;
    {
      ScopedPhase p(ctx, m_ph[2]);
      const int keep = std::max(1, static_cast<int>(std::lround(m_filter * static_cast<double>(ids.size()))));
      passed = ids;
      if (m_model) {
        std::vector<int> order(ids.size());
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + keep, order.end(), [&](int a, int b) { return scores[a] < scores[b]; });
        passed.clear();
        for (int i = 0; i < keep; ++i) passed.push_back(ids[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])]);
      } else {
        std::shuffle(passed.begin(), passed.end(), m_rng);
        passed.resize(static_cast<std::size_t>(keep));
      }
      m_passed += static_cast<double>(passed.size());
      m_seen += static_cast<double>(ids.size());
      ctx.declare_work(m_ph[2], Work{double(ids.size()), 0, 0, 0});
    }
    passed = stage_through(ctx, "stage1_out", passed);
    std::vector<float> e2;
    {
      ScopedPhase p(ctx, m_ph[4]);
      e2 = physics(passed, m_stage2, "multistage_pipeline::stage2");
      declare_physics(ctx, m_ph[4], passed.size(), m_stage2);
    }
    record_evaluated(passed);
    // Stage 3 refines the best stage-2 results of this chunk.
    std::vector<int> order(passed.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return e2[a] < e2[b]; });
    const int refine = std::max(1, static_cast<int>(std::lround(m_refine * static_cast<double>(passed.size()))));
    std::vector<int> best;
    for (int i = 0; i < refine; ++i) best.push_back(passed[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])]);
    best = stage_through(ctx, "stage2_out", best);
    {
      ScopedPhase p(ctx, m_ph[5]);
      auto e3 = physics(best, m_stage3, "multistage_pipeline::stage3");
      declare_physics(ctx, m_ph[5], best.size(), m_stage3);
      for (float v : e3) m_best = std::min(m_best, static_cast<double>(v));
      m_refined += static_cast<double>(best.size());
    }
    if (m_model) {
      auto d = describe(passed);
      m_train_x.insert(m_train_x.end(), d.begin(), d.end());
      for (float v : e2) m_train_y.push_back(target(v));
      m_dropped += static_cast<double>(
          keep_most_recent(m_train_x, m_train_y, kDescriptors, static_cast<std::size_t>(m_max_samples)));
      if ((chunk + 1) % m_train_every == 0) {
        if (m_pending.valid()) m_pending.wait();  // one user of the model at a time
        ScopedPhase p(ctx, m_ph[6]);
        auto rep = m_model->train(m_train_x.data(), m_train_y.data(), static_cast<std::int64_t>(m_train_y.size()),
                                  TrainOptions{m_epochs, 64, ctx.seed() + static_cast<std::uint64_t>(chunk)});
        ctx.declare_work(m_ph[6], Work{double(rep.samples_trained), 0, m_train_flops * rep.samples_trained, 0});
      }
    }
    ctx.metrics().append("recovery", {{"chunk_index", double(chunk)},
                                      {"physics_evaluations_count", m_evaluations},
                                      {"elapsed_s", (now_ns() - m_t0) * 1e-9},
                                      {"top_k_recovered_fraction", recovered()}});
  }

  void finish(RunContext& ctx) override {
    if (m_pending.valid()) m_pending.wait();
    auto& m = ctx.metrics();
    m.note("filter", m_model ? "surrogate ranking (" + m_model->describe() + ")" : "random: baseline of equal physics cost");
    m.scalar("candidates_screened_count", m_seen);
    if (m_model) m.scalar("replay_dropped_count", m_dropped);
    m.scalar("filter_pass_ratio", m_seen > 0 ? m_passed / m_seen : 0.0);
    m.scalar("physics_evaluations_count", m_evaluations);
    m.scalar("refinements_count", m_refined);
    m.scalar("best_refined_energy_ratio", m_best);
    if (m_stage1_busy_s > 0) m.scalar("stage1_inference_s", m_stage1_busy_s);
    if (!m_truth.empty()) {
      m.scalar("top_k_recovered_fraction", recovered());
      m.scalar("true_top_k_count", static_cast<double>(m_truth.size()));
      if (m_first_hit_s >= 0) m.scalar("time_to_first_top_k_hit_s", m_first_hit_s);
    }
  }

 private:
  // The training label: monotone in the energy where the ranking matters
  // (a signed log keeps the order of the good candidates, whose energies reach
  // about -30, where a clip to [-3, 3] made them all equal), and bounded for
  // clashes (positive energies, which can be huge and never make the top-k).
  static float target(float energy) {
    return energy <= 0.0f ? -std::log1p(-energy) : std::min(3.0f, std::log1p(energy));
  }

  std::vector<int> chunk_ids(int chunk) const {
    std::vector<int> ids;
    for (int i = chunk * m_chunk; i < std::min(m_n, (chunk + 1) * m_chunk); ++i) ids.push_back(i);
    return ids;
  }

  Ids to_view(const std::vector<int>& ids) const {
    Ids v("msp::ids", ids.size());
    auto h = Kokkos::create_mirror_view(v);
    for (std::size_t i = 0; i < ids.size(); ++i) h(i) = ids[i];
    Kokkos::deep_copy(v, h);
    return v;
  }

  std::vector<float> describe(const std::vector<int>& ids) const {
    Desc d("msp::descriptors", ids.size(), kDescriptors);
    descriptors<Exec>("multistage_pipeline::descriptors", m_atoms, m_lib, to_view(ids), d);
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), d);
    return std::vector<float>(h.data(), h.data() + h.size());
  }

  std::vector<float> physics(const std::vector<int>& ids, const Minimiser& m, const char* label) const {
    Scores s("msp::scores", ids.size());
    minimise<Exec>(label, m_atoms, m, m_lib, m_pocket, to_view(ids), s);
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), s);
    return std::vector<float>(h.data(), h.data() + h.size());
  }

  void declare_physics(RunContext& ctx, PhaseId ph, std::size_t n, const Minimiser& m) const {
    ctx.declare_work(ph, minimise_work(static_cast<std::int64_t>(n), m_atoms, static_cast<int>(m_pocket.extent(0)),
                                       m.iterations, m.starts));
  }

  // Descriptors on this thread (Kokkos); the surrogate's inference either now
  // or on a helper thread, overlapping the next stage 2.
  std::future<std::vector<float>> launch_stage1(RunContext& ctx, const std::vector<int>& ids, bool async) {
    auto d = describe(ids);
    ctx.declare_work(m_ph[0], descriptors_work(static_cast<std::int64_t>(ids.size()), m_atoms, kDescriptors));
    auto job = [this, d = std::move(d), n = static_cast<std::int64_t>(ids.size())]() {
      const auto t0 = now_ns();
      std::vector<float> out(static_cast<std::size_t>(n));
      m_model->infer(d.data(), n, out.data());
      m_stage1_busy_s += (now_ns() - t0) * 1e-9;
      return out;
    };
    return std::async(async ? std::launch::async : std::launch::deferred, std::move(job));
  }

  // Moves a stage's output through the staging store to the next stage.
  std::vector<int> stage_through(RunContext& ctx, const std::string& what, const std::vector<int>& ids) {
    ScopedPhase p(ctx, m_ph[3]);
    const std::string key = "multistage_pipeline/" + std::to_string(ctx.rank()) + "/" + what;
    const std::size_t bytes = ids.size() * sizeof(int);
    const auto t = now_ns();
    ctx.staging().put(key, ids.data(), bytes);
    std::vector<char> back;
    if (!ctx.staging().get(key, back) || back.size() != bytes)
      throw std::runtime_error("staging store " + ctx.staging().describe() + " lost " + what);
    ctx.record_latency_ns("stage_handoff", static_cast<double>(now_ns() - t));
    ctx.declare_work(m_ph[3], Work{double(ids.size()), 2.0 * bytes, 0, double(bytes)});
    std::vector<int> out(ids.size());
    std::memcpy(out.data(), back.data(), bytes);
    return out;
  }

  void record_evaluated(const std::vector<int>& ids) {
    for (int id : ids) {
      m_evaluated.insert(id);
      if (m_first_hit_s < 0 && m_t0 != 0 && m_truth.count(id)) m_first_hit_s = (now_ns() - m_t0) * 1e-9;
    }
    m_evaluations += static_cast<double>(ids.size());
  }

  double recovered() const {
    if (m_truth.empty()) return 0.0;
    std::size_t hit = 0;
    for (int id : m_truth) hit += m_evaluated.count(id);
    return static_cast<double>(hit) / static_cast<double>(m_truth.size());
  }

  int m_n = 0, m_atoms = 0, m_chunk = 0, m_top_k = 0, m_chunks = 0, m_next_chunk = 0;
  double m_filter = 0, m_refine = 0;
  Minimiser m_stage2, m_stage3;
  std::int64_t m_train_every = 1, m_epochs = 1, m_max_samples = 1;
  double m_dropped = 0;  // samples dropped from the replay buffer
  std::mt19937_64 m_rng;
  std::vector<PhaseId> m_ph;
  Library m_lib;
  Pocket m_pocket;
  std::set<int> m_truth, m_evaluated;
  std::unique_ptr<SurrogateClient> m_model;
  double m_train_flops = 0;  // declared per sample trained
  std::future<std::vector<float>> m_pending;
  std::vector<float> m_train_x, m_train_y;
  double m_passed = 0, m_seen = 0, m_evaluations = 0, m_refined = 0, m_best = 1e30, m_stage1_busy_s = 0;
  double m_first_hit_s = -1;
  std::int64_t m_t0 = 0;
};

}  // namespace
}  // namespace multistage_pipeline

void register_multistage_pipeline(Registry& registry) {
  MotifInfo info;
  info.name = "multistage_pipeline";
  info.summary = "virtual screening: surrogate scores a library, AI filter feeds physics scoring, then refinement";
  info.couplings = {Coupling::Tight, Coupling::SemiTight, Coupling::Loose, Coupling::None};
  info.declare_config = multistage_pipeline::declare;
  info.check_config = [](const Config& c) -> std::string {
    for (const char* key : {"filter.fraction", "refine.fraction"}) {
      const double f = c.get_real(key);
      if (!(f > 0.0) || f > 1.0) return std::string(key) + " must be in (0, 1], got " + value_to_text(c.value(key));
    }
    return "";
  };
  info.sizes = {
      {"tiny", budget_profile({{"library.size", "2048"}, {"pipeline.chunk", "256"}, {"truth.exhaustive", "true"},
                     {"truth.top_k", "40"}, {"train.initial", "128"}, {"run.repetitions", "2"}})},
      {"small", budget_profile({{"library.size", "16384"}, {"pipeline.chunk", "1024"}, {"truth.exhaustive", "true"},
                      {"truth.top_k", "100"}, {"train.initial", "512"}})},
      {"medium", budget_profile({{"library.size", "262144"}, {"pipeline.chunk", "8192"}, {"truth.top_k", "500"},
                       {"train.initial", "4096"}, {"filter.fraction", "0.05"}})},
      {"large", budget_profile({{"library.size", "4194304"}, {"pipeline.chunk", "65536"}, {"truth.top_k", "1000"},
                      {"train.initial", "16384"}, {"filter.fraction", "0.02"}})},
  };
  info.create = [] { return std::make_unique<multistage_pipeline::MultistagePipeline>(); };
  registry.add(std::move(info));
}

}  // namespace motifbench
