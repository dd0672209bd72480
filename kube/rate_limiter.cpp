#include "kube/rate_limiter.hpp"

#include <algorithm>

namespace ascend::kube {

RateLimiter::RateLimiter(double qps, int burst, ClockPtr clock)
    : qps_(qps),
      burst_(std::max(burst, 1)),
      clock_(std::move(clock)),
      tokens_(static_cast<double>(std::max(burst, 1))),
      last_(clock_->now()) {}

Duration RateLimiter::reserve() {
  if (qps_ <= 0) return Duration::zero();
  const std::lock_guard lock(mutex_);
  const SteadyTime now = clock_->now();
  if (now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(static_cast<double>(burst_), tokens_ + elapsed * qps_);
    last_ = now;
  }
  tokens_ -= 1.0;
  if (tokens_ >= 0) return Duration::zero();
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(-tokens_ / qps_));
}

bool RateLimiter::acquire() {
  const Duration wait = reserve();
  std::unique_lock lock(mutex_);
  const SteadyTime deadline = clock_->now() + wait;
  while (!shutdown_ && clock_->now() < deadline)
    clock_->wait_until(cv_, lock, deadline);
  return !shutdown_;
}

void RateLimiter::shutdown() {
  {
    const std::lock_guard lock(mutex_);
    shutdown_ = true;
  }
  cv_.notify_all();
}

}  // namespace ascend::kube
