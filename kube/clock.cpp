#include "kube/clock.hpp"

namespace ascend::kube {

ClockPtr system_clock() {
  static const ClockPtr clock = std::make_shared<SystemClock>();
  return clock;
}

// Fake time starts at a fixed, non-zero point so that "zero" time stamps are distinguishable.
FakeClock::FakeClock()
    : steady_base_(SteadyTime(std::chrono::hours(1000))),
      wall_base_(WallTime(std::chrono::seconds(1'700'000'000))) {}

SteadyTime FakeClock::now() const {
  const std::lock_guard lock(mutex_);
  return steady_base_ + offset_;
}

WallTime FakeClock::wall_now() const {
  const std::lock_guard lock(mutex_);
  return wall_base_ + std::chrono::duration_cast<WallTime::duration>(offset_);
}

void FakeClock::wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                           SteadyTime deadline) {
  if (now() >= deadline) return;
  cv.wait_for(lock, std::chrono::milliseconds(2));
}

void FakeClock::advance(Duration d) {
  const std::lock_guard lock(mutex_);
  offset_ += d;
}

}  // namespace ascend::kube
