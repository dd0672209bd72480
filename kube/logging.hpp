// Structured logging on spdlog: `msg key=value ...` as text, or one JSON object per line.
#pragma once

#include <initializer_list>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "kube/error.hpp"

namespace spdlog::sinks {
class sink;
}

namespace ascend::kube {

/// How logs look; parse flag values with parse_log_options().
struct LogOptions {
  /// trace, debug, info, warn, error, critical or off.
  std::string level = "info";
  /// "text": `2025-01-02T03:04:05.678Z info msg key=value`; "json": one object per line
  /// with fields `ts`, `level`, `msg` and every key.
  std::string format = "text";
};

/// Validates level and format.
/// Errors: reason `InvalidConfig` naming the flag value that is wrong and the allowed values.
Status validate_log_options(const LogOptions& options);

/// Installs a stderr logger with the given level and format as spdlog's default logger, so
/// plain spdlog::info() calls are formatted the same way. Safe to call again to reconfigure.
/// Errors: as validate_log_options(); the previous logger stays in place.
Status setup_logging(const LogOptions& options);
/// As above, writing to the given sink instead of stderr (tests, files).
Status setup_logging(const LogOptions& options, std::shared_ptr<spdlog::sinks::sink> sink);

namespace log {

/// One structured field. Build with kv(); values are rendered with operator<< (strings as is).
struct Field {
  std::string_view key;
  std::string value;
};

template <typename T>
Field kv(std::string_view key, const T& value) {
  if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    return {key, std::string(std::string_view(value))};
  } else if constexpr (std::is_same_v<T, bool>) {
    return {key, value ? "true" : "false"};
  } else if constexpr (std::is_arithmetic_v<T>) {
    return {key, std::to_string(value)};
  } else {
    std::ostringstream out;
    out << value;
    return {key, out.str()};
  }
}

void trace(std::string_view msg, std::initializer_list<Field> fields = {});
void debug(std::string_view msg, std::initializer_list<Field> fields = {});
void info(std::string_view msg, std::initializer_list<Field> fields = {});
void warn(std::string_view msg, std::initializer_list<Field> fields = {});
void error(std::string_view msg, std::initializer_list<Field> fields = {});

/// A logger with fields bound once and written on every line after the call's own, as
/// controller-runtime's `logger.WithValues()` and tracing's spans do:
///   auto log = kube::log::Logger().with({kv("controller", "lfjob")});
///   log.info("reconciled", {kv("key", key)});   // ... controller=lfjob key=ns/name
/// Cheap to copy; thread-safe (it is immutable once made).
class Logger final {
 public:
  /// A logger with no bound fields (the free functions below, as an object).
  Logger() = default;

  /// A new logger with this one's fields followed by `fields`.
  [[nodiscard]] Logger with(std::initializer_list<Field> fields) const;

  void trace(std::string_view msg, std::initializer_list<Field> fields = {}) const;
  void debug(std::string_view msg, std::initializer_list<Field> fields = {}) const;
  void info(std::string_view msg, std::initializer_list<Field> fields = {}) const;
  void warn(std::string_view msg, std::initializer_list<Field> fields = {}) const;
  void error(std::string_view msg, std::initializer_list<Field> fields = {}) const;

  /// The bound fields, in order (tests).
  [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& fields() const {
    return bound_;
  }

 private:
  std::vector<std::pair<std::string, std::string>> bound_;
};

/// The text a structured call hands to spdlog (message and fields joined by separator
/// characters that the formatters take apart). Exposed for tests.
std::string encode(std::string_view msg, std::initializer_list<Field> fields);

}  // namespace log
}  // namespace ascend::kube
