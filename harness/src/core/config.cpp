#include "motifbench/config.hpp"
#include "core/json_strict.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace motifbench {
namespace {

const char* type_name(ValueType t) {
  switch (t) {
    case ValueType::Int: return "integer";
    case ValueType::Real: return "number";
    case ValueType::Bool: return "boolean";
    case ValueType::String: return "string";
    case ValueType::Choice: return "choice";
  }
  return "?";
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string range_text(const KeySpec& s) {
  std::ostringstream os;
  if (s.type == ValueType::Int)
    os << "an integer in [" << static_cast<long long>(s.min) << ", " << static_cast<long long>(s.max) << "]";
  else
    os << "a number in [" << s.min << ", " << s.max << "]";
  return os.str();
}

Value parse_value(const KeySpec& spec, const std::string& text) {
  auto bad = [&](const std::string& expected) {
    return ConfigError("invalid value '" + text + "' for " + spec.key + ": expected " + expected);
  };
  // One way everywhere: no surrounding whitespace (strtod would skip the
  // leading kind only), for every type.
  if (!text.empty() && (std::isspace(static_cast<unsigned char>(text.front())) ||
                        std::isspace(static_cast<unsigned char>(text.back()))))
    throw bad(spec.type == ValueType::Int || spec.type == ValueType::Real ? range_text(spec) + " without spaces"
                                                                          : "a value without surrounding spaces");
  switch (spec.type) {
    case ValueType::Int: {
      char* end = nullptr;
      errno = 0;
      long long v = std::strtoll(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || errno == ERANGE) throw bad(range_text(spec));
      if (v < spec.min || v > spec.max) throw bad(range_text(spec));
      return static_cast<std::int64_t>(v);
    }
    case ValueType::Real: {
      char* end = nullptr;
      errno = 0;
      double v = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0' || !std::isfinite(v) || errno == ERANGE) throw bad(range_text(spec));
      if (v < spec.min || v > spec.max) throw bad(range_text(spec));
      return v;
    }
    case ValueType::Bool:
      if (text == "true" || text == "1" || text == "on" || text == "yes") return true;
      if (text == "false" || text == "0" || text == "off" || text == "no") return false;
      throw bad("one of true, false");
    case ValueType::String:
      return text;
    case ValueType::Choice:
      for (const auto& c : spec.choices)
        if (c == text) return text;
      throw bad("one of " + join(spec.choices));
  }
  return text;
}

void flatten(const nlohmann::json& j, const std::string& prefix, std::vector<std::pair<std::string, std::string>>& out,
             const std::string& file) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    const auto& v = it.value();
    if (v.is_object()) {
      flatten(v, key, out, file);
    } else if (v.is_string()) {
      out.emplace_back(key, v.get<std::string>());
    } else if (v.is_boolean()) {
      out.emplace_back(key, v.get<bool>() ? "true" : "false");
    } else if (v.is_number_integer()) {
      out.emplace_back(key, std::to_string(v.get<long long>()));
    } else if (v.is_number()) {
      std::ostringstream os;
      os.precision(17);
      os << v.get<double>();
      out.emplace_back(key, os.str());
    } else {
      throw ConfigError("config file " + file + ": key " + key + " has an unsupported value (" + v.dump() +
                        "); use a string, number or boolean");
    }
  }
}

}  // namespace

const char* to_string(ConfigSource s) {
  switch (s) {
    case ConfigSource::Default: return "default";
    case ConfigSource::Size: return "size";
    case ConfigSource::File: return "file";
    case ConfigSource::Cli: return "cli";
  }
  return "?";
}

std::string value_to_text(const Value& v) {
  if (auto p = std::get_if<std::int64_t>(&v)) return std::to_string(*p);
  if (auto p = std::get_if<double>(&v)) {
    std::ostringstream os;
    os.precision(10);
    os << *p;
    return os.str();
  }
  if (auto p = std::get_if<bool>(&v)) return *p ? "true" : "false";
  return std::get<std::string>(v);
}

void ConfigSchema::add(KeySpec spec) {
  if (find(spec.key) != nullptr) {
    std::fprintf(stderr, "motifbench: config key '%s' declared twice\n", spec.key.c_str());
    std::abort();
  }
  m_keys.push_back(std::move(spec));
}

void ConfigSchema::add_int(const std::string& key, std::int64_t def, std::int64_t min, std::int64_t max,
                           const std::string& help) {
  add(KeySpec{key, ValueType::Int, def, static_cast<double>(min), static_cast<double>(max), {}, help});
}
void ConfigSchema::add_real(const std::string& key, double def, double min, double max, const std::string& help) {
  add(KeySpec{key, ValueType::Real, def, min, max, {}, help});
}
void ConfigSchema::add_bool(const std::string& key, bool def, const std::string& help) {
  add(KeySpec{key, ValueType::Bool, def, 0, 0, {}, help});
}
void ConfigSchema::add_string(const std::string& key, const std::string& def, const std::string& help) {
  add(KeySpec{key, ValueType::String, def, 0, 0, {}, help});
}
void ConfigSchema::add_choice(const std::string& key, const std::string& def, std::vector<std::string> choices,
                              const std::string& help) {
  add(KeySpec{key, ValueType::Choice, def, 0, 0, std::move(choices), help});
}

const KeySpec* ConfigSchema::find(const std::string& key) const {
  for (const auto& k : m_keys)
    if (k.key == key) return &k;
  return nullptr;
}

std::string ConfigSchema::key_list() const {
  std::vector<std::string> names;
  for (const auto& k : m_keys) names.push_back(k.key);
  return join(names);
}

Config::Config(ConfigSchema schema) : m_schema(std::move(schema)) {
  for (const auto& k : m_schema.keys()) m_values[k.key] = k.default_value;
}

void Config::set(const std::string& key, const std::string& text, ConfigSource source) {
  const KeySpec* spec = m_schema.find(key);
  if (spec == nullptr) throw ConfigError("unknown config key '" + key + "'; valid keys: " + m_schema.key_list());
  m_values[key] = parse_value(*spec, text);
  m_sources[key] = source;
  if (source != ConfigSource::Size) m_requested[key] = text;
}

void Config::set_assignment(const std::string& assignment, ConfigSource source) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set expects key=value, got '" + assignment + "'; valid keys: " + m_schema.key_list());
  const std::string key = assignment.substr(0, eq);
  // The same key twice on one layer is a mistake, not "last one wins".
  auto it = m_sources.find(key);
  if (it != m_sources.end() && it->second == source && source == ConfigSource::Cli)
    throw ConfigError("config key '" + key + "' is given twice on the command line");
  set(key, assignment.substr(eq + 1), source);
}

nlohmann::json parse_json_strict(std::istream& in, const std::string& what) {
  // Refuses duplicate keys and nesting deeper than kMaxDepth (a deep document
  // would otherwise exhaust the stack in the recursive parser).
  constexpr int kMaxDepth = 64;
  std::vector<std::set<std::string>> keys;
  std::string duplicate;
  int depth = 0;
  bool too_deep = false;
  auto cb = [&](int d, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (ev == E::object_start || ev == E::array_start) {
      depth = d + 1;
      if (depth > kMaxDepth) too_deep = true;
      if (ev == E::object_start) keys.emplace_back();
    } else if (ev == E::object_end) {
      if (!keys.empty()) keys.pop_back();
    } else if (ev == E::key && !keys.empty()) {
      const std::string k = parsed.get<std::string>();
      if (!keys.back().insert(k).second && duplicate.empty()) duplicate = k;
    }
    return !too_deep;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in, cb);
  } catch (const nlohmann::json::parse_error& e) {
    throw ConfigError(what + " is not valid JSON: " + e.what());
  }
  if (too_deep) throw ConfigError(what + " nests deeper than " + std::to_string(kMaxDepth) + " levels");
  if (!duplicate.empty()) throw ConfigError(what + " gives the key '" + duplicate + "' twice");
  return j;
}

void Config::load_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw ConfigError("config file '" + path + "' is a directory; give a JSON file");
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot read config file '" + path + "'");
  nlohmann::json j = parse_json_strict(in, "config file '" + path + "'");
  if (!j.is_object()) throw ConfigError("config file '" + path + "' must hold a JSON object of key: value");
  std::vector<std::pair<std::string, std::string>> flat;
  flatten(j, "", flat, path);
  for (const auto& [k, v] : flat) {
    try {
      set(k, v, ConfigSource::File);
    } catch (const ConfigError& e) {
      throw ConfigError("config file '" + path + "': " + e.what());
    }
  }
}

const KeySpec& Config::spec_or_abort(const std::string& key) const {
  const KeySpec* s = m_schema.find(key);
  if (s == nullptr) {
    std::fprintf(stderr, "motifbench: internal error: config key '%s' read but never declared\n", key.c_str());
    std::abort();
  }
  return *s;
}

const Value& Config::value(const std::string& key) const {
  spec_or_abort(key);
  return m_values.at(key);
}

std::int64_t Config::get_int(const std::string& key) const {
  const auto& v = value(key);
  if (auto p = std::get_if<std::int64_t>(&v)) return *p;
  std::fprintf(stderr, "motifbench: internal error: config key '%s' is not an integer\n", key.c_str());
  std::abort();
}

double Config::get_real(const std::string& key) const {
  const auto& v = value(key);
  if (auto p = std::get_if<double>(&v)) return *p;
  if (auto p = std::get_if<std::int64_t>(&v)) return static_cast<double>(*p);
  std::fprintf(stderr, "motifbench: internal error: config key '%s' is not a number\n", key.c_str());
  std::abort();
}

bool Config::get_bool(const std::string& key) const {
  const auto& v = value(key);
  if (auto p = std::get_if<bool>(&v)) return *p;
  std::fprintf(stderr, "motifbench: internal error: config key '%s' is not a boolean\n", key.c_str());
  std::abort();
}

const std::string& Config::get_string(const std::string& key) const {
  const auto& v = value(key);
  if (auto p = std::get_if<std::string>(&v)) return *p;
  std::fprintf(stderr, "motifbench: internal error: config key '%s' is not a string\n", key.c_str());
  std::abort();
}

std::map<std::string, std::string> Config::effective_text() const {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : m_values) out[k] = value_to_text(v);
  return out;
}

}  // namespace motifbench
