#include "operator/progress.hpp"

#include <gtest/gtest.h>

namespace ascend::op {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A line as LLaMA-Factory's LogCallback writes it (keys in its order).
const Json kLine = Json::parse(R"({"current_steps": 40, "total_steps": 200, "loss": 1.2345,
  "lr": 4.5e-05, "epoch": 0.6, "percentage": 20.0, "elapsed_time": "0:01:00",
  "remaining_time": "0:04:00", "throughput": 1234.5, "total_tokens": 99})");

TEST(Progress, ParsesATrainerLogLine) {
  auto r = parse_progress_report(kLine, "2026-11-29T12:00:00Z");
  ASSERT_TRUE(r) << r.error().to_string();
  const Progress& p = r.value();
  EXPECT_EQ(p.step, 40);
  EXPECT_EQ(p.total_steps, 200);
  EXPECT_DOUBLE_EQ(p.percent, 20.0);
  EXPECT_DOUBLE_EQ(*p.loss, 1.2345);
  EXPECT_DOUBLE_EQ(*p.learning_rate, 4.5e-05);
  EXPECT_DOUBLE_EQ(*p.epoch, 0.6);
  EXPECT_EQ(p.eta, "0:04:00");
  EXPECT_EQ(p.updated_at, "2026-11-29T12:00:00Z");
  EXPECT_EQ(p.resumed_from_step, 0);
  EXPECT_EQ(describe_progress(p), "step 40/200, loss 1.234");
}

TEST(Progress, OptionalFieldsAndDerivedPercent) {
  Json line = {{"current_steps", 3}, {"total_steps", 8}, {"resumed_from_step", 2}};
  auto r = parse_progress_report(line, "t");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_DOUBLE_EQ(r.value().percent, 37.5);
  EXPECT_FALSE(r.value().loss);
  EXPECT_EQ(r.value().resumed_from_step, 2);
  EXPECT_EQ(describe_progress(r.value()), "step 3/8");
  line["current_steps"] = 3.0;  // a writer that prints whole numbers as floats
  EXPECT_TRUE(parse_progress_report(line, "t"));
}

TEST(Progress, BadReportsNameTheField) {
  const auto error = [](Json line) {
    auto r = parse_progress_report(line, "t");
    return r ? std::string("accepted") : r.error().message;
  };
  EXPECT_EQ(error(Json::array()), "report: must be a JSON object");
  EXPECT_EQ(error({{"total_steps", 1}}), "current_steps: is required");
  EXPECT_EQ(error({{"current_steps", -1}, {"total_steps", 1}}),
            "current_steps: must be a whole number >= 0 (got -1)");
  EXPECT_EQ(error({{"current_steps", 1.5}, {"total_steps", 1}}),
            "current_steps: must be a whole number >= 0 (got 1.5)");
  EXPECT_EQ(error({{"current_steps", 1}, {"total_steps", "9"}}),
            "total_steps: must be a whole number >= 0 (got \"9\")");
  EXPECT_EQ(error({{"current_steps", 1}, {"total_steps", 2}, {"percentage", 101}}),
            "percentage: must be between 0 and 100");
  EXPECT_EQ(error({{"current_steps", 1}, {"total_steps", 2}, {"loss", "low"}}),
            "loss: must be a number (got \"low\")");
  EXPECT_EQ(
      error({{"current_steps", 1}, {"total_steps", 2}, {"remaining_time", std::string(65, 'x')}}),
      "remaining_time: must be a string of at most 64 characters");
  EXPECT_EQ(error({{"current_steps", 1}, {"total_steps", 2}, {"resumed_from_step", -2}}),
            "resumed_from_step: must be a whole number >= 0 (got -2)");
}

Progress at_step(std::int64_t step) {
  Progress p;
  p.step = step;
  p.total_steps = 100;
  return p;
}

TEST(ProgressStore, FirstReportIsDueAtOnceThenOnePerInterval) {
  ProgressStore store(seconds(30));
  const auto t0 = ProgressStore::Clock::time_point{} + seconds(1000);
  EXPECT_EQ(store.due("ns/a", t0), std::nullopt);
  EXPECT_EQ(store.record("ns/a", at_step(1), t0), milliseconds(0));
  ASSERT_TRUE(store.due("ns/a", t0));
  store.written("ns/a", at_step(1), t0);
  EXPECT_EQ(store.due("ns/a", t0), std::nullopt) << "nothing new";
  EXPECT_EQ(store.wait("ns/a", t0), std::nullopt);

  // Reports in the next 30 s are coalesced: one reconcile, asked for when the interval ends.
  EXPECT_EQ(store.record("ns/a", at_step(2), t0 + seconds(5)), milliseconds(25000));
  EXPECT_EQ(store.record("ns/a", at_step(3), t0 + seconds(10)), std::nullopt);
  EXPECT_EQ(store.record("ns/a", at_step(4), t0 + seconds(20)), std::nullopt);
  EXPECT_EQ(store.due("ns/a", t0 + seconds(29)), std::nullopt) << "not before the interval";
  EXPECT_EQ(store.wait("ns/a", t0 + seconds(29)), milliseconds(1000));
  const auto due = store.due("ns/a", t0 + seconds(30));
  ASSERT_TRUE(due);
  EXPECT_EQ(due->step, 4) << "the newest report";
  store.written("ns/a", *due, t0 + seconds(30));
  EXPECT_EQ(store.due("ns/a", t0 + seconds(90)), std::nullopt);
}

TEST(ProgressStore, AReportArrivingDuringTheWriteWaitsItsTurn) {
  ProgressStore store(seconds(10));
  const auto t0 = ProgressStore::Clock::time_point{} + seconds(1000);
  store.record("ns/a", at_step(1), t0);
  const auto due = store.due("ns/a", t0);
  store.record("ns/a", at_step(2), t0);  // while the reconcile writes step 1
  store.written("ns/a", *due, t0);
  EXPECT_EQ(store.due("ns/a", t0 + seconds(9)), std::nullopt);
  EXPECT_EQ(store.wait("ns/a", t0 + seconds(9)), milliseconds(1000));
  EXPECT_EQ(store.due("ns/a", t0 + seconds(10))->step, 2);
  // A report after a scheduled time has passed asks for a reconcile again.
  EXPECT_EQ(store.record("ns/a", at_step(3), t0 + seconds(11)), milliseconds(0));
}

TEST(ProgressStore, JobsAreIndependentAndForgotten) {
  ProgressStore store(seconds(30));
  const auto t0 = ProgressStore::Clock::time_point{} + seconds(1000);
  store.record("ns/a", at_step(1), t0);
  store.written("ns/a", at_step(1), t0);
  EXPECT_EQ(store.record("ns/b", at_step(1), t0 + seconds(1)), milliseconds(0));
  EXPECT_EQ(store.size(), 2U);
  store.forget("ns/a");
  EXPECT_EQ(store.size(), 1U);
  EXPECT_EQ(store.record("ns/a", at_step(2), t0 + seconds(2)), milliseconds(0));
}

}  // namespace
}  // namespace ascend::op
