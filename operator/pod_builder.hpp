// One worker Pod per node rank of a LlamaFactoryJob.
#pragma once

#include <string>

#include "operator/job.hpp"

namespace ascend::op {

struct PodBuilderOptions {
  /// Used when spec.image is empty (the operator's --default-image).
  std::string default_image;
  /// The status server's URL rank 0 of a training job posts progress to; empty: no reporter.
  std::string progress_url;
  /// The PEM CA bundle the reporter trusts for that URL.
  std::string progress_ca_pem;
};

/// The name of rank 0's progress reporter: a sidecar (an init container with restartPolicy
/// Always, so it never holds the Pod open once training ends) running `lfjob-progress` from
/// the job's image, which follows <output_dir>/trainer_log.jsonl and posts each new line with
/// a projected ServiceAccount token for kProgressAudience.
inline constexpr const char* kProgressContainer = "progress";
/// Where the projected token is mounted in the reporter.
inline constexpr const char* kProgressTokenDir = "/var/run/secrets/ascendfactory.io/progress";

/// Where LLaMA-Factory writes trainer_log.jsonl for this job: `output_dir` of the inline config,
/// overridden by an `output_dir=` argument, relative paths under the image's /app; /app/output
/// when the config is a ConfigMap of the user's (the reporter then looks one level down).
std::string output_dir(const JobSpec& spec);

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
/// TCP readiness probe on their port (LLaMA-Factory has no health URL). With
/// options.progress_url, rank 0 of a training job also gets the progress reporter sidecar and
/// its projected token volume (no API rights: the token only proves which Pod posts).
Json build_pod(const Job& job, int rank, int attempt, const PodBuilderOptions& options);

}  // namespace ascend::op
