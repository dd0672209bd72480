#include "plugin/discovery/devfs.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "plugin/testing/fake_host.hpp"

namespace ascend::plugin {
namespace {

using kube::testing::TempDir;
using kube::testing::write_file;
using ::testing::HasSubstr;

std::vector<int> ids_of(const std::vector<ChipStatus>& chips) {
  std::vector<int> out;
  out.reserve(chips.size());
  for (const auto& c : chips)
    out.push_back(c.chip.physical_id);
  return out;
}

TEST(Devfs, ChipIdsFromFileNames) {
  EXPECT_EQ(chip_id_from_file_name("davinci0"), 0);
  EXPECT_EQ(chip_id_from_file_name("davinci15"), 15);
  EXPECT_EQ(chip_id_from_file_name("davinci_manager"), -1);
  EXPECT_EQ(chip_id_from_file_name("davinci"), -1);
  EXPECT_EQ(chip_id_from_file_name("davinci07"), -1);
  EXPECT_EQ(chip_id_from_file_name("davinci1x"), -1);
  EXPECT_EQ(chip_id_from_file_name("hisi_hdc"), -1);
}

TEST(Devfs, FindsEveryChipNodeInOrder) {
  TempDir dir;
  testing::make_device_tree(dir.path(), 0);
  for (int id : {10, 2, 0, 3})
    write_file(dir / ("davinci" + std::to_string(id)));
  write_file(dir / "davinciX");
  std::filesystem::create_directory(dir / "davinci9");  // a directory is not a device
  DevfsDiscovery discovery({dir.path(), true});
  auto chips = discovery.scan();
  ASSERT_TRUE(chips.ok()) << chips.error().message;
  EXPECT_EQ(ids_of(chips.value()), (std::vector<int>{0, 2, 3, 10}));
  for (const auto& c : chips.value())
    EXPECT_TRUE(c.healthy);
  EXPECT_EQ(discovery.name(), "devfs");
}

TEST(Devfs, RegularFilesCountOnlyWhenAllowed) {
  TempDir dir;
  testing::make_device_tree(dir.path(), 4);
  DevfsDiscovery strict({dir.path(), false});
  auto chips = strict.scan();
  ASSERT_TRUE(chips.ok());
  EXPECT_TRUE(chips.value().empty());
  EXPECT_FALSE(is_device_node(dir / "davinci0", {dir.path(), false}));
  EXPECT_TRUE(is_device_node(dir / "davinci0", {dir.path(), true}));
  // A real character device is always a device node.
  EXPECT_TRUE(is_device_node("/dev/null", {"/dev", false}));
}

TEST(Devfs, MissingRootIsAClearError) {
  TempDir dir;
  DevfsDiscovery discovery({dir / "nope", true});
  auto chips = discovery.scan();
  ASSERT_FALSE(chips.ok());
  EXPECT_EQ(chips.error().reason, kUnavailable);
  EXPECT_THAT(chips.error().message, HasSubstr((dir / "nope").string()));
  EXPECT_THAT(chips.error().message, HasSubstr("--device-root"));
}

}  // namespace
}  // namespace ascend::plugin
