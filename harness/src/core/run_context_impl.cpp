#include "core/run_context_impl.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <Kokkos_Core.hpp>

#include "motifbench/surrogates/local.hpp"

namespace motifbench {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace detail {

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
  Kokkos::Profiling::pushRegion(p.name);
  if (p.depth++ == 0) p.started_ns = now_ns();
  ++m_events;
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
  }
  Kokkos::Profiling::popRegion();
  ++m_events;
}

void RunContextImpl::declare_work(PhaseId id, const Work& w) {
  auto& acc = m_phases.at(static_cast<std::size_t>(id)).work;
  acc.items += w.items;
  acc.bytes += w.bytes;
  acc.flops += w.flops;
  acc.bytes_sent += w.bytes_sent;
  ++m_events;
}

void RunContextImpl::record_latency_ns(const std::string& channel, double ns) {
  m_latency[channel].push_back(ns);
  ++m_events;
}

std::unique_ptr<SurrogateClient> RunContextImpl::make_surrogate(const SurrogateSpec& spec) {
  switch (m_coupling) {
    case Coupling::None: return nullptr;
    case Coupling::Tight: return surrogates::make_local_client(spec);
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

void RunContextImpl::reset_measurements() {
  for (auto& p : m_phases) {
    p.total_ns = 0;
    p.count = 0;
    p.work = Work{};
  }
  m_latency.clear();
  m_events = 0;
}

std::vector<PhaseTotals> RunContextImpl::phase_totals() const {
  std::vector<PhaseTotals> out;
  for (const auto& p : m_phases) out.push_back(PhaseTotals{p.name, p.total_ns * 1e-9, p.count, p.work});
  return out;
}

}  // namespace detail
}  // namespace motifbench
