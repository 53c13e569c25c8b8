#include "core/cpu_idle.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>

namespace motifbench::detail {

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

CpuIdle read_cpu_idle(const std::string& sys_root) {
  CpuIdle idle;
  const std::string cpu = sys_root + "/devices/system/cpu/";
  idle.driver = read_first_line(cpu + "cpuidle/current_driver");
  if (idle.driver.empty()) idle.driver = "none";
  for (int n = 0;; ++n) {
    const std::string dir = cpu + "cpu0/cpuidle/state" + std::to_string(n) + "/";
    IdleState s;
    s.name = read_first_line(dir + "name");
    if (s.name.empty()) break;
    const std::string latency = read_first_line(dir + "latency");
    char* end = nullptr;
    const long v = std::strtol(latency.c_str(), &end, 10);
    if (!latency.empty() && end != nullptr && *end == '\0' && v >= 0) s.exit_latency_us = v;
    s.disabled = read_first_line(dir + "disable") == "1";
    idle.states.push_back(std::move(s));
  }
  return idle;
}

std::string limit_effect(const CpuIdle& idle, long limit_us) {
  if (idle.driver == "none")
    return "this machine has no cpuidle driver, so its idle CPUs halt (or do what the kernel's idle= option says) "
           "whatever the limit";
  std::string deepest;
  long deepest_us = -1;
  for (const auto& s : idle.states) {
    if (s.disabled) continue;
    if (s.exit_latency_us < 0 || s.exit_latency_us > limit_us) return "";  // an unknown latency may be ruled out
    if (s.exit_latency_us >= deepest_us) {
      deepest = s.name;
      deepest_us = s.exit_latency_us;
    }
  }
  if (deepest_us < 0) return "the cpuidle driver " + idle.driver + " lists no enabled idle state";
  return "every enabled idle state of the cpuidle driver " + idle.driver + " already wakes within it (the deepest, " +
         deepest + ", in " + std::to_string(deepest_us) + " us)";
}

void record_wakeup_limit(CpuIdle& idle, const WakeupLimitState& held) {
  idle.wakeup_limit = held;
  if (!held.held) return;
  const std::string why = limit_effect(idle, held.requested_us);
  idle.wakeup_limit.effective = why.empty();
  if (!why.empty()) idle.wakeup_limit.detail += "; no effect: " + why;
}

WakeupLatencyLimit::WakeupLatencyLimit(long limit_us, const std::string& device) {
  m_state.requested_us = limit_us < 0 ? -1 : limit_us;
  if (limit_us < 0) return;  // "not requested"
  std::string& detail = m_state.detail;
  if (limit_us > std::numeric_limits<std::int32_t>::max()) {
    detail = "not held: " + std::to_string(limit_us) + " us does not fit the kernel's 32-bit limit";
    return;
  }
  const int fd = ::open(device.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    detail = "not held: cannot open " + device + ": " + std::strerror(e) +
               (e == EACCES || e == EPERM ? " (it needs root, or write access to the file)" : "");
    return;
  }
  const std::int32_t value = static_cast<std::int32_t>(limit_us);
  if (::write(fd, &value, sizeof value) != static_cast<ssize_t>(sizeof value)) {
    detail = "not held: writing " + device + " failed: " + std::strerror(errno);
    ::close(fd);
    return;
  }
  m_fd = fd;
  m_state.held = true;
  detail = "held at " + std::to_string(limit_us) + " us through " + device;
  // The device reads back the limit in force: the smallest of every holder's.
  std::int32_t now = 0;
  if (::pread(fd, &now, sizeof now, 0) == static_cast<ssize_t>(sizeof now))
    detail += " (the kernel's limit: " + std::to_string(now) + " us)";
}

WakeupLatencyLimit::~WakeupLatencyLimit() {
  if (m_fd >= 0) ::close(m_fd);
}

}  // namespace motifbench::detail
