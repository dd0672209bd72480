#include "kube/work_queue.hpp"

#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace ascend::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class WorkQueueTest : public ::testing::Test {
 protected:
  WorkQueueOptions options() {
    WorkQueueOptions o;
    o.clock = clock_;
    return o;
  }
  // get() that gives up after a short real wait (the queue has nothing due).
  std::optional<std::string> try_get(WorkQueue& q) {
    auto f = std::async(std::launch::async, [&] { return q.get(); });
    if (f.wait_for(milliseconds(100)) == std::future_status::ready) return f.get();
    q.add("__unblock__");
    auto key = f.get();
    q.done(*key);
    return std::nullopt;
  }
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
};

TEST_F(WorkQueueTest, DeduplicatesAndKeepsOrder) {
  WorkQueue q(options());
  q.add("ns/a");
  q.add("ns/b");
  q.add("ns/a");
  EXPECT_EQ(q.length(), 2U);
  EXPECT_EQ(q.get(), "ns/a");
  EXPECT_EQ(q.get(), "ns/b");
}

TEST_F(WorkQueueTest, AKeyInFlightIsNotHandedOutTwice) {
  WorkQueue q(options());
  q.add("ns/a");
  ASSERT_EQ(q.get(), "ns/a");
  q.add("ns/a");  // changed while a worker reconciles it
  q.add("ns/a");
  EXPECT_EQ(q.length(), 0U);
  EXPECT_EQ(try_get(q), std::nullopt);
  q.done("ns/a");
  EXPECT_EQ(q.length(), 1U);
  EXPECT_EQ(q.get(), "ns/a");
  q.done("ns/a");
  EXPECT_EQ(q.length(), 0U);
}

TEST_F(WorkQueueTest, DelayedAddsWaitForTheClockAndKeepTheEarliest) {
  WorkQueue q(options());
  q.add_after("ns/a", seconds(10));
  q.add_after("ns/a", seconds(3));   // earlier wins
  q.add_after("ns/a", seconds(20));  // later ignored
  EXPECT_EQ(q.delayed(), 1U);
  EXPECT_EQ(try_get(q), std::nullopt);
  clock_->advance(seconds(2));
  EXPECT_EQ(try_get(q), std::nullopt);
  auto f = std::async(std::launch::async, [&] { return q.get(); });
  clock_->advance(seconds(1));
  EXPECT_EQ(f.get(), "ns/a");
  EXPECT_EQ(q.delayed(), 0U);
}

TEST_F(WorkQueueTest, PerKeyBackoffDoublesFrom5msAndForgetResets) {
  WorkQueue q(options());
  const std::vector<milliseconds> expected = {milliseconds(5), milliseconds(10), milliseconds(20),
                                              milliseconds(40)};
  for (const auto delay : expected) {
    q.add_rate_limited("ns/a");
    clock_->advance(delay - milliseconds(1));
    EXPECT_EQ(try_get(q), std::nullopt) << delay.count();
    clock_->advance(milliseconds(1));
    EXPECT_EQ(q.get(), "ns/a");
    q.done("ns/a");
  }
  EXPECT_EQ(q.failures("ns/a"), 4);
  q.forget("ns/a");
  EXPECT_EQ(q.failures("ns/a"), 0);
  q.add_rate_limited("ns/a");
  clock_->advance(milliseconds(5));
  EXPECT_EQ(q.get(), "ns/a");
}

TEST_F(WorkQueueTest, PerKeyBackoffIsCappedAt1000s) {
  WorkQueue q(options());
  for (int i = 0; i < 25; ++i) {
    q.add_rate_limited("ns/a");
    clock_->advance(seconds(1000));
    ASSERT_EQ(q.get(), "ns/a");
    q.done("ns/a");
  }
  // 5 ms * 2^25 is about 46 hours; the cap makes it 1000 s.
  q.add_rate_limited("ns/a");
  clock_->advance(seconds(999));
  EXPECT_EQ(try_get(q), std::nullopt);
  clock_->advance(seconds(1));
  EXPECT_EQ(q.get(), "ns/a");
}

TEST_F(WorkQueueTest, OverallBucketLimitsManyKeys) {
  WorkQueueOptions o = options();
  o.qps = 10;
  o.burst = 2;
  WorkQueue q(o);
  // Three different keys failing at once: two ride the burst (5 ms per-key delay), the third
  // waits for a token (100 ms at 10 qps).
  q.add_rate_limited("ns/a");
  q.add_rate_limited("ns/b");
  q.add_rate_limited("ns/c");
  clock_->advance(milliseconds(5));
  EXPECT_TRUE(try_get(q).has_value());
  EXPECT_TRUE(try_get(q).has_value());
  EXPECT_EQ(try_get(q), std::nullopt);
  clock_->advance(milliseconds(95));
  EXPECT_EQ(q.get(), "ns/c");
}

TEST_F(WorkQueueTest, ShutdownWakesWorkers) {
  WorkQueue q(options());
  auto f = std::async(std::launch::async, [&] { return q.get(); });
  std::this_thread::sleep_for(milliseconds(20));
  q.shutdown();
  EXPECT_EQ(f.get(), std::nullopt);
  q.add("ns/a");
  EXPECT_EQ(q.length(), 0U);
  EXPECT_TRUE(q.shutting_down());
}

}  // namespace
}  // namespace ascend::kube
