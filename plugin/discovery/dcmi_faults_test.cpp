#include "plugin/discovery/dcmi_faults.hpp"

#include <gtest/gtest.h>

namespace ascend::plugin {
namespace {

constexpr unsigned int kWarningCode = 0x80E21007;   // a default warning
constexpr unsigned int kCriticalCode = 0x80E3A201;  // a default critical code
constexpr unsigned int kUnlistedCode = 0x80CB8009;  // in neither default list

TEST(DcmiFaults, ParsesCodesAsNpuSmiPrintsThem) {
  EXPECT_EQ(parse_fault_code("80E21007"), 0x80E21007U);
  EXPECT_EQ(parse_fault_code("0x80e21007"), 0x80E21007U);
  EXPECT_EQ(parse_fault_code("0X1"), 1U);
  EXPECT_FALSE(parse_fault_code("").has_value());
  EXPECT_FALSE(parse_fault_code("0x").has_value());
  EXPECT_FALSE(parse_fault_code("80E210070").has_value());  // 9 digits
  EXPECT_FALSE(parse_fault_code("80E2100G").has_value());
  EXPECT_FALSE(parse_fault_code("-1").has_value());
  EXPECT_EQ(fault_code_text(0x80E21007), "0x80E21007");
  EXPECT_EQ(fault_code_text(0x1), "0x00000001");
}

TEST(DcmiFaults, TableListsCodesBySeverity) {
  const DcmiFaultTable defaults = DcmiFaultTable::defaults();
  EXPECT_EQ(defaults.classify(kWarningCode), FaultSeverity::kWarning);
  EXPECT_EQ(defaults.classify(kCriticalCode), FaultSeverity::kCritical);
  EXPECT_EQ(defaults.classify(kUnlistedCode), FaultSeverity::kUnknown);
  EXPECT_EQ(defaults.codes(FaultSeverity::kWarning).size(), 5U);
  EXPECT_EQ(defaults.codes(FaultSeverity::kCritical).size(), 5U);

  DcmiFaultTable table;
  EXPECT_EQ(table.classify(kWarningCode), FaultSeverity::kUnknown);
  table.set(kWarningCode, FaultSeverity::kCritical);
  EXPECT_EQ(table.classify(kWarningCode), FaultSeverity::kCritical);
  table.set(kWarningCode, FaultSeverity::kUnknown);
  EXPECT_EQ(table.classify(kWarningCode), FaultSeverity::kUnknown);
  EXPECT_TRUE(table.codes(FaultSeverity::kCritical).empty());
}

// The verdict for every combination of alarm level and kind of code.
struct Case {
  unsigned int health;
  std::vector<unsigned int> codes;
  bool healthy;
  const char* reason;
};

TEST(DcmiFaults, HealthValueAndCodesDecideTogether) {
  const DcmiFaultTable table = DcmiFaultTable::defaults();
  const std::vector<Case> cases = {
      // No codes: the alarm level decides.
      {0, {}, true, ""},
      {1, {}, true, ""},
      {2, {}, false, "dcmi health 0x2"},
      {3, {}, false, "dcmi health 0x3"},
      {0xFFFFFFFF, {}, false, "dcmi health 0xFFFFFFFF (chip not running)"},
      // Known warnings keep the chip in service even under a major or critical alarm.
      {1, {kWarningCode}, true, ""},
      {3, {kWarningCode}, true, ""},
      // A critical code takes it out even under a minor alarm.
      {1, {kCriticalCode}, false, "dcmi health 0x1, error codes 0x80E3A201 (critical)"},
      {1,
       {kWarningCode, kCriticalCode},
       false,
       "dcmi health 0x1, error codes 0x80E21007 (warning),0x80E3A201 (critical)"},
      // Codes the table does not know: back to the alarm level.
      {1, {kUnlistedCode}, true, ""},
      {2,
       {kWarningCode, kUnlistedCode},
       false,
       "dcmi health 0x2, error codes 0x80E21007 (warning),0x80CB8009"},
      // A chip that is not running stays out whatever the codes say.
      {0xFFFFFFFF,
       {kWarningCode},
       false,
       "dcmi health 0xFFFFFFFF (chip not running), error codes 0x80E21007 (warning)"},
  };
  for (const Case& c : cases) {
    const DcmiVerdict verdict = classify_dcmi(c.health, c.codes, table);
    EXPECT_EQ(verdict.healthy, c.healthy) << c.reason;
    EXPECT_EQ(verdict.reason, c.reason);
    ASSERT_EQ(verdict.faults.size(), c.codes.size());
    for (std::size_t i = 0; i < c.codes.size(); ++i) {
      EXPECT_EQ(verdict.faults[i].code, c.codes[i]);
      EXPECT_EQ(verdict.faults[i].severity, table.classify(c.codes[i]));
    }
  }
}

TEST(DcmiFaults, AnEmptyTableLeavesEverythingToTheHealthValue) {
  const DcmiFaultTable empty;
  EXPECT_TRUE(classify_dcmi(1, {kCriticalCode}, empty).healthy);
  EXPECT_FALSE(classify_dcmi(2, {kWarningCode}, empty).healthy);
}

}  // namespace
}  // namespace ascend::plugin
