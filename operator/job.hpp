// The typed LlamaFactoryJob (ascendfactory.io/v1alpha1): spec parsed from the API server's JSON
// with the CRD's defaults and rules (crds/llamafactoryjobs.yaml), and the status the operator
// writes. The CRD makes the API server enforce the same rules; parsing repeats them so that an
// object stored before the schema was installed (or edited around it) is a clear error, never
// a crash or a half-built Pod.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "kube/error.hpp"
#include "operator/contract.hpp"

namespace ascend::op {

using Json = nlohmann::json;

/// `llamafactory-cli <mode>`.
enum class Mode { kTrain, kWebui, kApi, kWebchat, kExport };
/// The Pod Security Standard the job's Pods meet (spec.podSecurity): baseline always (unless a
/// hostPath volume is used), restricted on request (non-root, no privilege escalation, no
/// capabilities, RuntimeDefault seccomp).
enum class PodSecurity { kBaseline, kRestricted };
/// What a failed Pod leads to (Kubeflow's restart policies, minus Always).
enum class RestartPolicy { kNever, kOnFailure, kExitCode };
/// Which Pods a restart re-creates.
enum class RestartScope { kJob, kPod };

std::string mode_name(Mode mode);
std::string restart_policy_name(RestartPolicy policy);

/// `status.phase` (the CRD's enum). kNone: no status written yet, no phase field. kQueued: a
/// job that names a Kueue queue and is not admitted (operator/workload.hpp); it has no Pods.
enum class Phase {
  kNone,
  kPending,
  kRunning,
  kRestarting,
  kSucceeded,
  kFailed,
  kSuspended,
  kQueued
};
/// The status field's text, e.g. "Running"; "" for kNone.
std::string phase_name(Phase phase);
/// The phase a status field names; kNone for "" and for any text that names no phase (status
/// is ours to rewrite).
Phase phase_from_name(std::string_view name);
/// Writes phase_name(), or "-" for kNone (logs and test failure messages).
std::ostream& operator<<(std::ostream& out, Phase phase);

struct ConfigMapRef {
  std::string name;
  std::string key = workload::kConfigFile;
};

/// The four LLaMA-Factory folders. Each is a volume source object with exactly one of
/// persistentVolumeClaim, hostPath or emptyDir; null means emptyDir.
struct Storage {
  Json huggingface_cache;
  Json modelscope_cache;
  Json data;
  Json output;
  /// Kubernetes quantity (string or integer bytes) for the memory-backed /dev/shm.
  Json shm_size = "16Gi";
};

struct RunPolicy {
  RestartPolicy restart_policy = RestartPolicy::kOnFailure;
  int max_restarts = 3;
  RestartScope restart_scope = RestartScope::kJob;
  std::optional<std::int64_t> active_deadline_seconds;
  std::optional<std::int64_t> ttl_seconds_after_finished;
  bool suspend = false;
};

/// `spec` with every default applied.
struct JobSpec {
  Mode mode = Mode::kTrain;
  /// Empty: the operator's --default-image.
  std::string image;
  std::string image_pull_policy;
  Json image_pull_secrets = Json::array();
  int nodes = 1;
  int npus_per_node = 1;
  /// The inline LLaMA-Factory config (an object), if given.
  std::optional<Json> config;
  std::optional<ConfigMapRef> config_map_ref;
  std::vector<std::string> args;
  /// Kubernetes EnvVar objects, as written.
  Json env = Json::array();
  /// `{requests: {...}, limits: {...}}`, as written.
  Json resources = Json::object();
  std::map<std::string, std::string> node_selector;
  Json tolerations = Json::array();
  Json affinity;
  std::string priority_class_name;
  std::string scheduler_name;
  std::string service_account_name;
  std::map<std::string, std::string> pod_labels;
  std::map<std::string, std::string> pod_annotations;
  int master_port = 29500;
  Storage storage;
  std::string service_type = "ClusterIP";
  PodSecurity pod_security = PodSecurity::kBaseline;
  RunPolicy run_policy;

  [[nodiscard]] bool has_config() const { return config.has_value() || config_map_ref.has_value(); }
};

/// One metav1.Condition.
struct Condition {
  std::string type;
  std::string status;  ///< "True", "False" or "Unknown".
  std::int64_t observed_generation = 0;
  std::string last_transition_time;
  std::string reason;
  std::string message;
  bool operator==(const Condition&) const = default;
};

struct LastFailure {
  std::string pod;
  int rank = 0;
  std::optional<int> exit_code;
  std::string reason;
  std::string message;
  std::string time;
  bool operator==(const LastFailure&) const = default;
};

/// `status.lastFault`: the last chip fault that restarted the job (the chip_faults step of
/// decide(), operator/job_status.cpp).
struct LastFault {
  std::string pod;
  std::string node;
  std::vector<std::string> chips;  ///< Device IDs, e.g. Ascend910-3.
  std::string time;                ///< When the device plugin saw the chip go Unhealthy.
  std::string message;
  bool operator==(const LastFault&) const = default;
};

/// `status.queue`: where a job that names a Kueue queue stands (operator/workload.hpp).
struct QueueStatus {
  std::string name;           ///< The LocalQueue (the job's kueue.x-k8s.io/queue-name label).
  std::string workload;       ///< The Workload the operator made for the job.
  std::string cluster_queue;  ///< The ClusterQueue that admitted it, while admitted.
  /// The lastTransitionTime of the Workload's Evicted condition last counted in `evictions`:
  /// an eviction is counted once, even across operator restarts.
  std::string last_eviction_time;
  bool operator==(const QueueStatus&) const = default;
};

/// `status.progress`: what the job's rank 0 last reported from LLaMA-Factory's
/// trainer_log.jsonl (operator/progress.hpp), as the operator last wrote it.
struct Progress {
  std::int64_t step = 0;         ///< current_steps
  std::int64_t total_steps = 0;  ///< total_steps
  double percent = 0;            ///< percentage, 0-100
  std::optional<double> epoch;
  std::optional<double> loss;
  std::optional<double> learning_rate;  ///< lr
  std::string eta;                      ///< remaining_time, as LLaMA-Factory prints it (0:03:12)
  std::string updated_at;               ///< When the operator received the report (RFC 3339).
  /// The checkpoint step this run of the training resumed from; 0 when it started from scratch.
  std::int64_t resumed_from_step = 0;
  bool operator==(const Progress&) const = default;
};

/// `status`, as the operator writes it.
struct JobStatus {
  Phase phase = Phase::kNone;
  std::vector<Condition> conditions;
  std::int64_t observed_generation = 0;
  int restarts = 0;
  /// Per node rank, the attempt its current Pod belongs to. A Pod whose attempt label is lower
  /// is stale (delete it); a failed Pod of the current attempt is a new failure, counted by
  /// raising the attempt here *before* the Pod is deleted, so no failure is counted twice or
  /// lost when the operator stops between the two writes.
  std::vector<int> rank_attempts;
  std::string start_time;
  std::string completion_time;
  int active = 0;
  int succeeded = 0;
  int failed = 0;
  std::string webui_endpoint;
  std::string api_endpoint;
  std::optional<LastFailure> last_failure;
  /// Times Kueue evicted the job (preemption, a quota change): never counted in `restarts`.
  int evictions = 0;
  /// Times a chip held by one of the job's Pods went Unhealthy and the job was restarted off
  /// it: never counted in `restarts`, so a hardware fault does not spend maxRestarts.
  int faults = 0;
  std::optional<LastFault> last_fault;
  /// Only for a job that names a Kueue queue.
  std::optional<QueueStatus> queue;
  std::optional<Progress> progress;

  bool operator==(const JobStatus&) const = default;
  /// The condition of this type, or nullptr.
  [[nodiscard]] const Condition* condition(const std::string& type) const;
  [[nodiscard]] bool finished() const {
    return phase == Phase::kSucceeded || phase == Phase::kFailed;
  }
};

Json status_to_json(const JobStatus& status);
/// Lenient: unknown or malformed fields are left at their defaults (status is ours to rewrite).
JobStatus status_from_json(const Json& status);

/// A LlamaFactoryJob as the reconciler sees it.
struct Job {
  std::string ns;
  std::string name;
  std::string uid;
  std::int64_t generation = 0;
  std::string resource_version;
  bool deleting = false;
  /// The Kueue LocalQueue the job waits in (label kueue.x-k8s.io/queue-name); empty: none, the
  /// job runs at once as it always did.
  std::string queue_name;
  /// The Kueue WorkloadPriorityClass (label kueue.x-k8s.io/priority-class); empty: none.
  std::string priority_class;
  JobSpec spec;
  JobStatus status;

  /// `namespace/name`.
  [[nodiscard]] std::string key() const { return ns + "/" + name; }
};

/// Parses and validates a LlamaFactoryJob object.
/// Errors: reason `Invalid`, message naming the field and what is wrong, e.g.
/// `spec.nodes: must be 1 unless spec.mode is train (got 2 with mode webui)`.
kube::Result<Job> parse_job(const Json& object);

}  // namespace ascend::op
