// Strict JSON reading for every file motifbench reads: duplicate keys and
// nesting deeper than 64 levels are errors (ConfigError, naming `what`).
#pragma once

#include <istream>
#include <string>

#include <nlohmann/json.hpp>

namespace motifbench {

nlohmann::json parse_json_strict(std::istream& in, const std::string& what);

}  // namespace motifbench
