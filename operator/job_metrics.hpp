// The operator's own Prometheus metrics, next to the runtime's (kube/metrics.hpp, which already
// counts reconciles by result as llamafactory_operator_reconcile_total): jobs by phase, and what
// reconciles did to the cluster. Named `<component>_<noun>_<unit>`.
#pragma once

#include <array>
#include <memory>
#include <string>

#include "kube/store.hpp"
#include "operator/job.hpp"

namespace prometheus {
class Registry;
template <typename T>
class Family;
class Counter;
class Gauge;
}  // namespace prometheus

namespace ascend::op {

/// Thread-safe (prometheus-cpp metrics are atomics).
class JobMetrics final {
 public:
  /// Every phase label `llamafactory_operator_jobs` carries: "New" (Phase::kNone, a job the
  /// operator has not written a status for yet), then phase_name() of every other phase.
  static constexpr std::array<const char*, 7> kPhases = {
      "New", "Pending", "Running", "Restarting", "Succeeded", "Failed", "Suspended"};

  /// Registers the families in `registry`, names prefixed by `component`
  /// (`llamafactory_operator` gives `llamafactory_operator_jobs`).
  JobMetrics(prometheus::Registry& registry, const std::string& component);

  /// A store change handler for the job cache: keeps `<component>_jobs{phase}` equal to the
  /// number of cached jobs in each phase (level-based, so every replica reports it, leading or
  /// not). Phases outside kPhases are counted as New.
  void job_changed(const kube::ObjectPtr& old_object, const kube::ObjectPtr& new_object);

  /// A Pod the reconciler created.
  void pod_created();
  /// A Pod the reconciler deleted (restarts, suspend, a finished job's runners).
  void pod_deleted();
  /// A status write that reached the API server; `result` is `written` or `conflict`.
  void status_write(const std::string& result);
  /// A ConfigMap or Service applied because it was missing or differed.
  void child_applied(const std::string& kind);
  /// A job entered `phase` (counted once per transition, by the replica that wrote it).
  void transition(Phase phase);
  /// The startup taint was removed from a Node (node_readiness.hpp).
  void startup_taint_removed();

 private:
  prometheus::Gauge& phase_gauge(const kube::ObjectPtr& job);

  prometheus::Family<prometheus::Gauge>& jobs_;
  prometheus::Family<prometheus::Counter>& pods_created_;
  prometheus::Family<prometheus::Counter>& pods_deleted_;
  prometheus::Family<prometheus::Counter>& status_writes_;
  prometheus::Family<prometheus::Counter>& children_applied_;
  prometheus::Family<prometheus::Counter>& transitions_;
  prometheus::Family<prometheus::Counter>& startup_taints_removed_;
};

using JobMetricsPtr = std::shared_ptr<JobMetrics>;

}  // namespace ascend::op
