// The stand-in's configuration: a LLaMA-Factory YAML (or JSON) file with `key=value`
// overrides on top, as `llamafactory-cli <command> <config.yaml> [key=value ...]` reads it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ascend::standin {

using Json = nlohmann::json;

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One plain (unquoted) scalar typed the way a YAML loader types it: true/false, null,
// integers, floats (1.0e-4, 5e-5, .inf) and otherwise a string.
Json scalar_from_text(const std::string& text);

// Parses YAML (or JSON, a subset of YAML) text into JSON; the top level must be a map.
Json parse_config_text(const std::string& text, const std::string& origin);

// Reads a .yaml/.yml/.json file; throws ConfigError when it is missing or malformed.
Json load_config_file(const std::string& path);

// Applies overrides: `key=value`, `--key=value` or `--key value`. A dotted key (a.b=1)
// sets a nested value, as OmegaConf's command-line merge does.
void apply_overrides(Json& config, const std::vector<std::string>& args);

// Whether a command-line argument names a config file (ends in .yaml, .yml or .json).
bool is_config_path(const std::string& arg);

struct LoadedConfig {
  std::optional<std::string> path;  // the config file, when one was given
  Json values = Json::object();     // the file's values with the overrides applied
};

// The arguments after the command: an optional config file first, then overrides.
LoadedConfig load_config(const std::vector<std::string>& args);

// Typed look-ups with defaults. Strings that spell a value ("3", "true") are accepted,
// since overrides and quoted YAML values arrive as strings.
std::string get_string(const Json& config, const std::string& key, const std::string& fallback);
double get_number(const Json& config, const std::string& key, double fallback);
int64_t get_int(const Json& config, const std::string& key, int64_t fallback);
bool get_bool(const Json& config, const std::string& key, bool fallback);

}  // namespace ascend::standin
