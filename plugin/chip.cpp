#include "plugin/chip.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <string>

namespace ascend::plugin {
namespace {

constexpr std::string_view kDevicePrefix = "Ascend910-";

std::string to_upper(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

}  // namespace

ChipModel model_from_chip_name(std::string_view name) {
  const std::string upper = to_upper(name);
  // The driver reports e.g. "910B3" for 910B, "910_9391" or "910A3" for the A3 dies, and
  // "910A"/"910B"(!)/"910PROB" for the first generation. Order matters: test the longer forms.
  if (upper.starts_with("910_93") || upper.starts_with("910A3")) return ChipModel::k910A3;
  if (upper.size() >= 5 && upper.starts_with("910B") && std::isdigit(upper[4]) != 0) {
    return ChipModel::k910B;
  }
  if (upper.starts_with("910")) return ChipModel::k910A;
  return ChipModel::kUnknown;
}

std::optional<ChipModel> parse_chip_model(std::string_view text) {
  const std::string upper = to_upper(text);
  if (upper == "910A") return ChipModel::k910A;
  if (upper == "910B") return ChipModel::k910B;
  if (upper == "910A3") return ChipModel::k910A3;
  return std::nullopt;
}

std::string_view chip_model_name(ChipModel model) {
  switch (model) {
    case ChipModel::k910A:
      return "910A";
    case ChipModel::k910B:
      return "910B";
    case ChipModel::k910A3:
      return "910A3";
    case ChipModel::kUnknown:
      break;
  }
  return "unknown";
}

std::string_view fault_severity_name(FaultSeverity severity) {
  switch (severity) {
    case FaultSeverity::kWarning:
      return "warning";
    case FaultSeverity::kCritical:
      return "critical";
    case FaultSeverity::kUnknown:
      break;
  }
  return "unknown";
}

std::string fault_code_text(unsigned int code) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "0x%08X", code);
  return buffer;
}

std::string device_id(int physical_id) {
  return std::string(kDevicePrefix) + std::to_string(physical_id);
}

Result<int> parse_device_id(std::string_view device_id) {
  const auto malformed = [&] {
    return invalid_argument("device ID \"" + std::string(device_id) +
                            "\" is not of the form Ascend910-<physical id>");
  };
  if (!device_id.starts_with(kDevicePrefix)) return malformed();
  const std::string_view digits = device_id.substr(kDevicePrefix.size());
  if (digits.empty() || digits.size() > 6) return malformed();
  for (char c : digits) {
    if (c < '0' || c > '9') return malformed();  // from_chars alone accepts a leading '-'
  }
  int id = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
  if (ec != std::errc() || end != digits.data() + digits.size()) return malformed();
  return id;
}

}  // namespace ascend::plugin
