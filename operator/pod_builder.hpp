// One worker Pod per node rank of a LlamaFactoryJob.
#pragma once

#include <string>

#include "operator/job.hpp"

namespace ascend::op {

struct PodBuilderOptions {
  /// Used when spec.image is empty (the operator's --default-image).
  std::string default_image;
};

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
