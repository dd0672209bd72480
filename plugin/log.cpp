#include "plugin/log.hpp"

#include <spdlog/spdlog.h>

#include <string>

namespace ascend::plugin::log {
namespace {

void Write(spdlog::level::level_enum level, std::string_view msg,
           std::initializer_list<Field> fields) {
  if (!spdlog::should_log(level)) return;
  // kube::log::encode() appends one record per field after the message, so the component
  // record and the caller's records can be joined as they come.
  std::string payload = kube::log::encode(msg, {kv("component", "plugin")});
  payload += kube::log::encode("", fields);
  spdlog::log(level, "{}", payload);
}

}  // namespace

void Debug(std::string_view msg, std::initializer_list<Field> fields) {
  Write(spdlog::level::debug, msg, fields);
}
void Info(std::string_view msg, std::initializer_list<Field> fields) {
  Write(spdlog::level::info, msg, fields);
}
void Warn(std::string_view msg, std::initializer_list<Field> fields) {
  Write(spdlog::level::warn, msg, fields);
}
void Error(std::string_view msg, std::initializer_list<Field> fields) {
  Write(spdlog::level::err, msg, fields);
}

}  // namespace ascend::plugin::log
