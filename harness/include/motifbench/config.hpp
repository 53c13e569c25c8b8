// Typed, layered, strict configuration.
//
// A ConfigSchema lists every key a run understands: its type, default, range or
// choices, and a one-line help. A Config holds one value per schema key and is
// filled in layers, each layer overriding the one before:
//   defaults -> size profile -> config file -> --set key=value.
// Unknown keys and invalid values throw ConfigError whose message names the
// valid choices. Values are only ever read through typed getters, which abort on
// a key the schema lacks (a programming error, not a user error).
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace motifbench {

/// A user-facing configuration problem (unknown key, bad value, bad file).
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ValueType { Int, Real, Bool, String, Choice };

using Value = std::variant<std::int64_t, double, bool, std::string>;

struct KeySpec {
  std::string key;
  ValueType type = ValueType::Int;
  Value default_value;
  double min = 0.0;  ///< inclusive lower bound for Int/Real
  double max = 0.0;  ///< inclusive upper bound for Int/Real
  std::vector<std::string> choices;  ///< for Choice
  std::string help;
};

class ConfigSchema {
 public:
  void add_int(const std::string& key, std::int64_t def, std::int64_t min, std::int64_t max,
               const std::string& help);
  void add_real(const std::string& key, double def, double min, double max, const std::string& help);
  void add_bool(const std::string& key, bool def, const std::string& help);
  void add_string(const std::string& key, const std::string& def, const std::string& help);
  void add_choice(const std::string& key, const std::string& def, std::vector<std::string> choices,
                  const std::string& help);

  /// nullptr when the key is not in the schema.
  const KeySpec* find(const std::string& key) const;
  const std::vector<KeySpec>& keys() const { return m_keys; }
  /// "a, b, c" list of every key, for error messages.
  std::string key_list() const;

 private:
  void add(KeySpec spec);
  std::vector<KeySpec> m_keys;
};

/// Where a value came from; recorded so a result shows what was requested.
enum class ConfigSource { Default, Size, File, Cli };
const char* to_string(ConfigSource s);

class Config {
 public:
  explicit Config(ConfigSchema schema);

  /// Parses text as the key's type and validates it. Throws ConfigError.
  void set(const std::string& key, const std::string& text, ConfigSource source);
  /// Applies "key=value". Throws ConfigError on a missing '='.
  void set_assignment(const std::string& assignment, ConfigSource source);
  /// Loads a JSON config file: an object whose (possibly nested) keys flatten
  /// with '.' to schema keys. Throws ConfigError naming the file on any problem.
  void load_file(const std::string& path);

  std::int64_t get_int(const std::string& key) const;
  double get_real(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  /// For String and Choice keys.
  const std::string& get_string(const std::string& key) const;

  const ConfigSchema& schema() const { return m_schema; }
  /// Every key with its current value as text, sorted by key.
  std::map<std::string, std::string> effective_text() const;
  const Value& value(const std::string& key) const;
  /// Keys set by a layer above the defaults, with the layer that set them last.
  const std::map<std::string, ConfigSource>& sources() const { return m_sources; }
  /// Text as the user gave it, for the keys set above the defaults.
  const std::map<std::string, std::string>& requested_text() const { return m_requested; }

 private:
  const KeySpec& spec_or_abort(const std::string& key) const;
  ConfigSchema m_schema;
  std::map<std::string, Value> m_values;
  std::map<std::string, ConfigSource> m_sources;
  std::map<std::string, std::string> m_requested;
};

std::string value_to_text(const Value& v);

}  // namespace motifbench
