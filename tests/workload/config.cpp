#include "tests/workload/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <regex>
#include <sstream>

namespace ascend::standin {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Json from_yaml(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      // "!" is yaml-cpp's tag for a quoted scalar: always a string.
      if (node.Tag() == "!") return node.Scalar();
      return scalar_from_text(node.Scalar());
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node)
        out.push_back(from_yaml(item));
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& item : node)
        out[item.first.as<std::string>()] = from_yaml(item.second);
      return out;
    }
  }
  return nullptr;
}

void set_path(Json& config, const std::string& key, Json value) {
  if (key.empty()) throw ConfigError("override with an empty key");
  Json* at = &config;
  std::string::size_type start = 0;
  while (true) {
    const auto dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? dot : dot - start);
    if (part.empty()) throw ConfigError("override key '" + key + "' has an empty part");
    if (!at->is_object()) *at = Json::object();
    if (dot == std::string::npos) {
      (*at)[part] = std::move(value);
      return;
    }
    at = &(*at)[part];
    start = dot + 1;
  }
}

const Json* find(const Json& config, const std::string& key) {
  if (!config.is_object()) return nullptr;
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

Json scalar_from_text(const std::string& text) {
  const std::string l = lower(text);
  if (l.empty() || l == "~" || l == "null") return nullptr;
  if (l == "true") return true;
  if (l == "false") return false;
  static const std::regex kInt(R"([-+]?[0-9]+)");
  static const std::regex kFloat(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (std::regex_match(text, kInt)) {
    int64_t v = 0;
    const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
    const auto [ptr, ec] = std::from_chars(begin, text.data() + text.size(), v);
    if (ec == std::errc() && ptr == text.data() + text.size()) return v;
    return text;  // out of range: keep the text
  }
  if (std::regex_match(text, kFloat)) {
    try {
      return std::stod(text);
    } catch (const std::exception&) {
      return text;
    }
  }
  if (l == ".inf" || l == "+.inf") return std::numeric_limits<double>::infinity();
  if (l == "-.inf") return -std::numeric_limits<double>::infinity();
  return text;
}

Json parse_config_text(const std::string& text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(origin + ": " + e.what());
  }
  if (root.IsNull()) return Json::object();
  if (!root.IsMap()) throw ConfigError(origin + ": the top level must be a map of keys to values");
  return from_yaml(root);
}

Json load_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot read config file " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_config_text(buffer.str(), path);
}

bool is_config_path(const std::string& arg) {
  const std::string l = lower(arg);
  return ends_with(l, ".yaml") || ends_with(l, ".yml") || ends_with(l, ".json");
}

void apply_overrides(Json& config, const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    std::string key;
    std::string value;
    if (arg.rfind("--", 0) == 0) {
      arg = arg.substr(2);
      const auto eq = arg.find('=');
      if (eq != std::string::npos) {
        key = arg.substr(0, eq);
        value = arg.substr(eq + 1);
      } else if (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) {
        key = arg;
        value = args[++i];
      } else {
        key = arg;
        value = "true";  // a bare flag
      }
    } else {
      const auto eq = arg.find('=');
      if (eq == std::string::npos) {
        throw ConfigError("argument '" + arg + "' is neither a config file nor key=value");
      }
      key = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    set_path(config, key, scalar_from_text(value));
  }
}

LoadedConfig load_config(const std::vector<std::string>& args) {
  LoadedConfig out;
  std::vector<std::string> rest = args;
  if (!rest.empty() && is_config_path(rest.front())) {
    out.path = rest.front();
    out.values = load_config_file(rest.front());
    rest.erase(rest.begin());
  }
  apply_overrides(out.values, rest);
  return out;
}

std::string get_string(const Json& config, const std::string& key, const std::string& fallback) {
  const Json* v = find(config, key);
  if (v == nullptr) return fallback;
  if (v->is_string()) return v->get<std::string>();
  return v->dump();
}

double get_number(const Json& config, const std::string& key, double fallback) {
  const Json* v = find(config, key);
  if (v == nullptr) return fallback;
  if (v->is_number()) return v->get<double>();
  if (v->is_string()) {
    const Json parsed = scalar_from_text(v->get<std::string>());
    if (parsed.is_number()) return parsed.get<double>();
  }
  throw ConfigError("config key '" + key + "' must be a number, got " + v->dump());
}

int64_t get_int(const Json& config, const std::string& key, int64_t fallback) {
  const Json* v = find(config, key);
  if (v == nullptr) return fallback;
  if (v->is_number_integer()) return v->get<int64_t>();
  const double d = get_number(config, key, static_cast<double>(fallback));
  if (std::trunc(d) != d) {
    throw ConfigError("config key '" + key + "' must be a whole number, got " + v->dump());
  }
  return static_cast<int64_t>(d);
}

bool get_bool(const Json& config, const std::string& key, bool fallback) {
  const Json* v = find(config, key);
  if (v == nullptr) return fallback;
  if (v->is_boolean()) return v->get<bool>();
  if (v->is_string()) {
    const std::string l = lower(v->get<std::string>());
    if (l == "true" || l == "yes" || l == "1") return true;
    if (l == "false" || l == "no" || l == "0") return false;
  }
  if (v->is_number_integer()) return v->get<int64_t>() != 0;
  throw ConfigError("config key '" + key + "' must be true or false, got " + v->dump());
}

}  // namespace ascend::standin
