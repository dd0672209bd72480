// The ConfigMap holding a job's inline LLaMA-Factory config as YAML.
#pragma once

#include <optional>
#include <string>

#include "operator/job.hpp"

namespace ascend::op {

/// Renders a JSON value as block YAML that PyYAML reads back as the same value: strings are
/// always double-quoted (so "true", "1e-4" or "null" stay strings), numbers keep their JSON
/// form (3.0 stays a float); keys are quoted too (a key "yes" must not become a bool).
std::string to_yaml(const Json& value);

/// `<job>-config` with key `config.yaml`, or std::nullopt when the job has no inline config
/// (configMapRef, or none).
std::optional<Json> build_config_map(const Job& job);

}  // namespace ascend::op
