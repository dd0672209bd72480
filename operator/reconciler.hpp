// Level-based reconcile of one LlamaFactoryJob: read the job and its children from the informer
// caches, decide (job_status.hpp), write status, then act on children.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "kube/client.hpp"
#include "kube/clock.hpp"
#include "kube/controller.hpp"
#include "kube/events.hpp"
#include "kube/logging.hpp"
#include "kube/store.hpp"
#include "operator/job_metrics.hpp"
#include "operator/pod_builder.hpp"

namespace ascend::op {

struct ReconcilerOptions {
  PodBuilderOptions pods;
  /// Server-side apply field manager for ConfigMaps and Services.
  std::string field_manager = kOperatorName;
  /// How soon to look again when the caches are known to lag our own writes.
  std::chrono::milliseconds cache_lag_retry{200};
  /// How long a Pod this process created may stay missing from the Pod cache before a
  /// reconcile tries to create it again (the watch normally delivers it within milliseconds).
  std::chrono::milliseconds created_pod_wait{std::chrono::seconds(30)};
  kube::ClockPtr clock = kube::system_clock();
  /// Counts what reconciles do; null records nothing.
  JobMetricsPtr metrics;
};

/// The caches the reconciler reads (informers own them).
struct JobCaches {
  std::shared_ptr<kube::Store> jobs;
  std::shared_ptr<kube::Store> pods;
  std::shared_ptr<kube::Store> services;
  std::shared_ptr<kube::Store> config_maps;
};

/// Reconciles one job per call; safe to call from several workers for different keys (the
/// work queue never hands one key to two workers).
///
/// Order of writes: ConfigMap and Services (server-side apply, only when missing or their
/// desired content changed, tracked by a hash annotation); then status through /status with
/// the cached resourceVersion (so a decision made from a stale job is refused with 409 and
/// retried), skipped when nothing but timestamps changed; only after the status write
/// succeeded: Pod deletions (with UID preconditions) and creations (create-if-missing, an
/// AlreadyExists is not an error), then deletion of the job when its TTL passed. Events are
/// best effort.
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
                            const std::string& job_uid);
  kube::Status write_status(const Json& object, const JobStatus& status, const std::string& key);
  bool cache_is_stale(const std::string& key, const std::string& resource_version);
  kube::ReconcileResult invalid_spec(const Json& object, const std::string& key,
                                     const kube::Error& error, const kube::log::Logger& logger);
  void record(const Json& object, const std::string& type, const std::string& reason,
              const std::string& note);

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
  /// key -> the resourceVersion our last status write replaced.
  std::unordered_map<std::string, std::string> superseded_;  // guarded by mutex_
};

/// FNV-1a 64-bit of `text`, as 16 hex digits: stable across processes and versions.
std::string content_hash(const std::string& text);

}  // namespace ascend::op
