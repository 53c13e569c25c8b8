// Science and motif-specific figures, written by a mini-app at the end of a
// repetition. Keys must end in a unit suffix (see kUnitSuffixes in the .cpp):
// a key without one is a programming error and aborts with its name.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace motifbench {

class MotifMetrics {
 public:
  /// One figure, e.g. scalar("surrogate_rmse_fraction", 0.012).
  void scalar(const std::string& key, double value);
  /// A series of points, e.g. the surrogate error against the step index.
  /// Each point is a record of unit-suffixed fields.
  void append(const std::string& series, std::map<std::string, double> point);
  /// A discrete event (e.g. a retrain) with unit-suffixed fields.
  void event(const std::string& kind, std::map<std::string, double> fields);
  /// A descriptive string (no unit), e.g. the closure model's name.
  void note(const std::string& key, const std::string& text);

  const std::map<std::string, double>& scalars() const { return m_scalars; }
  const std::map<std::string, std::vector<std::map<std::string, double>>>& series() const { return m_series; }
  const std::vector<std::pair<std::string, std::map<std::string, double>>>& events() const { return m_events; }
  const std::map<std::string, std::string>& notes() const { return m_notes; }

 private:
  std::map<std::string, double> m_scalars;
  std::map<std::string, std::vector<std::map<std::string, double>>> m_series;
  std::vector<std::pair<std::string, std::map<std::string, double>>> m_events;
  std::map<std::string, std::string> m_notes;
};

/// True when key ends in a recognised unit suffix.
bool has_unit_suffix(const std::string& key);

}  // namespace motifbench
