// One worker Pod per node rank of a LlamaFactoryJob.
#pragma once

#include <string>

#include "operator/job.hpp"

namespace ascend::op {

/// Fixed facts of the workload image (ARCHITECTURE.md's public contract).
namespace workload {
inline constexpr int kWebuiPort = 7860;
inline constexpr int kApiPort = 8000;
inline constexpr const char* kContainerName = "llamafactory";
inline constexpr const char* kConfigDir = "/etc/llamafactory";
inline constexpr const char* kConfigPath = "/etc/llamafactory/config.yaml";
inline constexpr const char* kNpuResource = "huawei.com/Ascend910";
}  // namespace workload

struct PodBuilderOptions {
  /// Used when spec.image is empty (the operator's --default-image).
  std::string default_image;
};

/// `<job>-worker-<rank>`: also the Pod's hostname.
std::string pod_name(const std::string& job, int rank);
/// The headless rendezvous Service, `<job>-workers`: also every Pod's subdomain.
std::string headless_service_name(const std::string& job);
/// Rank 0's stable DNS name through the headless Service: MASTER_ADDR.
std::string master_address(const Job& job);
/// The ConfigMap the operator writes for an inline spec.config, `<job>-config`.
std::string config_map_name(const std::string& job);
/// The controller owner reference to the job (blockOwnerDeletion, so the garbage collector's
/// foreground deletion waits for the children).
Json owner_reference(const Job& job);

/// The Pod for `rank` in `attempt`.
///
/// Guarantees: labels job-name, node-rank, attempt and managed-by (user podLabels cannot
/// override them); exactly one controller owner reference; restartPolicy Never (restarts are
/// the operator's, by the job's run policy); command `llamafactory-cli <mode> [config] k=v...`
/// (webui takes no config file); limits and requests `huawei.com/Ascend910` = npusPerNode;
/// volumes for the two caches, /app/data, /app/output (emptyDir unless storage says
/// otherwise), a memory-backed /dev/shm of storage.shmSize, and the config; ports 7860 `webui`
/// and 8000 `api`; env GRADIO_SERVER_PORT, API_PORT and, for train, FORCE_TORCHRUN, NNODES,
/// NODE_RANK, NPROC_PER_NODE, MASTER_ADDR, MASTER_PORT; user env replaces ours by name;
/// training Pods are annotated safe-to-evict "false" for the cluster autoscaler; servers get a
/// TCP readiness probe on their port (LLaMA-Factory has no health URL).
Json build_pod(const Job& job, int rank, int attempt, const PodBuilderOptions& options);

}  // namespace ascend::op
