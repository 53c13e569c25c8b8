// Idle CPUs and how fast they wake. A thread woken on an idle CPU (a server
// that a request reaches, a client that its answer reaches) resumes only once
// that CPU has left its idle state: a few µs on bare metal from a shallow
// C-state, tens to a hundred and more on a VM whose halted vCPU the hypervisor
// has to schedule again. Results record the idle driver and states, and a run
// can hold a limit on that latency (run.cpu_wakeup_latency_us).
#pragma once

#include <string>
#include <vector>

namespace motifbench::detail {

struct IdleState {
  std::string name;
  long exit_latency_us = -1;  // -1: unreadable
  bool disabled = false;
};

// What a run asked of its idle CPUs (run.cpu_wakeup_latency_us) and got.
struct WakeupLimitState {
  long requested_us = -1;  // -1: nothing asked
  bool held = false;
  // "not requested", "held at N us through <device> (the kernel's limit: M us)",
  // or why it is not held.
  std::string detail = "not requested";
  // Held and able to keep a CPU out of some idle state (limit_effect());
  // a held limit that is not says why in `detail`.
  bool effective = false;
};

struct CpuIdle {
  std::string driver;             // cpuidle's current driver; "none" without cpuidle
  std::vector<IdleState> states;  // cpu0's, shallowest first
  WakeupLimitState wakeup_limit;  // set by whoever holds the limit
};

// A file's first line, empty when it cannot be read.
std::string read_first_line(const std::string& path);

// From <sys_root>/devices/system/cpu/cpuidle/current_driver and
// <sys_root>/devices/system/cpu/cpu0/cpuidle/state<N>/{name,latency,disable}.
CpuIdle read_cpu_idle(const std::string& sys_root = "/sys");

// Why a limit of `limit_us` held on this machine changes nothing, or empty
// when it keeps the CPUs out of at least one idle state. The kernel reads the
// limit only through a cpuidle governor: without a cpuidle driver an idle CPU
// does what its idle loop does (a halt on x86 VMs), whatever the limit; with
// one, only the enabled states that take longer than the limit to leave are
// ruled out.
std::string limit_effect(const CpuIdle& idle, long limit_us);

// idle.wakeup_limit = held, with `effective` and the detail from limit_effect().
void record_wakeup_limit(CpuIdle& idle, const WakeupLimitState& held);

// While alive, asks the kernel to keep every CPU out of the idle states that
// take longer than `limit_us` to leave (Linux PM QoS: a 32-bit value written
// to /dev/cpu_dma_latency, held while the file stays open; the kernel drops it
// when the file is closed, the process's end included). 0 leaves only
// polling idle, so an idle CPU answers a wake-up at once, for its power. The
// limit is the whole machine's while held. limit_us < 0 asks nothing.
class WakeupLatencyLimit {
 public:
  explicit WakeupLatencyLimit(long limit_us, const std::string& device = "/dev/cpu_dma_latency");
  ~WakeupLatencyLimit();
  WakeupLatencyLimit(const WakeupLatencyLimit&) = delete;
  WakeupLatencyLimit& operator=(const WakeupLatencyLimit&) = delete;

  const WakeupLimitState& state() const { return m_state; }

 private:
  int m_fd = -1;
  WakeupLimitState m_state;
};

}  // namespace motifbench::detail
