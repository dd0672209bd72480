#include "plugin/discovery/dcmi_faults.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "plugin/comma_list.hpp"

namespace ascend::plugin {
namespace {

constexpr unsigned int kHealthMinorAlarm = 1;
constexpr unsigned int kHealthCriticalAlarm = 3;

// Codes from Huawei's published default fault table (mind-cluster, ascend-device-plugin's
// faultCode.json): a few of its NotHandleFaultCodes, which leave the chip in service, and of
// its SeparateNPUCodes, which take it out. A short list on purpose: unknown codes fall back to
// the driver's health value, which already marks major and critical alarms Unhealthy.
constexpr unsigned int kDefaultWarnings[] = {0x80E21007, 0x80E38003, 0x80F78006, 0x80C98006,
                                             0x80CB8006};
constexpr unsigned int kDefaultCritical[] = {0x80E3A201, 0x80E18402, 0x80E0020B, 0x817F8002,
                                             0x816F8002};

std::string health_text(unsigned int health) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "0x%X", health);
  return buffer;
}

}  // namespace

DcmiFaultTable DcmiFaultTable::defaults() {
  DcmiFaultTable table;
  for (unsigned int code : kDefaultWarnings)
    table.set(code, FaultSeverity::kWarning);
  for (unsigned int code : kDefaultCritical)
    table.set(code, FaultSeverity::kCritical);
  return table;
}

void DcmiFaultTable::set(unsigned int code, FaultSeverity severity) {
  if (severity == FaultSeverity::kUnknown) {
    codes_.erase(code);
  } else {
    codes_[code] = severity;
  }
}

FaultSeverity DcmiFaultTable::classify(unsigned int code) const {
  const auto it = codes_.find(code);
  return it == codes_.end() ? FaultSeverity::kUnknown : it->second;
}

std::vector<unsigned int> DcmiFaultTable::codes(FaultSeverity severity) const {
  std::vector<unsigned int> out;
  for (const auto& [code, listed] : codes_) {
    if (listed == severity) out.push_back(code);
  }
  return out;
}

std::optional<unsigned int> parse_fault_code(std::string_view text) {
  if (text.starts_with("0x") || text.starts_with("0X")) text.remove_prefix(2);
  if (text.empty() || text.size() > 8) return std::nullopt;
  unsigned int code = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), code, 16);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return code;
}

DcmiVerdict classify_dcmi(unsigned int health, const std::vector<unsigned int>& codes,
                          const DcmiFaultTable& table) {
  DcmiVerdict verdict;
  bool any_critical = false;
  bool all_warnings = !codes.empty();
  for (unsigned int code : codes) {
    const FaultSeverity severity = table.classify(code);
    verdict.faults.push_back(ChipFault{code, severity});
    any_critical = any_critical || severity == FaultSeverity::kCritical;
    all_warnings = all_warnings && severity == FaultSeverity::kWarning;
  }

  const bool running = health <= kHealthCriticalAlarm;
  if (!running || any_critical) {
    verdict.healthy = false;
  } else if (all_warnings) {
    verdict.healthy = true;
  } else {
    verdict.healthy = health <= kHealthMinorAlarm;
  }
  if (!verdict.healthy) {
    verdict.reason = "dcmi health " + health_text(health);
    if (!running) verdict.reason += " (chip not running)";
    if (!codes.empty()) {
      verdict.reason +=
          ", error codes " + join(verdict.faults, [](const ChipFault& fault) {
            std::string code = fault_code_text(fault.code);
            if (fault.severity == FaultSeverity::kUnknown) return code;
            return code + " (" + std::string(fault_severity_name(fault.severity)) + ")";
          });
    }
  }
  return verdict;
}

}  // namespace ascend::plugin
