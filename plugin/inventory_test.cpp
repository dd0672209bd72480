#include "plugin/inventory.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace ascend::plugin {
namespace {

ChipStatus Chip(int id, bool healthy = true) {
  ChipStatus s;
  s.chip.physical_id = id;
  s.healthy = healthy;
  if (!healthy) s.reason = "broken";
  return s;
}

TEST(Inventory, VersionMovesOnlyOnChange) {
  Inventory inventory;
  EXPECT_TRUE(inventory.Update({Chip(1), Chip(0)}));
  const auto first = inventory.Snapshot();
  EXPECT_EQ(first.version, 1U);
  ASSERT_EQ(first.chips.size(), 2U);
  EXPECT_EQ(first.chips[0].chip.physical_id, 0);  // sorted
  EXPECT_FALSE(inventory.Update({Chip(0), Chip(1)}));
  EXPECT_EQ(inventory.Snapshot().version, 1U);
  EXPECT_TRUE(inventory.Update({Chip(0), Chip(1, false)}));
  EXPECT_EQ(inventory.Snapshot().version, 2U);
  ASSERT_NE(inventory.Snapshot().Find(1), nullptr);
  EXPECT_FALSE(inventory.Snapshot().Find(1)->healthy);
  EXPECT_EQ(inventory.Snapshot().Find(7), nullptr);
}

TEST(Inventory, WaitReturnsTheChange) {
  Inventory inventory;
  ASSERT_TRUE(inventory.Update({Chip(0)}));
  std::stop_source stop;
  std::thread writer([&] { inventory.Update({Chip(0, false)}); });
  const auto next = inventory.WaitForChange(1, std::chrono::seconds(30), stop.get_token());
  writer.join();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->version, 2U);
  EXPECT_FALSE(next->chips[0].healthy);
}

TEST(Inventory, StopEndsTheWait) {
  Inventory inventory;
  std::stop_source stop;
  std::thread stopper([&] { stop.request_stop(); });
  const auto next = inventory.WaitForChange(0, std::chrono::seconds(30), stop.get_token());
  stopper.join();
  EXPECT_FALSE(next.has_value());
}

}  // namespace
}  // namespace ascend::plugin
