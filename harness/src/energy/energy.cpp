#include "motifbench/energy.hpp"

#include <sys/resource.h>

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
    for (auto& z : m_zones) {
      z.sample();
      r.domains_j[z.name] = z.accumulated_uj * 1e-6;
      total += z.accumulated_uj * 1e-6;
    }
    r.energy_j = total;
    r.detail = "sum of " + std::to_string(m_zones.size()) + " top-level powercap zone(s) under " + m_root;
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

double process_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

class EstimatedMeter final : public EnergyMeter {
 public:
  EstimatedMeter(double w_core, double w_idle, std::string why) : m_w_core(w_core), m_w_idle(w_idle), m_why(std::move(why)) {}
  void start() override {
    m_cpu0 = process_cpu_s();
    m_t0 = std::chrono::steady_clock::now();
  }
  EnergyReading stop() override {
    double cpu = process_cpu_s() - m_cpu0;
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_t0).count();
    EnergyReading r;
    r.source = "estimated_cpu_time";
    r.method = EnergyMethod::Estimated;
    r.energy_j = cpu * m_w_core + wall * m_w_idle;
    std::ostringstream os;
    os << "estimate, not a measurement: " << cpu << " CPU-s x " << m_w_core << " W/core + " << wall << " s x "
       << m_w_idle << " W idle";
    if (!m_why.empty()) os << " (" << m_why << ")";
    r.detail = os.str();
    return r;
  }

 private:
  double m_w_core, m_w_idle;
  std::string m_why;  // why no measured source was used, when auto fell back
  double m_cpu0 = 0;
  std::chrono::steady_clock::time_point m_t0;
};

}  // namespace

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
    // Top-level zones are "<driver>:<N>" (intel-rapl:0); sub-zones add ":<M>".
    auto first = dir.find(':');
    if (first == std::string::npos || dir.find(':', first + 1) != std::string::npos) continue;
    PowercapZone z;
    z.energy_file = entry.path() / "energy_uj";
    std::uint64_t probe = 0;
    if (!read_u64(z.energy_file, probe) || !read_u64(entry.path() / "max_energy_range_uj", z.max_range_uj)) {
      unreadable.push_back(dir);
      continue;
    }
    std::string name = read_line(entry.path() / "name");
    z.name = (name.empty() ? dir : name) + "(" + dir + ")";
    zones.push_back(std::move(z));
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
