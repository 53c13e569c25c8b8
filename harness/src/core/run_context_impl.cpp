#include "core/run_context_impl.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include <Kokkos_Core.hpp>

#include "core/mpi_session.hpp"
#include "core/nccl_reducer.hpp"
#include "motifbench/surrogates/local.hpp"

namespace motifbench {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace detail {

std::string model_device(const Config& config) {
  std::string why;
  const std::string device =
      surrogates::resolve_device(config.get_string("coupling.device"), node_layout().local_rank, &why);
  if (device.empty()) throw std::runtime_error("coupling.device: " + why);
  return device;
}

std::string reducer_refusal(const Config& config, Coupling coupling) {
  if (config.get_string("coupling.reducer") != "nccl") return "";
  const std::string device = coupling == Coupling::Tight ? model_device(config) : std::string("cpu");
  if (device.rfind("cuda", 0) == 0) return "";
  return "coupling.reducer=nccl sums gradients in GPU memory, but the models of this run are on '" + device +
         "' (NCCL needs --coupling=tight with coupling.device=cuda on a GPU); valid here: auto, mpi";
}

RunContextImpl::RunContextImpl(const Config& config, Coupling coupling, std::uint64_t seed, int rank, int nranks,
                               CouplingEnv* env)
    : m_config(config), m_coupling(coupling), m_seed(seed), m_rank(rank), m_nranks(nranks), m_env(env) {}

StagingStore& RunContextImpl::staging() {
  if (m_env == nullptr || !m_env->store) {
    std::fprintf(stderr, "motifbench: internal error: no staging store in this context\n");
    std::abort();
  }
  return *m_env->store;
}

PhaseId RunContextImpl::phase(const std::string& name) {
  for (std::size_t i = 0; i < m_phases.size(); ++i)
    if (m_phases[i].name == name) return static_cast<PhaseId>(i);
  m_phases.push_back(PhaseAcc{name});
  return static_cast<PhaseId>(m_phases.size() - 1);
}

void RunContextImpl::phase_begin(PhaseId id) {
  auto& p = m_phases.at(static_cast<std::size_t>(id));
  // Fence first so the phase does not absorb work queued by the previous one.
  Kokkos::fence();
  if (m_profile_regions) Kokkos::Profiling::pushRegion(p.name);
  if (p.depth++ == 0) {
    if (m_counters != nullptr) {
      const auto n = m_counters->names().size();
      p.counters_started.resize(n);
      p.counters_total.resize(n, 0);
      m_counters->read(p.counters_started.data());
    }
    p.started_ns = now_ns();
  }
  count_event();
}

void RunContextImpl::phase_end(PhaseId id) {
  auto& p = m_phases.at(static_cast<std::size_t>(id));
  Kokkos::fence();
  if (p.depth <= 0) {
    std::fprintf(stderr, "motifbench: internal error: phase '%s' ended more often than begun\n", p.name.c_str());
    std::abort();
  }
  if (--p.depth == 0) {
    p.total_ns += now_ns() - p.started_ns;
    ++p.count;
    if (m_counters != nullptr) {
      m_counter_scratch.resize(m_counters->names().size());
      m_counters->read(m_counter_scratch.data());
      for (std::size_t i = 0; i < m_counter_scratch.size(); ++i)
        p.counters_total[i] += m_counter_scratch[i] - p.counters_started[i];
    }
  }
  if (m_profile_regions) Kokkos::Profiling::popRegion();
  count_event();
}

void RunContextImpl::declare_work(PhaseId id, const Work& w) {
  auto& acc = m_phases.at(static_cast<std::size_t>(id)).work;
  acc.items += w.items;
  acc.bytes += w.bytes;
  acc.flops += w.flops;
  acc.bytes_sent += w.bytes_sent;
  count_event();
}

void RunContextImpl::record_latency_ns(const std::string& channel, double ns) {
  {
    std::lock_guard<std::mutex> lock(m_latency_mutex);
    m_latency[channel].push_back(ns);
  }
  count_event();
}

std::unique_ptr<SurrogateClient> RunContextImpl::make_surrogate(const SurrogateSpec& spec) {
  switch (m_coupling) {
    case Coupling::None: return nullptr;
    case Coupling::Tight:
      return surrogates::make_local_client(spec, model_device(m_config), m_config.get_string("coupling.kernels"));
    case Coupling::SemiTight:
    case Coupling::Loose:
      if (m_env == nullptr) break;
      return make_grpc_client(spec, m_env->remote,
                              [this](const std::string& channel, double ns) { record_latency_ns(channel, ns); });
  }
  // The CLI only accepts the modes a motif registered, so this is a bug.
  std::fprintf(stderr, "motifbench: internal error: coupling '%s' has no client factory in this build\n",
               to_string(m_coupling));
  std::abort();
}

namespace {

// Gradient averaging over MPI_COMM_WORLD. A barrier first separates waiting
// for the slowest rank (straggler wait) from the allreduce itself.
class MpiReducer final : public GradientReducer {
 public:
  explicit MpiReducer(RunContextImpl& ctx) : m_ctx(ctx), m_size(::motifbench::detail::world_size()) {}
  void allreduce_sum(float* data, std::size_t n) override {
    // One rank (MPI not initialised) is a sum over itself: timed as nothing.
    const auto t0 = now_ns();
    if (m_size > 1) world_barrier();
    const auto t1 = now_ns();
    if (m_size > 1) world_sum(data, n);
    const auto t2 = now_ns();
    m_ctx.record_latency_ns("straggler_wait", static_cast<double>(t1 - t0));
    m_ctx.record_latency_ns("allreduce", static_cast<double>(t2 - t1));
    m_wait_s += (t1 - t0) * 1e-9;
    m_allreduce_s += (t2 - t1) * 1e-9;
  }
  int world_size() const override { return m_size; }
  double allreduce_s() const override { return m_allreduce_s; }
  double straggler_wait_s() const override { return m_wait_s; }

 private:
  double m_wait_s = 0, m_allreduce_s = 0;
  RunContextImpl& m_ctx;
  int m_size;
};

}  // namespace

void RunContextImpl::allreduce_sum(double* values, std::size_t n) {
  if (m_nranks > 1) world_sum(values, n);
}

GradientReducer* RunContextImpl::gradient_reducer() {
  if (m_reducer) return m_reducer.get();
  // NCCL where the gradients live on a GPU and there are ranks to sum over.
  const std::string kind = m_config.get_string("coupling.reducer");
  const std::string device = m_coupling == Coupling::Tight ? model_device(m_config) : std::string("cpu");
  const bool on_gpu = device.rfind("cuda", 0) == 0;
  if (const std::string why = reducer_refusal(m_config, m_coupling); !why.empty()) throw std::runtime_error(why);
  if (kind == "nccl" || (kind == "auto" && on_gpu && m_nranks > 1)) {
    auto sink = [this](const char* channel, double ns) { record_latency_ns(channel, ns); };
    try {
      m_reducer = make_nccl_reducer(m_config.get_string("coupling.nccl_library"), std::stoi(device.substr(5)), sink);
    } catch (const std::runtime_error& e) {
      if (kind == "nccl") throw std::runtime_error(std::string("coupling.reducer=nccl: ") + e.what());
      std::fprintf(stderr, "motifbench: warning: NCCL unavailable (%s); gradients are summed over MPI\n", e.what());
    }
  }
  if (!m_reducer) m_reducer = std::make_unique<MpiReducer>(*this);
  return m_reducer.get();
}

void RunContextImpl::reset_measurements() {
  for (auto& p : m_phases) {
    p.total_ns = 0;
    p.count = 0;
    p.work = Work{};
    std::fill(p.counters_total.begin(), p.counters_total.end(), 0);
  }
  {
    std::lock_guard<std::mutex> lock(m_latency_mutex);
    m_latency.clear();
  }
  m_events.store(0, std::memory_order_relaxed);
}

std::vector<PhaseTotals> RunContextImpl::phase_totals() const {
  std::vector<PhaseTotals> out;
  for (const auto& p : m_phases)
    out.push_back(PhaseTotals{p.name, p.total_ns * 1e-9, p.count, p.work,
                              std::vector<double>(p.counters_total.begin(), p.counters_total.end())});
  return out;
}

}  // namespace detail
}  // namespace motifbench
