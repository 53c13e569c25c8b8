#include "motifbench/metrics.hpp"

#include <cstdio>
#include <cstdlib>

namespace motifbench {
namespace {

// Every figure's key carries its unit. Dimensionless figures say what they are.
const char* const kUnitSuffixes[] = {"_s",     "_ns",    "_us",      "_ms",   "_bytes", "_j",     "_w",
                                     "_per_s", "_count", "_fraction", "_ratio", "_index", "_flops", "_hz"};

void require_unit(const std::string& key) {
  if (!has_unit_suffix(key)) {
    std::fprintf(stderr, "motifbench: internal error: metric key '%s' has no unit suffix\n", key.c_str());
    std::abort();
  }
}

}  // namespace

bool has_unit_suffix(const std::string& key) {
  for (const char* suf : kUnitSuffixes) {
    std::string s(suf);
    if (key.size() > s.size() && key.compare(key.size() - s.size(), s.size(), s) == 0) return true;
  }
  return false;
}

void MotifMetrics::scalar(const std::string& key, double value) {
  require_unit(key);
  m_scalars[key] = value;
}

void MotifMetrics::append(const std::string& series, std::map<std::string, double> point) {
  for (const auto& [k, v] : point) require_unit(k);
  m_series[series].push_back(std::move(point));
}

void MotifMetrics::event(const std::string& kind, std::map<std::string, double> fields) {
  for (const auto& [k, v] : fields) require_unit(k);
  m_events.emplace_back(kind, std::move(fields));
}

void MotifMetrics::note(const std::string& key, const std::string& text) { m_notes[key] = text; }

}  // namespace motifbench
