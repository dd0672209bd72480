#include "tests/workload/report.hpp"

#include <gtest/gtest.h>

#include <sstream>

#include "kube/testing/temp_dir.hpp"

namespace ascend::standin {
namespace {

TEST(StandinReport, ParsesMountinfo) {
  std::istringstream in(
      "22 1 0:21 / / rw,relatime - overlay overlay rw,lowerdir=/a\n"
      "30 22 0:30 / /dev/shm rw,nosuid,nodev - tmpfs shm rw,size=65536k\n"
      "31 22 8:1 /data /app/my\\040data rw master:1 - ext4 /dev/sda1 rw\n"
      "32 22 8:1 /drv /usr/local/Ascend/driver ro,relatime - ext4 /dev/sda1 rw\n"
      "garbage\n");
  const auto m = parse_mountinfo(in);
  ASSERT_EQ(m.size(), 4U);
  EXPECT_EQ(m[1].mount_point, "/dev/shm");
  EXPECT_EQ(m[1].fs_type, "tmpfs");
  EXPECT_FALSE(m[1].read_only);
  EXPECT_EQ(m[2].mount_point, "/app/my data");
  EXPECT_EQ(m[2].fs_type, "ext4");
  EXPECT_TRUE(m[3].read_only);
}

TEST(StandinReport, SaysWhatItSaw) {
  kube::testing::TempDir root;
  kube::testing::write_file(root.path() / "app/output/.keep", "");
  kube::testing::write_file(root.path() / "usr/local/Ascend/driver/version.info", "");

  ReportInput in;
  in.mode = "train";
  in.rank = 1;
  in.config_path = "/etc/llamafactory/config.yaml";
  in.config = {{"standin_steps", 2}};
  in.devices.requested = {0, 1};
  in.devices.seen = {0, 1};
  in.devices.chips = {{"/dev/davinci0", true, true, "1:3"}, {"/dev/davinci1", true, true, "1:3"}};
  in.devices.shared = {{"/dev/davinci_manager", true, true, "1:3"}};
  in.devices.checks = {{"device files", true, "sees exactly ..."}};
  in.env = {{"ASCEND_VISIBLE_DEVICES", "0,1"},
            {"ASCEND_RT_VISIBLE_DEVICES", "0,1"},
            {"NNODES", "2"},
            {"PATH", "/bin"}};
  in.mounts = {{"/app/output", "ext4", false}, {"/usr/local/Ascend/driver", "ext4", true}};
  in.root = root.path();

  const Json r = build_report(in);
  EXPECT_EQ(r["standin"], true);
  EXPECT_EQ(r["mode"], "train");
  EXPECT_EQ(r["rank"], 1);
  EXPECT_EQ(r["config"]["standin_steps"], 2);
  EXPECT_EQ(r["device_check"]["ok"], true);
  EXPECT_EQ(r["devices"]["requested"], Json::parse("[0,1]"));
  EXPECT_EQ(r["devices"]["chips"][1]["numbers"], "1:3");
  EXPECT_EQ(r["devices"]["shared"]["/dev/davinci_manager"]["char_device"], true);
  EXPECT_EQ(r["env"]["ASCEND_VISIBLE_DEVICES"], "0,1");
  EXPECT_EQ(r["env"]["NNODES"], "2");
  EXPECT_TRUE(r["env"]["MASTER_ADDR"].is_null());
  EXPECT_FALSE(r["env"].contains("PATH"));
  EXPECT_EQ(r["volumes"]["/app/output"]["exists"], true);
  EXPECT_EQ(r["volumes"]["/app/output"]["mounted"], true);
  EXPECT_EQ(r["volumes"]["/app/data"]["exists"], false);
  EXPECT_EQ(r["volumes"]["/app/data"]["mounted"], false);
  EXPECT_EQ(r["driver"]["/usr/local/Ascend/driver"]["read_only"], true);
  EXPECT_EQ(r["driver"]["/usr/local/dcmi"]["exists"], false);
  EXPECT_EQ(report_file_name(1), "standin-report-1.json");
}

}  // namespace
}  // namespace ascend::standin
