#pragma once

// What one Ascend chip is, and how the kubelet names it.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plugin/error.hpp"

namespace ascend::plugin {

/// Chip families whose HCCS layout differs.
enum class ChipModel {
  kUnknown,
  k910A,   ///< Ascend 910 (first generation): HCCS rings of 4
  k910B,   ///< Ascend 910B1..910B4: one HCCS domain per 8-chip module
  k910A3,  ///< Ascend 910 A3 (910_93xx): laid out like the 16-chip boxes
};

/// One chip as discovery sees it. Only physical_id is always known; the others are -1/empty
/// when the backend cannot tell (the device-file backend knows nothing but the id).
struct Chip {
  int physical_id = -1;  ///< the N in /dev/davinciN, and in Ascend910-N
  int logic_id = -1;     ///< the driver's logical id
  int card_id = -1;      ///< DCMI card
  int device_id = -1;    ///< DCMI device index within its card
  std::string name;      ///< chip name as the driver reports it, e.g. "910B3"

  bool operator==(const Chip&) const = default;
};

/// How much a fault code a chip reports matters (see plugin/discovery/dcmi_faults.hpp).
enum class FaultSeverity {
  kWarning,   ///< logged and exported as a metric; the chip stays Healthy
  kCritical,  ///< the chip is Unhealthy while the code is reported
  kUnknown,   ///< not in the fault table: the driver's own health value decides
};

/// One fault code a chip reports now, e.g. DCMI's 0x80E21007.
struct ChipFault {
  unsigned int code = 0;
  FaultSeverity severity = FaultSeverity::kUnknown;

  bool operator==(const ChipFault&) const = default;
};

/// One chip and whether it can run work now. reason is empty when healthy; faults lists the
/// codes the backend reports now (a Healthy chip may carry warnings).
struct ChipStatus {
  Chip chip;
  bool healthy = true;
  std::string reason;
  std::vector<ChipFault> faults;

  bool operator==(const ChipStatus&) const = default;
};

/// "warning", "critical" or "unknown" (log fields and metric labels).
std::string_view fault_severity_name(FaultSeverity severity);

/// A fault code as npu-smi and Huawei's fault tables print it, e.g. "0x80E21007".
std::string fault_code_text(unsigned int code);

/// The family of a chip from its driver name ("910B3" -> k910B, "910A"/"910ProB" -> k910A).
ChipModel model_from_chip_name(std::string_view name);

/// Parses a configured model ("910A", "910B", "910A3"; case-insensitive). nullopt if unknown.
std::optional<ChipModel> parse_chip_model(std::string_view text);

/// Printable model name, e.g. "910B".
std::string_view chip_model_name(ChipModel model);

/// The kubelet device ID of a chip: "Ascend910-<physical id>".
std::string device_id(int physical_id);

/// The physical id inside a kubelet device ID ("Ascend910-3" -> 3).
/// Errors: kInvalidArgument naming the ID unless it is "Ascend910-<digits>".
Result<int> parse_device_id(std::string_view device_id);

}  // namespace ascend::plugin
