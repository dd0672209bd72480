#include "operator/job_status.hpp"

#include <algorithm>
#include <charconv>
#include <map>

#include "kube/object_meta.hpp"
#include "operator/children.hpp"
#include "operator/contract.hpp"
#include "operator/progress.hpp"

namespace ascend::op {

namespace {

int label_int(const Json& labels, const char* key) {
  const auto it = labels.find(key);
  if (it == labels.end() || !it->is_string()) return -1;
  const std::string& text = it->get_ref<const std::string&>();
  int value = -1;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) return -1;
  return value;
}

// A member by reference (null when absent or when `object` is not an object): reading a
// cached Pod must not copy it.
const Json& member(const Json& object, const char* key) {
  static const Json kNull;
  if (!object.is_object() || !object.contains(key)) return kNull;
  return object.at(key);
}

std::string str(const Json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Sets a condition False only if it exists (no clutter of never-true conditions).
void clear_condition(JobStatus& s, const std::string& type, const std::string& reason,
                     const std::string& message, const std::string& now, std::int64_t generation) {
  const Condition* c = s.condition(type);
  if (c != nullptr && c->status != "False") {
    set_condition(s, type, "False", reason, message, now, generation);
  }
}

std::string describe_exit(const ObservedPod& pod) {
  std::string text = "pod " + pod.name + " (rank " + std::to_string(pod.rank) + ") failed";
  if (pod.exit_code) text += " with exit code " + std::to_string(*pod.exit_code);
  if (!pod.reason.empty()) text += " (" + pod.reason + ")";
  return text;
}

// An empty phase is a Pod the API server has just accepted: Pending, as kubectl shows it.
PodPhase pod_phase(const std::string& text) {
  if (text.empty() || text == "Pending") return PodPhase::kPending;
  if (text == "Running") return PodPhase::kRunning;
  if (text == "Succeeded") return PodPhase::kSucceeded;
  if (text == "Failed") return PodPhase::kFailed;
  return PodPhase::kUnknown;
}

bool is_active(const ObservedPod& p) {
  return !p.deleting && p.phase != PodPhase::kSucceeded && p.phase != PodPhase::kFailed;
}

PodRef pod_ref(const ObservedPod& p) {
  return PodRef{p.name, p.uid};
}

// `t` plus `seconds`, or the last representable time when the sum would overflow: system_clock
// counts nanoseconds in 64 bits (about 292 years), so a deadline or TTL of 10^10 seconds
// (allowed before the CRD bounded them, and still possible in a stored job) would wrap into the
// past and fire at once. Past the clock's range means never.
kube::WallTime plus_seconds(kube::WallTime t, std::int64_t seconds) {
  using std::chrono::duration_cast;
  const std::int64_t at = duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  const std::int64_t last =
      duration_cast<std::chrono::seconds>(kube::WallTime::duration::max()).count();
  // at >= -last, so last - at cannot overflow.
  if (seconds >= last - at) return kube::WallTime::max();
  return t + std::chrono::seconds(seconds);
}

// How long until `due`, in whole seconds, at most a day: a job whose deadline or TTL lies
// decades ahead is looked at again daily (a no-op), and no delay overflows the work queue's
// clock arithmetic.
std::chrono::seconds until(kube::WallTime due, kube::WallTime now) {
  constexpr std::chrono::seconds kLongest = std::chrono::hours(24);
  if (due - now >= kLongest) return kLongest;
  return std::chrono::ceil<std::chrono::seconds>(due - now);
}

// A decision being drafted: what every step reads (the job, the time) and what it writes (the
// decision), with the status edits all steps share.
struct Draft {
  const Job& job;
  kube::WallTime now;
  std::string now_text;
  Decision d;

  [[nodiscard]] JobStatus& status() { return d.status; }
  [[nodiscard]] const RunPolicy& policy() const { return job.spec.run_policy; }

  void condition(const std::string& type, const std::string& status, const std::string& reason,
                 const std::string& message) {
    set_condition(d.status, type, status, reason, message, now_text, job.generation);
  }
  void clear(const std::string& type, const std::string& reason, const std::string& message) {
    clear_condition(d.status, type, reason, message, now_text, job.generation);
  }
  void event(const std::string& type, const std::string& reason, const std::string& message) {
    d.events.push_back(JobEvent{type, reason, message});
  }
  // Enters a final phase: the condition, Running=False, Restarting=False, completion time.
  void finish(Phase phase, const std::string& reason, const std::string& message) {
    d.status.phase = phase;
    d.status.completion_time = now_text;
    condition(phase_name(phase), "True", reason, message);
    condition("Running", "False", reason, message);
    clear("Restarting", reason, message);
    event(phase == Phase::kSucceeded ? "Normal" : "Warning", reason, message);
  }
  // Deletes the current Pods that still run (finished Pods are kept for their logs).
  void remove_active(const RankedPods& pods) {
    for (const auto& [rank, p] : pods.current) {
      if (is_active(*p)) d.remove.push_back(pod_ref(*p));
    }
  }
};

constexpr const char* kOutputPersistent = "OutputPersistent";

// What every status says whatever the phase: the generation seen, one attempt per rank, and
// Created (with its Event) once.
void describe_job(Draft& draft) {
  JobStatus& s = draft.status();
  const Job& job = draft.job;
  s.observed_generation = job.generation;
  s.rank_attempts.resize(static_cast<std::size_t>(job.spec.nodes), 0);
  if (s.condition("Created") == nullptr) {
    const std::string message = std::to_string(job.spec.nodes) + " rank(s) of " +
                                std::to_string(job.spec.npus_per_node) + " NPU(s), mode " +
                                mode_name(job.spec.mode);
    draft.condition("Created", "True", "JobCreated", message);
    draft.event("Normal", "JobCreated", message);
  }
  // LLaMA-Factory resumes from the newest checkpoint-N in output_dir, which only helps when
  // that folder outlives the Pod: an emptyDir goes with every restart (each attempt is a new
  // Pod) and takes the trained model with it at the end. Said once, before it hurts.
  if (job.spec.mode == Mode::kTrain && !output_persistent(job.spec.storage) &&
      s.condition(kOutputPersistent) == nullptr) {
    const std::string message =
        "spec.storage.output is an emptyDir: checkpoints are lost at every restart (training "
        "starts again from step 0) and the trained model when the job ends; use a "
        "persistentVolumeClaim";
    draft.condition(kOutputPersistent, "False", "EmptyDirOutput", message);
    draft.event("Warning", "OutputNotPersistent", message);
  }
}

// Final phases stay final: stop what still runs, keep finished Pods for their logs, delete the
// job once ttlSecondsAfterFinished passed (else look again then). Rank counts stay as they
// were when the job finished. True when the job has finished.
bool finished_and_ttl(Draft& draft, const RankedPods& pods) {
  const JobStatus& s = draft.status();
  if (!s.finished()) return false;
  draft.remove_active(pods);
  if (const auto& ttl = draft.policy().ttl_seconds_after_finished) {
    const auto done = kube::parse_time(s.completion_time).value_or(draft.now);
    const auto due = plus_seconds(done, *ttl);
    if (draft.now >= due) {
      draft.d.delete_job = true;
    } else {
      draft.d.requeue_after = until(due, draft.now);
    }
  }
  return true;
}

// spec.runPolicy.suspend deletes every current Pod and holds phase Suspended with no rank
// counted (every Pod is going away); entering it sets the conditions and an Event once. True
// while suspended.
bool suspend(Draft& draft, const RankedPods& pods) {
  if (!draft.policy().suspend) return false;
  JobStatus& s = draft.status();
  s.active = s.succeeded = s.failed = 0;
  for (const auto& [rank, p] : pods.current)
    draft.d.remove.push_back(pod_ref(*p));
  if (s.phase != Phase::kSuspended) {
    s.phase = Phase::kSuspended;
    draft.condition("Suspended", "True", "Suspended",
                    "spec.runPolicy.suspend is true; pods deleted");
    draft.condition("Running", "False", "Suspended", "the job is suspended");
    draft.clear("Restarting", "Suspended", "the job is suspended");
    draft.event("Normal", "Suspended", "job suspended; pods deleted");
  }
  return true;
}

// A job that names a Kueue queue runs only while Kueue admits it: until then (or after an
// eviction) it is Queued, its Pods are deleted (not counted as failures: neither restarts nor
// rank attempts move) and none is created. Each eviction is counted once, keyed by the
// Workload's Evicted transition time, the way a failure is keyed by its rank attempt. True
// while the job waits.
bool queued(Draft& draft, const RankedPods& pods, const QueueGate* gate) {
  JobStatus& s = draft.status();
  if (gate == nullptr) {
    s.queue.reset();
    return false;
  }
  QueueStatus queue = s.queue.value_or(QueueStatus{});
  queue.name = gate->queue;
  queue.workload = gate->workload;
  queue.cluster_queue = gate->admitted ? gate->cluster_queue : "";
  if (!gate->eviction_time.empty() && gate->eviction_time != queue.last_eviction_time) {
    queue.last_eviction_time = gate->eviction_time;
    ++s.evictions;
    const std::string message =
        "evicted by Kueue (" + gate->eviction_reason + "): " + gate->eviction_message +
        "; pods deleted, the job waits in LocalQueue " + gate->queue + " again (eviction " +
        std::to_string(s.evictions) + ", not counted as a restart)";
    draft.event("Warning", "Evicted", message);
  }
  s.queue = queue;
  if (gate->admitted) {
    draft.condition(
        "Admitted", "True", "Admitted",
        "admitted by ClusterQueue " + gate->cluster_queue + " through LocalQueue " + gate->queue);
    return false;
  }
  s.active = s.succeeded = s.failed = 0;
  for (const auto& [rank, p] : pods.current)
    draft.d.remove.push_back(pod_ref(*p));
  const std::string waiting = "waiting in LocalQueue " + gate->queue + ": " + gate->message;
  draft.condition("Admitted", "False", gate->reason, waiting);
  if (s.phase == Phase::kSuspended) {
    draft.condition("Suspended", "False", "Resumed", "spec.runPolicy.suspend is false");
    draft.event("Normal", "Resumed", "job resumed; it waits in LocalQueue " + gate->queue);
  }
  if (s.phase != Phase::kQueued) {
    s.phase = Phase::kQueued;
    // activeDeadlineSeconds counts from admission, as a batch Job's does from unsuspending.
    s.start_time.clear();
    draft.event("Normal", "Queued", waiting);
  }
  if (s.condition("Running") != nullptr) {
    draft.condition("Running", "False", "Queued", "the job waits in LocalQueue " + gate->queue);
  }
  draft.clear("Restarting", "Queued", "the job waits in LocalQueue " + gate->queue);
  return true;
}

// For a job that is neither finished nor suspended: counts the current attempt's ranks, and
// starts the clock of activeDeadlineSeconds at the first decision and again on resume (phase
// Pending, with Suspended=False and an Event).
void count_ranks_and_start(Draft& draft, const RankedPods& pods) {
  JobStatus& s = draft.status();
  s.active = s.succeeded = s.failed = 0;
  for (const auto& [rank, p] : pods.current) {
    if (p->phase == PodPhase::kSucceeded) {
      ++s.succeeded;
    } else if (p->phase == PodPhase::kFailed) {
      ++s.failed;
    } else {
      ++s.active;
    }
  }
  if (s.phase == Phase::kQueued) s.phase = Phase::kPending;  // admitted (or no queue any more)
  if (s.phase == Phase::kSuspended) {
    s.phase = Phase::kPending;
    s.start_time = draft.now_text;
    draft.condition("Suspended", "False", "Resumed", "spec.runPolicy.suspend is false");
    draft.event("Normal", "Resumed", "job resumed; pods will be created");
  }
  if (s.phase == Phase::kNone) s.phase = Phase::kPending;
  if (s.start_time.empty()) s.start_time = draft.now_text;
}

// activeDeadlineSeconds, counted from startTime: past it, stop the Pods and fail with
// DeadlineExceeded; before it, look again when it falls due. True when the job failed.
bool past_deadline(Draft& draft, const RankedPods& pods) {
  const auto& deadline = draft.policy().active_deadline_seconds;
  if (!deadline) return false;
  const auto started = kube::parse_time(draft.status().start_time).value_or(draft.now);
  const auto due = plus_seconds(started, *deadline);
  if (draft.now < due) {
    draft.d.requeue_after = until(due, draft.now);
    return false;
  }
  draft.remove_active(pods);
  draft.finish(Phase::kFailed, "DeadlineExceeded",
               "the job ran longer than spec.runPolicy.activeDeadlineSeconds (" +
                   std::to_string(*deadline) + "s)");
  return true;
}

// Failed Pods of the current attempt, each counted once: record the failure (blaming the first
// that may not be retried, else the first), then fail the job (an exit that may not be
// retried, or restarts past maxRestarts) or restart it: raise the attempt of every rank (scope
// Job, one restart) or of each failed rank (scope Pod, one restart each) and delete those
// Pods. True when a current Pod failed.
bool failures_and_restarts(Draft& draft, const RankedPods& pods) {
  std::vector<const ObservedPod*> failed;
  for (const auto& [rank, p] : pods.current) {
    if (p->phase == PodPhase::kFailed) failed.push_back(p);
  }
  if (failed.empty()) return false;
  JobStatus& s = draft.status();
  const RunPolicy& run = draft.policy();
  const auto permanent = std::find_if(failed.begin(), failed.end(), [&](const ObservedPod* p) {
    return !retryable(run.restart_policy, p->exit_code);
  });
  const ObservedPod* blame = permanent != failed.end() ? *permanent : failed.front();
  s.last_failure = LastFailure{blame->name,   blame->rank,    blame->exit_code,
                               blame->reason, blame->message, draft.now_text};
  const std::string what = describe_exit(*blame);
  if (permanent != failed.end()) {
    draft.remove_active(pods);
    if (run.restart_policy == RestartPolicy::kNever) {
      draft.finish(Phase::kFailed, "PodFailed", what + "; spec.runPolicy.restartPolicy is Never");
    } else {
      draft.finish(Phase::kFailed, "NonRetryableExitCode",
                   what + "; restartPolicy ExitCode treats exit codes 1-127 as permanent");
    }
    return true;
  }
  const bool whole_job = run.restart_scope == RestartScope::kJob;
  const int needed = whole_job ? 1 : static_cast<int>(failed.size());
  if (s.restarts + needed > run.max_restarts) {
    draft.remove_active(pods);
    draft.finish(Phase::kFailed, "MaxRestartsExceeded",
                 what + "; " + std::to_string(s.restarts) + " restart(s) used of " +
                     std::to_string(run.max_restarts) + " allowed by spec.runPolicy.maxRestarts");
    return true;
  }
  s.restarts += needed;
  if (whole_job) {
    for (auto& attempt : s.rank_attempts)
      ++attempt;
    for (const auto& [rank, p] : pods.current)
      draft.d.remove.push_back(pod_ref(*p));
  } else {
    for (const ObservedPod* p : failed) {
      ++s.rank_attempts[static_cast<std::size_t>(p->rank)];
      draft.d.remove.push_back(pod_ref(*p));
    }
  }
  s.phase = Phase::kRestarting;
  const std::string reason =
      run.restart_policy == RestartPolicy::kExitCode ? "RetryableExitCode" : "PodFailed";
  const std::string message =
      what + "; restarting " + (whole_job ? "every rank" : "the failed rank(s)") + " (restart " +
      std::to_string(s.restarts) + " of " + std::to_string(run.max_restarts) + ")";
  draft.condition("Restarting", "True", reason, message);
  draft.condition("Running", "False", "Restarting", message);
  draft.event("Warning", "Restarting", message);
  return true;
}

// Current Pods that have not succeeded and hold a chip the device plugin saw go Unhealthy:
// restart the job off the chip like a retryable failure (every rank for restartScope Job, the
// faulted ranks for Pod), raising the rank attempts first so each faulted Pod counts once, but
// count it in `faults` and `lastFault`, never in `restarts`: the user's maxRestarts is for the
// program's failures, not the hardware's. The replacement cannot land on the bad chip: the
// kubelet never allocates a device its plugin reports Unhealthy. True when a Pod faulted.
bool chip_faults(Draft& draft, const RankedPods& pods) {
  std::vector<const ObservedPod*> faulted;
  for (const auto& [rank, p] : pods.current) {
    if (p->fault && p->phase != PodPhase::kSucceeded) faulted.push_back(p);
  }
  if (faulted.empty()) return false;
  JobStatus& s = draft.status();
  const bool whole_job = draft.policy().restart_scope == RestartScope::kJob;
  s.faults += static_cast<int>(faulted.size());
  if (whole_job) {
    for (auto& attempt : s.rank_attempts)
      ++attempt;
    for (const auto& [rank, p] : pods.current)
      draft.d.remove.push_back(pod_ref(*p));
  } else {
    for (const ObservedPod* p : faulted) {
      ++s.rank_attempts[static_cast<std::size_t>(p->rank)];
      draft.d.remove.push_back(pod_ref(*p));
    }
  }
  const ObservedPod& first = *faulted.front();
  const PodFault& f = *first.fault;
  std::string chips;
  for (const auto& chip : f.chips)
    chips += (chips.empty() ? "" : ",") + chip;
  const std::string message = "chip " + chips + " on node " + f.node + " held by pod " +
                              first.name + " (rank " + std::to_string(first.rank) +
                              ") became Unhealthy" + (f.reason.empty() ? "" : ": " + f.reason) +
                              "; restarting " + (whole_job ? "every rank" : "the faulted rank(s)") +
                              " on healthy chips (fault " + std::to_string(s.faults) +
                              ", not counted as a restart)";
  s.last_fault =
      LastFault{first.name, f.node, f.chips, f.time.empty() ? draft.now_text : f.time, message};
  s.phase = Phase::kRestarting;
  draft.condition("Restarting", "True", "ChipFault", message);
  draft.condition("Running", "False", "ChipFault", message);
  draft.event("Warning", "ChipFault", message);
  return true;
}

// Succeeded once every rank's current Pod exited 0. True when it did.
bool success(Draft& draft, const RankedPods& pods) {
  const int nodes = draft.job.spec.nodes;
  if (static_cast<int>(pods.current.size()) != nodes || draft.status().succeeded != nodes) {
    return false;
  }
  draft.finish(Phase::kSucceeded, "AllRanksSucceeded",
               "all " + std::to_string(nodes) + " rank(s) completed successfully");
  return true;
}

// A Pod for every rank that has none, in the rank's current attempt. A rank whose old Pod is
// still going away waits for it; none is created while a Pod of a newer attempt shows that
// this copy of the job is stale. The Pods about to be created count as active (Pending)
// already: the status is written before they are created, and counting them now means their
// arrival in the cache changes nothing, instead of costing one more status write per rank.
void missing_ranks(Draft& draft, const RankedPods& pods) {
  JobStatus& s = draft.status();
  if (!pods.newer_attempt) {
    for (int rank = 0; rank < draft.job.spec.nodes; ++rank) {
      if (!pods.occupied.contains(rank)) {
        draft.d.create.push_back(PodSlot{rank, s.rank_attempts[static_cast<std::size_t>(rank)]});
      }
    }
  }
  s.active += static_cast<int>(draft.d.create.size());
}

// Why a rank does not run yet, when its Pod tells: the first current Pod that cannot be
// scheduled or cannot pull its image, as {reason, message}; both empty when none does. A Pod
// that cannot be scheduled says what a node autoscaler made of it, when one spoke: a node is
// coming (WaitingForNode), or none will (NoNodeFits, with the autoscaler's own words and what
// each Pod asks for).
std::pair<std::string, std::string> waiting_reason(const Job& job, const RankedPods& pods) {
  for (const auto& [rank, p] : pods.current) {
    if (p->unschedulable && p->autoscaler) {
      const AutoscalerNote& n = *p->autoscaler;
      const std::string who = n.source == kKarpenter ? "Karpenter" : "the cluster-autoscaler";
      if (n.verdict == AutoscalerVerdict::kScaleUp) {
        return {kWaitingForNode, "pod " + p->name + " is waiting for a new node that " + who +
                                     " is adding (" + n.reason + ": " + n.message + ")"};
      }
      return {kNoNodeFits,
              "pod " + p->name + " fits on no node and " + who + " will not add one for it (" +
                  n.reason + ": " + n.message + "); each pod of this job asks for " +
                  std::to_string(job.spec.npus_per_node) + " " + kNpuResource + " on one node"};
    }
    if (p->unschedulable) {
      return {"Unschedulable",
              "pod " + p->name + " cannot be scheduled: " + p->unschedulable_message};
    }
    if (p->image_pull_backoff) {
      return {"ImagePullBackOff",
              "pod " + p->name + " cannot pull its image: " + p->image_pull_message};
    }
  }
  return {};
}

// Running once every rank runs (a rank that already succeeded counts while another still
// runs): the condition, and an Event on entering. Otherwise Pending (Restarting stays until
// every rank runs again), with the reason a Pod gives (an Event when that reason is new) or,
// once a Running condition exists, PodsPending or Restarting.
void running(Draft& draft, const RankedPods& pods) {
  JobStatus& s = draft.status();
  const int nodes = draft.job.spec.nodes;
  int ranks_running = 0;
  for (const auto& [rank, p] : pods.current) {
    if (p->phase == PodPhase::kRunning || p->phase == PodPhase::kSucceeded) ++ranks_running;
  }
  const std::string progress =
      std::to_string(ranks_running) + " of " + std::to_string(nodes) + " rank(s) running";
  if (ranks_running == nodes && s.active > 0) {
    if (s.phase != Phase::kRunning) draft.event("Normal", "Running", progress);
    s.phase = Phase::kRunning;
    // The training's own progress, once rank 0 reported it (the Event above stays short).
    std::string message = s.progress ? progress + "; " + describe_progress(*s.progress) : progress;
    // A job that moved off a failed chip says so while it runs on.
    if (s.faults > 0 && s.last_fault) {
      std::string chips;
      for (const auto& chip : s.last_fault->chips)
        chips += (chips.empty() ? "" : ",") + chip;
      message += "; recovered from " + std::to_string(s.faults) + " chip fault(s), the last " +
                 chips + " on node " + s.last_fault->node;
    }
    draft.condition("Running", "True", "AllRanksRunning", message);
    draft.clear("Restarting", "Running", progress);
    return;
  }
  if (s.phase != Phase::kRestarting) s.phase = Phase::kPending;
  const auto [reason, message] = waiting_reason(draft.job, pods);
  if (!reason.empty()) {
    const Condition* c = s.condition("Running");
    if (c == nullptr || c->reason != reason) {
      draft.event(reason == kWaitingForNode ? "Normal" : "Warning", reason, message);
    }
    draft.condition("Running", "False", reason, message);
  } else if (s.condition("Running") != nullptr) {
    draft.condition("Running", "False",
                    s.phase == Phase::kRestarting ? "Restarting" : "PodsPending", progress);
  }
}

// The endpoints a user can call, and only while something answers there: `api` serves 8000,
// `webui` and `webchat` serve Gradio on 7860, train and export serve nothing. Published once
// the serving rank's current Pod runs and is Ready (LLaMA-Factory opens its port only after
// the model loads), withdrawn when it stops being Ready, restarts, or the job ends.
void publish_endpoints(Draft& draft, const RankedPods& pods) {
  JobStatus& s = draft.status();
  const Job& job = draft.job;
  s.webui_endpoint.clear();
  s.api_endpoint.clear();
  const Mode mode = job.spec.mode;
  if (mode != Mode::kApi && mode != Mode::kWebui && mode != Mode::kWebchat) return;
  if (s.finished() || s.phase == Phase::kSuspended || s.phase == Phase::kRestarting) return;
  const auto it = pods.current.find(0);
  if (it == pods.current.end()) return;
  const ObservedPod& p = *it->second;
  if (p.phase != PodPhase::kRunning || !p.ready) return;
  if (mode == Mode::kApi) {
    s.api_endpoint = service_url(job, workload::kApiPort);
  } else {
    s.webui_endpoint = service_url(job, workload::kWebuiPort);
  }
}

// The steps after ranking, in order; the first that settles the job's phase ends them.
void decide_steps(Draft& draft, const RankedPods& ranked, const QueueGate* queue) {
  if (finished_and_ttl(draft, ranked) || suspend(draft, ranked) || queued(draft, ranked, queue)) {
    return;
  }
  count_ranks_and_start(draft, ranked);
  if (past_deadline(draft, ranked) || chip_faults(draft, ranked) ||
      failures_and_restarts(draft, ranked) || success(draft, ranked)) {
    return;
  }
  missing_ranks(draft, ranked);
  running(draft, ranked);
}

}  // namespace

bool output_persistent(const Storage& storage) {
  const Json& out = storage.output;
  return out.is_object() && !out.contains("emptyDir") &&
         (out.contains("persistentVolumeClaim") || out.contains("hostPath"));
}

void set_condition(JobStatus& s, const std::string& type, const std::string& status,
                   const std::string& reason, const std::string& message, const std::string& now,
                   std::int64_t generation) {
  for (auto& c : s.conditions) {
    if (c.type != type) continue;
    if (c.status != status) {
      c.status = status;
      c.last_transition_time = now;
    }
    c.reason = reason;
    c.message = message;
    c.observed_generation = generation;
    return;
  }
  s.conditions.push_back(Condition{type, status, generation, now, reason, message});
}

std::optional<PodFault> parse_pod_fault(const std::string& text) {
  const Json value = Json::parse(text, nullptr, false);
  if (!value.is_object()) return std::nullopt;
  PodFault f;
  for (const auto& chip : member(value, "chips")) {
    if (chip.is_string() && !chip.get_ref<const std::string&>().empty()) {
      f.chips.push_back(chip.get<std::string>());
    }
  }
  if (f.chips.empty()) return std::nullopt;
  f.node = str(value, "node");
  f.reason = str(value, "reason");
  f.time = str(value, "time");
  return f;
}

ObservedPod observe_pod(const Json& pod) {
  ObservedPod p;
  const Json& metadata = member(pod, "metadata");
  p.name = str(metadata, "name");
  p.uid = str(metadata, "uid");
  p.deleting = !member(metadata, "deletionTimestamp").is_null();
  const Json& labels = member(metadata, "labels");
  p.rank = label_int(labels, labels::kNodeRank);
  p.attempt = label_int(labels, labels::kAttempt);
  const std::string fault = str(member(metadata, "annotations"), labels::kNpuFault);
  if (!fault.empty()) p.fault = parse_pod_fault(fault);
  const Json& status = member(pod, "status");
  p.phase = pod_phase(str(status, "phase"));
  p.reason = str(status, "reason");
  p.message = str(status, "message");
  for (const auto& c : member(status, "conditions")) {
    if (str(c, "type") == "Ready" && str(c, "status") == "True") p.ready = true;
    if (str(c, "type") == "PodScheduled" && str(c, "status") == "False" &&
        str(c, "reason") == "Unschedulable") {
      p.unschedulable = true;
      p.unschedulable_message = str(c, "message");
    }
  }
  for (const auto& cs : member(status, "containerStatuses")) {
    const Json& state = member(cs, "state");
    if (state.contains("terminated") && !p.exit_code) {
      const Json& t = state.at("terminated");
      if (t.contains("exitCode") && t["exitCode"].is_number_integer()) {
        p.exit_code = t["exitCode"].get<int>();
      }
      if (!str(t, "reason").empty()) p.reason = str(t, "reason");
      if (!str(t, "message").empty()) p.message = str(t, "message");
    }
    if (state.contains("waiting")) {
      const std::string reason = str(state.at("waiting"), "reason");
      if (reason == "ImagePullBackOff" || reason == "ErrImagePull") {
        p.image_pull_backoff = true;
        p.image_pull_message = str(state.at("waiting"), "message");
      }
    }
  }
  return p;
}

RankedPods rank_pods(int nodes, const std::vector<int>& rank_attempts,
                     const std::vector<ObservedPod>& pods) {
  RankedPods ranked;
  for (const auto& p : pods) {
    const bool in_range = p.rank >= 0 && p.rank < nodes &&
                          static_cast<std::size_t>(p.rank) < rank_attempts.size() && p.attempt >= 0;
    const int current = in_range ? rank_attempts[static_cast<std::size_t>(p.rank)] : -1;
    if (in_range) ranked.occupied.insert(p.rank);
    if (in_range && p.attempt == current && !p.deleting) {
      ranked.current[p.rank] = &p;
    } else if (in_range && p.attempt > current) {
      ranked.newer_attempt = true;
    } else if (!p.deleting) {
      ranked.stale.push_back(pod_ref(p));
    }
  }
  return ranked;
}

bool retryable(RestartPolicy policy, std::optional<int> exit_code) {
  switch (policy) {
    case RestartPolicy::kNever:
      return false;
    case RestartPolicy::kOnFailure:
      return true;
    case RestartPolicy::kExitCode:
      return !(exit_code && *exit_code >= 1 && *exit_code <= 127);
  }
  return false;
}

// The steps in order; the first that settles the job's phase ends the decision. So a finished
// job ignores suspend and its deadline, a suspended job's deadline does not run, and a job past
// its deadline fails with DeadlineExceeded whatever its Pods did since.
Decision decide(const Job& job, const std::vector<ObservedPod>& pods, kube::WallTime now,
                const QueueGate* queue) {
  Draft draft{job, now, kube::format_time(now), Decision{}};
  draft.d.status = job.status;
  describe_job(draft);
  const RankedPods ranked = rank_pods(job.spec.nodes, draft.status().rank_attempts, pods);
  draft.d.remove = ranked.stale;
  decide_steps(draft, ranked, queue);
  publish_endpoints(draft, ranked);
  return std::move(draft.d);
}

bool same_status_ignoring_timestamps(const JobStatus& a, const JobStatus& b) {
  JobStatus x = a;
  JobStatus y = b;
  for (auto* s : {&x, &y}) {
    for (auto& c : s->conditions)
      c.last_transition_time.clear();
    if (s->last_failure) s->last_failure->time.clear();
    if (s->last_fault) s->last_fault->time.clear();
  }
  // A condition whose status changed still differs (status is compared), so only timestamps of
  // otherwise identical statuses are ignored.
  return x == y;
}

}  // namespace ascend::op
