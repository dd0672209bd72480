#include "plugin/chip.hpp"

#include <gtest/gtest.h>

namespace ascend::plugin {
namespace {

TEST(Chip, ModelFromDriverNames) {
  EXPECT_EQ(ModelFromChipName("910B3"), ChipModel::k910B);
  EXPECT_EQ(ModelFromChipName("910B1"), ChipModel::k910B);
  EXPECT_EQ(ModelFromChipName("910b4"), ChipModel::k910B);
  // First-generation 910 parts are also called 910A, 910B (no digit), 910ProB.
  EXPECT_EQ(ModelFromChipName("910A"), ChipModel::k910A);
  EXPECT_EQ(ModelFromChipName("910B"), ChipModel::k910A);
  EXPECT_EQ(ModelFromChipName("910ProB"), ChipModel::k910A);
  EXPECT_EQ(ModelFromChipName("910_9391"), ChipModel::k910A3);
  EXPECT_EQ(ModelFromChipName("310P3"), ChipModel::kUnknown);
  EXPECT_EQ(ModelFromChipName(""), ChipModel::kUnknown);
}

TEST(Chip, ParsesConfiguredModels) {
  EXPECT_EQ(ParseChipModel("910b"), ChipModel::k910B);
  EXPECT_EQ(ParseChipModel("910A"), ChipModel::k910A);
  EXPECT_EQ(ParseChipModel("910A3"), ChipModel::k910A3);
  EXPECT_FALSE(ParseChipModel("910C").has_value());
  EXPECT_EQ(ChipModelName(ChipModel::k910B), "910B");
}

TEST(Chip, DeviceIdsRoundTrip) {
  EXPECT_EQ(DeviceId(3), "Ascend910-3");
  EXPECT_EQ(PhysicalIdFromDeviceId("Ascend910-3"), 3);
  EXPECT_EQ(PhysicalIdFromDeviceId("Ascend910-15"), 15);
}

TEST(Chip, RejectsMalformedDeviceIds) {
  for (const char* bad : {"Ascend910-", "Ascend910-x", "Ascend910--1", "Ascend910-1a",
                          "ascend910-1", "Ascend310-1", "", "Ascend910-99999999"}) {
    EXPECT_FALSE(PhysicalIdFromDeviceId(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace ascend::plugin
