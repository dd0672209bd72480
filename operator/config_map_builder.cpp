#include "operator/config_map_builder.hpp"

#include <yaml-cpp/yaml.h>

#include "operator/children.hpp"

namespace ascend::op {

namespace {

void emit(YAML::Emitter& out, const Json& value) {
  switch (value.type()) {
    case Json::value_t::object:
      out << YAML::BeginMap;
      for (const auto& [k, v] : value.items()) {
        out << YAML::Key << YAML::DoubleQuoted << k << YAML::Value;
        emit(out, v);
      }
      out << YAML::EndMap;
      break;
    case Json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& v : value)
        emit(out, v);
      out << YAML::EndSeq;
      break;
    case Json::value_t::string:
      out << YAML::DoubleQuoted << value.get<std::string>();
      break;
    case Json::value_t::boolean:
      out << (value.get<bool>() ? "true" : "false");
      break;
    case Json::value_t::null:
      out << YAML::Null;
      break;
    default:  // numbers: nlohmann's shortest round-trip form, 3.0 as "3.0"
      out << value.dump();
      break;
  }
}

}  // namespace

std::string to_yaml(const Json& value) {
  YAML::Emitter out;
  out.SetMapFormat(YAML::Block);
  out.SetSeqFormat(YAML::Block);
  emit(out, value);
  return std::string(out.c_str()) + "\n";
}

std::optional<Json> build_config_map(const Job& job) {
  if (!job.spec.config) return std::nullopt;
  return Json{{"apiVersion", "v1"},
              {"kind", "ConfigMap"},
              {"metadata", child_metadata(job, config_map_name(job.name))},
              {"data", {{workload::kConfigFile, to_yaml(*job.spec.config)}}}};
}

}  // namespace ascend::op
