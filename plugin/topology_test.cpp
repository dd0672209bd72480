#include "plugin/topology.hpp"

#include <gtest/gtest.h>

namespace ascend::plugin {
namespace {

TEST(Topology, Ring4AllowsOneTwoFourEight) {
  const Topology t(TopologyKind::kRing4);
  EXPECT_EQ(t.domain_of(3), 0);
  EXPECT_EQ(t.domain_of(4), 1);
  for (int n : {1, 2, 4, 8})
    EXPECT_TRUE(t.valid_size(n)) << n;
  for (int n : {0, 3, 5, 6, 7, 9, 16})
    EXPECT_FALSE(t.valid_size(n)) << n;
}

TEST(Topology, Module8IsOneDomain) {
  const Topology t(TopologyKind::kModule8);
  EXPECT_EQ(t.domain_of(0), t.domain_of(7));
  for (int n = 1; n <= 8; ++n)
    EXPECT_TRUE(t.valid_size(n)) << n;
  EXPECT_FALSE(t.valid_size(9));
}

TEST(Topology, Box16HasTwoHalvesAndNoOddSizesAboveEight) {
  const Topology t(TopologyKind::kBox16);
  EXPECT_EQ(t.domain_of(7), 0);
  EXPECT_EQ(t.domain_of(8), 1);
  for (int n : {1, 3, 7, 8, 10, 12, 14, 16})
    EXPECT_TRUE(t.valid_size(n)) << n;
  for (int n : {9, 11, 13, 15, 17})
    EXPECT_FALSE(t.valid_size(n)) << n;
}

TEST(Topology, InferredFromModelAndIds) {
  EXPECT_EQ(infer_topology(ChipModel::k910A, {0, 1, 2, 3, 4, 5, 6, 7}), TopologyKind::kRing4);
  EXPECT_EQ(infer_topology(ChipModel::k910B, {0, 1, 2, 3, 4, 5, 6, 7}), TopologyKind::kModule8);
  EXPECT_EQ(infer_topology(ChipModel::k910B, {0, 15}), TopologyKind::kBox16);
  EXPECT_EQ(infer_topology(ChipModel::kUnknown, {}), TopologyKind::kModule8);
}

TEST(Topology, ParsesNames) {
  EXPECT_EQ(parse_topology_kind("box16"), TopologyKind::kBox16);
  EXPECT_EQ(parse_topology_kind("910a-ring4"), TopologyKind::kRing4);
  EXPECT_FALSE(parse_topology_kind("auto").has_value());
  EXPECT_FALSE(parse_topology_kind("ring").has_value());
}

TEST(Topology, ChipModelFromConfigOrDiscovery) {
  std::vector<ChipStatus> chips(2);
  chips[1].chip.name = "910B3";
  EXPECT_EQ(resolve_chip_model(std::nullopt, chips), ChipModel::k910B);
  EXPECT_EQ(resolve_chip_model(ChipModel::k910A, chips), ChipModel::k910A);
  EXPECT_EQ(resolve_chip_model(std::nullopt, {}), ChipModel::kUnknown);
}

}  // namespace
}  // namespace ascend::plugin
