#include "operator/reconciler.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <utility>
#include <vector>

#include "kube/logging.hpp"
#include "kube/object_meta.hpp"
#include "operator/children.hpp"
#include "operator/config_map_builder.hpp"
#include "operator/job_status.hpp"
#include "operator/service_builder.hpp"

namespace ascend::op {

using kube::log::kv;

namespace {

const Json* controller_ref(const Json& object) {
  const auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return nullptr;
  const auto refs = meta->find("ownerReferences");
  if (refs == meta->end() || !refs->is_array()) return nullptr;
  for (const auto& ref : *refs) {
    if (ref.is_object() && ref.value("controller", false)) return &ref;
  }
  return nullptr;
}

std::string controller_uid(const Json& object) {
  const Json* ref = controller_ref(object);
  return ref != nullptr ? ref->value("uid", "") : "";
}

// The NameConflict error for `existing`, a `kind` the job does not control: what holds the
// name, and what the user can do. A child of an earlier job of the same name (deleted and
// created again) goes by itself once the garbage collector removes it.
kube::Error name_conflict(const std::string& kind, const Json& existing, const Job& job) {
  const std::string what = kind + " " + kube::object_key(existing);
  const Json* ref = controller_ref(existing);
  std::string message;
  if (ref != nullptr && ref->value("kind", "") == kJobs.kind &&
      ref->value("name", "") == job.name) {
    message = what + " is not owned by this job: it belongs to an earlier " + kJobs.kind +
              " of the same name (uid " + ref->value("uid", "") +
              "); the garbage collector removes it, then the job continues";
  } else if (ref != nullptr) {
    message = what + " is not owned by this job (its controller is " + ref->value("kind", "") +
              " " + ref->value("name", "") +
              "); the operator leaves it alone: delete or rename it, " +
              "or create the job under another name";
  } else {
    message = what +
              " is not owned by this job; the operator leaves it alone: delete or rename it, or "
              "create the job under another name";
  }
  return kube::Error{409, kChildNameConflict, message};
}

// A create the API server refused for good (schema, size, Pod Security admission, quota,
// RBAC): its message names the field or the policy. Conflicts, throttling and server errors
// are not refusals: they pass on retry.
bool refused(const kube::Error& error) {
  return error.code >= 400 && error.code < 500 && error.code != 409 && error.code != 429;
}

}  // namespace

std::string content_hash(const std::string& text) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(hash));
  return out;
}

class Reconciler::CreatedPods {
 public:
  void created(const std::string& key, kube::SteadyTime now, kube::Duration wait) {
    const std::lock_guard lock(mutex_);
    // Forget what the watch never showed (deleted before we saw it, a relist in between).
    for (auto it = created_.begin(); it != created_.end();) {
      it = now - it->second >= wait ? created_.erase(it) : std::next(it);
    }
    created_[key] = now;
  }
  void observed(const std::string& key) {
    const std::lock_guard lock(mutex_);
    created_.erase(key);
  }
  /// True while `key` was created less than `wait` ago and not observed since.
  bool awaited(const std::string& key, kube::SteadyTime now, kube::Duration wait) {
    const std::lock_guard lock(mutex_);
    const auto it = created_.find(key);
    if (it == created_.end()) return false;
    if (now - it->second < wait) return true;
    created_.erase(it);
    return false;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, kube::SteadyTime> created_;  // guarded by mutex_
};

Reconciler::Reconciler(kube::ClientPtr client, JobCaches caches, kube::EventRecorder* events,
                       ReconcilerOptions options)
    : client_(std::move(client)),
      caches_(std::move(caches)),
      created_pods_(std::make_shared<CreatedPods>()),
      events_(events),
      options_(std::move(options)),
      logger_(kube::log::Logger().with({kv("controller", "lfjob")})) {
  if (caches_.pods) {
    caches_.pods->add_handler(
        [created = created_pods_](const kube::ObjectPtr&, const kube::ObjectPtr& new_object) {
          if (new_object) created->observed(kube::object_key(*new_object));
        });
  }
}

void Reconciler::record(const Json& object, const std::string& type, const std::string& reason,
                        const std::string& note) {
  if (events_ != nullptr) events_->record(object, type, reason, "Reconcile", note);
}

bool Reconciler::cache_is_stale(const std::string& key, const std::string& resource_version) {
  const std::lock_guard lock(mutex_);
  const auto it = superseded_.find(key);
  if (it == superseded_.end()) return false;
  if (std::find(it->second.begin(), it->second.end(), resource_version) != it->second.end()) {
    return true;
  }
  superseded_.erase(it);
  return false;
}

kube::Status Reconciler::ensure_child(const kube::Resource& type, const kube::Store& store,
                                      Json desired, const Job& job) {
  const std::string hash = content_hash(desired.dump());
  desired["metadata"]["annotations"][labels::kSpecHash] = hash;
  if (const auto existing = store.get(kube::object_key(desired))) {
    if (controller_uid(*existing) != job.uid) return name_conflict(type.kind, *existing, job);
    const Json annotations = (*existing)["metadata"].value("annotations", Json::object());
    if (annotations.value(labels::kSpecHash, "") == hash) return {};
    // Ours: server-side apply brings it back to what the job wants.
    auto applied = client_->apply(type, desired, options_.field_manager, true);
    if (!applied) return applied.error();
    if (options_.metrics) options_.metrics->child_applied(type.kind);
    return {};
  }
  // Not in the cache: absent, or not labelled as ours (the caches select by the job-name
  // label). A POST never touches an existing object, where an apply would adopt it.
  auto created = client_->create(type, desired, job.ns);
  if (created) {
    if (options_.metrics) options_.metrics->child_applied(type.kind);
    return {};
  }
  if (!created.error().already_exists()) return created.error();
  return after_already_exists(type, desired, job);
}

kube::Status Reconciler::after_already_exists(const kube::Resource& type, const Json& desired,
                                              const Job& job) {
  const std::string name = desired["metadata"].value("name", "");
  auto existing = client_->get(type, job.ns, name);
  if (!existing) {
    if (existing.error().not_found()) {
      return kube::Error{
          409, "Conflict",
          type.kind + " " + job.ns + "/" + name + " was deleted while being created; trying again"};
    }
    return existing.error();
  }
  if (controller_uid(existing.value()) != job.uid) {
    return name_conflict(type.kind, existing.value(), job);
  }
  return {};  // ours: the cache has not shown it yet
}

kube::Result<Json> Reconciler::write_status(const Json& object, const JobStatus& status,
                                            const std::string& key) {
  Json updated = object;
  updated["status"] = status_to_json(status);
  auto written = client_->update_status(kJobs, updated);
  if (options_.metrics && (written || written.error().conflict())) {
    options_.metrics->status_write(written ? "written" : "conflict");
  }
  if (!written) return written.error();
  if (options_.metrics &&
      status.phase != status_from_json(object.value("status", Json::object())).phase) {
    options_.metrics->transition(status.phase);
  }
  const std::lock_guard lock(mutex_);
  superseded_[key].push_back(kube::resource_version(object));
  return written;
}

kube::ReconcileResult Reconciler::invalid_spec(const Json& object, const std::string& key,
                                               const kube::Error& error,
                                               const kube::log::Logger& logger) {
  logger.warn("invalid job", {kv("error", error.message)});
  JobStatus status = status_from_json(object.value("status", Json::object()));
  if (status.phase != Phase::kFailed || status.condition("Failed") == nullptr ||
      status.condition("Failed")->message != error.message) {
    const std::string now = kube::format_time(options_.clock->wall_now());
    status.phase = Phase::kFailed;
    status.completion_time = now;
    status.observed_generation = object["metadata"].value("generation", std::int64_t{0});
    status.conditions.erase(std::remove_if(status.conditions.begin(), status.conditions.end(),
                                           [](const Condition& c) { return c.type == "Failed"; }),
                            status.conditions.end());
    status.conditions.push_back(
        Condition{"Failed", "True", status.observed_generation, now, "InvalidSpec", error.message});
    if (auto written = write_status(object, status, key); !written) {
      return kube::ReconcileResult::error(written.error().to_string());
    }
    record(object, "Warning", "InvalidSpec", error.message);
  }
  return kube::ReconcileResult::terminal(error.message);
}

kube::ReconcileResult Reconciler::reconcile(const std::string& key) {
  const kube::log::Logger logger = logger_.with({kv("key", key)});
  const auto object = caches_.jobs->get(key);
  if (!object) {
    if (options_.progress) options_.progress->forget(key);
    return kube::ReconcileResult::done();  // deleted: the garbage collector has the rest
  }
  const std::string rv = kube::resource_version(*object);
  if (cache_is_stale(key, rv))
    return kube::ReconcileResult::requeue_after(options_.cache_lag_retry);

  auto parsed = parse_job(*object);
  if (!parsed) return invalid_spec(*object, key, parsed.error(), logger);
  Job& job = parsed.value();
  if (job.deleting) return kube::ReconcileResult::done();
  if (options_.pending_status_delay.count() > 0 && job.status.phase == Phase::kNone) {
    // A first status held back earlier keeps the startTime of the first decision.
    const std::lock_guard lock(mutex_);
    if (const auto it = unwritten_.find(key); it != unwritten_.end() && it->second.uid == job.uid)
      job.status.start_time = it->second.start_time;
  }
  // The newest progress report, when it is due: decide() keeps it and says it in Running.
  std::optional<Progress> reported;
  if (options_.progress) reported = options_.progress->due(key, options_.clock->now());
  JobStatus before = job.status;
  if (reported) job.status.progress = *reported;

  // Children that do not depend on the phase. A finished job keeps what it has. One that
  // cannot be made (a name taken, a refusal) is a condition on the job, and no Pod is created
  // without the ConfigMap and Services it needs.
  std::optional<kube::Error> blocked;
  if (!job.status.finished()) {
    std::vector<std::pair<const kube::Resource*, Json>> children;
    if (auto cm = build_config_map(job)) children.emplace_back(&kube::resources::kConfigMaps, *cm);
    // Only what the job uses (operator/children.hpp): a Service nobody would reach costs two
    // writes at the API server (the Service and its ClusterIP's IPAddress).
    if (needs_rendezvous_service(job)) {
      children.emplace_back(&kube::resources::kServices, build_headless_service(job));
    }
    if (needs_serving_service(job)) {
      children.emplace_back(&kube::resources::kServices, build_service(job));
    }
    for (auto& [type, desired] : children) {
      const kube::Store& store =
          type == &kube::resources::kConfigMaps ? *caches_.config_maps : *caches_.services;
      auto s = ensure_child(*type, store, std::move(desired), job);
      if (s) continue;
      if (s.error().reason == kChildNameConflict || refused(s.error())) {
        // Every child that cannot be made, in one message; a conflict is named first.
        if (!blocked) {
          blocked = s.error();
        } else if (s.error().reason == kChildNameConflict &&
                   blocked->reason != kChildNameConflict) {
          blocked = kube::Error{s.error().code, s.error().reason,
                                s.error().message + "; " + blocked->message};
        } else {
          blocked->message += "; " + s.error().message;
        }
        continue;
      }
      record(*object, "Warning", type->kind + "Failed", s.error().message);
      return kube::ReconcileResult::error(s.error().to_string());
    }
  }

  std::vector<ObservedPod> pods;
  for (const auto& pod : caches_.pods->list_matching({{labels::kJobName, job.name}}, job.ns)) {
    if (controller_uid(*pod) != job.uid) continue;  // another incarnation's, or not ours
    pods.push_back(observe_pod(*pod));
    ObservedPod& observed = pods.back();
    if (observed.unschedulable && options_.autoscaler_notes) {
      observed.autoscaler = options_.autoscaler_notes->for_pod(job.ns, observed.name, observed.uid);
    }
  }
  // A job that names a Kueue queue runs only while Kueue admits its Workload.
  std::optional<QueueState> queue;
  std::optional<Json> workload;
  if (!job.queue_name.empty()) {
    if (job.status.finished() || job.spec.run_policy.suspend) {
      if (caches_.workloads) {
        if (auto cached = caches_.workloads->get(job.ns + "/" + workload_name(job));
            cached && controller_uid(*cached) == job.uid) {
          workload = *cached;
        }
      }
    } else if (auto state = queue_state(job, logger)) {
      queue = std::move(state).value();
      workload = queue->workload;
    } else if (state.error().reason == kChildNameConflict || refused(state.error())) {
      queue = QueueState{};
      queue->gate.queue = job.queue_name;
      queue->gate.workload = workload_name(job);
      queue->gate.reason =
          state.error().reason == kChildNameConflict ? kChildNameConflict : "WorkloadRefused";
      queue->gate.message = state.error().message;
      if (!blocked) {
        blocked = state.error();
      } else {
        blocked->message += "; " + state.error().message;
      }
    } else {
      return kube::ReconcileResult::error("workload: " + state.error().to_string());
    }
  }
  Decision decision = decide(job, pods, options_.clock->wall_now(), queue ? &queue->gate : nullptr);
  if (blocked) {
    children_condition(job, decision.status, &*blocked);
    // decide() counted the Pods it asked for as active; none is created.
    decision.status.active -= static_cast<int>(decision.create.size());
    decision.create.clear();
  }

  Json current = *object;
  kube::Duration status_due{0};
  const bool deferred = !blocked && defer_first_status(job, decision, key, status_due);
  if (!deferred && !same_status_ignoring_timestamps(decision.status, before)) {
    auto written = write_status(*object, decision.status, key);
    if (!written) {
      if (written.error().conflict()) {
        return kube::ReconcileResult::requeue_after(options_.cache_lag_retry);
      }
      return kube::ReconcileResult::error("writing status: " + written.error().to_string());
    }
    current = std::move(written).value();
    if (reported) options_.progress->written(key, *reported, options_.clock->now());
    if (decision.status.phase != job.status.phase) {
      logger.info("phase", {kv("from", job.status.phase), kv("to", decision.status.phase),
                            kv("restarts", decision.status.restarts)});
    }
  }
  if (reported && same_status_ignoring_timestamps(decision.status, before)) {
    options_.progress->written(key, *reported, options_.clock->now());  // nothing new in it
  }
  // Events go with the status that says the same (a held-back status decides them again).
  if (!deferred) {
    for (const auto& e : decision.events)
      record(*object, e.type, e.reason, e.message);
  }
  if (!job.queue_name.empty()) {
    if (auto settled = settle_workload(job, decision.status, workload, !pods.empty(), logger);
        !settled) {
      if (settled.error().conflict()) {
        return kube::ReconcileResult::requeue_after(options_.cache_lag_retry);
      }
      return kube::ReconcileResult::error("workload: " + settled.error().to_string());
    }
  }
  if (blocked) {
    report_blocked(*object, job.status, *blocked, logger);
    return kube::ReconcileResult::backoff(blocked->to_string());
  }

  for (const auto& ref : decision.remove) {
    kube::DeleteOptions options;
    options.propagation = kube::Propagation::kBackground;
    options.uid = ref.uid;
    auto removed = client_->remove(kube::resources::kPods, job.ns, ref.name, options);
    if (!removed && !removed.error().not_found() && !removed.error().conflict()) {
      return kube::ReconcileResult::error("deleting pod " + ref.name + ": " +
                                          removed.error().to_string());
    }
    if (removed) {
      if (options_.metrics) options_.metrics->pod_deleted();
      logger.info("deleted pod", {kv("pod", ref.name)});
    }
  }
  bool collided = false;
  for (const auto& slot : decision.create) {
    const std::string name = pod_name(job.name, slot.rank);
    const std::string pod_key = job.ns + "/" + name;
    if (created_pods_->awaited(pod_key, options_.clock->now(), options_.created_pod_wait)) {
      collided = true;  // ours, on its way through the watch: look again shortly
      continue;
    }
    // A labelled Pod of that name that is not ours (an earlier job of the same name, not yet
    // collected): known without a request.
    if (const auto cached = caches_.pods->get(pod_key);
        cached && controller_uid(*cached) != job.uid) {
      blocked = name_conflict("Pod", *cached, job);
      break;
    }
    Json pod = build_pod(job, slot.rank, slot.attempt, options_.pods);
    if (queue && queue->placement) apply_placement(pod, *queue->placement);
    auto created = client_->create(kube::resources::kPods, pod, job.ns);
    if (!created) {
      kube::Status s = created.error();
      if (created.error().already_exists())
        s = after_already_exists(kube::resources::kPods, pod, job);
      if (s) {
        collided = true;  // ours: the cache lags, or the old Pod is still terminating
        continue;
      }
      if (s.error().reason == kChildNameConflict || refused(s.error())) {
        blocked = s.error();
        break;
      }
      if (s.error().conflict()) {
        collided = true;  // gone while we looked: try again shortly
        continue;
      }
      record(*object, "Warning", "PodCreateFailed", s.error().message);
      return kube::ReconcileResult::error("creating pod " + name + ": " + s.error().to_string());
    }
    created_pods_->created(pod_key, options_.clock->now(), options_.created_pod_wait);
    if (options_.metrics) options_.metrics->pod_created();
    logger.info("created pod", {kv("pod", name), kv("attempt", slot.attempt)});
  }

  // The outcome of making children, in status: False while one is blocked, True again once a
  // pass made (or found) them all. Only a job that had a problem carries the condition, so
  // the happy path costs no write.
  if (!job.status.finished() &&
      (blocked || decision.status.condition(kChildrenCreated) != nullptr)) {
    JobStatus status = decision.status;
    children_condition(job, status, blocked ? &*blocked : nullptr);
    if (!same_status_ignoring_timestamps(status, decision.status)) {
      auto written = write_status(current, status, key);
      if (!written) {
        if (written.error().conflict()) {
          return kube::ReconcileResult::requeue_after(options_.cache_lag_retry);
        }
        return kube::ReconcileResult::error("writing status: " + written.error().to_string());
      }
    }
    if (blocked) {
      report_blocked(*object, job.status, *blocked, logger);
      return kube::ReconcileResult::backoff(blocked->to_string());
    }
  }

  if (decision.delete_job) {
    kube::DeleteOptions options;
    options.propagation = kube::Propagation::kBackground;
    options.uid = job.uid;
    auto removed = client_->remove(kJobs, job.ns, job.name, options);
    if (!removed && !removed.error().not_found()) {
      return kube::ReconcileResult::error("deleting job after its TTL: " +
                                          removed.error().to_string());
    }
    logger.info("deleted job after ttlSecondsAfterFinished");
    return kube::ReconcileResult::done();
  }
  kube::Duration again = kube::Duration::max();
  if (collided || (queue && queue->retry)) again = std::chrono::seconds(1);
  if (decision.requeue_after) again = std::min<kube::Duration>(again, *decision.requeue_after);
  if (deferred) again = std::min(again, status_due);
  // A report that came in while this reconcile wrote the one before it waits for its turn, and
  // the wake-up its arrival asked for may have been this very reconcile: look again when it is
  // due, or a job's last report (sent as the training ends) would never reach its status.
  if (options_.progress) {
    if (const auto waiting = options_.progress->wait(key, options_.clock->now())) {
      again = std::min<kube::Duration>(
          again, std::max<kube::Duration>(*waiting, std::chrono::milliseconds(100)));
    }
  }
  if (again != kube::Duration::max()) return kube::ReconcileResult::requeue_after(again);
  return kube::ReconcileResult::done();
}

bool Reconciler::defer_first_status(const Job& job, const Decision& decision,
                                    const std::string& key, kube::Duration& wait) {
  if (options_.pending_status_delay.count() <= 0) return false;
  const std::lock_guard lock(mutex_);
  const bool plain_pending =
      job.status.phase == Phase::kNone && decision.status.phase == Phase::kPending &&
      decision.remove.empty() && !decision.delete_job &&
      std::ranges::all_of(decision.status.conditions, [](const Condition& c) {
        // What every new job says: created, and an emptyDir warning.
        return c.type == "Created" || c.type == "OutputPersistent";
      });
  if (!plain_pending) {
    unwritten_.erase(key);
    return false;
  }
  const kube::SteadyTime now = options_.clock->now();
  auto it = unwritten_.find(key);
  if (it == unwritten_.end() || it->second.uid != job.uid) {
    // Forget jobs deleted while held back (no reconcile comes for them after the delete);
    // at most once per delay, so a burst of new jobs does not scan the map for each.
    if (now - unwritten_purged_ >= options_.pending_status_delay) {
      unwritten_purged_ = now;
      const auto forget = 10 * options_.pending_status_delay;
      for (auto old = unwritten_.begin(); old != unwritten_.end();) {
        old = now - old->second.first >= forget ? unwritten_.erase(old) : std::next(old);
      }
    }
    it =
        unwritten_.insert_or_assign(key, Unwritten{job.uid, now, decision.status.start_time}).first;
  }
  const kube::Duration held = now - it->second.first;
  if (held >= options_.pending_status_delay) {
    unwritten_.erase(it);
    return false;
  }
  wait = options_.pending_status_delay - held;
  return true;
}

kube::Result<Reconciler::QueueState> Reconciler::queue_state(const Job& job,
                                                             const kube::log::Logger& logger) {
  QueueState state;
  state.gate.queue = job.queue_name;
  state.gate.workload = workload_name(job);
  state.gate.reason = "Pending";
  if (!caches_.workloads) {
    state.gate.reason = "KueueNotServed";
    state.gate.message =
        "the operator's Kueue integration is off: the API server did not serve Kueue's "
        "Workload API (kueue.x-k8s.io/v1beta2) when the operator started, or it runs with "
        "--kueue=off; install Kueue, then restart the operator";
    return state;
  }
  const std::string& name = state.gate.workload;
  const Json pod = build_pod(job, 0, 0, options_.pods);
  const std::string hash = workload_hash(build_workload(job, pod, std::nullopt));
  std::optional<Json> workload;
  if (auto cached = caches_.workloads->get(job.ns + "/" + name)) workload = *cached;
  if (!workload) {
    std::optional<std::int32_t> priority;
    if (!job.priority_class.empty()) {
      auto wpc = client_->get(kueue::kWorkloadPriorityClasses, "", job.priority_class);
      if (!wpc) {
        if (!wpc.error().not_found()) return wpc.error();
        return kube::Error{404, "NotFound",
                           "WorkloadPriorityClass " + job.priority_class + " (label " +
                               kueue::kPriorityClassLabel +
                               ") does not exist: create it or fix the label"};
      }
      const Json& value = wpc.value().value("value", Json());
      if (value.is_number_integer()) priority = value.get<std::int32_t>();
    }
    auto created = client_->create(kueue::kWorkloads, build_workload(job, pod, priority), job.ns);
    if (created) {
      logger.info("created workload", {kv("workload", name), kv("queue", job.queue_name)});
      if (options_.metrics) options_.metrics->child_applied(kueue::kWorkloads.kind);
      workload = std::move(created).value();
    } else if (created.error().already_exists()) {
      // Made before (by this job: a restarted operator, or the cache lags): read it.
      auto existing = client_->get(kueue::kWorkloads, job.ns, name);
      if (!existing) {
        if (!existing.error().not_found()) return existing.error();
        state.gate.message = "Workload " + name + " was deleted while being created";
        state.retry = true;
        return state;
      }
      workload = std::move(existing).value();
    } else {
      kube::Error error = created.error();
      if (error.not_found()) {
        error.message =
            "Kueue's Workload API (kueue.x-k8s.io/v1beta2) is not served: is Kueue "
            "installed? (" +
            error.message + ")";
      } else {
        error.message = "creating Workload " + name + ": " + error.message;
      }
      return error;
    }
  }
  if (controller_uid(*workload) != job.uid) {
    return name_conflict(kueue::kWorkloads.kind, *workload, job);
  }
  state.workload = workload;
  const WorkloadView view = view_workload(*workload);
  if (!view.deleting && workload_hash(*workload) != hash) {
    // The job changed while it waited (its size, its queue): Kueue admits a Workload as it
    // stands, so the old one goes (with its reservation, if any) and a new one follows, as
    // Kueue's jobframework does with a Workload that no longer matches its job.
    if (auto removed = remove_workload(*workload); !removed) return removed.error();
    logger.info("deleted outdated workload", {kv("workload", name)});
    state.workload.reset();
    state.gate.reason = "WorkloadOutdated";
    state.gate.message = "the job changed; its Workload " + name + " is made again";
    state.retry = true;
    return state;
  }
  state.gate = queue_gate(job, view);
  if (state.gate.admitted) {
    auto placed = placement(view, [this](const std::string& flavor) -> std::optional<Json> {
      if (!caches_.flavors) return std::nullopt;
      if (auto found = caches_.flavors->get(flavor)) return *found;
      return std::nullopt;
    });
    // Not a refusal: the flavor cache may lag Kueue. The Pods stay as they are meanwhile.
    if (!placed) return kube::Error{503, "Placement", placed.error().message};
    state.placement = std::move(placed).value();
  }
  return state;
}

kube::Status Reconciler::remove_workload(const Json& workload) {
  const Json& meta = workload["metadata"];
  kube::DeleteOptions options;
  options.propagation = kube::Propagation::kBackground;
  options.uid = meta.value("uid", "");
  auto removed = client_->remove(kueue::kWorkloads, meta.value("namespace", ""),
                                 meta.value("name", ""), options);
  // Gone already, or replaced meanwhile (the uid precondition): nothing of ours is left to delete.
  if (!removed && !removed.error().not_found() && !removed.error().conflict()) {
    return removed.error();
  }
  return {};
}

kube::Status Reconciler::settle_workload(const Job& job, const JobStatus& status,
                                         const std::optional<Json>& workload, bool pods_left,
                                         const kube::log::Logger& logger) {
  if (!workload) return {};
  const WorkloadView view = view_workload(*workload);
  if (view.deleting) return {};
  const std::string name = (*workload)["metadata"].value("name", "");
  const std::string now = kube::format_time(options_.clock->wall_now());
  if (status.finished()) {
    if (view.finished) return {};
    const Condition* c = status.condition(phase_name(status.phase));
    auto written = client_->update_status(
        kueue::kWorkloads,
        finished_workload(*workload, status.phase == Phase::kSucceeded,
                          c != nullptr ? c->message : phase_name(status.phase), now));
    if (!written && !written.error().not_found()) return written.error();
    logger.info("workload finished", {kv("workload", name)});
    return {};
  }
  if (job.spec.run_policy.suspend) {
    // A suspended job holds no quota: its Workload goes; resuming makes a new one.
    if (auto removed = remove_workload(*workload); !removed) return removed.error();
    logger.info("deleted workload of suspended job", {kv("workload", name)});
    return {};
  }
  if (view.evicted && view.quota_reserved && !pods_left) {
    auto written = client_->update_status(kueue::kWorkloads, requeued_workload(*workload, now));
    if (!written && !written.error().not_found()) return written.error();
    logger.info("workload requeued after eviction",
                {kv("workload", name), kv("reason", view.eviction_reason)});
  }
  return {};
}

void Reconciler::children_condition(const Job& job, JobStatus& status,
                                    const kube::Error* blocked) const {
  const std::string now = kube::format_time(options_.clock->wall_now());
  if (blocked == nullptr) {
    set_condition(status, kChildrenCreated, "True", "ChildrenCreated",
                  "the ConfigMap, Services and Pods of the job exist", now, job.generation);
    return;
  }
  const bool conflict = blocked->reason == kChildNameConflict;
  set_condition(status, kChildrenCreated, "False",
                conflict ? kChildNameConflict : kChildCreateRefused, blocked->message, now,
                job.generation);
}

void Reconciler::report_blocked(const Json& object, const JobStatus& before,
                                const kube::Error& blocked, const kube::log::Logger& logger) {
  const std::string reason =
      blocked.reason == kChildNameConflict ? kChildNameConflict : kChildCreateRefused;
  const Condition* c = before.condition(kChildrenCreated);
  if (c != nullptr && c->status == "False" && c->reason == reason &&
      c->message == blocked.message) {
    return;  // reported when it began
  }
  logger.warn("child not created", {kv("reason", reason), kv("message", blocked.message)});
  record(object, "Warning", reason, blocked.message);
}

}  // namespace ascend::op
