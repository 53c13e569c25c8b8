#include "members.hpp"

#include <stdexcept>
#include <utility>

namespace motifbench::dynamic_orchestration {
MemberProcesses::MemberProcesses(const Landscape& land, int members, int particles, int bins, std::uint64_t seed,
                                 double timeout_s)
    : m_land(land), m_particles(particles), m_bins(bins), m_seed(seed), m_timeout_s(timeout_s),
      m_program(program_beside_motifbench(kMemberProgram)), m_procs(static_cast<std::size_t>(members)),
      m_reply_bins(static_cast<std::size_t>(bins) * bins) {}

void MemberProcesses::launch(int slot, const float* positions) {
  auto& proc = m_procs.at(static_cast<std::size_t>(slot));
  proc.reset();  // a respawn replaces the member's process
  proc = std::make_unique<WorkerProcess>(m_program, "member " + std::to_string(slot), m_timeout_s);
  MemberStart start{m_land, m_particles, m_bins, m_seed, static_cast<std::uint64_t>(slot) * m_particles};
  proc->send(&start, sizeof start);
  proc->send(positions, sizeof(float) * 2 * static_cast<std::size_t>(m_particles));
  char ready = 0;
  proc->receive(&ready, 1);
  if (ready != 'R') throw std::runtime_error("member " + proc->describe() + " sent a malformed ready message");
}

void MemberProcesses::terminate(int slot) {
  // The slot is empty afterwards whatever end() says.
  auto proc = std::move(m_procs.at(static_cast<std::size_t>(slot)));
  if (proc) proc->end();  // throws when the member had died on its own
}

void MemberProcesses::end_all() {
  for (std::size_t k = 0; k < m_procs.size(); ++k) terminate(static_cast<int>(k));
}

void MemberProcesses::step(std::uint64_t step0, int substeps, float* positions, int* visited) {
  const MemberStep cmd{step0, substeps};
  for (auto& p : m_procs) {
    if (!p) throw std::runtime_error("an ensemble member has no process");
    p->send(&cmd, sizeof cmd);
  }
  // Every member steps now, each in its own process; collect in slot order.
  const std::size_t per = 2 * static_cast<std::size_t>(m_particles);
  for (std::size_t k = 0; k < m_procs.size(); ++k) {
    m_procs[k]->receive(positions + k * per, per * sizeof(float));
    m_procs[k]->receive(m_reply_bins.data(), m_reply_bins.size());
    for (std::size_t b = 0; b < m_reply_bins.size(); ++b)
      if (m_reply_bins[b]) visited[b] = 1;
  }
}

}  // namespace motifbench::dynamic_orchestration
