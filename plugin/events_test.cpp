#include "plugin/events.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

namespace ascend::plugin {
namespace {

using kube::log::kv;

TEST(PluginLogger, EveryLineSaysComponentPluginThenTheFields) {
  auto out = std::make_shared<std::ostringstream>();
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(*out);
  ASSERT_TRUE(kube::setup_logging({"debug", "text"}, sink).ok());
  logger().info("registered with kubelet",
                {kv("resource", "huawei.com/Ascend910"), kv("attempts", 3)});
  logger().debug("quiet");
  const std::string text = out->str();
  EXPECT_NE(text.find(" info registered with kubelet component=plugin "
                      "resource=huawei.com/Ascend910 attempts=3"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("debug quiet component=plugin"), std::string::npos) << text;

  ASSERT_TRUE(kube::setup_logging({"warn", "json"}, sink).ok());
  out->str("");
  logger().info("dropped below the level");
  logger().warn("chip health changed", {kv("device", "Ascend910-3")});
  EXPECT_EQ(out->str().find("dropped"), std::string::npos);
  EXPECT_NE(out->str().find("\"component\":\"plugin\""), std::string::npos) << out->str();
  EXPECT_NE(out->str().find("\"device\":\"Ascend910-3\""), std::string::npos) << out->str();
  ASSERT_TRUE(kube::setup_logging({"info", "text"}).ok());  // back to stderr
}

TEST(PluginLogger, BindsOnlyTheComponent) {
  const auto& fields = logger().fields();
  ASSERT_EQ(fields.size(), 1U);
  EXPECT_EQ(fields[0].first, "component");
  EXPECT_EQ(fields[0].second, "plugin");
}

}  // namespace
}  // namespace ascend::plugin
