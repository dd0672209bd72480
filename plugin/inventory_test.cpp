#include "plugin/inventory.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace ascend::plugin {
namespace {

ChipStatus chip_status(int id, bool healthy = true) {
  ChipStatus s;
  s.chip.physical_id = id;
  s.healthy = healthy;
  if (!healthy) s.reason = "broken";
  return s;
}

TEST(Inventory, VersionMovesOnlyOnChange) {
  Inventory inventory;
  EXPECT_TRUE(inventory.update({chip_status(1), chip_status(0)}));
  const auto first = inventory.snapshot();
  EXPECT_EQ(first.version, 1U);
  ASSERT_EQ(first.chips.size(), 2U);
  EXPECT_EQ(first.chips[0].chip.physical_id, 0);  // sorted
  EXPECT_FALSE(inventory.update({chip_status(0), chip_status(1)}));
  EXPECT_EQ(inventory.snapshot().version, 1U);
  EXPECT_TRUE(inventory.update({chip_status(0), chip_status(1, false)}));
  EXPECT_EQ(inventory.snapshot().version, 2U);
  ASSERT_NE(inventory.snapshot().find(1), nullptr);
  EXPECT_FALSE(inventory.snapshot().find(1)->healthy);
  EXPECT_EQ(inventory.snapshot().find(7), nullptr);
}

TEST(Inventory, WaitReturnsTheChange) {
  Inventory inventory;
  ASSERT_TRUE(inventory.update({chip_status(0)}));
  std::stop_source stop;
  std::thread writer([&] { inventory.update({chip_status(0, false)}); });
  const auto next = inventory.wait_for_change(1, std::chrono::seconds(30), stop.get_token());
  writer.join();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->version, 2U);
  EXPECT_FALSE(next->chips[0].healthy);
}

TEST(Inventory, StopEndsTheWait) {
  Inventory inventory;
  std::stop_source stop;
  std::thread stopper([&] { stop.request_stop(); });
  const auto next = inventory.wait_for_change(0, std::chrono::seconds(30), stop.get_token());
  stopper.join();
  EXPECT_FALSE(next.has_value());
}

}  // namespace
}  // namespace ascend::plugin
