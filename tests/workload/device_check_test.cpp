#include "tests/workload/device_check.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <map>
#include <memory>

#include "kube/testing/temp_dir.hpp"

namespace ascend::standin {
namespace {

using kube::testing::TempDir;
using kube::testing::write_file;

EnvLookup env_of(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<const std::map<std::string, std::string>>(std::move(vars));
  return [shared](const std::string& name) -> std::optional<std::string> {
    const auto it = shared->find(name);
    if (it == shared->end()) return std::nullopt;
    return it->second;
  };
}

// A device root with plain files (tests need no mknod): chips and the shared files.
class DeviceCheck : public ::testing::Test {
 protected:
  void add(const std::string& name) { write_file(dir_.path() / name, ""); }
  void add_chips(std::initializer_list<int> ids) {
    for (int id : ids)
      add("davinci" + std::to_string(id));
  }
  void add_shared() {
    for (const auto& name : kSharedDevices)
      add(name);
  }
  DeviceReport check(std::map<std::string, std::string> vars) {
    return check_devices(DeviceCheckOptions{dir_.path(), false}, env_of(std::move(vars)));
  }
  static Check find(const DeviceReport& r, const std::string& name) {
    for (const Check& c : r.checks) {
      if (c.name == name) return c;
    }
    ADD_FAILURE() << "no check named " << name;
    return Check{};
  }
  TempDir dir_;
};

TEST_F(DeviceCheck, ExactMatchPasses) {
  add_chips({2, 5});
  add_shared();
  add("null");  // other device files do not matter
  const auto r = check({{"ASCEND_VISIBLE_DEVICES", "2,5"},
                        {"ASCEND_RT_VISIBLE_DEVICES", "0,1"},
                        {"NPROC_PER_NODE", "2"}});
  EXPECT_TRUE(r.ok()) << format_checks(r.checks);
  EXPECT_EQ(r.requested, (std::vector<int>{2, 5}));
  EXPECT_EQ(r.seen, (std::vector<int>{2, 5}));
  ASSERT_EQ(r.checks.size(), 7U);  // visible, device files, 3 shared, rt, nproc
  EXPECT_EQ(find(r, "device files").detail, "sees exactly /dev/davinci2, /dev/davinci5");
  const std::string text = format_checks(r.checks);
  EXPECT_NE(text.find("[ok]   ASCEND_VISIBLE_DEVICES: 2,5 (2 chips)\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("[FAIL]"), std::string::npos);
}

TEST_F(DeviceCheck, MoreFilesThanAllocatedFails) {
  add_chips({0, 1, 2});
  add_shared();
  const auto r = check({{"ASCEND_VISIBLE_DEVICES", "0,1"}, {"ASCEND_RT_VISIBLE_DEVICES", "0,1"}});
  EXPECT_FALSE(r.ok());
  const Check c = find(r, "device files");
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.detail.find("not allocated but visible /dev/davinci2"), std::string::npos)
      << c.detail;
}

TEST_F(DeviceCheck, FewerFilesThanAllocatedFails) {
  add_chips({0});
  add_shared();
  const auto r = check({{"ASCEND_VISIBLE_DEVICES", "0,1"}, {"ASCEND_RT_VISIBLE_DEVICES", "0,1"}});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(find(r, "device files").detail.find("missing /dev/davinci1"), std::string::npos);
}

TEST_F(DeviceCheck, UnsetOrMalformedVisibleDevicesFails) {
  add_chips({0});
  add_shared();
  auto r = check({{"ASCEND_RT_VISIBLE_DEVICES", "0"}});
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(find(r, "ASCEND_VISIBLE_DEVICES").ok);
  EXPECT_NE(find(r, "ASCEND_VISIBLE_DEVICES").detail.find("not set"), std::string::npos);
  for (const char* bad : {"", "a", "0,,1", "0,0", "-1", "0,"}) {
    r = check({{"ASCEND_VISIBLE_DEVICES", bad}, {"ASCEND_RT_VISIBLE_DEVICES", "0"}});
    EXPECT_FALSE(find(r, "ASCEND_VISIBLE_DEVICES").ok) << bad;
  }
}

TEST_F(DeviceCheck, SharedDeviceFilesAreRequired) {
  add_chips({0});
  add("davinci_manager");
  const auto r = check({{"ASCEND_VISIBLE_DEVICES", "0"}, {"ASCEND_RT_VISIBLE_DEVICES", "0"}});
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(find(r, "/dev/davinci_manager").ok);
  EXPECT_FALSE(find(r, "/dev/devmm_svm").ok);
  EXPECT_EQ(find(r, "/dev/hisi_hdc").detail, "missing");
}

TEST_F(DeviceCheck, RuntimeIdsMustCountFromZero) {
  add_chips({4, 5});
  add_shared();
  auto r = check({{"ASCEND_VISIBLE_DEVICES", "4,5"}, {"ASCEND_RT_VISIBLE_DEVICES", "4,5"}});
  EXPECT_FALSE(find(r, "ASCEND_RT_VISIBLE_DEVICES").ok);
  EXPECT_NE(find(r, "ASCEND_RT_VISIBLE_DEVICES").detail.find("want 0,1"), std::string::npos);
  r = check({{"ASCEND_VISIBLE_DEVICES", "4,5"}});
  EXPECT_FALSE(find(r, "ASCEND_RT_VISIBLE_DEVICES").ok);
  r = check({{"ASCEND_VISIBLE_DEVICES", "4,5"}, {"ASCEND_RT_VISIBLE_DEVICES", "0, 1"}});
  EXPECT_TRUE(r.ok()) << format_checks(r.checks);
}

TEST_F(DeviceCheck, NprocPerNodeMustMatchTheChips) {
  add_chips({0, 1});
  add_shared();
  const auto r = check({{"ASCEND_VISIBLE_DEVICES", "0,1"},
                        {"ASCEND_RT_VISIBLE_DEVICES", "0,1"},
                        {"NPROC_PER_NODE", "8"}});
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(find(r, "NPROC_PER_NODE").ok);
}

TEST_F(DeviceCheck, PlainFilesFailWhenCharacterDevicesAreRequired) {
  add_chips({0});
  add_shared();
  const auto r =
      check_devices(DeviceCheckOptions{dir_.path(), true},
                    env_of({{"ASCEND_VISIBLE_DEVICES", "0"}, {"ASCEND_RT_VISIBLE_DEVICES", "0"}}));
  EXPECT_FALSE(r.ok());
  EXPECT_NE(find(r, "device files").detail.find("not character devices /dev/davinci0"),
            std::string::npos);
  EXPECT_EQ(find(r, "/dev/hisi_hdc").detail, "exists but is not a character device");
}

TEST_F(DeviceCheck, CharacterDevicesPass) {
  if (::geteuid() != 0) GTEST_SKIP() << "mknod needs root";
  for (const std::string name : {"davinci0", "davinci_manager", "devmm_svm", "hisi_hdc"}) {
    ASSERT_EQ(::mknod((dir_.path() / name).c_str(), S_IFCHR | 0666, makedev(1, 3)), 0) << name;
  }
  const auto r =
      check_devices(DeviceCheckOptions{dir_.path(), true},
                    env_of({{"ASCEND_VISIBLE_DEVICES", "0"}, {"ASCEND_RT_VISIBLE_DEVICES", "0"}}));
  EXPECT_TRUE(r.ok()) << format_checks(r.checks);
  ASSERT_EQ(r.chips.size(), 1U);
  EXPECT_TRUE(r.chips[0].char_device);
  EXPECT_EQ(r.chips[0].numbers, "1:3");
}

TEST(StandinIdList, Parses) {
  EXPECT_EQ(parse_id_list("0"), (std::vector<int>{0}));
  EXPECT_EQ(parse_id_list("3, 1 ,7"), (std::vector<int>{3, 1, 7}));
  EXPECT_EQ(parse_id_list(""), std::vector<int>{});
  EXPECT_FALSE(parse_id_list("1,1").has_value());
  EXPECT_FALSE(parse_id_list("x").has_value());
  EXPECT_FALSE(parse_id_list("1,").has_value());
}

}  // namespace
}  // namespace ascend::standin
