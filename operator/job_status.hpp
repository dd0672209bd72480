// The job's state machine as a pure function: (job, the Pods observed for it, now) -> (new
// status, Pods to create and delete, whether to delete the job, when to look again, Events).
// No I/O, no clock of its own: every phase transition, exit-code class and restart scope is
// unit tested in job_status_test.cpp.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "kube/clock.hpp"
#include "operator/job.hpp"

namespace ascend::op {

/// What the decision needs to know about one Pod of the job.
struct ObservedPod {
  std::string name;
  std::string uid;
  int rank = -1;      ///< From the node-rank label; -1 when missing or malformed.
  int attempt = -1;   ///< From the attempt label; -1 when missing or malformed.
  std::string phase;  ///< Pending, Running, Succeeded, Failed, Unknown.
  bool deleting = false;
  /// The first terminated container's exit code, if any container terminated.
  std::optional<int> exit_code;
  /// Why it ended: the container's termination reason (Error, OOMKilled) or the Pod's
  /// (Evicted, DeadlineExceeded).
  std::string reason;
  std::string message;
  /// A container waiting on ErrImagePull or ImagePullBackOff.
  bool image_pull_backoff = false;
  std::string image_pull_message;
  /// PodScheduled is False with reason Unschedulable.
  bool unschedulable = false;
  std::string unschedulable_message;
  bool operator==(const ObservedPod&) const = default;
};

/// Reads the labels and status of a Pod object.
ObservedPod observe_pod(const Json& pod);

/// A Pod to delete: by name with a UID precondition, so a replacement with the same name is
/// never hit by a stale decision.
struct PodRef {
  std::string name;
  std::string uid;
  bool operator==(const PodRef&) const = default;
};

/// A Pod to create.
struct PodSlot {
  int rank = 0;
  int attempt = 0;
  bool operator==(const PodSlot&) const = default;
};

/// An Event to record about the job.
struct JobEvent {
  std::string type;  ///< Normal or Warning.
  std::string reason;
  std::string message;
};

struct Decision {
  JobStatus status;
  std::vector<PodSlot> create;
  std::vector<PodRef> remove;
  bool delete_job = false;
  /// Look again after this long even without a change (deadline, TTL).
  std::optional<std::chrono::seconds> requeue_after;
  std::vector<JobEvent> events;
};

/// The state machine.
///
/// Guarantees:
/// - A failed Pod of the current attempt is counted exactly once: the decision raises the
///   rank's attempt (JobStatus::rank_attempts) and `restarts` in the returned status, and only
///   then asks to delete the Pod. The caller must write the status before acting, and act only
///   when that write succeeded; a later decision sees the Pod as stale and deletes it again.
/// - restartPolicy Never fails the job on any Pod failure; ExitCode fails it on exit codes
///   1-127 (NonRetryableExitCode) and retries 128-255 and unknown codes (evictions);
///   OnFailure retries everything. A retry that would take `restarts` past maxRestarts fails
///   the job (MaxRestartsExceeded). restartScope Job re-creates every rank (one restart), Pod
///   only the failed ranks (one restart each).
/// - Succeeded when every rank's current Pod succeeded; Failed and Succeeded are final: Pods
///   still running are deleted, finished Pods are kept for their logs, and
///   ttlSecondsAfterFinished deletes the job. activeDeadlineSeconds counts from startTime
///   (set at the first reconcile and again on resume) and fails the job with DeadlineExceeded.
/// - suspend deletes every Pod and holds phase Suspended; resuming re-creates them.
/// - Condition lastTransitionTime changes only when the condition's status changes, so a
///   status with nothing new compares equal to the old one.
Decision decide(const Job& job, const std::vector<ObservedPod>& pods, kube::WallTime now);

/// True when the two statuses differ only in timestamps (lastTransitionTime of conditions with
/// unchanged status, lastFailure.time): such a change is not worth a write.
bool same_status_ignoring_timestamps(const JobStatus& a, const JobStatus& b);

}  // namespace ascend::op
