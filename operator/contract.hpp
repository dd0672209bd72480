// The operator's side of the public contract (ARCHITECTURE.md): names that users, manifests,
// the chart, Volcano and the test bed depend on. Each is defined here once; changing one is a
// breaking change for everyone who wrote it down.
#pragma once

#include "kube/resource.hpp"

namespace ascend::op {

/// The custom resource (crds/llamafactoryjobs.yaml): group, version and kind.
inline constexpr const char* kGroup = "ascendfactory.io";
inline constexpr const char* kVersion = "v1alpha1";
inline constexpr const char* kKind = "LlamaFactoryJob";
/// The custom resource's REST collection.
inline const kube::Resource kJobs{kGroup, kVersion, "llamafactoryjobs", kKind, true};

/// The program's name: the managed-by label value and the field manager of its writes.
inline constexpr const char* kOperatorName = "llamafactory-operator";

/// The extended resource Ascend 910 chips are requested by: the name Huawei's own device plugin
/// gives 910A/910B/910A3, so Volcano and existing manifests keep working.
inline constexpr const char* kNpuResource = "huawei.com/Ascend910";

/// The cluster autoscaler's startup taint on nodes added for Ascend work, removed once the
/// node's allocatable shows the chips (node_readiness.hpp). The autoscaler treats every
/// `startup-taint.cluster-autoscaler.kubernetes.io/*` taint as transient.
inline constexpr const char* kStartupTaint =
    "startup-taint.cluster-autoscaler.kubernetes.io/ascend-npu";

/// Labels and annotations the operator puts on what it creates.
namespace labels {
inline constexpr const char* kJobName = "ascendfactory.io/job-name";
inline constexpr const char* kNodeRank = "ascendfactory.io/node-rank";
/// The attempt (see JobStatus::rank_attempts) a Pod belongs to.
inline constexpr const char* kAttempt = "ascendfactory.io/attempt";
inline constexpr const char* kManagedBy = "app.kubernetes.io/managed-by";
inline constexpr const char* kManagedByValue = kOperatorName;
/// A hash of the desired child object; a child is re-applied only when it differs.
inline constexpr const char* kSpecHash = "ascendfactory.io/spec-hash";
/// Set "false" on training Pods: scaling their node down would restart the whole torchrun group.
inline constexpr const char* kSafeToEvict = "cluster-autoscaler.kubernetes.io/safe-to-evict";
/// Set "true" on training Pods for the same reason: Karpenter never disrupts (consolidates,
/// drifts, expires) a node running a Pod that carries it.
inline constexpr const char* kDoNotDisrupt = "karpenter.sh/do-not-disrupt";
/// Set by the device plugin (only it may: the chart's admission policy) on a Pod holding a chip
/// that went Unhealthy: JSON {"chips":["Ascend910-3"],"node":"...","reason":"...","time":"..."}.
/// The operator restarts the Pod's job off the chip without spending maxRestarts.
inline constexpr const char* kNpuFault = "ascendfactory.io/npu-fault";
}  // namespace labels

/// Kueue's names the operator reads and writes (sigs.k8s.io/kueue v1beta2): a job labelled
/// with a queue is a Kueue workload (operator/workload.hpp). Kueue's configuration lists the
/// kind as an external framework: `LlamaFactoryJob.v1alpha1.ascendfactory.io`.
namespace kueue {
inline constexpr const char* kGroup = "kueue.x-k8s.io";
/// The LocalQueue a job waits in (the label Kueue's own integrations read).
inline constexpr const char* kQueueNameLabel = "kueue.x-k8s.io/queue-name";
/// The WorkloadPriorityClass of a job.
inline constexpr const char* kPriorityClassLabel = "kueue.x-k8s.io/priority-class";
inline const kube::Resource kWorkloads{kGroup, "v1beta2", "workloads", "Workload", true};
inline const kube::Resource kResourceFlavors{kGroup, "v1beta2", "resourceflavors", "ResourceFlavor",
                                             false};
inline const kube::Resource kWorkloadPriorityClasses{kGroup, "v1beta2", "workloadpriorityclasses",
                                                     "WorkloadPriorityClass", false};
}  // namespace kueue

/// Fixed facts of the workload image (LLaMA-Factory's own defaults and environment names).
namespace workload {
/// LLaMA Board and webchat (Gradio, `GRADIO_SERVER_PORT`): container and Service port `webui`.
inline constexpr int kWebuiPort = 7860;
inline constexpr const char* kWebuiPortName = "webui";
/// The OpenAI-style API (`API_PORT`): container and Service port `api`.
inline constexpr int kApiPort = 8000;
inline constexpr const char* kApiPortName = "api";
inline constexpr const char* kContainerName = "llamafactory";
inline constexpr const char* kConfigDir = "/etc/llamafactory";
/// The file name of the LLaMA-Factory config in kConfigDir, and the key of the ConfigMap the
/// operator writes for an inline config.
inline constexpr const char* kConfigFile = "config.yaml";
inline constexpr const char* kConfigPath = "/etc/llamafactory/config.yaml";
/// Where the model caches are mounted for a root container (the image's own user).
inline constexpr const char* kRootHuggingfaceCache = "/root/.cache/huggingface";
inline constexpr const char* kRootModelscopeCache = "/root/.cache/modelscope";
/// The non-root user and group Pods of a podSecurity restricted job run as, and its home (a
/// non-root process cannot write /root): the caches go under it, HOME, HF_HOME and
/// MODELSCOPE_CACHE point there.
inline constexpr int kNonRootId = 1000;
inline constexpr const char* kNonRootHome = "/home/llamafactory";
inline constexpr const char* kNonRootHuggingfaceCache = "/home/llamafactory/.cache/huggingface";
inline constexpr const char* kNonRootModelscopeCache = "/home/llamafactory/.cache/modelscope";
}  // namespace workload

}  // namespace ascend::op
