// A token bucket, as client-go's flowcontrol and golang.org/x/time/rate implement it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "kube/clock.hpp"

namespace ascend::kube {

/// Token bucket with `qps` tokens per second and room for `burst`. Starts full.
///
/// Reservations may run the bucket negative: reserve() always succeeds and says how long the
/// caller must wait, so callers are served in order without a thundering herd.
/// Thread-safe. A qps of 0 or less means unlimited.
class RateLimiter final {
 public:
  RateLimiter(double qps, int burst, ClockPtr clock = system_clock());

  /// Takes one token and returns how long to wait before using it (zero when available now).
  Duration reserve();
  /// Takes one token, blocking the calling thread until it may be used. Returns false (without
  /// waiting further) once shutdown() was called. Never call from a cpprestsdk thread.
  bool acquire();
  /// Wakes every acquire() and makes later ones return false at once.
  void shutdown();

  [[nodiscard]] double qps() const { return qps_; }
  [[nodiscard]] int burst() const { return burst_; }

 private:
  const double qps_;
  const int burst_;
  ClockPtr clock_;
  std::mutex mutex_;
  std::condition_variable cv_;
  double tokens_;          // guarded by mutex_; may be negative
  SteadyTime last_;        // guarded by mutex_
  bool shutdown_ = false;  // guarded by mutex_
};

}  // namespace ascend::kube
