#include "plugin/wake_loop.hpp"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace ascend::plugin {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(WakeLoop, StopWakesAWaitAtOnce) {
  WakeLoop loop;
  std::atomic<int> rounds{0};
  loop.start([&](const std::stop_token& stop) {
    while (!stop.stop_requested()) {
      loop.wait(-1, std::chrono::hours(1));
      ++rounds;
    }
  });
  EXPECT_TRUE(loop.running());
  const auto before = Clock::now();
  loop.stop();
  EXPECT_LT(Clock::now() - before, 5s);  // not the hour the loop asked to sleep
  EXPECT_FALSE(loop.running());
  EXPECT_LE(rounds.load(), 1);
  loop.stop();  // idempotent
}

TEST(WakeLoop, WaitReportsAReadableFdAndTimesOut) {
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  WakeLoop loop;
  EXPECT_FALSE(loop.wait(fd, 10ms));  // nothing to read: times out
  EXPECT_FALSE(loop.wait(-1, -5ms));  // a negative timeout returns at once
  const std::uint64_t one = 1;
  ASSERT_EQ(::write(fd, &one, sizeof one), static_cast<ssize_t>(sizeof one));
  EXPECT_TRUE(loop.wait(fd, 1h));
  ::close(fd);
}

TEST(WakeLoop, StartsAgainAfterStop) {
  WakeLoop loop;
  std::atomic<int> runs{0};
  const auto body = [&](const std::stop_token& stop) {
    ++runs;
    while (!stop.stop_requested())
      loop.wait(-1, 1h);
  };
  loop.start(body);
  loop.start(body);  // ignored while running
  loop.stop();
  loop.start(body);
  loop.stop();
  EXPECT_EQ(runs.load(), 2);
}

}  // namespace
}  // namespace ascend::plugin
