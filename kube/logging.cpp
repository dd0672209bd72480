#include "kube/logging.hpp"

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <utility>
#include <vector>

namespace ascend::kube {
namespace {

// The structured payload: msg US key RS value US key RS value ... (ASCII unit and record
// separators never appear in sane log text, and a plain spdlog call simply has none).
constexpr char kFieldSep = '\x1f';
constexpr char kKeySep = '\x1e';

struct Decoded {
  std::string_view msg;
  std::vector<std::pair<std::string_view, std::string_view>> fields;
};

Decoded decode(std::string_view payload) {
  Decoded out;
  std::size_t pos = payload.find(kFieldSep);
  out.msg = payload.substr(0, pos);
  while (pos != std::string_view::npos) {
    const std::size_t next = payload.find(kFieldSep, pos + 1);
    const std::string_view item = payload.substr(pos + 1, next - pos - 1);
    const std::size_t k = item.find(kKeySep);
    if (k != std::string_view::npos) out.fields.emplace_back(item.substr(0, k), item.substr(k + 1));
    pos = next;
  }
  return out;
}

void append_time(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  const auto t = std::chrono::system_clock::to_time_t(msg.time);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count() %
      1000;
  std::array<char, 40> buf{};
  const std::size_t n = std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%S", &tm);
  dest.append(buf.data(), buf.data() + n);
  const std::string frac =
      "." + std::string(ms < 100 ? (ms < 10 ? "00" : "0") : "") + std::to_string(ms) + "Z";
  dest.append(frac.data(), frac.data() + frac.size());
}

void append(spdlog::memory_buf_t& dest, std::string_view s) {
  dest.append(s.data(), s.data() + s.size());
}

std::string_view level_name(spdlog::level::level_enum level) {
  const auto& name = spdlog::level::to_string_view(level);
  return {name.data(), name.size()};
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (const char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      return true;
    }
  }
  return false;
}

// JSON string escaping; also used for quoted text values (logfmt quoting is the same idea).
void append_escaped(spdlog::memory_buf_t& dest, std::string_view s) {
  for (const char c : s) {
    switch (c) {
      case '"':
        append(dest, "\\\"");
        break;
      case '\\':
        append(dest, "\\\\");
        break;
      case '\n':
        append(dest, "\\n");
        break;
      case '\r':
        append(dest, "\\r");
        break;
      case '\t':
        append(dest, "\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          std::array<char, 8> buf{};
          const int n = std::snprintf(buf.data(), buf.size(), "\\u%04x", c);
          dest.append(buf.data(), buf.data() + n);
        } else {
          dest.push_back(c);
        }
    }
  }
}

class TextFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const Decoded d = decode({msg.payload.data(), msg.payload.size()});
    append_time(msg, dest);
    dest.push_back(' ');
    append(dest, level_name(msg.level));
    dest.push_back(' ');
    append(dest, d.msg);
    for (const auto& [k, v] : d.fields) {
      dest.push_back(' ');
      append(dest, k);
      dest.push_back('=');
      if (needs_quotes(v)) {
        dest.push_back('"');
        append_escaped(dest, v);
        dest.push_back('"');
      } else {
        append(dest, v);
      }
    }
    dest.push_back('\n');
  }
  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<TextFormatter>();
  }
};

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const Decoded d = decode({msg.payload.data(), msg.payload.size()});
    append(dest, R"({"ts":")");
    append_time(msg, dest);
    append(dest, R"(","level":")");
    append(dest, level_name(msg.level));
    append(dest, R"(","msg":")");
    append_escaped(dest, d.msg);
    dest.push_back('"');
    for (const auto& [k, v] : d.fields) {
      append(dest, ",\"");
      append_escaped(dest, k);
      append(dest, "\":\"");
      append_escaped(dest, v);
      dest.push_back('"');
    }
    append(dest, "}\n");
  }
  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

// True once setup_logging() installed our formatters.
std::atomic<bool> g_structured{false};

using BoundFields = std::vector<std::pair<std::string, std::string>>;

void append_field(std::string& out, bool structured, std::string_view key, std::string_view value) {
  if (structured) {
    out += kFieldSep;
    out += key;
    out += kKeySep;
    out += value;
    return;
  }
  out += ' ';
  out += key;
  out += '=';
  if (needs_quotes(value)) {
    out += '"';
    out += value;
    out += '"';
  } else {
    out += value;
  }
}

// Writes msg, then the bound fields, then the call's own.
void emit(spdlog::level::level_enum level, std::string_view msg, const BoundFields& bound,
          std::initializer_list<log::Field> fields) {
  auto* logger = spdlog::default_logger_raw();
  if (!logger->should_log(level)) return;
  // Until setup_logging() installed our formatters (a program that configured spdlog its own
  // way), fields are rendered inline as ` key=value`.
  const bool structured = g_structured.load();
  std::string line(msg);
  for (const auto& [key, value] : bound)
    append_field(line, structured, key, value);
  for (const auto& f : fields)
    append_field(line, structured, f.key, f.value);
  logger->log(level, "{}", line);
}

const BoundFields kNoFields;

}  // namespace

Status validate_log_options(const LogOptions& options) {
  static constexpr std::array<std::string_view, 7> kLevels = {"trace", "debug",    "info", "warn",
                                                              "error", "critical", "off"};
  if (std::find(kLevels.begin(), kLevels.end(), options.level) == kLevels.end()) {
    return Error{0, "InvalidConfig",
                 "log level '" + options.level +
                     "' is not one of trace, debug, info, warn, error, critical, off"};
  }
  if (options.format != "text" && options.format != "json") {
    return Error{0, "InvalidConfig",
                 "log format '" + options.format + "' is not one of text, json"};
  }
  return {};
}

Status setup_logging(const LogOptions& options) {
  return setup_logging(options, std::make_shared<spdlog::sinks::stderr_sink_mt>());
}

Status setup_logging(const LogOptions& options, std::shared_ptr<spdlog::sinks::sink> sink) {
  if (auto s = validate_log_options(options); !s) return s;
  auto logger = std::make_shared<spdlog::logger>("ascend", std::move(sink));
  if (options.format == "json") {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_formatter(std::make_unique<TextFormatter>());
  }
  logger->set_level(spdlog::level::from_str(options.level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  g_structured = true;
  return {};
}

namespace log {

std::string encode(std::string_view msg, std::initializer_list<Field> fields) {
  std::string out(msg);
  for (const auto& f : fields) {
    out += kFieldSep;
    out += f.key;
    out += kKeySep;
    out += f.value;
  }
  return out;
}

void trace(std::string_view msg, std::initializer_list<Field> fields) {
  emit(spdlog::level::trace, msg, kNoFields, fields);
}
void debug(std::string_view msg, std::initializer_list<Field> fields) {
  emit(spdlog::level::debug, msg, kNoFields, fields);
}
void info(std::string_view msg, std::initializer_list<Field> fields) {
  emit(spdlog::level::info, msg, kNoFields, fields);
}
void warn(std::string_view msg, std::initializer_list<Field> fields) {
  emit(spdlog::level::warn, msg, kNoFields, fields);
}
void error(std::string_view msg, std::initializer_list<Field> fields) {
  emit(spdlog::level::err, msg, kNoFields, fields);
}

Logger Logger::with(std::initializer_list<Field> fields) const {
  Logger out = *this;
  for (const auto& f : fields)
    out.bound_.emplace_back(std::string(f.key), f.value);
  return out;
}

void Logger::trace(std::string_view msg, std::initializer_list<Field> fields) const {
  emit(spdlog::level::trace, msg, bound_, fields);
}
void Logger::debug(std::string_view msg, std::initializer_list<Field> fields) const {
  emit(spdlog::level::debug, msg, bound_, fields);
}
void Logger::info(std::string_view msg, std::initializer_list<Field> fields) const {
  emit(spdlog::level::info, msg, bound_, fields);
}
void Logger::warn(std::string_view msg, std::initializer_list<Field> fields) const {
  emit(spdlog::level::warn, msg, bound_, fields);
}
void Logger::error(std::string_view msg, std::initializer_list<Field> fields) const {
  emit(spdlog::level::err, msg, bound_, fields);
}

}  // namespace log
}  // namespace ascend::kube
