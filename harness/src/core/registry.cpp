#include "motifbench/registry.hpp"

#include <cstdio>
#include <cstdlib>

#include "core/harness_config.hpp"

namespace motifbench {
namespace {

[[noreturn]] void registration_error(const std::string& motif, const std::string& what) {
  std::fprintf(stderr, "motifbench: invalid registration of motif '%s': %s\n", motif.c_str(), what.c_str());
  std::abort();
}

bool valid_name(const std::string& n) {
  if (n.empty()) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

}  // namespace

std::map<std::string, std::string> budget_profile(std::map<std::string, std::string> overrides) {
  overrides.insert({{"run.min_time_s", "0"}, {"run.min_iterations", "1000000000"}, {"run.warmup_iterations", "0"},
                    {"run.warmup_s", "0"}});
  return overrides;
}

const std::vector<std::string>& size_names() {
  static const std::vector<std::string> names{"tiny", "small", "medium", "large"};
  return names;
}

void Registry::add(MotifInfo info) {
  if (!valid_name(info.name)) registration_error(info.name, "name must be non-empty [a-z0-9_]");
  if (find(info.name) != nullptr) registration_error(info.name, "name already registered");
  if (!info.create) registration_error(info.name, "no factory");
  if (info.couplings.empty()) registration_error(info.name, "no coupling modes");
  ConfigSchema schema;
  detail::declare_harness_config(schema);
  if (info.declare_config) info.declare_config(schema);
  for (const auto& size : size_names()) {
    auto it = info.sizes.find(size);
    if (it == info.sizes.end()) registration_error(info.name, "size '" + size + "' missing");
    Config probe(schema);
    for (const auto& [k, v] : it->second) {
      try {
        probe.set(k, v, ConfigSource::Size);
      } catch (const ConfigError& e) {
        registration_error(info.name, "size '" + size + "': " + e.what());
      }
    }
  }
  for (const auto& [size, _] : info.sizes) {
    bool known = false;
    for (const auto& s : size_names()) known = known || s == size;
    if (!known) registration_error(info.name, "unknown size '" + size + "'");
  }
  m_motifs.push_back(std::move(info));
}

const MotifInfo* Registry::find(const std::string& name) const {
  for (const auto& m : m_motifs)
    if (m.name == name) return &m;
  return nullptr;
}

std::string Registry::name_list() const {
  std::string out;
  for (const auto& m : m_motifs) out += (out.empty() ? "" : ", ") + m.name;
  return out;
}

}  // namespace motifbench
