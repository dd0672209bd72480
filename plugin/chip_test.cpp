#include "plugin/chip.hpp"

#include <gtest/gtest.h>

namespace ascend::plugin {
namespace {

TEST(Chip, ModelFromDriverNames) {
  EXPECT_EQ(model_from_chip_name("910B3"), ChipModel::k910B);
  EXPECT_EQ(model_from_chip_name("910B1"), ChipModel::k910B);
  EXPECT_EQ(model_from_chip_name("910b4"), ChipModel::k910B);
  // First-generation 910 parts are also called 910A, 910B (no digit), 910ProB.
  EXPECT_EQ(model_from_chip_name("910A"), ChipModel::k910A);
  EXPECT_EQ(model_from_chip_name("910B"), ChipModel::k910A);
  EXPECT_EQ(model_from_chip_name("910ProB"), ChipModel::k910A);
  EXPECT_EQ(model_from_chip_name("910_9391"), ChipModel::k910A3);
  EXPECT_EQ(model_from_chip_name("310P3"), ChipModel::kUnknown);
  EXPECT_EQ(model_from_chip_name(""), ChipModel::kUnknown);
}

TEST(Chip, ParsesConfiguredModels) {
  EXPECT_EQ(parse_chip_model("910b"), ChipModel::k910B);
  EXPECT_EQ(parse_chip_model("910A"), ChipModel::k910A);
  EXPECT_EQ(parse_chip_model("910A3"), ChipModel::k910A3);
  EXPECT_FALSE(parse_chip_model("910C").has_value());
  EXPECT_EQ(chip_model_name(ChipModel::k910B), "910B");
}

TEST(Chip, DeviceIdsRoundTrip) {
  EXPECT_EQ(device_id(3), "Ascend910-3");
  EXPECT_EQ(parse_device_id("Ascend910-3").value(), 3);
  EXPECT_EQ(parse_device_id("Ascend910-15").value(), 15);
}

TEST(Chip, RejectsMalformedDeviceIds) {
  for (const char* bad : {"Ascend910-", "Ascend910-x", "Ascend910--1", "Ascend910-1a",
                          "ascend910-1", "Ascend310-1", "", "Ascend910-99999999"}) {
    const Result<int> parsed = parse_device_id(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.error().reason, kInvalidArgument);
    EXPECT_EQ(parsed.error().message,
              "device ID \"" + std::string(bad) + "\" is not of the form Ascend910-<physical id>");
  }
}

}  // namespace
}  // namespace ascend::plugin
