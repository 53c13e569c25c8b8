#include "motifbench/energy.hpp"

#include <dlfcn.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace motifbench {
namespace fs = std::filesystem;

const char* to_string(EnergyMethod m) {
  switch (m) {
    case EnergyMethod::Measured: return "measured";
    case EnergyMethod::Estimated: return "estimated";
    case EnergyMethod::Unavailable: return "unavailable";
  }
  return "?";
}

namespace {

bool read_u64(const fs::path& p, std::uint64_t& out) {
  std::ifstream in(p);
  if (!in) return false;
  unsigned long long v = 0;
  if (!(in >> v)) return false;
  out = v;
  return true;
}

std::string read_line(const fs::path& p) {
  std::ifstream in(p);
  std::string s;
  std::getline(in, s);
  return s;
}

class UnavailableMeter final : public EnergyMeter {
 public:
  explicit UnavailableMeter(std::string reason) : m_reason(std::move(reason)) {}
  void start() override {}
  EnergyReading stop() override {
    EnergyReading r;
    r.source = "none";
    r.method = EnergyMethod::Unavailable;
    r.detail = m_reason;
    return r;
  }

 private:
  std::string m_reason;
};

// One energy_uj counter with wrap-around handling. poll() accumulates deltas so
// that a counter that wraps more than once during a long run is still right,
// provided poll() runs at least once per wrap period.
struct PowercapZone {
  std::string name;
  bool summed = true;  // false for psys, which overlaps the packages
  fs::path energy_file;
  std::uint64_t max_range_uj = 0;
  std::uint64_t last_uj = 0;
  double accumulated_uj = 0;

  void reset() {
    read_u64(energy_file, last_uj);
    accumulated_uj = 0;
  }
  void sample() {
    std::uint64_t now = 0;
    if (!read_u64(energy_file, now)) return;
    if (now >= last_uj)
      accumulated_uj += static_cast<double>(now - last_uj);
    else  // wrapped: the counter went past max_energy_range_uj back to 0
      accumulated_uj += static_cast<double>(max_range_uj - last_uj + now);
    last_uj = now;
  }
};

class PowercapMeter final : public EnergyMeter {
 public:
  explicit PowercapMeter(std::vector<PowercapZone> zones, std::string root)
      : m_zones(std::move(zones)), m_root(std::move(root)) {}
  void start() override {
    for (auto& z : m_zones) z.reset();
  }
  void poll() override {
    for (auto& z : m_zones) z.sample();
  }
  EnergyReading stop() override {
    EnergyReading r;
    r.source = "powercap";
    r.method = EnergyMethod::Measured;
    double total = 0;
    std::size_t summed = 0;
    std::string left_out;
    for (auto& z : m_zones) {
      z.sample();
      r.domains_j[z.name] = z.accumulated_uj * 1e-6;
      if (z.summed) {
        total += z.accumulated_uj * 1e-6;
        ++summed;
      } else {
        left_out += " " + z.name;
      }
    }
    r.energy_j = total;
    r.scope = "node";
    r.detail = "sum of " + std::to_string(summed) + " powercap zone(s) (packages and DRAM) under " + m_root;
    if (!left_out.empty()) r.detail += "; reported, not added (overlaps the packages):" + left_out;
    return r;
  }

 private:
  std::vector<PowercapZone> m_zones;
  std::string m_root;
};

// /sys/cray/pm_counters/energy holds "<joules> J"; it is a node-level counter.
class CrayMeter final : public EnergyMeter {
 public:
  explicit CrayMeter(fs::path file) : m_file(std::move(file)) {}
  void start() override { m_start = read(); }
  EnergyReading stop() override {
    EnergyReading r;
    r.source = "cray_pm_counters";
    r.method = EnergyMethod::Measured;
    r.energy_j = static_cast<double>(read() - m_start);
    r.scope = "node";
    r.detail = "node energy counter " + m_file.string();
    return r;
  }

 private:
  std::uint64_t read() const {
    std::uint64_t v = 0;
    read_u64(m_file, v);
    return v;
  }
  fs::path m_file;
  std::uint64_t m_start = 0;
};

class EstimatedMeter final : public EnergyMeter {
 public:
  EstimatedMeter(double w_core, double w_idle, std::string why) : m_w_core(w_core), m_w_idle(w_idle), m_why(std::move(why)) {}
  void start() override {
    m_cpu0 = self_cpu_s();
    m_t0 = std::chrono::steady_clock::now();
  }
  // This process only; the runner widens it with estimate_energy() to every
  // component of the run (all ranks, servers, Redis).
  EnergyReading stop() override {
    ComponentCpu self{"this process", static_cast<long>(getpid()), self_cpu_s() - m_cpu0, true, "getrusage"};
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_t0).count();
    return estimate_energy({self}, wall, m_w_core, m_w_idle, m_why);
  }

 private:
  double m_w_core, m_w_idle;
  std::string m_why;  // why no measured source was used, when auto fell back
  double m_cpu0 = 0;
  std::chrono::steady_clock::time_point m_t0;
};

// NVML through dlopen: the handful of entry points needed, by their C names.
class NvmlMeter final : public EnergyMeter {
 public:
  using InitFn = int (*)();
  using CountFn = int (*)(unsigned int*);
  using HandleFn = int (*)(unsigned int, void**);
  using EnergyFn = int (*)(void*, unsigned long long*);
  using NameFn = int (*)(void*, char*, unsigned int);

  NvmlMeter(void* lib, std::string library, EnergyFn energy, InitFn shutdown, std::vector<void*> devices,
            std::vector<std::string> names)
      : m_lib(lib), m_library(std::move(library)), m_energy(energy), m_shutdown(shutdown),
        m_devices(std::move(devices)), m_names(std::move(names)), m_start(m_devices.size(), 0) {}
  ~NvmlMeter() override {
    if (m_shutdown) m_shutdown();
    dlclose(m_lib);
  }
  void start() override {
    for (std::size_t i = 0; i < m_devices.size(); ++i) m_energy(m_devices[i], &m_start[i]);
  }
  EnergyReading stop() override {
    EnergyReading r;
    r.source = "nvml";
    r.method = EnergyMethod::Measured;
    r.scope = "node";
    double total = 0;
    for (std::size_t i = 0; i < m_devices.size(); ++i) {
      unsigned long long now = 0;
      if (m_energy(m_devices[i], &now) != 0) {
        r.method = EnergyMethod::Unavailable;
        r.energy_j.reset();
        r.detail = "nvmlDeviceGetTotalEnergyConsumption failed for GPU " + std::to_string(i);
        return r;
      }
      const double j = static_cast<double>(now - m_start[i]) * 1e-3;  // mJ
      r.domains_j["gpu" + std::to_string(i) + " " + m_names[i]] = j;
      total += j;
    }
    r.energy_j = total;
    r.detail = "nvmlDeviceGetTotalEnergyConsumption over " + std::to_string(m_devices.size()) + " GPU(s) via " +
               m_library;
    return r;
  }

 const std::vector<std::string>& names() const { return m_names; }

 private:
  void* m_lib;
  std::string m_library;
  EnergyFn m_energy;
  InitFn m_shutdown;
  std::vector<void*> m_devices;
  std::vector<std::string> m_names;
  std::vector<unsigned long long> m_start;
};

}  // namespace

std::optional<double> proc_cpu_s(long pid, const std::string& proc_root) {
  std::ifstream in(proc_root + "/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!in || !std::getline(in, text)) return std::nullopt;
  // The command name (field 2) is in parentheses and may hold spaces: parse
  // after the last ')'. utime and stime are fields 14 and 15.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(text.substr(close + 1));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15; ++i) {
    if (!(rest >> field)) return std::nullopt;
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  const long ticks = sysconf(_SC_CLK_TCK);
  return static_cast<double>(utime + stime) / static_cast<double>(ticks > 0 ? ticks : 100);
}

double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

double reaped_children_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

EnergyReading estimate_energy(const std::vector<ComponentCpu>& components, double wall_s, double watts_per_core,
                              double idle_watts, const std::string& fallback_reason) {
  EnergyReading r;
  r.source = "estimated_cpu_time";
  r.method = EnergyMethod::Estimated;
  r.fallback_reason = fallback_reason;
  double cpu = 0;
  std::string hidden;
  for (const auto& c : components) {
    if (!c.visible) {
      hidden += (hidden.empty() ? "" : ", ") + c.name + (c.where.empty() ? "" : " at " + c.where);
      continue;
    }
    cpu += c.cpu_s;
    r.domains_j[c.name] = c.cpu_s * watts_per_core;
  }
  if (idle_watts > 0) r.domains_j["idle"] = wall_s * idle_watts;
  r.energy_j = cpu * watts_per_core + wall_s * idle_watts;
  r.scope = hidden.empty() ? "processes" : "partial: not visible from this run: " + hidden;
  std::ostringstream os;
  os << "estimate, not a measurement: " << cpu << " CPU-s over " << components.size() << " component(s) x "
     << watts_per_core << " W/core + " << wall_s << " s x " << idle_watts << " W idle";
  if (!fallback_reason.empty()) os << " (" << fallback_reason << ")";
  r.detail = os.str();
  return r;
}

std::unique_ptr<EnergyMeter> make_nvml_meter(const std::string& library, std::string* why_not) {
  void* lib = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    if (why_not) *why_not = "cannot load " + library + " (no NVIDIA driver?)";
    return nullptr;
  }
  auto fail = [&](const std::string& why) -> std::unique_ptr<EnergyMeter> {
    if (why_not) *why_not = why;
    dlclose(lib);
    return nullptr;
  };
  auto sym = [&](const char* name) { return dlsym(lib, name); };
  auto init = reinterpret_cast<NvmlMeter::InitFn>(sym("nvmlInit_v2"));
  auto shutdown = reinterpret_cast<NvmlMeter::InitFn>(sym("nvmlShutdown"));
  auto count = reinterpret_cast<NvmlMeter::CountFn>(sym("nvmlDeviceGetCount_v2"));
  auto handle = reinterpret_cast<NvmlMeter::HandleFn>(sym("nvmlDeviceGetHandleByIndex_v2"));
  auto energy = reinterpret_cast<NvmlMeter::EnergyFn>(sym("nvmlDeviceGetTotalEnergyConsumption"));
  auto name = reinterpret_cast<NvmlMeter::NameFn>(sym("nvmlDeviceGetName"));
  if (!init || !count || !handle || !energy) return fail(library + " lacks the NVML energy entry points");
  if (init() != 0) return fail("nvmlInit_v2 failed");
  unsigned int n = 0;
  if (count(&n) != 0 || n == 0) {
    if (shutdown) shutdown();
    return fail("NVML reports no GPU");
  }
  std::vector<void*> devices;
  std::vector<std::string> names;
  for (unsigned int i = 0; i < n; ++i) {
    void* h = nullptr;
    unsigned long long probe = 0;
    if (handle(i, &h) != 0 || energy(h, &probe) != 0) {
      if (shutdown) shutdown();
      return fail("GPU " + std::to_string(i) + " has no readable energy counter (needs Volta or newer)");
    }
    char buf[96] = {0};
    if (name) name(h, buf, sizeof buf - 1);
    devices.push_back(h);
    names.emplace_back(buf);
  }
  return std::make_unique<NvmlMeter>(lib, library, energy, shutdown, std::move(devices), std::move(names));
}

std::vector<std::string> nvml_gpu_names(const std::string& library, std::string* detail) {
  std::string why;
  auto meter = make_nvml_meter(library, &why);
  if (!meter) {
    *detail = why;
    return {};
  }
  *detail = "nvmlDeviceGetName via " + library;
  return static_cast<const NvmlMeter&>(*meter).names();
}

std::unique_ptr<EnergyMeter> make_unavailable_meter(const std::string& reason) {
  return std::make_unique<UnavailableMeter>(reason);
}

std::unique_ptr<EnergyMeter> make_estimated_meter(double watts_per_core, double idle_watts) {
  return std::make_unique<EstimatedMeter>(watts_per_core, idle_watts, "");
}

std::unique_ptr<EnergyMeter> make_powercap_meter(const std::string& root, std::string* why_not) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    if (why_not) *why_not = "no powercap tree at " + root;
    return nullptr;
  }
  std::vector<PowercapZone> zones;
  std::vector<std::string> unreadable;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    std::string dir = entry.path().filename().string();
    // Top-level zones are "<driver>:<N>" (intel-rapl:0); sub-zones add ":<M>"
    // and live both flat under the root and inside their parent's folder.
    auto first = dir.find(':');
    if (first == std::string::npos || dir.find(':', first + 1) != std::string::npos) continue;
    auto add_zone = [&](const fs::path& path, const std::string& label, bool summed) {
      PowercapZone z;
      z.summed = summed;
      z.energy_file = path / "energy_uj";
      std::uint64_t probe = 0;
      if (!read_u64(z.energy_file, probe) || !read_u64(path / "max_energy_range_uj", z.max_range_uj)) {
        unreadable.push_back(label);
        return;
      }
      std::string name = read_line(path / "name");
      z.name = (name.empty() ? label : name) + "(" + label + ")";
      zones.push_back(std::move(z));
    };
    const std::string top_name = read_line(entry.path() / "name");
    add_zone(entry.path(), dir, top_name != "psys");
    // DRAM is a sub-zone that the package figure does not include.
    for (const auto& sub : fs::directory_iterator(entry.path(), ec)) {
      const std::string sub_dir = sub.path().filename().string();
      if (sub_dir.rfind(dir + ":", 0) != 0 || !fs::is_directory(sub.path(), ec)) continue;
      if (read_line(sub.path() / "name") == "dram") add_zone(sub.path(), sub_dir, true);
    }
  }
  if (zones.empty()) {
    if (why_not) {
      *why_not = "no readable powercap zone under " + root;
      if (!unreadable.empty()) *why_not += " (unreadable: " + unreadable.front() + ", needs root?)";
    }
    return nullptr;
  }
  return std::make_unique<PowercapMeter>(std::move(zones), root);
}

std::unique_ptr<EnergyMeter> make_cray_meter(const std::string& root, std::string* why_not) {
  fs::path file = fs::path(root) / "energy";
  std::uint64_t v = 0;
  if (!read_u64(file, v)) {
    if (why_not) *why_not = "no readable " + file.string();
    return nullptr;
  }
  return std::make_unique<CrayMeter>(file);
}

std::unique_ptr<EnergyMeter> make_energy_meter(const std::string& source, double watts_per_core, double idle_watts,
                                               const std::string& powercap_root, const std::string& cray_root) {
  std::string why_pc, why_cray;
  if (source == "none") return make_unavailable_meter("energy measurement switched off (energy.source=none)");
  if (source == "estimated") return make_estimated_meter(watts_per_core, idle_watts);
  if (source == "powercap" || source == "auto") {
    if (auto m = make_powercap_meter(powercap_root, &why_pc)) return m;
    if (source == "powercap") return make_unavailable_meter(why_pc);
  }
  if (source == "cray" || source == "auto") {
    if (auto m = make_cray_meter(cray_root, &why_cray)) return m;
    if (source == "cray") return make_unavailable_meter(why_cray);
  }
  return std::make_unique<EstimatedMeter>(watts_per_core, idle_watts, why_pc + "; " + why_cray);
}

}  // namespace motifbench
