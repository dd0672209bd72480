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
    children.emplace_back(&kube::resources::kServices, build_headless_service(job));
    children.emplace_back(&kube::resources::kServices, build_service(job));
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
  }
  Decision decision = decide(job, pods, options_.clock->wall_now());
  if (blocked) {
    children_condition(job, decision.status, &*blocked);
    // decide() counted the Pods it asked for as active; none is created.
    decision.status.active -= static_cast<int>(decision.create.size());
    decision.create.clear();
  }

  Json current = *object;
  if (!same_status_ignoring_timestamps(decision.status, before)) {
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
  for (const auto& e : decision.events)
    record(*object, e.type, e.reason, e.message);
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
    const Json pod = build_pod(job, slot.rank, slot.attempt, options_.pods);
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
  if (collided) return kube::ReconcileResult::requeue_after(std::chrono::seconds(1));
  if (decision.requeue_after) return kube::ReconcileResult::requeue_after(*decision.requeue_after);
  return kube::ReconcileResult::done();
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
