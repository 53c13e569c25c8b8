// Digital Replica: a time-stepping Kokkos reaction-diffusion simulation whose
// expensive per-cell reaction closure is replaced by a surrogate that runs on
// every cell, every step. Every K steps the exact closure is computed on a
// sample of cells to measure the surrogate's drift; above a threshold the
// surrogate is retrained online on freshly labelled cells. A `drift` knob
// changes the reaction rate mid-run so that retraining can be observed.
//
// Mode `none` computes the exact closure on every cell: the baseline the
// surrogate's speed-up is measured against.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include <Kokkos_Core.hpp>

#include "kernels.hpp"
#include "motifbench/async_inference.hpp"
#include "motifbench/model_io.hpp"
#include "motifbench/motif.hpp"
#include "motifbench/registry.hpp"

namespace motifbench {
namespace digital_replica {
namespace {

using Exec = Kokkos::DefaultExecutionSpace;
using Field = Kokkos::View<float*, Exec>;
// [ncells x 2], row-major and contiguous, so the surrogate reads it in place.
using Features = Kokkos::View<float* [2], Kokkos::LayoutRight, Exec>;

void declare(ConfigSchema& s) {
  s.add_int("grid.nx", 128, 4, 1 << 16, "grid points in x");
  s.add_int("grid.ny", 128, 4, 1 << 16, "grid points in y");
  s.add_real("sim.dt", 0.2, 1e-6, 10.0, "time step (stable while dt x diffusion <= 0.25)");
  s.add_real("sim.diffusion_c", 0.5, 0.0, 100.0, "fuel diffusion coefficient");
  s.add_real("sim.diffusion_t", 1.0, 0.0, 100.0, "temperature diffusion coefficient");
  s.add_real("sim.feed", 0.05, 0.0, 10.0, "fuel feed rate towards 1");
  s.add_real("sim.cooling", 0.05, 0.0, 10.0, "heat loss rate towards the ambient temperature");
  s.add_real("chem.prefactor", 50.0, 1e-6, 1e9, "Arrhenius prefactor A");
  s.add_real("chem.activation", 4.0, 0.0, 1e3, "activation temperature Ea");
  s.add_real("chem.heat", 1.0, 1e-6, 1e3, "heat released per unit fuel");
  s.add_int("closure.substeps", 32, 1, 100000, "implicit sub-steps of the exact closure");
  s.add_int("closure.newton_max", 20, 1, 1000, "Newton iterations per sub-step, at most");
  s.add_int("drift.step", 40, 0, 1000000000, "measured step at which the reaction rate changes (0: never)");
  s.add_real("drift.factor", 4.0, 1e-6, 1e6, "factor applied to chem.prefactor at drift.step");
  s.add_int("surrogate.width", 32, 1, 1 << 14, "hidden layer width");
  s.add_int("surrogate.layers", 2, 1, 64, "hidden layers");
  s.add_choice("surrogate.activation", "tanh", {"tanh", "relu", "gelu"}, "hidden activation");
  s.add_string("surrogate.path", "", "TorchScript model to load instead of the built-in MLP ([N,2] -> [N,1])");
  s.add_real("surrogate.learning_rate", 3e-3, 1e-8, 10.0, "Adam learning rate");
  s.add_int("surrogate.batch", 0, 0, 1 << 30, "cells per inference call (0: all cells in one call)");
  s.add_int("overlap.blocks", 1, 1, 1 << 20,
            "row blocks whose inference runs while the next block's stencil and the previous block's closure "
            "update run (1: no overlap); the result's ai_hidden_fraction says how much of the AI's time was hidden");
  s.add_int("pretrain.samples", 8192, 0, 1 << 26, "offline training samples drawn over the state space");
  s.add_int("pretrain.epochs", 60, 0, 100000, "offline training epochs");
  s.add_int("check.every", 10, 1, 1000000, "steps between drift checks (K)");
  s.add_int("check.samples", 512, 1, 1 << 24, "cells checked against the exact closure");
  s.add_real("check.threshold", 0.05, 0.0, 1e6, "relative RMS error that triggers retraining");
  s.add_int("retrain.samples", 4096, 1, 1 << 26, "freshly labelled cells per retraining");
  s.add_int("retrain.epochs", 40, 1, 100000, "epochs per retraining");
  s.add_int("retrain.space_samples", 4096, 0, 1 << 26,
            "cells drawn over the whole state space and labelled by the exact closure at each retraining, so the "
            "retrained surrogate holds where the state goes next, not only where it is");
  s.add_real("retrain.space_factor", 4.0, 1.0, 1e6,
             "relabel the state space only when a check's error exceeds this many times check.threshold (the "
             "closure changed); a check that fails by less is refined with current cells only");
  s.add_bool("fidelity.shadow", false,
             "run an exact-closure copy of the simulation beside the replica (same seed, same steps) and report "
             "their deviation (fidelity_*); costs the exact closure on every cell each step");
  s.add_int("retrain.buffer", 16384, 1, 1 << 28, "replay buffer of labelled simulation cells (FIFO) that retraining uses");
  s.add_string("output.model", "", "save the final surrogate as TorchScript to this path");
}

float relative_rms_error(const std::vector<float>& pred, const std::vector<float>& exact) {
  double se = 0, ss = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) {
    se += (pred[i] - exact[i]) * double(pred[i] - exact[i]);
    ss += exact[i] * double(exact[i]);
  }
  return static_cast<float>(std::sqrt(se / std::max<double>(1e-300, ss)));
}

class DigitalReplica final : public Motif {
 public:
  void setup(RunContext& ctx) override {
    const Config& cfg = ctx.config();
    m_nx = static_cast<int>(cfg.get_int("grid.nx"));
    m_ny = static_cast<int>(cfg.get_int("grid.ny"));
    m_n = static_cast<std::int64_t>(m_nx) * m_ny;  // 64-bit: 65536^2 cells overflow an int
    m_phys.dt = static_cast<float>(cfg.get_real("sim.dt"));
    m_phys.diff_c = static_cast<float>(cfg.get_real("sim.diffusion_c"));
    m_phys.diff_t = static_cast<float>(cfg.get_real("sim.diffusion_t"));
    m_phys.feed = static_cast<float>(cfg.get_real("sim.feed"));
    m_phys.cool = static_cast<float>(cfg.get_real("sim.cooling"));
    m_phys.q = static_cast<float>(cfg.get_real("chem.heat"));
    if (m_phys.dt * std::max(m_phys.diff_c, m_phys.diff_t) > 0.25f)
      throw std::invalid_argument("unstable: sim.dt x max(sim.diffusion_c, sim.diffusion_t) must be <= 0.25");
    m_closure.prefactor = cfg.get_real("chem.prefactor");
    m_closure.activation = cfg.get_real("chem.activation");
    m_closure.q = m_phys.q;
    m_closure.dt = m_phys.dt;
    m_closure.substeps = static_cast<int>(cfg.get_int("closure.substeps"));
    m_closure.newton_max = static_cast<int>(cfg.get_int("closure.newton_max"));
    m_scale = FeatureScale{m_phys.t0, m_phys.q};
    m_drift_step = cfg.get_int("drift.step");
    m_drift_factor = cfg.get_real("drift.factor");
    m_check_every = cfg.get_int("check.every");
    m_check_samples = static_cast<int>(std::min<std::int64_t>(cfg.get_int("check.samples"), m_n));
    m_threshold = cfg.get_real("check.threshold");
    m_retrain_samples = static_cast<int>(std::min<std::int64_t>(cfg.get_int("retrain.samples"), m_n));
    m_retrain_epochs = cfg.get_int("retrain.epochs");
    m_buffer_capacity = static_cast<std::size_t>(cfg.get_int("retrain.buffer"));
    m_space_samples = cfg.get_int("retrain.space_samples");
    m_space_factor = cfg.get_real("retrain.space_factor");
    m_shadow = cfg.get_bool("fidelity.shadow");
    m_batch = cfg.get_int("surrogate.batch");
    m_save_path = cfg.get_string("output.model");
    m_rng.seed(ctx.seed());

    m_ph_sim = ctx.phase("simulate");
    m_ph_infer = ctx.phase("infer");
    m_ph_exact = ctx.phase("closure_exact");
    m_ph_verify = ctx.phase("verify");
    m_ph_train = ctx.phase("train");
    m_ph_stage = ctx.phase("stage_io");

    m_c = Field("dr::c", m_n);
    m_t = Field("dr::t", m_n);
    m_cn = Field("dr::c_next", m_n);
    m_tn = Field("dr::t_next", m_n);
    m_frac = Field("dr::frac", m_n);
    m_features = Features("dr::features", m_n);
    initial_state();
    if (m_shadow) {
      // The exact run starts from the same state and takes the same steps.
      m_ph_fidelity = ctx.phase("fidelity");
      m_sc = Field("dr::shadow_c", m_n);
      m_st = Field("dr::shadow_t", m_n);
      m_scn = Field("dr::shadow_c_next", m_n);
      m_stn = Field("dr::shadow_t_next", m_n);
      m_sfrac = Field("dr::shadow_frac", m_n);
      m_sfeatures = Features("dr::shadow_features", m_n);
      Kokkos::deep_copy(m_sc, m_c);
      Kokkos::deep_copy(m_st, m_t);
    }

    SurrogateSpec spec;
    spec.name = "reaction_closure";
    spec.in_features = 2;
    spec.out_features = 1;
    spec.hidden.assign(static_cast<std::size_t>(cfg.get_int("surrogate.layers")), cfg.get_int("surrogate.width"));
    spec.activation = cfg.get_string("surrogate.activation");
    spec.path = cfg.get_string("surrogate.path");
    spec.learning_rate = cfg.get_real("surrogate.learning_rate");
    spec.seed = ctx.seed();
    m_flops_per_inference = inference_flops_per_row(spec);
    m_flops_per_trained = training_flops_per_sample(spec);
    m_surrogate = ctx.make_surrogate(spec);
    m_overlap_blocks = std::min<std::int64_t>(cfg.get_int("overlap.blocks"), m_nx);
    // Overlap hands the Views' memory to the model as it is: host Views, or GPU
    // Views with a model on that GPU (otherwise each block would need copies).
    constexpr bool host_views = Kokkos::SpaceAccessibility<Kokkos::HostSpace, Exec::memory_space>::accessible;
    m_async_on_device = !host_views;
    // A model that offers buffers of its own (semi-tight through shared
    // memory: the segment registered with the servers) holds the features and
    // the closure: the stencil writes the model's inputs where the servers
    // read them, and no tensor byte is copied per call.
    if (m_surrogate && host_views && cfg.get_string("coupling.tensor_copy") != "always") {
      const auto io = m_surrogate->io_buffers(m_n);
      if (io.in != nullptr && io.out != nullptr) {
        m_features = Features(io.in, m_n);  // unmanaged: the model owns the memory
        m_frac = Field(io.out, m_n);
        m_in_model_buffers = true;
      }
    }
    if (m_surrogate && m_overlap_blocks > 1 && (host_views || m_surrogate->memory_space() == MemorySpace::Cuda))
      m_async = std::make_unique<AsyncInference>(*m_surrogate);
    if (m_surrogate) pretrain(ctx, cfg.get_int("pretrain.samples"), cfg.get_int("pretrain.epochs"));
  }

  void step(RunContext& ctx) override {
    const std::int64_t step = ctx.step_index();
    if (m_drift_step > 0 && step == m_drift_step) {
      m_closure.prefactor *= m_drift_factor;
      m_drifted_at = step;
      ctx.metrics().event("drift", {{"step_index", static_cast<double>(step)},
                                    {"prefactor_ratio", m_drift_factor}});
    }
    if (m_async)
      overlapped_step(ctx, step);
    else
      whole_step(ctx);
    std::swap(m_c, m_cn);
    std::swap(m_t, m_tn);
    if (m_shadow) shadow_step(ctx, step);
    if (m_surrogate && step >= 0 && (step + 1) % m_check_every == 0) check(ctx, step);
    if (step >= 0) ++m_steps;
  }

  void finish(RunContext& ctx) override {
    auto& m = ctx.metrics();
    m.note("closure", "implicit Arrhenius c^2 kinetics, " + std::to_string(m_closure.substeps) + " Newton sub-steps");
    m.scalar("cells_count", m_n);
    m.scalar("steps_count", static_cast<double>(m_steps));
    // Mean fuel: a fidelity figure comparable between coupling modes.
    double mean_c = 0;
    const Field c = m_c;
    Kokkos::parallel_reduce(
        "digital_replica::mean_fuel", Kokkos::RangePolicy<Exec, Kokkos::IndexType<std::int64_t>>(0, m_n),
        KOKKOS_LAMBDA(std::int64_t i, double& acc) { acc += c(i); }, mean_c);
    m.scalar("final_mean_fuel_ratio", mean_c / m_n);
    if (m_shadow && m_fidelity_steps > 0) {
      m.note("fidelity", "relative L2 deviation of (fuel, temperature) from an exact-closure run of the same seed and steps");
      m.scalar("fidelity_final_l2_fraction", m_fidelity_last);
      m.scalar("fidelity_mean_l2_fraction", m_fidelity_sum / static_cast<double>(m_fidelity_steps));
      m.scalar("fidelity_max_l2_fraction", m_fidelity_max);
    }
    if (!m_surrogate) {
      m.note("surrogate", "none (exact closure on every cell)");
      return;
    }
    m.note("surrogate", m_surrogate->describe());
    m.scalar("surrogate_bytes_copied_bytes", static_cast<double>(m_surrogate->bytes_copied()));
    if (m_in_model_buffers)
      m.note("model_buffers", "features and closure live in the model's shared-memory buffers: requests reference them");
    if (m_async && m_ai_busy_ns > 0) {
      m.note("overlap", std::to_string(m_overlap_blocks) + " row blocks: a block's inference runs while the next "
                        "block's stencil and the previous block's update run");
      m.scalar("ai_busy_s", m_ai_busy_ns * 1e-9);
      m.scalar("ai_waited_s", m_ai_waited_ns * 1e-9);
      m.scalar("ai_hidden_fraction", std::max(0.0, 1.0 - m_ai_waited_ns / m_ai_busy_ns));
    }
    m.scalar("pretrain_loss_ratio", m_pretrain_loss);
    m.scalar("retrain_events_count", static_cast<double>(m_retrains));
    m.scalar("checks_count", static_cast<double>(m_checks));
    if (m_checks > 0) {
      m.scalar("surrogate_error_last_fraction", m_last_error);
      m.scalar("surrogate_error_max_fraction", m_max_error);
    }
    // Speed-up over the exact closure, measured in this run: exact ns per cell
    // (timed on the check samples) over surrogate ns per cell.
    if (m_exact_cells > 0 && m_infer_cells > 0) {
      const double exact = m_exact_ns / m_exact_cells, infer = m_infer_ns / m_infer_cells;
      m.scalar("exact_closure_per_cell_ns", exact);
      m.scalar("surrogate_per_cell_ns", infer);
      m.scalar("closure_speedup_ratio", exact / infer);
    }
    if (m_drift_step > 0 && m_drifted_at >= 0 && m_retrains_after_drift == 0 && m_threshold > 0)
      ctx.invalidate("drift was applied but no retraining followed before the run ended");
    if (!m_save_path.empty()) m_surrogate->save(m_save_path);
  }

 private:
  void initial_state() {
    auto hc = Kokkos::create_mirror_view(m_c);
    auto ht = Kokkos::create_mirror_view(m_t);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    // A few warm blobs over a random fuel background.
    std::vector<std::array<float, 3>> blobs(6);
    for (auto& b : blobs) b = {u(m_rng) * m_nx, u(m_rng) * m_ny, 2.0f + 0.1f * u(m_rng) * std::min(m_nx, m_ny)};
    for (int i = 0; i < m_nx; ++i) {
      for (int j = 0; j < m_ny; ++j) {
        float heat = 0;
        for (const auto& b : blobs) {
          const float dx = i - b[0], dy = j - b[1];
          heat += std::exp(-(dx * dx + dy * dy) / (2 * b[2] * b[2]));
        }
        hc(i * m_ny + j) = 0.3f + 0.7f * u(m_rng);
        ht(i * m_ny + j) = m_phys.t0 + m_phys.q * std::min(1.0f, heat);
      }
    }
    Kokkos::deep_copy(m_c, hc);
    Kokkos::deep_copy(m_t, ht);
  }

  // Offline training over the reachable state space (c in [0,1], T in
  // [t0, t0 + 1.2 q]), before the run: not part of the measured figures.
  void pretrain(RunContext& ctx, std::int64_t samples, std::int64_t epochs) {
    if (samples == 0 || epochs == 0) return;
    Features xs;
    Field ys;
    label_space(samples, xs, ys);
    auto hx = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), xs);  // train() reads host memory
    auto hy = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), ys);
    auto rep = m_surrogate->train(hx.data(), hy.data(), samples, TrainOptions{epochs, 256, ctx.seed()});
    m_pretrain_loss = rep.loss_last;
  }

  // `count` points drawn uniformly over the reachable state space (c in [0,1],
  // T in [t0, t0 + 1.2 q]) and labelled by the exact closure. Returns the
  // Newton iterations it took.
  std::int64_t label_space(std::int64_t count, Features& xs, Field& ys) {
    xs = Features("dr::space_x", count);
    ys = Field("dr::space_y", count);
    auto hx = Kokkos::create_mirror_view(xs);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (std::int64_t s = 0; s < count; ++s) {
      hx(s, 0) = u(m_rng);
      hx(s, 1) = 1.2f * u(m_rng);
    }
    Kokkos::deep_copy(xs, hx);
    const Closure cl = m_closure;
    const FeatureScale fs = m_scale;
    const Features x = xs;
    const Field y = ys;
    std::int64_t newton = 0;
    Kokkos::parallel_reduce(
        "digital_replica::space_labels", Kokkos::RangePolicy<Exec, Kokkos::IndexType<std::int64_t>>(0, count),
        KOKKOS_LAMBDA(std::int64_t s, std::int64_t & it) {
          y(s) = static_cast<float>(exact_fraction(x(s, 0), fs.t0 + fs.q * x(s, 1), cl, it));
        },
        newton);
    return newton;
  }

  // Predict every cell, then the closure of every cell (surrogate or exact),
  // then the update.
  void whole_step(RunContext& ctx) {
    {
      ScopedPhase p(ctx, m_ph_sim);
      predict<Exec>("digital_replica::predict", m_nx, m_ny, m_phys, m_c, m_t, m_cn, m_tn, m_features);
      // read c,t (8 B), write cn,tn (8 B) and features (8 B) per cell
      ctx.declare_work(m_ph_sim, predict_work(m_n));
    }
    if (m_surrogate) {
      const auto t0 = now_ns();
      {
        ScopedPhase p(ctx, m_ph_infer);
        const std::int64_t batch = m_batch > 0 ? m_batch : m_n;
        for (std::int64_t off = 0; off < m_n; off += batch) {
          const std::int64_t b = std::min<std::int64_t>(batch, m_n - off);
          const auto c0 = now_ns();
          const auto rows = std::make_pair(off, off + b);
          infer_views(ctx, *m_surrogate, Kokkos::subview(m_features, rows, Kokkos::ALL), b,
                      Kokkos::subview(m_frac, rows));
          ctx.record_latency_ns("infer_call", static_cast<double>(now_ns() - c0));
        }
        ctx.declare_work(m_ph_infer, Work{double(m_n), 12.0 * m_n, m_flops_per_inference * m_n, 0});
      }
      const auto dt = now_ns() - t0;
      ctx.record_latency_ns("infer_step", static_cast<double>(dt));
      m_infer_ns += static_cast<double>(dt);
      m_infer_cells += m_n;
    } else {
      ScopedPhase p(ctx, m_ph_exact);
      const auto newton =
          exact_closure<Exec>("digital_replica::exact_closure", m_n, m_closure, m_scale, m_features, m_frac);
      ctx.declare_work(m_ph_exact, exact_closure_work(m_n, newton));
    }
    ScopedPhase p(ctx, m_ph_sim);
    apply_closure<Exec>("digital_replica::apply_closure", m_n, m_phys.q, m_frac, m_cn, m_tn);
    // read frac,cn,tn (12 B), write cn,tn (8 B)
    ctx.declare_work(m_ph_sim, apply_closure_work(m_n));
  }

  // Predict, infer and update by row blocks, the AI running on its own thread
  // (or requests in flight): block k's stencil runs while block k-1 is
  // inferred, and block k-1's update while block k is. The same arithmetic per
  // cell as the plain step; only the inference batches are smaller.
  void overlapped_step(RunContext& ctx, std::int64_t step) {
    const std::int64_t blocks = m_overlap_blocks, ny = m_ny;
    auto first_row = [&](std::int64_t k) { return m_nx * k / blocks; };
    double busy = 0, waited = 0;
    auto predict_block = [&](std::int64_t k) {
      ScopedPhase p(ctx, m_ph_sim);
      predict<Exec>("digital_replica::predict", m_nx, m_ny, m_phys, m_c, m_t, m_cn, m_tn, m_features, first_row(k),
                    first_row(k + 1));
      ctx.declare_work(m_ph_sim, predict_work((first_row(k + 1) - first_row(k)) * ny));
    };
    auto start_block = [&](std::int64_t k) {
      const std::int64_t off = first_row(k) * ny;
      m_async->start(m_features.data() + 2 * off, (first_row(k + 1) - first_row(k)) * ny, m_frac.data() + off,
                     m_async_on_device);
    };
    auto finish_block = [&](std::int64_t k) {
      {
        ScopedPhase p(ctx, m_ph_infer);  // the AI's time that was not hidden
        const auto t = now_ns();
        const double ns = m_async->wait();
        waited += static_cast<double>(now_ns() - t);
        busy += ns;
        ctx.record_latency_ns("infer_call", ns);
      }
      ScopedPhase p(ctx, m_ph_sim);
      const std::int64_t cells = (first_row(k + 1) - first_row(k)) * ny;
      apply_closure<Exec>("digital_replica::apply_closure", first_row(k + 1) * ny, m_phys.q, m_frac, m_cn, m_tn,
                          first_row(k) * ny);
      ctx.declare_work(m_ph_sim, apply_closure_work(cells));
    };
    predict_block(0);
    start_block(0);
    for (std::int64_t k = 1; k < blocks; ++k) {
      predict_block(k);
      finish_block(k - 1);
      start_block(k);
    }
    finish_block(blocks - 1);
    ctx.declare_work(m_ph_infer, Work{double(m_n), 12.0 * m_n, m_flops_per_inference * m_n, 0});
    ctx.record_latency_ns("infer_step", busy);
    m_infer_ns += busy;
    m_infer_cells += m_n;
    if (step >= 0) {
      m_ai_busy_ns += busy;
      m_ai_waited_ns += waited;
    }
  }

  // One step of the exact-closure copy, then its deviation from the replica.
  void shadow_step(RunContext& ctx, std::int64_t step) {
    ScopedPhase p(ctx, m_ph_fidelity);
    predict<Exec>("digital_replica::shadow_predict", m_nx, m_ny, m_phys, m_sc, m_st, m_scn, m_stn, m_sfeatures);
    const auto newton =
        exact_closure<Exec>("digital_replica::shadow_exact_closure", m_n, m_closure, m_scale, m_sfeatures, m_sfrac);
    apply_closure<Exec>("digital_replica::shadow_apply_closure", m_n, m_phys.q, m_sfrac, m_scn, m_stn);
    std::swap(m_sc, m_scn);
    std::swap(m_st, m_stn);
    Work w = exact_closure_work(m_n, newton);
    w.bytes += predict_work(m_n).bytes + apply_closure_work(m_n).bytes;
    ctx.declare_work(m_ph_fidelity, w);
    const Field c = m_c, t = m_t, sc = m_sc, st = m_st;
    double diff = 0, norm = 0;
    Kokkos::parallel_reduce(
        "digital_replica::fidelity", Kokkos::RangePolicy<Exec, Kokkos::IndexType<std::int64_t>>(0, m_n),
        KOKKOS_LAMBDA(std::int64_t i, double& d, double& n) {
          const double dc = c(i) - sc(i), dt = t(i) - st(i);
          d += dc * dc + dt * dt;
          n += double(sc(i)) * sc(i) + double(st(i)) * st(i);
        },
        diff, norm);
    if (step < 0) return;  // warm-up steps advance both copies but do not count
    const double l2 = std::sqrt(diff / std::max(1e-300, norm));
    m_fidelity_last = l2;
    m_fidelity_sum += l2;
    m_fidelity_max = std::max(m_fidelity_max, l2);
    ++m_fidelity_steps;
    ctx.metrics().append("fidelity", {{"step_index", double(step)}, {"l2_fraction", l2}});
  }

  // Labels `count` random cells exactly; returns the sampled inputs and labels.
  void label_sample(RunContext& ctx, int count, Features& xs, Field& ys, std::vector<std::int64_t>& cells_out) {
    Kokkos::View<std::int64_t*, Exec> cells("dr::sample_cells", count);
    auto hcells = Kokkos::create_mirror_view(cells);
    std::uniform_int_distribution<std::int64_t> pick(0, m_n - 1);
    cells_out.resize(static_cast<std::size_t>(count));
    for (int s = 0; s < count; ++s) hcells(s) = cells_out[static_cast<std::size_t>(s)] = pick(m_rng);
    Kokkos::deep_copy(cells, hcells);
    xs = Features("dr::sample_x", count);
    ys = Field("dr::sample_y", count);
    const auto t0 = now_ns();
    {
      ScopedPhase p(ctx, m_ph_verify);
      const auto newton =
          exact_sample<Exec>("digital_replica::exact_sample", m_closure, m_scale, cells, m_features, xs, ys);
      // Gathers too: the cell index (8 B) and two inputs (8 B) written per sample.
      Work w = exact_closure_work(count, newton);
      w.bytes += 16.0 * count;
      ctx.declare_work(m_ph_verify, w);
    }
    m_exact_ns += static_cast<double>(now_ns() - t0);
    m_exact_cells += count;
    // Every exactly labelled cell joins the replay buffer; the oldest leave first.
    auto hx = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), xs);
    auto hy = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), ys);
    for (int s = 0; s < count; ++s) {
      m_buf_x.push_back(hx(s, 0));
      m_buf_x.push_back(hx(s, 1));
      m_buf_y.push_back(hy(s));
    }
    if (m_buf_y.size() > m_buffer_capacity) {
      const std::size_t drop = m_buf_y.size() - m_buffer_capacity;
      m_buf_y.erase(m_buf_y.begin(), m_buf_y.begin() + static_cast<std::ptrdiff_t>(drop));
      m_buf_x.erase(m_buf_x.begin(), m_buf_x.begin() + static_cast<std::ptrdiff_t>(2 * drop));
    }
  }

  float error_on(const Features& xs, const Field& ys) {
    std::vector<float> pred(xs.extent(0));
    auto hx = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), xs);
    m_surrogate->infer(hx.data(), static_cast<std::int64_t>(xs.extent(0)), pred.data());
    auto hy = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), ys);
    return relative_rms_error(pred, std::vector<float>(hy.data(), hy.data() + hy.extent(0)));
  }

  void check(RunContext& ctx, std::int64_t step) {
    Features xs;
    Field ys;
    std::vector<std::int64_t> cells;
    label_sample(ctx, m_check_samples, xs, ys, cells);
    // The error of what the simulation actually used this step: the surrogate's
    // frac of the sampled cells, against their exact closure.
    auto hfrac = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), m_frac);
    auto hy = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), ys);
    std::vector<float> pred, exact;
    for (std::size_t s = 0; s < cells.size(); ++s) {
      pred.push_back(hfrac(cells[s]));
      exact.push_back(hy(static_cast<int>(s)));
    }
    const float err = relative_rms_error(pred, exact);
    ++m_checks;
    m_last_error = err;
    m_max_error = std::max<double>(m_max_error, err);
    ctx.metrics().append("surrogate_error", {{"step_index", double(step)}, {"error_fraction", err}});
    if (err <= m_threshold) return;

    // A failed check means labels from before it may describe physics that no
    // longer holds: keep only the cells just checked, add freshly labelled cells
    // of the current state, and retrain on that buffer. Passing checks add to it.
    // At most what the buffer holds: retrain.buffer may be smaller than a check.
    const std::size_t keep = std::min(cells.size(), m_buf_y.size());
    m_buf_y.erase(m_buf_y.begin(), m_buf_y.end() - static_cast<std::ptrdiff_t>(keep));
    m_buf_x.erase(m_buf_x.begin(), m_buf_x.end() - static_cast<std::ptrdiff_t>(2 * keep));
    Features tx;
    Field ty;
    std::vector<std::int64_t> tcells;
    if (m_space_samples > 0 && err > m_space_factor * m_threshold) {
      // Far off: the closure changed. Relabel the state space too, so the
      // surrogate holds where the state goes next (the cells below cover only
      // where it is). First in, so a buffer too small for both keeps the
      // current cells. A check that fails by a little is a local refinement.
      Features sx;
      Field sy;
      {
        ScopedPhase p(ctx, m_ph_verify);
        const auto newton = label_space(m_space_samples, sx, sy);
        ctx.declare_work(m_ph_verify, exact_closure_work(m_space_samples, newton));
      }
      auto hx = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sx);
      auto hy = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sy);
      m_buf_x.insert(m_buf_x.end(), hx.data(), hx.data() + hx.size());
      m_buf_y.insert(m_buf_y.end(), hy.data(), hy.data() + hy.size());
    }
    label_sample(ctx, m_retrain_samples, tx, ty, tcells);
    // The samples travel to the trainer through the staging store (memory,
    // shared memory, Redis or files, by coupling mode), as in SmartSim.
    std::vector<char> fx, fy;
    {
      ScopedPhase p(ctx, m_ph_stage);
      const std::string key = "digital_replica/" + std::to_string(ctx.rank()) + "/train_";
      const auto bytes_x = m_buf_x.size() * sizeof(float), bytes_y = m_buf_y.size() * sizeof(float);
      auto t = now_ns();
      ctx.staging().put(key + "x", m_buf_x.data(), bytes_x);
      ctx.staging().put(key + "y", m_buf_y.data(), bytes_y);
      ctx.record_latency_ns("staging_put", static_cast<double>(now_ns() - t));
      t = now_ns();
      if (!ctx.staging().get(key + "x", fx) || !ctx.staging().get(key + "y", fy) || fx.size() != bytes_x ||
          fy.size() != bytes_y)
        throw std::runtime_error("staging store " + ctx.staging().describe() + " lost the training samples");
      ctx.record_latency_ns("staging_get", static_cast<double>(now_ns() - t));
      ctx.declare_work(m_ph_stage, Work{double(m_buf_y.size()), 2.0 * (bytes_x + bytes_y), 0, double(bytes_x + bytes_y)});
    }
    const auto t0 = now_ns();
    TrainReport rep;
    const auto n_train = static_cast<std::int64_t>(fy.size() / sizeof(float));
    {
      ScopedPhase p(ctx, m_ph_train);
      rep = m_surrogate->train(reinterpret_cast<const float*>(fx.data()), reinterpret_cast<const float*>(fy.data()), n_train,
                               TrainOptions{m_retrain_epochs, 256, ctx.seed() + static_cast<std::uint64_t>(step)});
      ctx.declare_work(m_ph_train, Work{double(rep.samples_trained), 0, m_flops_per_trained * rep.samples_trained, 0});
    }
    const double train_s = (now_ns() - t0) * 1e-9;
    // Error after, on an independent fresh sample.
    Features vx;
    Field vy;
    std::vector<std::int64_t> vcells;
    label_sample(ctx, m_check_samples, vx, vy, vcells);
    const float after = error_on(vx, vy);
    ++m_retrains;
    if (m_drifted_at >= 0) ++m_retrains_after_drift;
    ctx.metrics().event("retrain", {{"step_index", double(step)},
                                    {"error_before_fraction", err},
                                    {"error_after_fraction", after},
                                    {"samples_count", double(n_train)},
                                    {"loss_first_ratio", rep.loss_first},
                                    {"loss_last_ratio", rep.loss_last},
                                    {"train_s", train_s}});
    ctx.metrics().append("surrogate_error", {{"step_index", double(step)}, {"error_fraction", after}});
    m_last_error = after;
    if (after >= err)
      ctx.invalidate("retraining at step " + std::to_string(step) + " did not lower the surrogate error (" +
                     std::to_string(err) + " -> " + std::to_string(after) + ")");
  }

  int m_nx = 0, m_ny = 0;
  bool m_in_model_buffers = false;  // m_features and m_frac lie in the model's io_buffers()
  std::int64_t m_n = 0;
  Physics m_phys;
  Closure m_closure;
  FeatureScale m_scale;
  std::int64_t m_drift_step = 0, m_drifted_at = -1;
  double m_drift_factor = 1;
  std::int64_t m_check_every = 10;
  int m_check_samples = 0, m_retrain_samples = 0;
  double m_threshold = 0;
  std::int64_t m_retrain_epochs = 0, m_batch = 0;
  std::size_t m_buffer_capacity = 0;
  std::vector<float> m_buf_x, m_buf_y;  // replay buffer: [n x 2] inputs, [n] exact closures
  std::string m_save_path;
  std::mt19937_64 m_rng;
  PhaseId m_ph_sim = 0, m_ph_infer = 0, m_ph_exact = 0, m_ph_verify = 0, m_ph_train = 0, m_ph_stage = 0,
          m_ph_fidelity = 0;
  Field m_c, m_t, m_cn, m_tn, m_frac;
  Features m_features;
  // Overlap of inference with the stencil (overlap.blocks > 1).
  std::int64_t m_overlap_blocks = 1;
  double m_ai_busy_ns = 0, m_ai_waited_ns = 0;
  // The exact-closure copy (fidelity.shadow) and its deviation from the replica.
  bool m_shadow = false;
  Field m_sc, m_st, m_scn, m_stn, m_sfrac;
  Features m_sfeatures;
  std::int64_t m_fidelity_steps = 0, m_space_samples = 0;
  double m_space_factor = 4;
  double m_fidelity_last = 0, m_fidelity_sum = 0, m_fidelity_max = 0;
  std::unique_ptr<SurrogateClient> m_surrogate;
  bool m_async_on_device = false;  // the Views are GPU memory, read by a model on that GPU
  std::unique_ptr<AsyncInference> m_async;  // after the client: goes first, so never outlives it
  double m_flops_per_inference = 0, m_flops_per_trained = 0;  // declared, per row and per sample trained
  double m_pretrain_loss = 0;
  std::int64_t m_steps = 0, m_checks = 0, m_retrains = 0, m_retrains_after_drift = 0;
  double m_last_error = 0, m_max_error = 0;
  double m_exact_ns = 0, m_infer_ns = 0;
  std::int64_t m_exact_cells = 0, m_infer_cells = 0;
};

}  // namespace
}  // namespace digital_replica

void register_digital_replica(Registry& registry) {
  MotifInfo info;
  info.name = "digital_replica";
  info.summary = "reaction-diffusion simulation whose stiff per-cell closure is a surrogate, checked and retrained online";
  info.couplings = {Coupling::Tight, Coupling::SemiTight, Coupling::Loose, Coupling::None};
  info.declare_config = digital_replica::declare;
  // Checked before the run, not after it: a path that cannot be written.
  info.check_config = [](const Config& c) -> std::string {
    const std::string& out = c.get_string("output.model");
    if (out.empty()) return "";
    const auto slash = out.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : out.substr(0, slash));
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return "output.model: the folder '" + dir + "' does not exist";
    if (::access(dir.c_str(), W_OK) != 0) return "output.model: the folder '" + dir + "' is not writable";
    if (::stat(out.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
      return "output.model: '" + out + "' exists and is not a regular file";
    return "";
  };
  info.memory_bytes = [](const Config& c) {
    const double n = static_cast<double>(c.get_int("grid.nx")) * static_cast<double>(c.get_int("grid.ny"));
    const double batch = c.get_int("surrogate.batch") > 0 ? std::min<double>(c.get_int("surrogate.batch"), n) : n;
    const double width = static_cast<double>(c.get_int("surrogate.width"));
    const double layers = static_cast<double>(c.get_int("surrogate.layers"));
    // Five float fields and two features per cell; the model's activations
    // (and their copies inside LibTorch) for one inference batch; the buffers.
    return n * 28.0 + batch * width * (layers + 1) * 4.0 * 2.0 +
           12.0 * (static_cast<double>(c.get_int("retrain.buffer")) + static_cast<double>(c.get_int("pretrain.samples")) +
                   static_cast<double>(c.get_int("retrain.samples")) +
                   static_cast<double>(c.get_int("retrain.space_samples"))) +
           (c.get_bool("fidelity.shadow") ? n * 28.0 : 0.0);
  };
  info.sizes = {
      {"tiny",
       {{"grid.nx", "32"}, {"grid.ny", "32"}, {"closure.substeps", "16"}, {"pretrain.samples", "2048"},
        {"pretrain.epochs", "200"}, {"check.every", "5"}, {"check.samples", "256"}, {"retrain.samples", "1024"},
        {"retrain.epochs", "30"}, {"retrain.buffer", "4096"}, {"retrain.space_samples", "1024"},
        {"fidelity.shadow", "true"}, {"drift.step", "10"}, {"run.min_iterations", "30"}, {"run.min_time_s", "0.1"},
        {"run.repetitions", "2"}, {"surrogate.width", "16"}}},
      {"small", {{"run.min_iterations", "120"}, {"run.min_time_s", "4"}}},
      {"medium",
       {{"grid.nx", "512"}, {"grid.ny", "512"}, {"check.samples", "2048"}, {"retrain.samples", "16384"},
        {"drift.step", "100"}, {"run.min_iterations", "300"}, {"run.min_time_s", "30"}, {"surrogate.width", "64"}}},
      {"large",
       {{"grid.nx", "2048"}, {"grid.ny", "2048"}, {"check.samples", "8192"}, {"retrain.samples", "65536"},
        {"drift.step", "200"}, {"run.min_iterations", "500"}, {"run.min_time_s", "60"}, {"surrogate.width", "64"}}},
  };
  info.create = [] { return std::make_unique<digital_replica::DigitalReplica>(); };
  registry.add(std::move(info));
}

}  // namespace motifbench
