// The JSON result (results-schema/result.schema.json) built from a RunResult.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/run_result.hpp"

namespace motifbench::detail {

nlohmann::json to_json(const RunResult& r);

/// Writes atomically: a temporary file in the same folder, then rename, so a
/// crash never leaves a half-written file that looks valid. Returns "" on
/// success, or the error.
std::string write_json_file(const std::string& path, const nlohmann::json& j);

/// Checks that `path` can be created, without leaving anything behind.
std::string check_writable(const std::string& path);

}  // namespace motifbench::detail
