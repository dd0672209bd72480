// The clock seam: everything in kube/ that waits or judges time takes a Clock, so tests can
// drive leader election, the work queue and rate limits without sleeping.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace ascend::kube {

using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;
using Duration = std::chrono::steady_clock::duration;

/// Monotonic time for intervals and wall time for timestamps written into objects.
class Clock {
 public:
  virtual ~Clock() = default;
  /// Monotonic now; judge every interval with this.
  [[nodiscard]] virtual SteadyTime now() const = 0;
  /// Wall-clock now; only for timestamps sent to the API server.
  [[nodiscard]] virtual WallTime wall_now() const = 0;
  /// Waits on `cv` (whose mutex `lock` holds) until notified or until now() >= deadline.
  /// May wake spuriously; callers re-check their condition and the time.
  virtual void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                          SteadyTime deadline) = 0;
};

using ClockPtr = std::shared_ptr<Clock>;

/// The real clocks (steady_clock and system_clock).
class SystemClock final : public Clock {
 public:
  [[nodiscard]] SteadyTime now() const override { return std::chrono::steady_clock::now(); }
  [[nodiscard]] WallTime wall_now() const override { return std::chrono::system_clock::now(); }
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                  SteadyTime deadline) override {
    cv.wait_until(lock, deadline);
  }
};

/// The process-wide real clock.
ClockPtr system_clock();

/// A clock that moves only when a test calls advance(). Waiters wake at least every few real
/// milliseconds to re-check the fake time, so an advance() is never lost.
class FakeClock final : public Clock {
 public:
  FakeClock();
  [[nodiscard]] SteadyTime now() const override;
  [[nodiscard]] WallTime wall_now() const override;
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                  SteadyTime deadline) override;
  /// Moves both clocks forward.
  void advance(Duration d);

 private:
  mutable std::mutex mutex_;
  Duration offset_{};  // guarded by mutex_
  SteadyTime steady_base_;
  WallTime wall_base_;
};

}  // namespace ascend::kube
