#include "reporter/follower.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace ascend::reporter {
namespace {

class TempDir {
 public:
  TempDir() {
    char templ[] = "/tmp/reporter-test.XXXXXX";
    path_ = mkdtemp(templ);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void append(const std::filesystem::path& file, const std::string& text) {
  std::ofstream(file, std::ios::app) << text;
}

std::string step(int n) {
  return R"({"current_steps": )" + std::to_string(n) + R"(, "total_steps": 10, "loss": 1.0})";
}

TEST(LogFollower, ReturnsTheNewestCompleteLineAppendedSinceStart) {
  TempDir dir;
  const auto log = dir.path() / kTrainerLog;
  append(log, step(1) + "\n" + step(2) + "\n");  // an earlier run's lines
  LogFollower f(log, true);
  EXPECT_EQ(f.poll(), std::nullopt);
  append(log, step(3) + "\n" + step(4) + "\n" + R"({"current_steps": 5, "tot)");
  auto line = f.poll();
  ASSERT_TRUE(line);
  EXPECT_EQ((*line)["current_steps"], 4) << "the partial line waits";
  append(log, "al_steps\": 10}\n{\"loss\": NaN}\n{\"eval_loss\": 0.5}\n");
  line = f.poll();
  ASSERT_TRUE(line);
  EXPECT_EQ((*line)["current_steps"], 5) << "not JSON and lines without steps are skipped";
  EXPECT_EQ(f.poll(), std::nullopt);
}

TEST(LogFollower, ReadsAReplacedOrTruncatedLogFromItsStart) {
  TempDir dir;
  const auto log = dir.path() / kTrainerLog;
  append(log, step(1) + "\n" + step(2) + "\n" + step(3) + "\n");
  LogFollower f(log, false);
  EXPECT_EQ((*f.poll())["current_steps"], 3);
  std::filesystem::remove(log);  // overwrite_output_dir: LLaMA-Factory starts a new log
  append(log, step(1) + "\n");
  EXPECT_EQ((*f.poll())["current_steps"], 1);
  std::filesystem::resize_file(log, 0);
  append(log, "\n");
  EXPECT_EQ(f.poll(), std::nullopt);
}

TEST(Reporter, FindsTheLogAndTheNewestCheckpoint) {
  TempDir dir;
  EXPECT_EQ(find_trainer_log(dir.path()), std::nullopt);
  std::filesystem::create_directories(dir.path() / "qwen-lora");
  append(dir.path() / "qwen-lora" / kTrainerLog, step(1) + "\n");
  EXPECT_EQ(find_trainer_log(dir.path()), dir.path() / "qwen-lora" / kTrainerLog);
  append(dir.path() / kTrainerLog, step(1) + "\n");
  EXPECT_EQ(find_trainer_log(dir.path()), dir.path() / kTrainerLog) << "output_dir itself first";

  EXPECT_EQ(newest_checkpoint(dir.path()), 0);
  for (const char* d : {"checkpoint-20", "checkpoint-100", "checkpoint-x"}) {
    std::filesystem::create_directories(dir.path() / d);
  }
  EXPECT_EQ(newest_checkpoint(dir.path()), 100);
}

TEST(Reporter, ResumedFromStepOnlyWhenTheRunWentOnFromTheCheckpoint) {
  const nlohmann::json line = nlohmann::json::parse(step(7));
  EXPECT_EQ(make_report(line, 6, 7)["resumed_from_step"], 6);
  EXPECT_EQ(make_report(line, 6, 1)["resumed_from_step"], 0) << "started again from scratch";
  EXPECT_EQ(make_report(line, 0, 7)["resumed_from_step"], 0);
  EXPECT_EQ(make_report(line, 6, 7)["loss"], 1.0) << "the line's own fields are kept";
}

}  // namespace
}  // namespace ascend::reporter
