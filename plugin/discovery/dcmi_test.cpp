// Runs the DCMI backend's real dlopen path against the fake libdcmi.so built by the tests
// (plugin/testing/fake_dcmi), with scripted inventories and injected faults.

#include "plugin/discovery/dcmi.hpp"

#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kube/testing/temp_dir.hpp"

namespace ascend::plugin {
namespace {

using kube::testing::TempDir;
using kube::testing::write_file;
using ::testing::HasSubstr;

// The fake libdcmi.so with a scripted inventory in a temp file. The fake reads the inventory's
// path from fake_dcmi_set_inventory(); dlopen of the same file returns the same handle the
// backend gets, so this reaches the copy the backend calls.
class FakeDcmi final {
 public:
  explicit FakeDcmi(const std::string& inventory) {
    handle_ = ::dlopen(FAKE_DCMI_DIR "/libdcmi.so", RTLD_NOW | RTLD_LOCAL);
    if (handle_ == nullptr) throw std::runtime_error("fake libdcmi.so missing");
    set_ = reinterpret_cast<void (*)(const char*)>(  // NOLINT
        ::dlsym(handle_, "fake_dcmi_set_inventory"));
    rewrite(inventory);
    set_((dir_ / "inv").c_str());
  }
  ~FakeDcmi() {
    set_(nullptr);
    ::dlclose(handle_);
  }
  FakeDcmi(const FakeDcmi&) = delete;
  FakeDcmi& operator=(const FakeDcmi&) = delete;

  /// Replaces the inventory; the fake reads it again on its next call.
  void rewrite(const std::string& inventory) { write_file(dir_ / "inv", inventory); }

 private:
  TempDir dir_;
  void* handle_ = nullptr;
  void (*set_)(const char*) = nullptr;
};

constexpr const char* kEightChips =
    "# card device logic physical name health codes\n"
    "chip 0 0 0 0 910B3 0\n"
    "chip 1 0 1 1 910B3 0\n"
    "chip 2 0 2 2 910B3 0\n"
    "chip 3 0 3 3 910B3 0\n"
    "chip 4 0 4 4 910B3 0\n"
    "chip 5 0 5 5 910B3 1\n"
    "chip 6 0 6 7 910B3 0\n"
    "chip 7 0 7 6 910B3 0\n";

DcmiOptions fake_only() {
  return DcmiOptions{{FAKE_DCMI_DIR}, false};
}

TEST(Dcmi, EnumeratesCardsChipsAndIds) {
  FakeDcmi fake(kEightChips);
  DcmiDiscovery dcmi(fake_only());
  ASSERT_TRUE(dcmi.load().ok());
  EXPECT_EQ(dcmi.library_path(), FAKE_DCMI_DIR "/libdcmi.so");
  auto chips = dcmi.scan();
  ASSERT_TRUE(chips.ok()) << chips.error().message;
  ASSERT_EQ(chips.value().size(), 8U);
  // Sorted by physical id; logic 6 is physical 7 and the other way round.
  const ChipStatus& six = chips.value()[6];
  EXPECT_EQ(six.chip.physical_id, 6);
  EXPECT_EQ(six.chip.logic_id, 7);
  EXPECT_EQ(six.chip.card_id, 7);
  EXPECT_EQ(six.chip.device_id, 0);
  EXPECT_EQ(six.chip.name, "910B3");
  for (const auto& c : chips.value())
    EXPECT_TRUE(c.healthy) << c.chip.physical_id;  // 1 = minor
}

TEST(Dcmi, SeveralChipsPerCard) {
  FakeDcmi fake("chip 0 0 0 0 910A 0\nchip 0 1 1 1 910A 0\nchip 1 0 2 2 910A 0\n");
  DcmiDiscovery dcmi(fake_only());
  auto chips = dcmi.scan();
  ASSERT_TRUE(chips.ok()) << chips.error().message;
  ASSERT_EQ(chips.value().size(), 3U);
  EXPECT_EQ(chips.value()[1].chip.card_id, 0);
  EXPECT_EQ(chips.value()[1].chip.device_id, 1);
}

TEST(Dcmi, UnhealthyChipsCarryHealthAndErrorCodes) {
  FakeDcmi fake("chip 0 0 0 0 910B3 0\nchip 1 0 1 1 910B3 3 80E01801,80CB8009\n");
  DcmiDiscovery dcmi(fake_only());
  auto chips = dcmi.scan();
  ASSERT_TRUE(chips.ok());
  ASSERT_EQ(chips.value().size(), 2U);
  EXPECT_TRUE(chips.value()[0].healthy);
  EXPECT_FALSE(chips.value()[1].healthy);
  EXPECT_EQ(chips.value()[1].reason, "dcmi health 0x3, error codes 0x80E01801,0x80CB8009");
}

TEST(Dcmi, WarningCodesKeepTheChipHealthyAndAreReported) {
  // Chip 1: a minor alarm with a default warning code; chip 2: a major alarm whose only code
  // is a warning; chip 3: a minor alarm with a critical code; chip 4: a code nobody listed.
  FakeDcmi fake(
      "chip 0 0 0 0 910B3 0\n"
      "chip 1 0 1 1 910B3 1 80E21007\n"
      "chip 2 0 2 2 910B3 2 80E38003\n"
      "chip 3 0 3 3 910B3 1 80E3A201\n"
      "chip 4 0 4 4 910B3 1 80CB8009\n");
  DcmiDiscovery dcmi(fake_only());
  auto scanned = dcmi.scan();
  ASSERT_TRUE(scanned.ok()) << scanned.error().message;
  const auto& chips = scanned.value();
  ASSERT_EQ(chips.size(), 5U);
  EXPECT_TRUE(chips[0].healthy);
  EXPECT_TRUE(chips[0].faults.empty());
  EXPECT_TRUE(chips[1].healthy);
  EXPECT_TRUE(chips[1].reason.empty());
  EXPECT_EQ(chips[1].faults, (std::vector<ChipFault>{{0x80E21007, FaultSeverity::kWarning}}));
  EXPECT_TRUE(chips[2].healthy);
  EXPECT_EQ(chips[2].faults, (std::vector<ChipFault>{{0x80E38003, FaultSeverity::kWarning}}));
  EXPECT_FALSE(chips[3].healthy);
  EXPECT_EQ(chips[3].reason, "dcmi health 0x1, error codes 0x80E3A201 (critical)");
  EXPECT_TRUE(chips[4].healthy);
  EXPECT_EQ(chips[4].faults, (std::vector<ChipFault>{{0x80CB8009, FaultSeverity::kUnknown}}));
}

TEST(Dcmi, ConfiguredFaultTableDecides) {
  FakeDcmi fake("chip 0 0 0 0 910B3 1 80CB8009\nchip 1 0 1 1 910B3 2 80CB8008\n");
  DcmiOptions options = fake_only();
  options.faults = DcmiFaultTable();
  options.faults.set(0x80CB8009, FaultSeverity::kCritical);
  options.faults.set(0x80CB8008, FaultSeverity::kWarning);
  DcmiDiscovery dcmi(options);
  auto chips = dcmi.scan();
  ASSERT_TRUE(chips.ok());
  ASSERT_EQ(chips.value().size(), 2U);
  EXPECT_FALSE(chips.value()[0].healthy);
  EXPECT_TRUE(chips.value()[1].healthy);
}

TEST(Dcmi, UnreadableCodesLeaveItToTheHealthValue) {
  FakeDcmi fake(
      "chip 0 0 0 0 910B3 1 80E3A201\nchip 1 0 1 1 910B3 2 80E21007\n"
      "fail dcmi_get_device_errorcode_v2 -8020\n");
  DcmiDiscovery dcmi(fake_only());
  auto chips = dcmi.scan();
  ASSERT_TRUE(chips.ok());
  ASSERT_EQ(chips.value().size(), 2U);
  EXPECT_TRUE(chips.value()[0].healthy);  // minor alarm
  EXPECT_TRUE(chips.value()[0].faults.empty());
  EXPECT_FALSE(chips.value()[1].healthy);  // major alarm
  EXPECT_EQ(chips.value()[1].reason, "dcmi health 0x2");
}

TEST(Dcmi, HealthCallFailureMakesTheChipUnhealthy) {
  FakeDcmi fake(std::string(kEightChips) + "fail dcmi_get_device_health -8020\n");
  DcmiDiscovery dcmi(fake_only());
  auto chips = dcmi.scan();
  ASSERT_TRUE(chips.ok());
  ASSERT_EQ(chips.value().size(), 8U);
  EXPECT_FALSE(chips.value()[0].healthy);
  EXPECT_EQ(chips.value()[0].reason, "dcmi_get_device_health returned -8020");
}

TEST(Dcmi, CardListFailureIsAnError) {
  FakeDcmi fake(std::string(kEightChips) + "fail dcmi_get_card_num_list -8001\n");
  DcmiDiscovery dcmi(fake_only());
  auto chips = dcmi.scan();
  ASSERT_FALSE(chips.ok());
  EXPECT_EQ(chips.error().message, "dcmi_get_card_num_list returned -8001");
}

TEST(Dcmi, ChipsWithUnreadableIdsAreLeftOut) {
  FakeDcmi fake(std::string(kEightChips) + "fail dcmi_get_device_phyid_from_logicid -1\n");
  DcmiDiscovery dcmi(fake_only());
  auto chips = dcmi.scan();
  ASSERT_TRUE(chips.ok());
  EXPECT_TRUE(chips.value().empty());
}

TEST(Dcmi, InitFailureNamesTheCodeAndWhatToCheck) {
  FakeDcmi fake(std::string(kEightChips) + "fail dcmi_init -8005\n");
  DcmiDiscovery dcmi(fake_only());
  const Status loaded = dcmi.load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.error().message, HasSubstr("dcmi_init returned -8005"));
  EXPECT_THAT(loaded.error().message, HasSubstr("npu-smi"));
  // The driver comes back: the next scan loads the library and sees the chips.
  fake.rewrite(kEightChips);
  auto chips = dcmi.scan();
  ASSERT_TRUE(chips.ok()) << chips.error().message;
  EXPECT_EQ(chips.value().size(), 8U);
}

TEST(Dcmi, MissingLibraryListsWhatWasTried) {
  TempDir dir;
  DcmiDiscovery dcmi(DcmiOptions{{dir / "lib64", dir / "lib64/driver"}, false});
  const Status loaded = dcmi.load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().reason, kUnavailable);
  EXPECT_THAT(loaded.error().message, HasSubstr((dir / "lib64/libdcmi.so").string()));
  EXPECT_THAT(loaded.error().message, HasSubstr((dir / "lib64/driver/libdcmi.so").string()));
  EXPECT_THAT(loaded.error().message, HasSubstr("--driver-lib-dirs"));
  EXPECT_FALSE(dcmi.scan().ok());
}

TEST(Dcmi, CorruptLibraryIsRefused) {
  TempDir dir;
  write_file(dir / "libdcmi.so", "this is not an ELF file");
  DcmiDiscovery dcmi(DcmiOptions{{dir.path()}, false});
  const Status loaded = dcmi.load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.error().message, HasSubstr((dir / "libdcmi.so").string()));
}

TEST(Dcmi, LibraryWithoutRequiredFunctionsIsRefused) {
  DcmiDiscovery dcmi(DcmiOptions{{FAKE_DCMI_BROKEN_DIR}, false});
  const Status loaded = dcmi.load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.error().message, HasSubstr("lacks dcmi_get_device_health"));
}

TEST(Dcmi, HealthValues) {
  EXPECT_TRUE(dcmi_health_is_usable(0));
  EXPECT_TRUE(dcmi_health_is_usable(1));
  EXPECT_FALSE(dcmi_health_is_usable(2));
  EXPECT_FALSE(dcmi_health_is_usable(3));
  EXPECT_FALSE(dcmi_health_is_usable(0xFFFFFFFFU));
}

}  // namespace
}  // namespace ascend::plugin
