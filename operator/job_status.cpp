#include "operator/job_status.hpp"

#include <algorithm>
#include <charconv>
#include <map>

#include "kube/object_meta.hpp"

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

// Sets a metav1.Condition the way meta.SetStatusCondition does: lastTransitionTime moves only
// when the status changes.
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

struct Ctx {
  const Job& job;
  Decision& d;
  std::string now;
  std::int64_t gen;

  void condition(const std::string& type, const std::string& status, const std::string& reason,
                 const std::string& message) const {
    set_condition(d.status, type, status, reason, message, now, gen);
  }
  void clear(const std::string& type, const std::string& reason, const std::string& message) const {
    clear_condition(d.status, type, reason, message, now, gen);
  }
  void event(const std::string& type, const std::string& reason, const std::string& message) const {
    d.events.push_back(JobEvent{type, reason, message});
  }
  // Enters a final phase: the condition, Running=False, Restarting=False, completion time.
  void finish(bool succeeded, const std::string& reason, const std::string& message) const {
    d.status.phase = succeeded ? "Succeeded" : "Failed";
    d.status.completion_time = now;
    condition(d.status.phase, "True", reason, message);
    condition("Running", "False", reason, message);
    clear("Restarting", reason, message);
    event(succeeded ? "Normal" : "Warning", reason, message);
  }
};

bool is_active(const ObservedPod& p) {
  return !p.deleting && p.phase != "Succeeded" && p.phase != "Failed";
}

}  // namespace

ObservedPod observe_pod(const Json& pod) {
  ObservedPod p;
  const Json& metadata = member(pod, "metadata");
  p.name = str(metadata, "name");
  p.uid = str(metadata, "uid");
  p.deleting = !member(metadata, "deletionTimestamp").is_null();
  const Json& labels = member(metadata, "labels");
  p.rank = label_int(labels, labels::kNodeRank);
  p.attempt = label_int(labels, labels::kAttempt);
  const Json& status = member(pod, "status");
  p.phase = str(status, "phase");
  if (p.phase.empty()) p.phase = "Pending";
  p.reason = str(status, "reason");
  p.message = str(status, "message");
  for (const auto& c : member(status, "conditions")) {
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

Decision decide(const Job& job, const std::vector<ObservedPod>& pods, kube::WallTime now_time) {
  Decision d;
  d.status = job.status;
  const Ctx ctx{job, d, kube::format_time(now_time), job.generation};
  JobStatus& s = d.status;
  const JobSpec& spec = job.spec;
  const int nodes = spec.nodes;
  s.observed_generation = job.generation;
  s.rank_attempts.resize(static_cast<std::size_t>(nodes), 0);
  s.webui_endpoint = "http://" + job.name + "." + job.ns + ".svc:7860";
  s.api_endpoint = "http://" + job.name + "." + job.ns + ".svc:8000";
  if (s.condition("Created") == nullptr) {
    const std::string message = std::to_string(nodes) + " rank(s) of " +
                                std::to_string(spec.npus_per_node) + " NPU(s), mode " +
                                mode_name(spec.mode);
    ctx.condition("Created", "True", "JobCreated", message);
    ctx.event("Normal", "JobCreated", message);
  }

  // Sort the Pods: one current Pod per rank; stale Pods (an older attempt, a rank out of range,
  // no labels) are deleted; a Pod from a newer attempt than our status knows means our copy of
  // the job is stale: leave that rank alone until the cache catches up.
  std::map<int, const ObservedPod*> current;
  std::map<int, bool> occupied;
  bool future = false;
  for (const auto& p : pods) {
    const bool in_range = p.rank >= 0 && p.rank < nodes && p.attempt >= 0;
    if (in_range) occupied[p.rank] = true;
    if (in_range && p.attempt == s.rank_attempts[static_cast<std::size_t>(p.rank)] && !p.deleting) {
      current[p.rank] = &p;
    } else if (in_range && p.attempt > s.rank_attempts[static_cast<std::size_t>(p.rank)]) {
      future = true;
    } else if (!p.deleting) {
      d.remove.push_back(PodRef{p.name, p.uid});
    }
  }
  auto remove_active = [&] {
    for (const auto& [rank, p] : current) {
      if (is_active(*p)) d.remove.push_back(PodRef{p->name, p->uid});
    }
  };

  // Final phases: stop what still runs, keep finished Pods for their logs, honour the TTL.
  if (s.finished()) {
    remove_active();
    const auto& ttl = spec.run_policy.ttl_seconds_after_finished;
    if (ttl) {
      const auto done = kube::parse_time(s.completion_time).value_or(now_time);
      const auto due = done + std::chrono::seconds(*ttl);
      if (now_time >= due) {
        d.delete_job = true;
      } else {
        d.requeue_after = std::chrono::ceil<std::chrono::seconds>(due - now_time);
      }
    }
    return d;
  }

  // Rank counts describe the current attempt; frozen once the job finished (above), zero while
  // suspended (every Pod is going away).
  s.active = s.succeeded = s.failed = 0;
  if (spec.run_policy.suspend) {
    for (const auto& [rank, p] : current)
      d.remove.push_back(PodRef{p->name, p->uid});
    if (s.phase != "Suspended") {
      s.phase = "Suspended";
      ctx.condition("Suspended", "True", "Suspended",
                    "spec.runPolicy.suspend is true; pods deleted");
      ctx.condition("Running", "False", "Suspended", "the job is suspended");
      ctx.clear("Restarting", "Suspended", "the job is suspended");
      ctx.event("Normal", "Suspended", "job suspended; pods deleted");
    }
    return d;
  }
  for (const auto& [rank, p] : current) {
    if (p->phase == "Succeeded") {
      ++s.succeeded;
    } else if (p->phase == "Failed") {
      ++s.failed;
    } else {
      ++s.active;
    }
  }
  if (s.phase == "Suspended") {
    s.phase = "Pending";
    s.start_time = ctx.now;
    ctx.condition("Suspended", "False", "Resumed", "spec.runPolicy.suspend is false");
    ctx.event("Normal", "Resumed", "job resumed; pods will be created");
  }
  if (s.phase.empty()) s.phase = "Pending";
  if (s.start_time.empty()) s.start_time = ctx.now;

  // Deadline.
  const auto& deadline = spec.run_policy.active_deadline_seconds;
  if (deadline) {
    const auto started = kube::parse_time(s.start_time).value_or(now_time);
    const auto due = started + std::chrono::seconds(*deadline);
    if (now_time >= due) {
      remove_active();
      ctx.finish(false, "DeadlineExceeded",
                 "the job ran longer than spec.runPolicy.activeDeadlineSeconds (" +
                     std::to_string(*deadline) + "s)");
      return d;
    }
    d.requeue_after = std::chrono::ceil<std::chrono::seconds>(due - now_time);
  }

  // Failures of the current attempt.
  std::vector<const ObservedPod*> failed;
  for (const auto& [rank, p] : current) {
    if (p->phase == "Failed") failed.push_back(p);
  }
  if (!failed.empty()) {
    const RestartPolicy policy = spec.run_policy.restart_policy;
    const ObservedPod* blame = failed.front();
    bool permanent = policy == RestartPolicy::kNever;
    if (policy == RestartPolicy::kExitCode) {
      for (const ObservedPod* p : failed) {
        if (p->exit_code && *p->exit_code >= 1 && *p->exit_code <= 127) {
          permanent = true;
          blame = p;
          break;
        }
      }
    }
    s.last_failure = LastFailure{blame->name,   blame->rank,    blame->exit_code,
                                 blame->reason, blame->message, ctx.now};
    const std::string what = describe_exit(*blame);
    if (permanent) {
      remove_active();
      if (policy == RestartPolicy::kNever) {
        ctx.finish(false, "PodFailed", what + "; spec.runPolicy.restartPolicy is Never");
      } else {
        ctx.finish(false, "NonRetryableExitCode",
                   what + "; restartPolicy ExitCode treats exit codes 1-127 as permanent");
      }
      return d;
    }
    const bool whole_job = spec.run_policy.restart_scope == RestartScope::kJob;
    const int needed = whole_job ? 1 : static_cast<int>(failed.size());
    if (s.restarts + needed > spec.run_policy.max_restarts) {
      remove_active();
      ctx.finish(false, "MaxRestartsExceeded",
                 what + "; " + std::to_string(s.restarts) + " restart(s) used of " +
                     std::to_string(spec.run_policy.max_restarts) +
                     " allowed by spec.runPolicy.maxRestarts");
      return d;
    }
    s.restarts += needed;
    if (whole_job) {
      for (auto& attempt : s.rank_attempts)
        ++attempt;
      for (const auto& [rank, p] : current)
        d.remove.push_back(PodRef{p->name, p->uid});
    } else {
      for (const ObservedPod* p : failed) {
        ++s.rank_attempts[static_cast<std::size_t>(p->rank)];
        d.remove.push_back(PodRef{p->name, p->uid});
      }
    }
    s.phase = "Restarting";
    const std::string reason =
        policy == RestartPolicy::kExitCode ? "RetryableExitCode" : "PodFailed";
    const std::string message =
        what + "; restarting " + (whole_job ? "every rank" : "the failed rank(s)") + " (restart " +
        std::to_string(s.restarts) + " of " + std::to_string(spec.run_policy.max_restarts) + ")";
    ctx.condition("Restarting", "True", reason, message);
    ctx.condition("Running", "False", "Restarting", message);
    ctx.event("Warning", "Restarting", message);
    return d;
  }

  // Success: every rank's current Pod exited 0.
  if (static_cast<int>(current.size()) == nodes && s.succeeded == nodes) {
    ctx.finish(true, "AllRanksSucceeded",
               "all " + std::to_string(nodes) + " rank(s) completed successfully");
    return d;
  }

  // Create Pods for empty ranks (a rank whose old Pod is still going away waits for it).
  if (!future) {
    for (int rank = 0; rank < nodes; ++rank) {
      if (!occupied.contains(rank)) {
        d.create.push_back(PodSlot{rank, s.rank_attempts[static_cast<std::size_t>(rank)]});
      }
    }
  }
  // The Pods about to be created count as active (Pending) already: the status is written
  // before they are created, and counting them now means their arrival in the cache changes
  // nothing, instead of costing one more status write per rank.
  s.active += static_cast<int>(d.create.size());

  int running = 0;
  for (const auto& [rank, p] : current) {
    if (p->phase == "Running" || p->phase == "Succeeded") ++running;
  }
  const std::string progress =
      std::to_string(running) + " of " + std::to_string(nodes) + " rank(s) running";
  if (running == nodes && s.active > 0) {
    if (s.phase != "Running") ctx.event("Normal", "Running", progress);
    s.phase = "Running";
    ctx.condition("Running", "True", "AllRanksRunning", progress);
    ctx.clear("Restarting", "Running", progress);
    return d;
  }
  // Not (yet) running: say why when a Pod tells us.
  std::string reason;
  std::string message;
  for (const auto& [rank, p] : current) {
    if (p->unschedulable) {
      reason = "Unschedulable";
      message = "pod " + p->name + " cannot be scheduled: " + p->unschedulable_message;
      break;
    }
    if (p->image_pull_backoff) {
      reason = "ImagePullBackOff";
      message = "pod " + p->name + " cannot pull its image: " + p->image_pull_message;
      break;
    }
  }
  if (s.phase != "Restarting") s.phase = "Pending";
  if (!reason.empty()) {
    const Condition* c = s.condition("Running");
    if (c == nullptr || c->reason != reason) ctx.event("Warning", reason, message);
    ctx.condition("Running", "False", reason, message);
  } else if (s.condition("Running") != nullptr) {
    ctx.condition("Running", "False", s.phase == "Restarting" ? "Restarting" : "PodsPending",
                  progress);
  }
  return d;
}

bool same_status_ignoring_timestamps(const JobStatus& a, const JobStatus& b) {
  JobStatus x = a;
  JobStatus y = b;
  for (auto* s : {&x, &y}) {
    for (auto& c : s->conditions)
      c.last_transition_time.clear();
    if (s->last_failure) s->last_failure->time.clear();
  }
  // A condition whose status changed still differs (status is compared), so only timestamps of
  // otherwise identical statuses are ignored.
  return x == y;
}

}  // namespace ascend::op
