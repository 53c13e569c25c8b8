#include "motifbench/coupling.hpp"

namespace motifbench {

const char* to_string(Coupling c) {
  switch (c) {
    case Coupling::None: return "none";
    case Coupling::Tight: return "tight";
    case Coupling::SemiTight: return "semi-tight";
    case Coupling::Loose: return "loose";
  }
  return "?";
}

const std::vector<Coupling>& all_couplings() {
  static const std::vector<Coupling> all{Coupling::Tight, Coupling::SemiTight, Coupling::Loose, Coupling::None};
  return all;
}

std::optional<Coupling> parse_coupling(const std::string& text) {
  for (Coupling c : all_couplings())
    if (text == to_string(c)) return c;
  return std::nullopt;
}

}  // namespace motifbench
