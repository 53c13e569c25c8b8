// Ensemble members as processes of their own (ensemble.members_as=processes):
// member k is the program motifbench-do-member (member_main.cpp), which holds
// particles [k P, (k+1) P) of the ensemble. Terminating a member ends its
// process; spawning one starts a new process and sends it the state it starts
// from. The random numbers depend on the ensemble-wide particle index, so the
// science is bit-identical to the in-process ensemble (members_as=array).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels.hpp"
#include "motifbench/worker_process.hpp"

namespace motifbench::dynamic_orchestration {

// The messages, parent to member: Start once, then Step after Step until the
// parent closes the socket. Member to parent: one byte when ready; after each
// Step, its positions (P x 2 floats) and its visited bins (bins^2 bytes).
struct MemberStart {
  Landscape land;
  std::int32_t particles = 0, bins = 0;
  std::uint64_t seed = 0, index0 = 0;
};
struct MemberStep {
  std::uint64_t step0 = 0;
  std::int64_t substeps = 0;
};


/// The member program, installed beside motifbench.
constexpr const char* kMemberProgram = "motifbench-do-member";

class MemberProcesses {
 public:
  MemberProcesses(const Landscape& land, int members, int particles, int bins, std::uint64_t seed, double timeout_s);
  /// Starts member `slot` (ending the process that held it, if any) from
  /// `positions` (particles x 2 floats) and waits until it is ready.
  void launch(int slot, const float* positions);
  /// Ends member `slot`'s process and reaps it. Throws std::runtime_error
  /// when the process had died before (killed, crashed): a failed member.
  void terminate(int slot);
  /// terminate() for every member: the end of a repetition.
  void end_all();
  /// Advances every member `substeps` steps from `step0`, all at once. Writes
  /// the ensemble's positions (members x particles x 2 floats) and marks in
  /// `visited` (bins x bins) each bin a member visited in these steps.
  void step(std::uint64_t step0, int substeps, float* positions, int* visited);

 private:
  Landscape m_land;
  int m_particles, m_bins;
  std::uint64_t m_seed;
  double m_timeout_s;
  std::string m_program;
  std::vector<std::unique_ptr<WorkerProcess>> m_procs;
  std::vector<std::uint8_t> m_reply_bins;
};

}  // namespace motifbench::dynamic_orchestration
