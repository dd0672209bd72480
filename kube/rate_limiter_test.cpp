#include "kube/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace ascend::kube {
namespace {

using std::chrono::milliseconds;

TEST(RateLimiter, BurstIsFreeThenTokensArriveAtQps) {
  auto clock = std::make_shared<FakeClock>();
  RateLimiter limiter(5, 3, clock);
  EXPECT_EQ(limiter.reserve(), Duration::zero());
  EXPECT_EQ(limiter.reserve(), Duration::zero());
  EXPECT_EQ(limiter.reserve(), Duration::zero());
  // The fourth waits one token time (200 ms at 5 qps), the fifth two.
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(limiter.reserve()), milliseconds(200));
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(limiter.reserve()), milliseconds(400));
  // After a second the debt of two is paid and three more tokens arrived, capped at burst.
  clock->advance(std::chrono::seconds(10));
  EXPECT_EQ(limiter.reserve(), Duration::zero());
  EXPECT_EQ(limiter.reserve(), Duration::zero());
  EXPECT_EQ(limiter.reserve(), Duration::zero());
  EXPECT_GT(limiter.reserve(), Duration::zero());
}

TEST(RateLimiter, PartialRefill) {
  auto clock = std::make_shared<FakeClock>();
  RateLimiter limiter(10, 1, clock);
  EXPECT_EQ(limiter.reserve(), Duration::zero());
  clock->advance(milliseconds(50));  // half a token
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(limiter.reserve()), milliseconds(50));
}

TEST(RateLimiter, ZeroQpsIsUnlimited) {
  RateLimiter limiter(0, 1, std::make_shared<FakeClock>());
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(limiter.reserve(), Duration::zero());
}

TEST(RateLimiter, AcquireWaitsForTheFakeClockAndShutdownReleases) {
  auto clock = std::make_shared<FakeClock>();
  RateLimiter limiter(1, 1, clock);
  ASSERT_TRUE(limiter.acquire());
  std::atomic<int> result{-1};
  std::thread waiter([&] { result = limiter.acquire() ? 1 : 0; });
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_EQ(result, -1);  // still waiting: the fake clock has not moved
  clock->advance(std::chrono::seconds(1));
  waiter.join();
  EXPECT_EQ(result, 1);

  std::thread blocked([&] { result = limiter.acquire() ? 1 : 0; });
  std::this_thread::sleep_for(milliseconds(10));
  limiter.shutdown();
  blocked.join();
  EXPECT_EQ(result, 0);
  EXPECT_FALSE(limiter.acquire());
}

}  // namespace
}  // namespace ascend::kube
