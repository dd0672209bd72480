// The controller work queue (client-go's workqueue): keys, not events.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "kube/clock.hpp"
#include "kube/metrics.hpp"
#include "kube/rate_limiter.hpp"

namespace ascend::kube {

struct WorkQueueOptions {
  /// Label for metrics and logs.
  std::string name = "default";
  /// Per-key backoff: base * 2^failures, capped (client-go: 5 ms .. 1000 s).
  Duration base_delay = std::chrono::milliseconds(5);
  Duration max_delay = std::chrono::seconds(1000);
  /// Overall bucket for rate-limited adds (client-go: 10 qps, burst 100).
  double qps = 10;
  int burst = 100;
  ClockPtr clock = system_clock();
  MetricsPtr metrics;
};

/// A queue of keys (`namespace/name`).
///
/// Guarantees: a key is queued at most once however often it is added (dedup); a key is handed
/// to at most one worker at a time: adds while it is in flight are remembered and it is queued
/// again when done(); delayed adds keep the earliest due time. Thread-safe.
class WorkQueue final {
 public:
  explicit WorkQueue(WorkQueueOptions options = {});

  /// Queues the key now.
  void add(const std::string& key);
  /// Queues the key once `delay` has passed (or now, for a zero delay).
  void add_after(const std::string& key, Duration delay);
  /// Queues the key after max(per-key exponential backoff, overall bucket delay), and counts a
  /// failure for the key. Use after a failed reconcile.
  void add_rate_limited(const std::string& key);
  /// Clears the key's failure count (after a success or a terminal error).
  void forget(const std::string& key);
  /// Failures counted for the key since the last forget().
  [[nodiscard]] int failures(const std::string& key) const;

  /// Blocks until a key is due, and marks it in flight. std::nullopt once shut down.
  std::optional<std::string> get();
  /// Marks the key no longer in flight; queues it again if it was added meanwhile.
  void done(const std::string& key);

  /// Wakes every get() with std::nullopt; later adds are ignored.
  void shutdown();
  [[nodiscard]] bool shutting_down() const;
  /// Keys queued (not delayed, not in flight).
  [[nodiscard]] std::size_t length() const;
  /// Keys waiting for a delay.
  [[nodiscard]] std::size_t delayed() const;

 private:
  void add_locked(const std::string& key);
  void promote_due_locked(SteadyTime now);
  void report_depth_locked();

  WorkQueueOptions options_;
  RateLimiter bucket_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;                            // guarded by mutex_
  std::unordered_set<std::string> dirty_;                    // guarded by mutex_
  std::unordered_set<std::string> processing_;               // guarded by mutex_
  std::unordered_map<std::string, SteadyTime> queued_at_;    // guarded by mutex_
  std::multimap<SteadyTime, std::string> waiting_;           // guarded by mutex_
  std::unordered_map<std::string, SteadyTime> waiting_due_;  // guarded by mutex_
  std::unordered_map<std::string, int> failures_;            // guarded by mutex_
  bool shutdown_ = false;                                    // guarded by mutex_
};

}  // namespace ascend::kube
