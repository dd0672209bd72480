// Startup taints (ARCHITECTURE.md, autoscaling): a node the cluster autoscaler adds for Ascend
// work carries the taint kStartupTaint (contract.hpp) until the device plugin has registered
// and the node's allocatable shows the chips. The autoscaler treats
// `startup-taint.cluster-autoscaler.kubernetes.io/*` taints as transient (it does not scale up
// again for pods waiting on them), and the scheduler keeps NPU pods off the node until the
// chips are really there. This controller removes the taint once they are.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kube/client.hpp"
#include "kube/controller.hpp"
#include "kube/logging.hpp"
#include "kube/predicate.hpp"
#include "kube/store.hpp"
#include "kube/transform.hpp"
#include "operator/job.hpp"
#include "operator/job_metrics.hpp"

namespace ascend::op {

struct NodeReadinessOptions {
  /// The taint key removed (every effect).
  std::string taint = kStartupTaint;
  /// The extended resource that must be allocatable, more than zero, first.
  std::string resource = kNpuResource;
  /// Field manager recorded for the patch.
  std::string field_manager = kOperatorName;
  JobMetricsPtr metrics;
};

/// True for a quantity (`"8"`, `"1k"`, `"500m"`) greater than zero; false for zero, a
/// negative, or anything that is not a quantity string.
bool positive_quantity(const Json& quantity);

/// The JSON patch (RFC 6902) that removes every `options.taint` taint from `node`, each removal
/// guarded by a `test` of the key at its index (last index first, so the earlier ones stay
/// put): if the taint list changed since this copy of the node was read, the API server refuses
/// the whole patch (422) and nothing else is touched. std::nullopt when there is nothing to do:
/// no such taint, or `status.allocatable[options.resource]` missing or not positive.
std::optional<Json> startup_taint_patch(const Json& node, const NodeReadinessOptions& options);

/// The fields of a Node the controller reads: `spec.taints` and the one allocatable resource.
std::vector<kube::FieldPath> node_fields_read(const NodeReadinessOptions& options);

/// What the Node informer keeps: identity and node_fields_read().
kube::Transform node_cache_transform(const NodeReadinessOptions& options);

/// The updates worth a reconcile: those that change node_fields_read() (not kwok's or the
/// kubelet's heartbeats, which otherwise cost a reconcile per Node every few seconds).
kube::Predicate node_update_filter(const NodeReadinessOptions& options);

/// Reconciles one Node (key = its name) from the Node cache: one JSON patch when the taint is
/// due to go, nothing otherwise. Safe to call from several workers.
class NodeReadiness final {
 public:
  NodeReadiness(kube::ClientPtr client, std::shared_ptr<kube::Store> nodes,
                NodeReadinessOptions options);

  kube::ReconcileResult reconcile(const std::string& name);

 private:
  kube::ClientPtr client_;
  std::shared_ptr<kube::Store> nodes_;
  NodeReadinessOptions options_;
  /// `controller=node-readiness` on every line.
  kube::log::Logger logger_;
};

}  // namespace ascend::op
