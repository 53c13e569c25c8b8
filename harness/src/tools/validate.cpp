#include "tools/validate.hpp"

#include <filesystem>

#include "core/json_strict.hpp"
#include "motifbench/config.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>

#include "build_info.hpp"
#include "result_schema_text.hpp"

namespace motifbench::detail {
namespace {

bool type_matches(const nlohmann::json& v, const std::string& t) {
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  if (t == "string") return v.is_string();
  if (t == "boolean") return v.is_boolean();
  if (t == "null") return v.is_null();
  if (t == "integer") return v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
  if (t == "number") return v.is_number();
  return false;
}

std::string child(const std::string& path, const std::string& key) { return path + "." + key; }
std::string index(const std::string& path, std::size_t i) { return path + "[" + std::to_string(i) + "]"; }

bool regex_search_cached(const std::string& text, const std::string& pattern) {
  static std::map<std::string, std::regex> cache;
  auto it = cache.find(pattern);
  if (it == cache.end()) it = cache.emplace(pattern, std::regex(pattern, std::regex::ECMAScript)).first;
  return std::regex_search(text, it->second);
}

void check(const nlohmann::json& v, const nlohmann::json& s, const nlohmann::json& root, const std::string& path,
           std::vector<Problem>& out) {
  if (!s.is_object()) return;
  if (s.contains("$ref")) {
    const std::string ref = s["$ref"].get<std::string>();
    const std::string prefix = "#/$defs/";
    if (ref.rfind(prefix, 0) == 0 && root.contains("$defs") && root["$defs"].contains(ref.substr(prefix.size())))
      check(v, root["$defs"][ref.substr(prefix.size())], root, path, out);
    else
      out.push_back({path, "schema reference " + ref + " cannot be resolved"});
  }
  if (s.contains("type")) {
    std::vector<std::string> types;
    if (s["type"].is_array())
      for (const auto& t : s["type"]) types.push_back(t.get<std::string>());
    else
      types.push_back(s["type"].get<std::string>());
    bool ok = false;
    for (const auto& t : types) ok = ok || type_matches(v, t);
    if (!ok) {
      std::string want;
      for (const auto& t : types) want += (want.empty() ? "" : " or ") + t;
      out.push_back({path, "expected " + want + ", found " + std::string(v.type_name())});
      return;
    }
  }
  if (s.contains("const") && v != s["const"]) out.push_back({path, "must be " + s["const"].dump()});
  if (s.contains("enum")) {
    bool found = false;
    for (const auto& e : s["enum"]) found = found || e == v;
    if (!found) out.push_back({path, v.dump() + " is not one of " + s["enum"].dump()});
  }
  if (v.is_string() && s.contains("pattern") && !regex_search_cached(v.get<std::string>(), s["pattern"].get<std::string>()))
    out.push_back({path, "'" + v.get<std::string>() + "' does not match " + s["pattern"].get<std::string>()});
  if (v.is_number()) {
    const double x = v.get<double>();
    if (s.contains("minimum") && x < s["minimum"].get<double>())
      out.push_back({path, v.dump() + " is below the minimum " + s["minimum"].dump()});
    if (s.contains("exclusiveMinimum") && x <= s["exclusiveMinimum"].get<double>())
      out.push_back({path, v.dump() + " must be above " + s["exclusiveMinimum"].dump()});
  }
  if (v.is_object()) {
    if (s.contains("required"))
      for (const auto& k : s["required"])
        if (!v.contains(k.get<std::string>())) out.push_back({child(path, k.get<std::string>()), "required key is missing"});
    if (s.contains("minProperties") && v.size() < s["minProperties"].get<std::size_t>())
      out.push_back({path, "needs at least " + s["minProperties"].dump() + " keys"});
    for (auto it = v.begin(); it != v.end(); ++it) {
      bool matched = false;
      if (s.contains("properties") && s["properties"].contains(it.key())) {
        matched = true;
        check(it.value(), s["properties"][it.key()], root, child(path, it.key()), out);
      }
      if (s.contains("patternProperties")) {
        for (auto p = s["patternProperties"].begin(); p != s["patternProperties"].end(); ++p) {
          if (regex_search_cached(it.key(), p.key())) {
            matched = true;
            check(it.value(), p.value(), root, child(path, it.key()), out);
          }
        }
      }
      if (!matched && s.contains("additionalProperties")) {
        const auto& ap = s["additionalProperties"];
        if (ap.is_boolean() && !ap.get<bool>())
          out.push_back({child(path, it.key()), "unexpected key"});
        else if (ap.is_object())
          check(it.value(), ap, root, child(path, it.key()), out);
      }
    }
  }
  if (v.is_array()) {
    if (s.contains("minItems") && v.size() < s["minItems"].get<std::size_t>())
      out.push_back({path, "needs at least " + s["minItems"].dump() + " items"});
    if (s.contains("maxItems") && v.size() > s["maxItems"].get<std::size_t>())
      out.push_back({path, "allows at most " + s["maxItems"].dump() + " items"});
    std::size_t prefix = 0;
    if (s.contains("prefixItems")) {
      prefix = s["prefixItems"].size();
      for (std::size_t i = 0; i < prefix && i < v.size(); ++i) check(v[i], s["prefixItems"][i], root, index(path, i), out);
    }
    if (s.contains("items"))
      for (std::size_t i = prefix; i < v.size(); ++i) check(v[i], s["items"], root, index(path, i), out);
  }
  if (s.contains("if")) {
    std::vector<Problem> probe;
    check(v, s["if"], root, path, probe);
    if (probe.empty() && s.contains("then")) check(v, s["then"], root, path, out);
    if (!probe.empty() && s.contains("else")) check(v, s["else"], root, path, out);
  }
}

const char* const kUnitSuffixes[] = {"_s",     "_ns",   "_us",      "_ms",    "_bytes", "_j",     "_w",
                                     "_per_s", "_count", "_fraction", "_ratio", "_index", "_flops", "_hz"};
const char* const kUnitlessOk[] = {"count", "index", "seed", "base_seed", "bytes", "flops"};

bool unit_ok(const std::string& key) {
  for (const char* u : kUnitlessOk)
    if (key == u) return true;
  for (const char* suf : kUnitSuffixes) {
    std::string s(suf);
    if (key.size() > s.size() && key.compare(key.size() - s.size(), s.size(), s) == 0) return true;
  }
  return false;
}

void check_units(const nlohmann::json& v, const std::string& path, std::vector<Problem>& out) {
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (it.value().is_number() && !unit_ok(it.key()))
        out.push_back({child(path, it.key()), "numeric key without a unit suffix"});
      check_units(it.value(), child(path, it.key()), out);
    }
  } else if (v.is_array()) {
    for (std::size_t i = 0; i < v.size(); ++i)
      if (v[i].is_structured()) check_units(v[i], index(path, i), out);
  }
}

}  // namespace

const nlohmann::json& result_schema() {
  static const nlohmann::json schema = nlohmann::json::parse(kResultSchemaText);
  return schema;
}

int schema_major(const std::string& version) {
  auto dot = version.find('.');
  if (dot == std::string::npos || dot == 0) return -1;
  try {
    return std::stoi(version.substr(0, dot));
  } catch (const std::exception&) {
    return -1;
  }
}

std::vector<Problem> check_schema(const nlohmann::json& doc, const nlohmann::json& schema) {
  std::vector<Problem> out;
  check(doc, schema, schema, "$", out);
  return out;
}

std::vector<Problem> check_semantics(const nlohmann::json& doc) {
  std::vector<Problem> out;
  if (!doc.is_object()) return out;
  if (doc.contains("summary") && doc["summary"].is_object() && doc["summary"].contains("latency") &&
      doc["summary"]["latency"].is_object()) {
    for (auto it = doc["summary"]["latency"].begin(); it != doc["summary"]["latency"].end(); ++it) {
      const auto& l = it.value();
      const std::string p = "$.summary.latency." + it.key();
      const char* order[] = {"min_ns", "p50_ns", "p90_ns", "p95_ns", "p99_ns", "p999_ns", "max_ns"};
      bool numeric = true;
      for (const char* k : order) numeric = numeric && l.contains(k) && l[k].is_number();
      if (numeric) {
        for (int i = 0; i + 1 < 7; ++i)
          if (l[order[i]].get<double>() > l[order[i + 1]].get<double>())
            out.push_back({p + "." + order[i + 1], std::string(order[i]) + " > " + order[i + 1]});
        if (l.contains("mean_ns") && l["mean_ns"].is_number() &&
            (l["mean_ns"].get<double>() < l["min_ns"].get<double>() || l["mean_ns"].get<double>() > l["max_ns"].get<double>()))
          out.push_back({p + ".mean_ns", "mean outside [min, max]"});
      }
      if (l.contains("count") && l["count"].is_number() && l["count"].get<double>() <= 0)
        out.push_back({p + ".count", "count must be > 0"});
      if (l.contains("histogram") && l["histogram"].contains("buckets") && l["histogram"]["buckets"].is_array() &&
          l.contains("count") && l["count"].is_number()) {
        double total = 0;
        for (const auto& b : l["histogram"]["buckets"])
          if (b.is_array() && b.size() == 2 && b[1].is_number()) total += b[1].get<double>();
        if (total != l["count"].get<double>())
          out.push_back({p + ".histogram", "bucket counts add up to " + std::to_string(static_cast<long long>(total)) +
                                               ", count says " + l["count"].dump()});
      }
    }
  }
  if (doc.contains("valid") && doc["valid"].is_boolean() && doc.contains("invalid_reasons") &&
      doc["invalid_reasons"].is_array()) {
    if (!doc["valid"].get<bool>() && doc["invalid_reasons"].empty())
      out.push_back({"$.invalid_reasons", "an invalid result must say why"});
    if (doc["valid"].get<bool>() && !doc["invalid_reasons"].empty())
      out.push_back({"$.valid", "true, but invalid_reasons is not empty"});
  }
  check_units(doc, "$", out);
  return out;
}

std::vector<Problem> validate_file(const std::string& path, nlohmann::json* doc_out) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return {{"$", "is a directory, not a result file"}};
  std::ifstream in(path);
  if (!in) return {{"$", "cannot read the file"}};
  nlohmann::json doc;
  try {
    doc = parse_json_strict(in, "the file");
  } catch (const ConfigError& e) {
    std::string what = e.what();
    return {{"$", "not valid JSON (truncated, malformed, duplicate keys or nested too deep): " + what}};
  }
  if (doc_out) *doc_out = doc;
  if (!doc.is_object() || !doc.contains("schema_version") || !doc["schema_version"].is_string())
    return {{"$.schema_version", "missing: not a motifbench result"}};
  const int major = schema_major(doc["schema_version"].get<std::string>());
  const int ours = schema_major(MOTIFBENCH_SCHEMA_VERSION);
  if (major != ours)
    return {{"$.schema_version", "schema " + doc["schema_version"].get<std::string>() + " has major version " +
                                     std::to_string(major) + "; this motifbench reads major " + std::to_string(ours) +
                                     " (" MOTIFBENCH_SCHEMA_VERSION ")"}};
  auto problems = check_schema(doc, result_schema());
  auto semantic = check_semantics(doc);
  problems.insert(problems.end(), semantic.begin(), semantic.end());
  return problems;
}

int validate_main(int argc, char** argv) {
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf("usage: motifbench validate FILE...\nChecks result files against results-schema/ (version %s) and "
                  "semantic rules; exit 0 when every file is valid.\n",
                  MOTIFBENCH_SCHEMA_VERSION);
      return 0;
    }
    files.push_back(a);
  }
  if (files.empty()) {
    std::fprintf(stderr, "motifbench validate: error: give one or more result files\n");
    return 2;
  }
  int bad = 0;
  for (const auto& f : files) {
    auto problems = validate_file(f);
    for (const auto& p : problems) std::printf("%s: %s: %s\n", f.c_str(), p.path.c_str(), p.message.c_str());
    if (problems.empty())
      std::printf("%s: valid\n", f.c_str());
    else
      ++bad;
  }
  std::printf("%zu valid, %d invalid\n", files.size() - static_cast<std::size_t>(bad), bad);
  return bad == 0 ? 0 : 1;
}

}  // namespace motifbench::detail
