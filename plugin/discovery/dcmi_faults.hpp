#pragma once

// What DCMI's health value and fault codes mean for a chip. The driver raises an alarm level
// (dcmi_get_device_health) and lists the fault codes behind it (dcmi_get_device_errorcode_v2);
// not every alarm makes a chip unusable. Like Huawei's plugin, which sorts codes into handling
// levels (faultCode.json), we keep a table of codes by severity: warnings are logged and
// exported but leave the chip Healthy, critical codes make it Unhealthy, and codes the table
// does not know leave the decision to the health value.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plugin/chip.hpp"

namespace ascend::plugin {

/// Fault codes by severity. Codes not listed classify as kUnknown.
class DcmiFaultTable final {
 public:
  /// An empty table: every code is kUnknown, so the health value alone decides.
  DcmiFaultTable() = default;

  /// The built-in table: a few codes Huawei's default fault table leaves unhandled (warnings)
  /// or isolates the chip for (critical). Operators extend it with --dcmi-warning-codes and
  /// --dcmi-critical-codes.
  static DcmiFaultTable defaults();

  /// Lists a code (replacing its earlier severity). kUnknown removes it.
  void set(unsigned int code, FaultSeverity severity);

  /// The severity of a code; kUnknown when the table does not list it.
  FaultSeverity classify(unsigned int code) const;

  /// Every listed code of one severity, ascending.
  std::vector<unsigned int> codes(FaultSeverity severity) const;

  bool operator==(const DcmiFaultTable&) const = default;

 private:
  std::map<unsigned int, FaultSeverity> codes_;
};

/// Parses a fault code as npu-smi and Huawei's tables write it: up to 8 hex digits, with or
/// without 0x, any case ("80E21007", "0x80e21007"). nullopt otherwise.
std::optional<unsigned int> parse_fault_code(std::string_view text);

/// What a chip's DCMI state amounts to.
struct DcmiVerdict {
  bool healthy = true;
  std::string reason;             ///< empty when healthy
  std::vector<ChipFault> faults;  ///< every reported code with its severity
};

/// Decides a chip's health from its DCMI health value and fault codes:
///   - a health value other than 0..3 (0xFFFFFFFF: the chip is not running) is Unhealthy;
///   - any critical code makes the chip Unhealthy;
///   - when every code is a known warning, the chip stays Healthy whatever the alarm level
///     (the table is the operator's judgement, as Huawei's "not handled" level);
///   - otherwise (no codes, or codes the table does not know) the health value decides:
///     0 normal and 1 minor alarm are Healthy, 2 major and 3 critical alarm Unhealthy.
/// The reason names the health value and the codes, classified ones with their severity.
DcmiVerdict classify_dcmi(unsigned int health, const std::vector<unsigned int>& codes,
                          const DcmiFaultTable& table);

}  // namespace ascend::plugin
