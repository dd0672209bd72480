// The Kueue Workload of a job that names a queue (label kueue.x-k8s.io/queue-name): what the
// operator asks Kueue for, and what it reads back. This is the Workload lifecycle Kueue's own
// job integrations run (its jobframework), for a kind Kueue lists in
// integrations.externalFrameworks: the job owns one Workload with one pod set of `nodes` Pods
// shaped like its ranks, so Kueue admits every rank at once or none (the project's gang
// admission); Pods exist only while it is admitted, with the node labels and tolerations of the
// flavor Kueue assigned; on eviction the Pods go and the admission is handed back; a finished job
// marks its Workload Finished. Pure functions: the reconciler does the I/O.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kube/error.hpp"
#include "operator/job.hpp"
#include "operator/job_status.hpp"

namespace ascend::op {

/// The pod set's name: Kueue's default for a single pod set.
inline constexpr const char* kPodSetName = "main";

/// `<job>-<8 hex digits of a hash of the job's uid>`: deterministic, so a restarted operator
/// finds the Workload it made (no second one), and different for a job deleted and created
/// again under the same name (its old Workload may still be being collected).
std::string workload_name(const Job& job);

/// The Workload for `job`, whose ranks look like `pod` (build_pod() of rank 0): controlled by
/// the job (ownerReference, so deleting the job releases its quota through the garbage
/// collector), labelled like the job's children, spec.queueName the job's queue, one pod set
/// `main` of count spec.nodes with `pod`'s labels, annotations and spec as template (so quota is
/// computed from the real requests), and, given `priority`, spec.priorityClassRef to the job's
/// WorkloadPriorityClass with its value. Carries the spec-hash annotation of its spec.
Json build_workload(const Job& job, const Json& pod, std::optional<std::int32_t> priority);

/// The spec-hash annotation of a Workload (what build_workload() put there), or "".
std::string workload_hash(const Json& workload);

/// What a Workload's status says.
struct WorkloadView {
  bool deleting = false;
  bool quota_reserved = false;  ///< QuotaReserved True and status.admission present.
  bool admitted = false;        ///< Admitted True.
  bool evicted = false;         ///< Evicted True.
  bool finished = false;        ///< Finished True.
  std::string cluster_queue;    ///< status.admission.clusterQueue.
  /// The ResourceFlavors assigned to pod set `main` (each once, in order).
  std::vector<std::string> flavors;
  /// Evicted condition while True.
  std::string eviction_time;
  std::string eviction_reason;
  std::string eviction_message;
  /// Why it is not admitted, from QuotaReserved or Admitted False (Kueue's reason and message;
  /// e.g. `LocalQueue team-a doesn't exist`, `couldn't assign flavors ... insufficient quota`).
  std::string waiting_reason;
  std::string waiting_message;
  /// podSetUpdates of admission checks for pod set `main`, merged: labels, annotations,
  /// nodeSelector (objects) and tolerations (array).
  Json pod_set_updates = Json::object();
};

WorkloadView view_workload(const Json& workload);

/// The gate decide() takes for `job` whose Workload reads `view`: admitted only when Kueue
/// admitted it and has not evicted it. While it waits the reason is Kueue's (Pending when it
/// gave none yet); while evicted, reason Evicted and the eviction's message.
QueueGate queue_gate(const Job& job, const WorkloadView& view);

/// Where an admitted job's Pods go: the node labels and tolerations of its flavors and the
/// admission checks' podSetUpdates.
struct Placement {
  std::map<std::string, std::string> node_selector;
  Json tolerations = Json::array();
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  bool operator==(const Placement&) const = default;
};

/// Looks up a ResourceFlavor by name; std::nullopt when there is none.
using FlavorLookup = std::function<std::optional<Json>(const std::string&)>;

/// The placement for `view` (Kueue's podset.FromAssignment plus podSetUpdates): each flavor's
/// spec.nodeLabels and spec.tolerations, then the admission checks' updates.
/// Errors: 404 NotFound naming a flavor that does not exist (yet: the caller looks again);
/// 409 Conflict when two flavors or an update want different values for one node label.
kube::Result<Placement> placement(const WorkloadView& view, const FlavorLookup& flavor);

/// Adds `placement` to a Pod built by build_pod(): node labels and labels/annotations replace
/// the Pod's own of the same key, tolerations are appended unless already there.
void apply_placement(Json& pod, const Placement& placement);

/// `workload` with condition Finished True (reason Succeeded or Failed), as Kueue's
/// jobframework marks the Workload of a finished job: Kueue then releases its quota.
Json finished_workload(Json workload, bool succeeded, const std::string& message,
                       const std::string& now);

/// `workload` with its admission handed back after an eviction once the job's Pods are gone
/// (jobframework's "clear the workload's admission"): status.admission removed, QuotaReserved
/// and Admitted False, Requeued True for a preemption (else False). Kueue queues it again.
Json requeued_workload(Json workload, const std::string& now);

}  // namespace ascend::op
