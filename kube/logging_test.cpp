#include "kube/logging.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace ascend::kube {
namespace {

class LoggingTest : public ::testing::Test {
 protected:
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_ =
      std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
};

TEST_F(LoggingTest, TextIsKeyValueWithQuotingWhereNeeded) {
  ASSERT_TRUE(setup_logging({"info", "text"}, sink_).ok());
  log::info("reconciled", {log::kv("key", "ns/job"), log::kv("attempt", 3),
                           log::kv("why", "spec changed"), log::kv("ok", true)});
  const std::string line = out_.str();
  EXPECT_NE(line.find(" info reconciled key=ns/job attempt=3 why=\"spec changed\" ok=true\n"),
            std::string::npos)
      << line;
  EXPECT_EQ(line.find('\x1f'), std::string::npos);
}

TEST_F(LoggingTest, JsonIsOneObjectPerLineWithEveryField) {
  ASSERT_TRUE(setup_logging({"debug", "json"}, sink_).ok());
  log::debug("watch restarted", {log::kv("resource", "pods"), log::kv("quote", "a\"b\nc")});
  spdlog::info("plain spdlog call");
  std::istringstream lines(out_.str());
  std::string first;
  std::string second;
  std::getline(lines, first);
  std::getline(lines, second);
  const auto j = nlohmann::json::parse(first);
  EXPECT_EQ(j["level"], "debug");
  EXPECT_EQ(j["msg"], "watch restarted");
  EXPECT_EQ(j["resource"], "pods");
  EXPECT_EQ(j["quote"], "a\"b\nc");
  EXPECT_TRUE(j["ts"].get<std::string>().ends_with("Z"));
  EXPECT_EQ(nlohmann::json::parse(second)["msg"], "plain spdlog call");
}

TEST_F(LoggingTest, LoggerWritesBoundFieldsBeforeTheCallsOwn) {
  ASSERT_TRUE(setup_logging({"info", "json"}, sink_).ok());
  const log::Logger base = log::Logger().with({log::kv("controller", "lfjob")});
  const log::Logger keyed = base.with({log::kv("key", "ns/job")});
  keyed.warn("conflict", {log::kv("attempt", 2)});
  base.info("idle");
  std::istringstream lines(out_.str());
  std::string first;
  std::string second;
  std::getline(lines, first);
  std::getline(lines, second);
  EXPECT_EQ(first.find(R"("controller":"lfjob","key":"ns/job","attempt":"2")") != std::string::npos,
            true)
      << first;
  const auto j = nlohmann::json::parse(second);
  EXPECT_EQ(j["controller"], "lfjob");
  EXPECT_FALSE(j.contains("key"));  // with() made a new logger; base is unchanged
  ASSERT_EQ(base.fields().size(), 1U);
}

TEST_F(LoggingTest, LevelFilters) {
  ASSERT_TRUE(setup_logging({"warn", "text"}, sink_).ok());
  log::info("hidden");
  log::warn("shown");
  EXPECT_EQ(out_.str().find("hidden"), std::string::npos);
  EXPECT_NE(out_.str().find("shown"), std::string::npos);
}

TEST_F(LoggingTest, BadOptionsAreErrorsNamingTheValue) {
  const Status level = setup_logging({"loud", "text"}, sink_);
  ASSERT_FALSE(level.ok());
  EXPECT_NE(level.error().message.find("'loud'"), std::string::npos);
  const Status format = validate_log_options({"info", "xml"});
  ASSERT_FALSE(format.ok());
  EXPECT_NE(format.error().message.find("'xml'"), std::string::npos);
}

}  // namespace
}  // namespace ascend::kube
