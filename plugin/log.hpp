#pragma once

// The plugin's structured logs: kube/'s logging with component=plugin on every line, e.g.
//   2026-01-02T03:04:05.678Z info registered with kubelet component=plugin resource=...

#include <initializer_list>
#include <string_view>

#include "kube/logging.hpp"

namespace ascend::plugin::log {

using kube::log::Field;
using kube::log::kv;

void Debug(std::string_view msg, std::initializer_list<Field> fields = {});
void Info(std::string_view msg, std::initializer_list<Field> fields = {});
void Warn(std::string_view msg, std::initializer_list<Field> fields = {});
void Error(std::string_view msg, std::initializer_list<Field> fields = {});

}  // namespace ascend::plugin::log
