// Leader election on a coordination.k8s.io/v1 Lease, with client-go's algorithm.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

#include "kube/client.hpp"
#include "kube/clock.hpp"
#include "kube/metrics.hpp"

namespace ascend::kube {

struct LeaderElectionOptions {
  std::string lease_namespace;
  std::string lease_name;
  /// Unique per process (pod name plus a random suffix, say).
  std::string identity;
  /// client-go defaults: 15 s lease, 10 s renew deadline, 2 s retry.
  Duration lease_duration = std::chrono::seconds(15);
  Duration renew_deadline = std::chrono::seconds(10);
  Duration retry_period = std::chrono::seconds(2);
  ClockPtr clock = system_clock();
  MetricsPtr metrics;
  /// Called on the run() thread; must return quickly (start controllers on their own threads).
  std::function<void()> on_started_leading;
  /// Called on the run() thread as soon as leadership is lost or given up.
  std::function<void()> on_stopped_leading;
  /// Called when a different holder is observed (including ourselves).
  std::function<void(const std::string& holder)> on_new_leader;
};

/// The part of a Lease's spec the algorithm compares.
struct LeaseRecord {
  std::string holder;
  int lease_duration_seconds = 0;
  std::string acquire_time;
  std::string renew_time;
  int transitions = 0;
  bool operator==(const LeaseRecord&) const = default;
};

/// Campaigns for and holds one Lease.
///
/// Guarantees (client-go `tryAcquireOrRenew`): another holder's lease counts as expired only
/// when `lease_duration` has passed on *our* clock since we last saw its record change (never
/// by comparing the server's renewTime with our clock, so clock skew between hosts does not
/// matter); a leader that cannot renew within `renew_deadline` (< lease_duration) stops leading
/// at once, before any other candidate may take over; on stop() a leader releases the lease
/// (empty holder) so a successor need not wait for expiry.
class LeaderElector final {
 public:
  enum class Outcome { kStopped, kLost };

  LeaderElector(ClientPtr client, LeaderElectionOptions options);

  /// One attempt: create, take over an expired/released lease, or renew our own.
  /// Returns true when we hold the lease afterwards.
  bool try_acquire_or_renew();
  /// Campaigns every retry_period until leading, then renews until stop() (releases the lease
  /// and returns kStopped) or until renewal fails past the deadline (returns kLost; the usual
  /// response is to exit so that nothing keeps acting as leader). Blocks the caller.
  Outcome run();
  /// Makes run() return promptly. Thread-safe.
  void stop();
  /// Gives the lease up if we hold it (run() does this on stop()).
  void release();

  [[nodiscard]] bool is_leader() const;
  /// The holder last observed in the Lease.
  [[nodiscard]] std::string observed_holder() const;

 private:
  bool wait(Duration d);
  void set_leading(bool leading);
  /// Logs a failed Lease read or write, once per distinct error (it is retried every 2 s).
  void report(const char* what, const Error& error);
  Json lease_object(const LeaseRecord& record, const std::string& resource_version) const;

  ClientPtr client_;
  LeaderElectionOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stopped_ = false;        // guarded by mutex_
  bool leading_ = false;        // guarded by mutex_
  LeaseRecord observed_;        // guarded by mutex_
  SteadyTime observed_time_{};  // guarded by mutex_
  std::string last_error_;      // the last error report() logged; only run()'s thread
};

}  // namespace ascend::kube
