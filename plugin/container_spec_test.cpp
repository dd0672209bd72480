#include "plugin/container_spec.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "plugin/testing/fake_host.hpp"

namespace ascend::plugin {
namespace {

using kube::testing::TempDir;
using kube::testing::write_file;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

InventorySnapshot eight_chips() {
  InventorySnapshot s;
  for (int i = 0; i < 8; ++i) {
    ChipStatus c;
    c.chip.physical_id = i;
    s.chips.push_back(c);
  }
  s.chips[6].healthy = false;
  s.chips[6].reason = "dcmi health 0x3";
  return s;
}

class ContainerSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::make_device_tree(dir_ / "dev", 8);
    std::filesystem::remove(dir_ / "dev" / "hisi_hdc");  // only the present ones are given
    write_file(dir_ / "host/driver/lib64/libascend_hal.so");
    write_file(dir_ / "host/npu-smi");
  }

  ContainerSpecOptions spec_options() const {
    ContainerSpecOptions o;
    o.device_root = dir_ / "dev";
    o.allow_regular_files = true;
    o.driver_mounts = {
        HostMount{"/usr/local/Ascend/driver", (dir_ / "host/driver").string(), true},
        HostMount{"/usr/local/bin/npu-smi", (dir_ / "host/npu-smi").string(), true},
        HostMount{"/etc/hccn.conf", (dir_ / "host/hccn.conf").string(), true},  // absent
    };
    return o;
  }

  TempDir dir_;
};

TEST_F(ContainerSpecTest, DevicesMountsAndEnvForTheAllocatedChips) {
  const ContainerSpecBuilder builder(spec_options());
  auto spec = builder.build({"Ascend910-5", "Ascend910-2"}, eight_chips());
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  const auto& s = spec.value();
  const std::string dev = (dir_ / "dev").string();
  EXPECT_THAT(s.devices,
              ElementsAre(DeviceNode{"/dev/davinci2", dev + "/davinci2", "rw"},
                          DeviceNode{"/dev/davinci5", dev + "/davinci5", "rw"},
                          DeviceNode{"/dev/davinci_manager", dev + "/davinci_manager", "rw"},
                          DeviceNode{"/dev/devmm_svm", dev + "/devmm_svm", "rw"}));
  ASSERT_EQ(s.mounts.size(), 2U);
  EXPECT_EQ(s.mounts[0].container_path, "/usr/local/Ascend/driver");
  EXPECT_TRUE(s.mounts[0].read_only);
  EXPECT_EQ(s.mounts[1].container_path, "/usr/local/bin/npu-smi");
  EXPECT_EQ(s.envs.at("ASCEND_VISIBLE_DEVICES"), "2,5");
  EXPECT_EQ(s.envs.at("ASCEND_RT_VISIBLE_DEVICES"), "0,1");
}

TEST_F(ContainerSpecTest, AscendRuntimeModeReturnsEnvOnly) {
  ContainerSpecOptions o = spec_options();
  o.ascend_runtime = true;
  auto spec =
      ContainerSpecBuilder(o).build({"Ascend910-0", "Ascend910-1", "Ascend910-7"}, eight_chips());
  ASSERT_TRUE(spec.ok());
  EXPECT_TRUE(spec.value().devices.empty());
  EXPECT_TRUE(spec.value().mounts.empty());
  EXPECT_EQ(spec.value().envs.at("ASCEND_VISIBLE_DEVICES"), "0,1,7");
  EXPECT_EQ(spec.value().envs.at("ASCEND_RT_VISIBLE_DEVICES"), "0,1,2");
}

TEST_F(ContainerSpecTest, RefusesUnknownUnhealthyMalformedAndDuplicateIds) {
  const ContainerSpecBuilder builder(spec_options());
  const InventorySnapshot inv = eight_chips();

  auto unknown = builder.build({"Ascend910-9"}, inv);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().reason, kInvalidArgument);
  EXPECT_THAT(unknown.error().message, HasSubstr("unknown device Ascend910-9"));
  EXPECT_THAT(unknown.error().message, HasSubstr("Ascend910-0"));

  auto sick = builder.build({"Ascend910-1", "Ascend910-6"}, inv);
  ASSERT_FALSE(sick.ok());
  EXPECT_EQ(sick.error().reason, kFailedPrecondition);
  EXPECT_THAT(sick.error().message, HasSubstr("Ascend910-6 is Unhealthy (dcmi health 0x3)"));

  auto malformed = builder.build({"GPU-0"}, inv);
  ASSERT_FALSE(malformed.ok());
  EXPECT_THAT(malformed.error().message, HasSubstr("not of the form"));

  EXPECT_FALSE(builder.build({"Ascend910-1", "Ascend910-1"}, inv).ok());
  EXPECT_FALSE(builder.build({}, inv).ok());
}

TEST(ContainerSpecMounts, ParsesMountEntries) {
  auto same = parse_mount("/usr/local/dcmi");
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same.value(), (HostMount{"/usr/local/dcmi", "/usr/local/dcmi", true}));
  auto mapped = parse_mount("/host/x:/x");
  ASSERT_TRUE(mapped.ok());
  EXPECT_EQ(mapped.value().host_path, "/host/x");
  EXPECT_EQ(mapped.value().container_path, "/x");
  EXPECT_FALSE(parse_mount("x").ok());
  EXPECT_FALSE(parse_mount("/x:y").ok());
}

TEST(ContainerSpecMounts, DefaultsAreWhatAscendContainersNeed) {
  std::vector<std::string> paths;
  const auto mounts = default_driver_mounts();
  paths.reserve(mounts.size());
  for (const auto& m : mounts) {
    EXPECT_TRUE(m.read_only);
    paths.push_back(m.container_path);
  }
  EXPECT_THAT(paths,
              ElementsAre("/usr/local/Ascend/driver", "/usr/local/dcmi", "/usr/local/bin/npu-smi",
                          "/etc/ascend_install.info", "/etc/hccn.conf"));
}

}  // namespace
}  // namespace ascend::plugin
