// Where a rank ran: the CPUs it may run on (its affinity, as a launcher's
// binding or taskset leaves it) and the CPU each measured step ended on.
// On a machine whose cores do not run alike (a VM's vCPUs that share their
// physical cores with other tenants, cores of different kinds or sockets)
// the same code gives different figures on different CPUs, so a result says
// where its steps ran.
#pragma once

#include <sched.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace motifbench::detail {

/// The CPUs this thread may run on, ascending (empty if the kernel does not say).
inline std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

/// Ascending CPU numbers as the kernel's cpulist format writes them: "0-3,6,8-9".
inline std::string cpu_list_text(std::vector<int> cpus) {
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  std::string out;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += '-' + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

/// The kernel's cpulist format ("0-3,6") to ascending CPU numbers; false, with
/// `why`, for anything else (an empty list, a reversed range, a CPU past
/// CPU_SETSIZE).
inline bool parse_cpu_list(const std::string& text, std::vector<int>* cpus, std::string* why) {
  cpus->clear();
  if (!text.empty() && text.back() == ',') {
    *why = "'" + text + "' ends with ',' (the kernel's cpulist format: 0-3,6)";
    return false;
  }
  std::stringstream in(text);
  std::string part;
  auto number = [](const std::string& t, int* v) {
    if (t.empty() || t.size() > 6 || t.find_first_not_of("0123456789") != std::string::npos) return false;
    *v = std::stoi(t);
    return *v < CPU_SETSIZE;
  };
  while (std::getline(in, part, ',')) {
    const auto dash = part.find('-');
    int a = 0, b = 0;
    if (!number(part.substr(0, dash), &a) || (dash != std::string::npos && !number(part.substr(dash + 1), &b)) ||
        (dash != std::string::npos && b < a)) {
      *why = "'" + part + "' is not a CPU number or a range a-b (the kernel's cpulist format: 0-3,6)";
      return false;
    }
    for (int c = a; c <= (dash == std::string::npos ? a : b); ++c) cpus->push_back(c);
  }
  if (cpus->empty()) {
    *why = "no CPU listed";
    return false;
  }
  std::sort(cpus->begin(), cpus->end());
  cpus->erase(std::unique(cpus->begin(), cpus->end()), cpus->end());
  return true;
}

/// The CPUs a process here may be given (what coupling.server_cpus may name):
/// its cpuset cgroup's (v2 cpuset.cpus.effective, v1 cpuset.effective_cpus),
/// else the machine's online CPUs, else this thread's own. A rank's binding
/// (srun --cpu-bind, taskset) may be narrower.
inline std::vector<int> usable_cpus() {
  auto read_list = [](const std::string& path, std::vector<int>* out) {
    std::ifstream in(path);
    std::string text, why;
    return std::getline(in, text) && parse_cpu_list(text, out, &why);
  };
  std::vector<int> cpus;
  std::ifstream groups("/proc/self/cgroup");
  std::string line;
  while (std::getline(groups, line)) {
    const auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (controllers.empty() && read_list("/sys/fs/cgroup" + path + "/cpuset.cpus.effective", &cpus)) return cpus;
    if (controllers == "cpuset" && read_list("/sys/fs/cgroup/cpuset" + path + "/cpuset.effective_cpus", &cpus))
      return cpus;
  }
  if (read_list("/sys/devices/system/cpu/online", &cpus)) return cpus;
  return allowed_cpus();
}

/// Steps counted by the CPU they ended on.
class StepCpus {
 public:
  void add(int cpu) {
    if (cpu < 0) {
      ++m_unknown;
      return;
    }
    const auto c = static_cast<std::size_t>(cpu);
    if (c >= m_counts.size()) m_counts.resize(c + 1, 0);
    ++m_counts[c];
  }
  /// (cpu, steps), most steps first.
  std::vector<std::pair<int, std::int64_t>> counts() const {
    std::vector<std::pair<int, std::int64_t>> out;
    for (std::size_t c = 0; c < m_counts.size(); ++c)
      if (m_counts[c] > 0) out.emplace_back(static_cast<int>(c), m_counts[c]);
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    return out;
  }
  std::int64_t unknown() const { return m_unknown; }
  /// Adds what `after` counted beyond `before`: two snapshots of one count.
  void add_since(const StepCpus& before, const StepCpus& after) {
    for (std::size_t c = 0; c < after.m_counts.size(); ++c) {
      const std::int64_t n = after.m_counts[c] - (c < before.m_counts.size() ? before.m_counts[c] : 0);
      if (n <= 0) continue;
      if (c >= m_counts.size()) m_counts.resize(c + 1, 0);
      m_counts[c] += n;
    }
    m_unknown += std::max<std::int64_t>(0, after.m_unknown - before.m_unknown);
  }

 private:
  std::vector<std::int64_t> m_counts;
  std::int64_t m_unknown = 0;
};

/// The CPUs on which the servers of this rank's host computed its remote
/// calls, one count per answer that named its CPU. Any client thread adds.
class ServerCpus {
 public:
  void add(int cpu) {
    std::lock_guard<std::mutex> l(m_mutex);
    m_cpus.add(cpu);
  }
  StepCpus snapshot() const {
    std::lock_guard<std::mutex> l(m_mutex);
    return m_cpus;
  }

 private:
  mutable std::mutex m_mutex;
  StepCpus m_cpus;
};

/// One rank's placement, as the result records it.
struct RankCpus {
  std::string host;
  std::string allowed;  ///< cpu_list_text of its affinity
  int allowed_count = 0;
  std::vector<std::pair<int, std::int64_t>> step_cpus;  ///< (cpu, measured steps), most first
  /// (cpu, calls): where the servers on its host computed its remote calls
  /// during the measured steps, most first (empty: none there, or tight).
  std::vector<std::pair<int, std::int64_t>> server_cpus;
};

/// "cpu:count,cpu:count", most first.
inline std::string cpu_counts_text(const StepCpus& counts) {
  std::string t;
  for (const auto& [cpu, n] : counts.counts())
    t += (t.empty() ? "" : ",") + std::to_string(cpu) + ':' + std::to_string(n);
  return t;
}

/// A rank's placement as one line of text for a gather, and back.
inline std::string placement_text(const std::string& host, const std::vector<int>& allowed, const StepCpus& steps,
                                  const StepCpus& servers = {}) {
  return host + '\t' + cpu_list_text(allowed) + '\t' + std::to_string(allowed.size()) + '\t' +
         cpu_counts_text(steps) + '\t' + cpu_counts_text(servers);
}

inline RankCpus parse_placement_text(const std::string& text) {
  RankCpus r;
  std::istringstream in(text);
  std::string count, steps;
  if (!std::getline(in, r.host, '\t') || !std::getline(in, r.allowed, '\t') || !std::getline(in, count, '\t'))
    return r;
  r.allowed_count = std::stoi(count);
  auto counts = [](const std::string& list) {
    std::vector<std::pair<int, std::int64_t>> out;
    std::istringstream items(list);
    std::string item;
    while (std::getline(items, item, ','))  // cpu:count
      out.emplace_back(std::stoi(item), std::stoll(item.substr(item.find(':') + 1)));
    return out;
  };
  std::string servers;
  std::getline(in, steps, '\t');
  std::getline(in, servers);
  r.step_cpus = counts(steps);
  r.server_cpus = counts(servers);
  return r;
}

}  // namespace motifbench::detail
