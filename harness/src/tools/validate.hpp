// Result-file validation: the JSON Schema in results-schema/ (compiled into
// the binary) plus semantic rules a schema cannot state.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace motifbench::detail {

struct Problem {
  std::string path;  ///< JSON path, e.g. $.summary.latency.infer_call.p50_ns
  std::string message;
};

/// The schema results-schema/result.schema.json, as built into this binary.
const nlohmann::json& result_schema();

/// The JSON Schema subset the result schema uses: type, const, enum, pattern,
/// minimum, exclusiveMinimum, required, properties, patternProperties,
/// additionalProperties, minProperties, items, prefixItems, minItems,
/// maxItems, $ref (#/$defs/...), if/then/else.
std::vector<Problem> check_schema(const nlohmann::json& doc, const nlohmann::json& schema);

/// Percentiles ordered (min <= p50 <= p90 <= p95 <= p99 <= p99.9 <= max),
/// histogram totals equal counts, counts > 0, a unit suffix on every numeric
/// key, valid agrees with invalid_reasons.
std::vector<Problem> check_semantics(const nlohmann::json& doc);

/// Reads and checks one file. A file that cannot be read or parsed gives one
/// problem at "$" and never throws.
std::vector<Problem> validate_file(const std::string& path, nlohmann::json* doc_out = nullptr);

/// `motifbench validate FILE...`: one line per problem; exit 0 when all valid.
int validate_main(int argc, char** argv);

/// Major version of a "X.Y.Z" schema_version (-1 when malformed).
int schema_major(const std::string& version);

}  // namespace motifbench::detail
