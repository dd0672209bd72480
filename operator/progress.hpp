// Training progress as rank 0 reports it: one line of LLaMA-Factory's trainer_log.jsonl (its
// LogCallback writes current_steps, total_steps, loss, lr, epoch, percentage, elapsed_time,
// remaining_time after each logging step), posted by the progress reporter beside
// llamafactory-cli (deploy/images, tests/workload/progress_reporter.cpp) to the operator's
// status server (operator/progress_server.hpp). This file reads a report and bounds how often
// it reaches the API server.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "kube/error.hpp"
#include "operator/job.hpp"

namespace ascend::op {

/// The largest report body the status server reads.
inline constexpr std::size_t kMaxProgressReportBytes = std::size_t{16} * 1024;

/// Reads a report: a trainer_log.jsonl line (current_steps and total_steps required, whole and
/// not negative; percentage 0-100, epoch, loss and lr numbers when present; remaining_time a
/// string of at most 64 characters) plus `resumed_from_step` (whole, not negative, optional).
/// Unknown keys are ignored (LLaMA-Factory adds some, e.g. eval lines). `received_at` becomes
/// updatedAt.
/// Errors: reason `Invalid`, the message naming the field, e.g. `current_steps: must be a whole
/// number >= 0`.
kube::Result<Progress> parse_progress_report(const Json& report, const std::string& received_at);

/// What the Running condition adds about progress: `step 40/200, loss 1.2345` (the loss only
/// when known).
std::string describe_progress(const Progress& progress);

/// The newest report per job and when each job's progress was last written, so that status
/// writes for progress are at most one per `min_interval` per job, however often ranks post
/// (reports in between are coalesced: only the newest is written). Thread-safe: the status
/// server records, reconcilers read and confirm.
class ProgressStore final {
 public:
  using Clock = std::chrono::steady_clock;
  explicit ProgressStore(std::chrono::milliseconds min_interval) : min_interval_(min_interval) {}

  /// Keeps `progress` as the job's newest report. Returns when the job should be reconciled to
  /// write it (zero: now), or std::nullopt when a reconcile is already due by then (coalesced).
  std::optional<std::chrono::milliseconds> record(const std::string& key, Progress progress,
                                                  Clock::time_point now);
  /// The newest report not yet written, when it may be written at `now`; else std::nullopt.
  [[nodiscard]] std::optional<Progress> due(const std::string& key, Clock::time_point now) const;
  /// How long until a report that is waiting may be written; std::nullopt when none waits.
  [[nodiscard]] std::optional<std::chrono::milliseconds> wait(const std::string& key,
                                                              Clock::time_point now) const;
  /// The status holding `progress` was written at `now` (or already held it).
  void written(const std::string& key, const Progress& progress, Clock::time_point now);
  /// The job is gone.
  void forget(const std::string& key);
  [[nodiscard]] std::size_t size() const;

 private:
  struct Entry {
    Progress newest;
    bool unwritten = false;
    std::optional<Clock::time_point> last_write;
    std::optional<Clock::time_point> scheduled;  ///< A reconcile asked for at this time.
  };
  [[nodiscard]] std::chrono::milliseconds delay(const Entry& e, Clock::time_point now) const;

  const std::chrono::milliseconds min_interval_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;  // guarded by mutex_
};

}  // namespace ascend::op
