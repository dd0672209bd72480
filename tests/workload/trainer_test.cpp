#include "tests/workload/trainer.hpp"

#include <gtest/gtest.h>

#include <sstream>

#include "kube/testing/temp_dir.hpp"
#include "tests/workload/config.hpp"

namespace ascend::standin {
namespace {

using kube::testing::read_file;
using kube::testing::TempDir;

std::vector<Json> read_lines(const std::filesystem::path& path) {
  std::vector<Json> out;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line))
    out.push_back(Json::parse(line));
  return out;
}

TEST(StandinTrainer, DurationsPrintLikePythonTimedelta) {
  EXPECT_EQ(format_duration(0), "0:00:00");
  EXPECT_EQ(format_duration(5.9), "0:00:05");
  EXPECT_EQ(format_duration(3725), "1:02:05");
  EXPECT_EQ(format_duration(86400 + 61), "1 day, 0:01:01");
  EXPECT_EQ(format_duration(2 * 86400), "2 days, 0:00:00");
  EXPECT_EQ(format_duration(-3), "0:00:00");
}

TEST(StandinTrainer, PlanDefaultsAndConfig) {
  const TrainPlan d = plan_from_config(Json::object(), "/app/output");
  EXPECT_EQ(d.total_steps, 5);
  EXPECT_DOUBLE_EQ(d.step_seconds, 0.5);
  EXPECT_FALSE(d.exit_code.has_value());
  EXPECT_EQ(d.output_dir, "/app/output");

  const TrainPlan p = plan_from_config(
      Json::parse(R"({"standin_steps": 3, "standin_step_seconds": "0", "standin_exit_code": 7,
                      "learning_rate": 1e-4, "output_dir": "saves/x", "num_train_epochs": 2.0,
                      "lr_scheduler_type": "cosine", "overwrite_output_dir": true})"),
      "/app/output");
  EXPECT_EQ(p.total_steps, 3);
  EXPECT_DOUBLE_EQ(p.step_seconds, 0);
  EXPECT_EQ(p.exit_code, 7);
  EXPECT_EQ(p.output_dir, "saves/x");
  EXPECT_EQ(p.scheduler, "cosine");
  EXPECT_TRUE(p.overwrite);

  EXPECT_THROW(plan_from_config(Json::parse(R"({"standin_steps": 0})"), "/o"), ConfigError);
  EXPECT_THROW(plan_from_config(Json::parse(R"({"standin_exit_code": 300})"), "/o"), ConfigError);
  EXPECT_THROW(plan_from_config(Json::parse(R"({"standin_step_seconds": -1})"), "/o"), ConfigError);
}

TEST(StandinTrainer, LogLinesHaveLlamaFactoryKeysInOrder) {
  TrainPlan plan;
  plan.total_steps = 4;
  plan.learning_rate = 1e-4;
  plan.epochs = 2.0;
  const OrderedJson e = log_entry(plan, 1, 10.4);
  std::vector<std::string> keys;
  for (const auto& item : e.items())
    keys.push_back(item.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"current_steps", "total_steps", "loss", "lr", "epoch",
                                            "percentage", "elapsed_time", "remaining_time"}));
  EXPECT_EQ(e["current_steps"], 1);
  EXPECT_EQ(e["total_steps"], 4);
  EXPECT_DOUBLE_EQ(e["lr"].get<double>(), 0.75e-4);  // linear decay
  EXPECT_DOUBLE_EQ(e["epoch"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(e["percentage"].get<double>(), 25.0);
  EXPECT_EQ(e["elapsed_time"], "0:00:10");
  EXPECT_EQ(e["remaining_time"], "0:00:31");  // 3 more steps of 10.4 s
  EXPECT_EQ(e.dump().rfind(R"({"current_steps":1,"total_steps":4,"loss":)", 0), 0U) << e.dump();

  // The loss falls, and is rounded to four digits as the Trainer logs it.
  double last = 1e9;
  for (int step = 1; step <= 4; ++step) {
    const double loss = log_entry(plan, step, step).at("loss").get<double>();
    EXPECT_LT(loss, last);
    EXPECT_DOUBLE_EQ(loss, std::round(loss * 1e4) / 1e4);
    last = loss;
  }
  EXPECT_DOUBLE_EQ(log_entry(plan, 4, 4)["percentage"].get<double>(), 100.0);

  plan.scheduler = "cosine";
  EXPECT_NEAR(log_entry(plan, 2, 1)["lr"].get<double>(), 0.5e-4, 1e-12);
  plan.total_steps = 3;
  EXPECT_DOUBLE_EQ(log_entry(plan, 1, 1)["percentage"].get<double>(), 33.33);
}

TEST(StandinTrainer, RunWritesTheLogAndResults) {
  TempDir dir;
  TrainPlan plan;
  plan.total_steps = 3;
  plan.step_seconds = 0;
  plan.output_dir = dir.path() / "out";
  std::atomic<bool> stop{false};
  std::ostringstream out;
  const TrainOutcome o = run_training(plan, true, stop, out);
  EXPECT_EQ(o.steps_done, 3);
  EXPECT_FALSE(o.stopped);
  const auto lines = read_lines(plan.output_dir / kTrainerLog);
  ASSERT_EQ(lines.size(), 3U);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(lines[i]["current_steps"], i + 1);
    EXPECT_EQ(lines[i]["total_steps"], 3);
  }
  const Json results = Json::parse(read_file(plan.output_dir / "train_results.json"));
  EXPECT_EQ(results["standin"], true);
  EXPECT_NE(out.str().find(R"("current_steps":3)"), std::string::npos);

  // A second run appends, unless overwrite_output_dir asks for a fresh log.
  run_training(plan, true, stop, out);
  EXPECT_EQ(read_lines(plan.output_dir / kTrainerLog).size(), 6U);
  plan.overwrite = true;
  run_training(plan, true, stop, out);
  EXPECT_EQ(read_lines(plan.output_dir / kTrainerLog).size(), 3U);
}

TEST(StandinTrainer, OnlyTheMainRankWritesAndStopEndsEarly) {
  TempDir dir;
  TrainPlan plan;
  plan.total_steps = 2;
  plan.step_seconds = 0;
  plan.output_dir = dir.path();
  std::atomic<bool> stop{false};
  std::ostringstream out;
  EXPECT_EQ(run_training(plan, false, stop, out).steps_done, 2);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / kTrainerLog));

  stop = true;
  plan.step_seconds = 30;
  const TrainOutcome o = run_training(plan, true, stop, out);
  EXPECT_TRUE(o.stopped);
  EXPECT_EQ(o.steps_done, 0);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "train_results.json"));
}

TEST(StandinTrainer, UnwritableOutputThrows) {
  TempDir dir;
  kube::testing::write_file(dir.path() / "file", "");
  TrainPlan plan;
  plan.output_dir = dir.path() / "file" / "below";
  std::atomic<bool> stop{false};
  std::ostringstream out;
  EXPECT_THROW(run_training(plan, true, stop, out), std::runtime_error);
}

}  // namespace
}  // namespace ascend::standin

namespace ascend::standin {
namespace {

TEST(StandinTrainer, CheckpointsEverySaveStepsAndResumesFromTheNewest) {
  TempDir dir;
  TrainPlan plan;
  plan.total_steps = 7;
  plan.step_seconds = 0;
  plan.save_steps = 2;
  plan.fail_at_step = 5;
  plan.output_dir = dir.path();
  std::atomic<bool> stop{false};
  std::ostringstream out;
  TrainOutcome o = run_training(plan, true, stop, out);
  EXPECT_TRUE(o.failed);
  EXPECT_EQ(o.steps_done, 5);
  EXPECT_EQ(o.resumed_from, 0);
  EXPECT_EQ(newest_checkpoint(dir.path()), 4);
  const Json state = Json::parse(read_file(dir.path() / "checkpoint-4" / "trainer_state.json"));
  EXPECT_EQ(state["global_step"], 4);
  EXPECT_TRUE(std::filesystem::exists(fail_marker(dir.path(), 5)));

  // The restarted run resumes after checkpoint-4, fails no more, and logs steps 5..7.
  o = run_training(plan, true, stop, out);
  EXPECT_FALSE(o.failed);
  EXPECT_EQ(o.resumed_from, 4);
  EXPECT_EQ(o.steps_done, 7);
  EXPECT_NE(out.str().find("Resuming training from " + (dir.path() / "checkpoint-4").string()),
            std::string::npos);
  const auto lines = read_lines(dir.path() / kTrainerLog);
  ASSERT_EQ(lines.size(), 8U) << "5 steps, then 3 after the resume";
  EXPECT_EQ(lines[5]["current_steps"], 5);
  EXPECT_EQ(lines[7]["current_steps"], 7);
  EXPECT_EQ(newest_checkpoint(dir.path()), 6) << "no checkpoint at the last step";

  // overwrite_output_dir: starts from 0 again.
  plan.overwrite = true;
  o = run_training(plan, true, stop, out);
  EXPECT_EQ(o.resumed_from, 0);
  EXPECT_EQ(read_lines(dir.path() / kTrainerLog).size(), 7U);
}

TEST(StandinTrainer, NewestCheckpointIgnoresWhatIsNotACheckpoint) {
  TempDir dir;
  EXPECT_EQ(newest_checkpoint(dir.path() / "missing"), 0);
  for (const char* d : {"checkpoint-3", "checkpoint-12", "checkpoint-x", "checkpoint-", "runs"}) {
    std::filesystem::create_directories(dir.path() / d);
  }
  std::ofstream(dir.path() / "checkpoint-99") << "a file, not a folder";
  EXPECT_EQ(newest_checkpoint(dir.path()), 12);
}

TEST(StandinTrainer, PlanReadsSaveStepsAndFailAtStep) {
  const TrainPlan p = plan_from_config(
      Json::parse(R"({"standin_steps": 6, "save_steps": 2, "standin_fail_at_step": 3})"), "/o");
  EXPECT_EQ(p.save_steps, 2);
  EXPECT_EQ(p.fail_at_step, 3);
  EXPECT_EQ(plan_from_config(Json::object(), "/o").save_steps, 500);
  EXPECT_THROW(plan_from_config(Json::parse(R"({"save_steps": 0})"), "/o"), ConfigError);
  EXPECT_THROW(
      plan_from_config(Json::parse(R"({"standin_steps": 3, "standin_fail_at_step": 4})"), "/o"),
      ConfigError);
}

}  // namespace
}  // namespace ascend::standin
