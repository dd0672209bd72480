#include "plugin/health.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>

#include "plugin/discovery/devfs.hpp"
#include "plugin/testing/fake_host.hpp"

namespace ascend::plugin {
namespace {

using kube::testing::TempDir;
using ::testing::HasSubstr;

// A scripted backend: the test sets what the next scans return.
class ScriptedDiscovery final : public Discovery {
 public:
  std::string_view name() const override { return "scripted"; }
  Result<std::vector<ChipStatus>> scan() override {
    const std::lock_guard lock(mu_);
    if (!error_.empty()) return unavailable(error_);
    return chips_;
  }
  void set(std::vector<ChipStatus> chips) {
    const std::lock_guard lock(mu_);
    chips_ = std::move(chips);
    error_.clear();
  }
  void fail(std::string error) {
    const std::lock_guard lock(mu_);
    error_ = std::move(error);
  }

 private:
  std::mutex mu_;
  std::vector<ChipStatus> chips_;
  std::string error_;
};

std::vector<ChipStatus> make_chips(int n, int sick = -1) {
  std::vector<ChipStatus> out(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    out[static_cast<std::size_t>(i)].chip.physical_id = i;
    if (i == sick) {
      out[static_cast<std::size_t>(i)].healthy = false;
      out[static_cast<std::size_t>(i)].reason = "dcmi health 0x3";
    }
  }
  return out;
}

// Waits (bounded only so a broken build cannot hang) until the predicate holds.
bool wait_for_inventory(const Inventory& inventory,
                        const std::function<bool(const InventorySnapshot&)>& ok) {
  std::stop_source never;
  InventorySnapshot s = inventory.snapshot();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!ok(s)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    if (auto next = inventory.wait_for_change(s.version, std::chrono::milliseconds(200),
                                              never.get_token())) {
      s = *next;
    }
  }
  return true;
}

class HealthTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::make_device_tree(dir_ / "dev", 8); }
  HealthOptions health_options(std::chrono::milliseconds interval = std::chrono::hours(1)) const {
    return HealthOptions{dir_ / "dev", interval, true, true};
  }

  TempDir dir_;
  Inventory inventory_;
};

TEST_F(HealthTest, VanishedNodeIsUnhealthyAndRecovers) {
  DevfsDiscovery devfs({dir_ / "dev", true});
  HealthMonitor monitor(devfs, inventory_, health_options());
  ASSERT_TRUE(monitor.check_now());
  EXPECT_EQ(inventory_.snapshot().chips.size(), 8U);

  std::filesystem::remove(dir_ / "dev/davinci3");
  ASSERT_TRUE(monitor.check_now());
  const InventorySnapshot after = inventory_.snapshot();
  const ChipStatus* three = after.find(3);
  ASSERT_NE(three, nullptr);  // still listed: capacity stays, allocatable drops
  EXPECT_FALSE(three->healthy);

  kube::testing::write_file(dir_ / "dev/davinci3");
  ASSERT_TRUE(monitor.check_now());
  EXPECT_TRUE(inventory_.snapshot().find(3)->healthy);
  EXPECT_FALSE(monitor.check_now());  // nothing changed
}

TEST_F(HealthTest, DeviceNodeCheckAppliesToEveryBackend) {
  ScriptedDiscovery backend;
  backend.set(make_chips(8));
  HealthMonitor monitor(backend, inventory_, health_options());
  monitor.check_now();
  std::filesystem::remove(dir_ / "dev/davinci5");
  monitor.check_now();
  const auto snapshot = inventory_.snapshot();
  EXPECT_FALSE(snapshot.find(5)->healthy);
  EXPECT_THAT(snapshot.find(5)->reason, HasSubstr("davinci5 missing"));
  EXPECT_TRUE(snapshot.find(4)->healthy);
}

TEST_F(HealthTest, BackendFaultsComeAndGo) {
  ScriptedDiscovery backend;
  backend.set(make_chips(8));
  HealthMonitor monitor(backend, inventory_, health_options());
  monitor.check_now();

  backend.set(make_chips(8, 2));
  monitor.check_now();
  EXPECT_FALSE(inventory_.snapshot().find(2)->healthy);
  EXPECT_EQ(inventory_.snapshot().find(2)->reason, "dcmi health 0x3");

  backend.set(make_chips(7));  // chip 7 no longer reported
  monitor.check_now();
  EXPECT_TRUE(inventory_.snapshot().find(2)->healthy);
  EXPECT_FALSE(inventory_.snapshot().find(7)->healthy);
  EXPECT_THAT(inventory_.snapshot().find(7)->reason, HasSubstr("no longer reports"));

  backend.fail("driver gone");
  monitor.check_now();
  for (const auto& chip : inventory_.snapshot().chips)
    EXPECT_FALSE(chip.healthy);

  backend.set(make_chips(8));
  monitor.check_now();
  for (const auto& chip : inventory_.snapshot().chips)
    EXPECT_TRUE(chip.healthy);
}

TEST_F(HealthTest, WarningsTravelWithAHealthyChip) {
  ScriptedDiscovery backend;
  backend.set(make_chips(8));
  HealthMonitor monitor(backend, inventory_, health_options());
  monitor.check_now();

  auto warned = make_chips(8);
  warned[4].faults = {{0x80E21007, FaultSeverity::kWarning}};
  backend.set(warned);
  EXPECT_TRUE(monitor.check_now());  // a new warning is a change: the kubelet gets the list again
  InventorySnapshot snapshot = inventory_.snapshot();
  EXPECT_TRUE(snapshot.find(4)->healthy);
  EXPECT_EQ(snapshot.find(4)->faults, warned[4].faults);
  EXPECT_FALSE(monitor.check_now());

  // The node vanishing overrides the backend's view, warnings and all.
  std::filesystem::remove(dir_ / "dev/davinci4");
  monitor.check_now();
  snapshot = inventory_.snapshot();
  EXPECT_FALSE(snapshot.find(4)->healthy);
  EXPECT_TRUE(snapshot.find(4)->faults.empty());

  kube::testing::write_file(dir_ / "dev/davinci4");
  backend.set(make_chips(8));
  monitor.check_now();
  snapshot = inventory_.snapshot();
  EXPECT_TRUE(snapshot.find(4)->faults.empty());
  EXPECT_TRUE(snapshot.find(4)->healthy);
}

TEST_F(HealthTest, InotifySeesAVanishedNodeWithoutWaitingForThePoll) {
  DevfsDiscovery devfs({dir_ / "dev", true});
  HealthMonitor monitor(devfs, inventory_, health_options(std::chrono::hours(1)));
  monitor.check_now();
  monitor.start();
  std::filesystem::remove(dir_ / "dev/davinci6");
  EXPECT_TRUE(wait_for_inventory(inventory_, [](const InventorySnapshot& s) {
    return s.find(6) != nullptr && !s.find(6)->healthy;
  }));
  kube::testing::write_file(dir_ / "dev/davinci6");
  EXPECT_TRUE(wait_for_inventory(inventory_,
                                 [](const InventorySnapshot& s) { return s.find(6)->healthy; }));
  monitor.stop();
}

TEST_F(HealthTest, PollingSeesBackendChanges) {
  ScriptedDiscovery backend;
  backend.set(make_chips(8));
  HealthMonitor monitor(backend, inventory_, health_options(std::chrono::milliseconds(100)));
  monitor.check_now();
  monitor.start();
  backend.set(make_chips(8, 1));
  EXPECT_TRUE(wait_for_inventory(inventory_,
                                 [](const InventorySnapshot& s) { return !s.find(1)->healthy; }));
  backend.set(make_chips(8));
  EXPECT_TRUE(wait_for_inventory(inventory_,
                                 [](const InventorySnapshot& s) { return s.find(1)->healthy; }));
  monitor.stop();
  EXPECT_GE(monitor.checks(), 3U);
}

TEST_F(HealthTest, MissingDeviceRootServesNothingThenPicksChipsUp) {
  DevfsDiscovery devfs({dir_ / "later", true});
  HealthMonitor monitor(devfs, inventory_, health_options(std::chrono::milliseconds(100)));
  EXPECT_FALSE(monitor.check_now());
  EXPECT_TRUE(inventory_.snapshot().chips.empty());
  monitor.start();
  testing::make_device_tree(dir_ / "later", 2);
  EXPECT_TRUE(wait_for_inventory(inventory_,
                                 [](const InventorySnapshot& s) { return s.chips.size() == 2; }));
  monitor.stop();
}

TEST_F(HealthTest, ReportsEachCheck) {
  struct Recorder : PluginEvents {
    void health_checked(std::chrono::nanoseconds /*duration*/,
                        const InventorySnapshot& snapshot) override {
      ++checks;
      chips = snapshot.chips.size();
    }
    int checks = 0;
    std::size_t chips = 0;
  } recorder;
  DevfsDiscovery devfs({dir_ / "dev", true});
  HealthMonitor monitor(devfs, inventory_, health_options(), &recorder);
  monitor.check_now();
  monitor.check_now();
  EXPECT_EQ(recorder.checks, 2);
  EXPECT_EQ(recorder.chips, 8U);
}

}  // namespace
}  // namespace ascend::plugin
