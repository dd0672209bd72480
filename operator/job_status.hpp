// The job's state machine as a pure function: (job, the Pods observed for it, now) -> (new
// status, Pods to create and delete, whether to delete the job, when to look again, Events).
// It runs in named steps, in order: rank the Pods; a finished job and its TTL; suspend; the
// deadline; chip faults; failures and restarts; success; missing ranks; running. A step that
// settles the decision ends it. No I/O, no clock of its own: every phase transition, exit-code
// class and restart scope is unit tested in job_status_test.cpp.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kube/clock.hpp"
#include "operator/autoscaler_events.hpp"
#include "operator/job.hpp"

namespace ascend::op {

/// A Pod's `status.phase`. No phase yet reads as kPending; text Kubernetes does not define, as
/// kUnknown (neither running nor finished).
enum class PodPhase { kPending, kRunning, kSucceeded, kFailed, kUnknown };

/// The Running condition's reasons while a Pod waits on a node autoscaler: a node is being added
/// for it, or the autoscaler said none will be (autoscaler_events.hpp).
inline constexpr const char* kWaitingForNode = "WaitingForNode";
inline constexpr const char* kNoNodeFits = "NoNodeFits";

/// The device plugin's word that a chip the Pod holds went Unhealthy (the annotation
/// labels::kNpuFault).
struct PodFault {
  std::vector<std::string> chips;  ///< Device IDs.
  std::string node;
  std::string reason;
  std::string time;
  bool operator==(const PodFault&) const = default;
};

/// Parses the annotation's value; nullopt when it is not a JSON object naming at least one
/// chip (a malformed value is ignored, never a crash).
std::optional<PodFault> parse_pod_fault(const std::string& text);

/// What the decision needs to know about one Pod of the job.
struct ObservedPod {
  std::string name;
  std::string uid;
  int rank = -1;     ///< From the node-rank label; -1 when missing or malformed.
  int attempt = -1;  ///< From the attempt label; -1 when missing or malformed.
  PodPhase phase = PodPhase::kPending;
  /// The Pod's Ready condition is True (its containers pass their readiness probes).
  bool ready = false;
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
  /// What a node autoscaler last said about the Pod (autoscaler_events.hpp), if anything: the
  /// reconciler fills it in from the Event caches, observe_pod() never does.
  std::optional<AutoscalerNote> autoscaler;
  /// A chip the Pod holds went Unhealthy (the device plugin's annotation).
  std::optional<PodFault> fault;
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

/// What Kueue decided about a job that names a queue, as the reconciler read it off the job's
/// Workload (operator/workload.hpp). decide() takes it as given: no I/O here either.
struct QueueGate {
  std::string queue;     ///< The LocalQueue.
  std::string workload;  ///< The Workload's name.
  /// Admitted and not evicted: the job's Pods may exist.
  bool admitted = false;
  std::string cluster_queue;  ///< Who admitted it, when admitted.
  /// While not admitted: why it waits, for the Admitted condition (Kueue's own reason and
  /// message where it gave one).
  std::string reason;
  std::string message;
  /// While the Workload's Evicted condition is True: its lastTransitionTime (what makes each
  /// eviction count once), reason and message.
  std::string eviction_time;
  std::string eviction_reason;
  std::string eviction_message;
  bool operator==(const QueueGate&) const = default;
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
/// - A current Pod that has not succeeded and carries the device plugin's chip-fault annotation
///   restarts the job off the chip the same way (every rank for restartScope Job, its rank for
///   Pod; the rank attempt is raised first, so each faulted Pod counts once) but counts in
///   `faults` and `lastFault`, never in `restarts`: a hardware fault does not spend
///   maxRestarts, and it wins over a failure of the same Pod (the fault is why it failed).
/// - Succeeded when every rank's current Pod succeeded; Failed and Succeeded are final: Pods
///   still running are deleted, finished Pods are kept for their logs, and
///   ttlSecondsAfterFinished deletes the job. activeDeadlineSeconds counts from startTime
///   (set at the first reconcile and again on resume) and fails the job with DeadlineExceeded.
/// - suspend deletes every Pod and holds phase Suspended; resuming re-creates them.
/// - Condition lastTransitionTime changes only when the condition's status changes, so a
///   status with nothing new compares equal to the old one.
/// - With a `queue` gate (a job that names a Kueue queue), after the finished and suspend
///   steps: until admitted, every Pod of the job is deleted, no Pod is created, the phase is
///   Queued and condition Admitted is False with the reason the gate gives; an eviction
///   (a new eviction_time) counts once in `evictions`, never in `restarts`, and neither the
///   restart budget nor the rank attempts move. activeDeadlineSeconds counts from admission.
Decision decide(const Job& job, const std::vector<ObservedPod>& pods, kube::WallTime now,
                const QueueGate* queue = nullptr);

/// Whether the output volume outlives a Pod (a persistentVolumeClaim or a hostPath; an emptyDir,
/// the default, does not).
bool output_persistent(const Storage& storage);

/// Sets a metav1.Condition the way meta.SetStatusCondition does: lastTransitionTime (`now`)
/// moves only when the status changes; reason, message and observedGeneration always follow.
void set_condition(JobStatus& status, const std::string& type, const std::string& value,
                   const std::string& reason, const std::string& message, const std::string& now,
                   std::int64_t generation);

// The steps of decide() whose contracts stand alone, exposed for their tests.

/// The job's Pods sorted against its status: the first step of every decision.
struct RankedPods {
  /// Per rank, its Pod of the current attempt (JobStatus::rank_attempts) that is not being
  /// deleted. Points into the `pods` given to rank_pods(), which must outlive this.
  std::map<int, const ObservedPod*> current;
  /// Ranks that have a Pod of any attempt, going away or not: a new Pod's name is taken until
  /// the old one is gone.
  std::set<int> occupied;
  /// Pods to delete because no rank of the current attempt is theirs: an older attempt, a rank
  /// out of range, missing or malformed labels. Pods already being deleted are left out.
  std::vector<PodRef> stale;
  /// A Pod of a newer attempt than the status knows: this copy of the job is older than the
  /// Pods, so no rank may be created until the cache catches up.
  bool newer_attempt = false;
};

/// Sorts `pods` of a job with `nodes` ranks whose current attempts are `rank_attempts` (one per
/// rank).
RankedPods rank_pods(int nodes, const std::vector<int>& rank_attempts,
                     const std::vector<ObservedPod>& pods);

/// Whether a Pod that failed with `exit_code` may be retried under `policy`: Never retries
/// nothing, OnFailure everything; ExitCode treats 1-127 (the program's own exits) as permanent
/// and retries 128-255 (signals: OOM kills, preemption) and unknown codes (evictions).
bool retryable(RestartPolicy policy, std::optional<int> exit_code);

/// True when the two statuses differ only in timestamps (lastTransitionTime of conditions with
/// unchanged status, lastFailure.time): such a change is not worth a write.
bool same_status_ignoring_timestamps(const JobStatus& a, const JobStatus& b);

}  // namespace ascend::op
