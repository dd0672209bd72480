// Level-based reconcile of one LlamaFactoryJob: read the job and its children from the informer
// caches, decide (job_status.hpp), write status, then act on children.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "kube/client.hpp"
#include "kube/clock.hpp"
#include "kube/controller.hpp"
#include "kube/events.hpp"
#include "kube/logging.hpp"
#include "kube/store.hpp"
#include "operator/autoscaler_events.hpp"
#include "operator/job_metrics.hpp"
#include "operator/job_status.hpp"
#include "operator/pod_builder.hpp"
#include "operator/progress.hpp"
#include "operator/workload.hpp"

namespace ascend::op {

/// The condition that says whether the job's children could be made: False with reason
/// kChildNameConflict or kChildCreateRefused, True (reason ChildrenCreated) once they exist
/// again. A job that never had a problem does not carry it.
inline constexpr const char* kChildrenCreated = "ChildrenCreated";
/// A child's name is taken by an object the job does not control.
inline constexpr const char* kChildNameConflict = "NameConflict";
/// The API server refused to create a child; the condition's message is the server's.
inline constexpr const char* kChildCreateRefused = "CreateRefused";

struct ReconcilerOptions {
  PodBuilderOptions pods;
  /// Server-side apply field manager for ConfigMaps and Services.
  std::string field_manager = kOperatorName;
  /// How soon to look again when the caches are known to lag our own writes.
  std::chrono::milliseconds cache_lag_retry{200};
  /// How long a Pod this process created may stay missing from the Pod cache before a
  /// reconcile tries to create it again (the watch normally delivers it within milliseconds).
  std::chrono::milliseconds created_pod_wait{std::chrono::seconds(30)};
  /// How long a new job's first status (phase Pending, nothing to report but Created) may wait
  /// for its Pods to run: a job whose ranks all run within it gets one status write (Running)
  /// instead of two (Pending, then Running), and its JobCreated Event goes out with the Running
  /// one. Any other news (a waiting reason, a failure, a blocked child) is written at once.
  /// Zero writes Pending at once.
  std::chrono::milliseconds pending_status_delay{0};
  kube::ClockPtr clock = kube::system_clock();
  /// Counts what reconciles do; null records nothing.
  JobMetricsPtr metrics;
  /// What node autoscalers said about Pods (autoscaler_events.hpp), read for Pods that cannot be
  /// scheduled; null: the job status never mentions autoscalers.
  std::shared_ptr<const AutoscalerNotes> autoscaler_notes;
  /// Progress reports from the status server; a job's newest is written into status.progress
  /// when the store says it is due (at most one such write per interval). Null: none.
  std::shared_ptr<ProgressStore> progress;
};

/// The caches the reconciler reads (informers own them).
struct JobCaches {
  std::shared_ptr<kube::Store> jobs;
  std::shared_ptr<kube::Store> pods;
  std::shared_ptr<kube::Store> services;
  std::shared_ptr<kube::Store> config_maps;
  /// Kueue's Workloads the operator made, and ResourceFlavors; both null when the Kueue
  /// integration is off (a job that names a queue then stays Queued and says why).
  std::shared_ptr<kube::Store> workloads = nullptr;
  std::shared_ptr<kube::Store> flavors = nullptr;
};

/// Reconciles one job per call; safe to call from several workers for different keys (the
/// work queue never hands one key to two workers).
///
/// Order of writes: ConfigMap and Services (created with POST when missing; server-side apply
/// only when the job controls them and their desired content changed, tracked by a hash
/// annotation); then status through /status with the cached resourceVersion (so a decision
/// made from a stale job is refused with 409 and retried), skipped when nothing but timestamps
/// changed; only after the status write succeeded: Pod deletions (with UID preconditions) and
/// creations (create-if-missing), then deletion of the job when its TTL passed. Events are
/// best effort.
///
/// Ownership: an object the job does not control (no controller ownerReference with the job's
/// uid: someone else's, unlabelled, or an earlier job's of the same name) is never written or
/// deleted. The caches only hold labelled children, so an AlreadyExists on create is followed
/// by one GET to see whose the object is. A name taken, or a create the API server refuses
/// (size, schema, Pod Security admission), sets kChildrenCreated False with the reason and
/// message (the server's own for a refusal) in one more status write, records one Warning
/// Event and one log line when it begins or changes, creates no Pods while the ConfigMap or a
/// Service is missing, and backs off with the work queue's per-key backoff
/// (ReconcileResult::backoff). Once every child exists the condition turns True.
///
/// After a status write, the job cache holds the old version for a moment; until it catches
/// up, reconciles of that key wait (`cache_lag_retry`) instead of deciding from the stale
/// status (which could re-create Pods of a superseded attempt). Likewise a Pod it created is
/// not created again until the Pod cache has shown it or `created_pod_wait` passed
/// (client-go's expectations): the POST would only earn an AlreadyExists.
class Reconciler final {
 public:
  Reconciler(kube::ClientPtr client, JobCaches caches, kube::EventRecorder* events,
             ReconcilerOptions options);

  kube::ReconcileResult reconcile(const std::string& key);

 private:
  kube::Status ensure_child(const kube::Resource& type, const kube::Store& store, Json desired,
                            const Job& job);
  /// After an AlreadyExists for `desired`: ok when the job controls the object (the cache
  /// lags), NameConflict when it does not, 409 Conflict when it vanished meanwhile.
  kube::Status after_already_exists(const kube::Resource& type, const Json& desired,
                                    const Job& job);
  /// Writes `status` onto `object`; returns the object as written.
  kube::Result<Json> write_status(const Json& object, const JobStatus& status,
                                  const std::string& key);
  /// Sets kChildrenCreated in `status`: False for `blocked`, True when it is null.
  void children_condition(const Job& job, JobStatus& status, const kube::Error* blocked) const;
  /// One Warning Event and one log line, unless `before` already said the same.
  void report_blocked(const Json& object, const JobStatus& before, const kube::Error& blocked,
                      const kube::log::Logger& logger);
  bool cache_is_stale(const std::string& key, const std::string& resource_version);
  /// Where a job that names a queue stands with Kueue (operator/workload.hpp).
  struct QueueState {
    QueueGate gate;
    std::optional<Placement> placement;  ///< Set when admitted.
    std::optional<Json> workload;        ///< The job's Workload as last seen, if any.
    bool retry = false;                  ///< Look again shortly (a cache to catch up).
  };
  /// Finds or creates the job's Workload (create-only POST of a deterministic name: a
  /// restarted operator makes no second one), deletes it when it no longer fits the job, and
  /// reads Kueue's decision off it. Errors: NameConflict, or the API server's refusal (no
  /// Kueue, a missing WorkloadPriorityClass): the job waits, blocked.
  kube::Result<QueueState> queue_state(const Job& job, const kube::log::Logger& logger);
  /// After the job's status was written: marks a finished job's Workload Finished, deletes a
  /// suspended job's, and hands an evicted Workload's admission back once no Pod is left.
  // Deletes this Workload (background, only this uid); not found or replaced counts as done.
  kube::Status remove_workload(const Json& workload);
  kube::Status settle_workload(const Job& job, const JobStatus& status,
                               const std::optional<Json>& workload, bool pods_left,
                               const kube::log::Logger& logger);
  kube::ReconcileResult invalid_spec(const Json& object, const std::string& key,
                                     const kube::Error& error, const kube::log::Logger& logger);
  void record(const Json& object, const std::string& type, const std::string& reason,
              const std::string& note);

  /// Whether this reconcile may leave out the first status write (pending_status_delay); if
  /// so, `wait` is how long until it is due. Remembers when the job was first decided upon.
  bool defer_first_status(const Job& job, const Decision& decision, const std::string& key,
                          kube::Duration& wait);
  /// When each job (key, uid) not yet given a status was first decided upon (monotonic and
  /// wall time: its startTime), while pending_status_delay holds its first status back.
  struct Unwritten {
    std::string uid;
    kube::SteadyTime first;
    std::string start_time;
  };
  std::unordered_map<std::string, Unwritten> unwritten_;  // guarded by mutex_
  kube::SteadyTime unwritten_purged_{};                   // guarded by mutex_

  /// Pods created by this process and not yet seen in the Pod cache, by namespace/name. Shared
  /// with a handler on the Pod store, which may outlive the reconciler.
  class CreatedPods;

  kube::ClientPtr client_;
  JobCaches caches_;
  std::shared_ptr<CreatedPods> created_pods_;
  kube::EventRecorder* events_;
  ReconcilerOptions options_;
  /// `controller=lfjob` on every line; each reconcile adds `key=`.
  kube::log::Logger logger_;
  std::mutex mutex_;
  /// key -> the resourceVersions our status writes replaced since the cache last caught up.
  std::unordered_map<std::string, std::vector<std::string>> superseded_;  // guarded by mutex_
};

/// FNV-1a 64-bit of `text`, as 16 hex digits: stable across processes and versions.
std::string content_hash(const std::string& text);

}  // namespace ascend::op
