#include "operator/reconciler.hpp"

#include <algorithm>
#include <cstdio>

#include "kube/logging.hpp"
#include "kube/object_meta.hpp"
#include "operator/children.hpp"
#include "operator/config_map_builder.hpp"
#include "operator/job_status.hpp"
#include "operator/service_builder.hpp"

namespace ascend::op {

using kube::log::kv;

namespace {

std::string controller_uid(const Json& object) {
  for (const auto& ref : object["metadata"].value("ownerReferences", Json::array())) {
    if (ref.value("controller", false)) return ref.value("uid", "");
  }
  return "";
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
  if (it->second == resource_version) return true;
  superseded_.erase(it);
  return false;
}

kube::Status Reconciler::ensure_child(const kube::Resource& type, const kube::Store& store,
                                      Json desired, const std::string& job_uid) {
  const std::string hash = content_hash(desired.dump());
  desired["metadata"]["annotations"][labels::kSpecHash] = hash;
  const auto existing = store.get(kube::object_key(desired));
  if (existing) {
    const std::string owner = controller_uid(*existing);
    if (owner != job_uid) {
      return kube::Error{0, "NotOwned",
                         type.kind + " " + kube::object_key(desired) +
                             " exists and is not controlled by this job; delete or rename it"};
    }
    const Json annotations = (*existing)["metadata"].value("annotations", Json::object());
    if (annotations.value(labels::kSpecHash, "") == hash) return {};
  }
  auto applied = client_->apply(type, desired, options_.field_manager, true);
  if (!applied) return applied.error();
  if (options_.metrics) options_.metrics->child_applied(type.kind);
  return {};
}

kube::Status Reconciler::write_status(const Json& object, const JobStatus& status,
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
  superseded_[key] = kube::resource_version(object);
  return {};
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
  if (!object) return kube::ReconcileResult::done();  // deleted: the garbage collector has the rest
  const std::string rv = kube::resource_version(*object);
  if (cache_is_stale(key, rv))
    return kube::ReconcileResult::requeue_after(options_.cache_lag_retry);

  auto parsed = parse_job(*object);
  if (!parsed) return invalid_spec(*object, key, parsed.error(), logger);
  const Job& job = parsed.value();
  if (job.deleting) return kube::ReconcileResult::done();

  // Children that do not depend on the phase. A finished job keeps what it has.
  if (!job.status.finished()) {
    if (auto cm = build_config_map(job)) {
      if (auto s = ensure_child(kube::resources::kConfigMaps, *caches_.config_maps, *cm, job.uid);
          !s) {
        record(*object, "Warning", "ConfigMapFailed", s.error().message);
        return kube::ReconcileResult::error(s.error().to_string());
      }
    }
    for (const Json& svc : {build_headless_service(job), build_service(job)}) {
      if (auto s = ensure_child(kube::resources::kServices, *caches_.services, svc, job.uid); !s) {
        record(*object, "Warning", "ServiceFailed", s.error().message);
        return kube::ReconcileResult::error(s.error().to_string());
      }
    }
  }

  std::vector<ObservedPod> pods;
  for (const auto& pod : caches_.pods->list_matching({{labels::kJobName, job.name}}, job.ns)) {
    if (controller_uid(*pod) != job.uid) continue;  // another incarnation's, or not ours
    pods.push_back(observe_pod(*pod));
  }
  Decision decision = decide(job, pods, options_.clock->wall_now());

  if (!same_status_ignoring_timestamps(decision.status, job.status)) {
    if (auto written = write_status(*object, decision.status, key); !written) {
      if (written.error().conflict()) {
        return kube::ReconcileResult::requeue_after(options_.cache_lag_retry);
      }
      return kube::ReconcileResult::error("writing status: " + written.error().to_string());
    }
    if (decision.status.phase != job.status.phase) {
      logger.info("phase", {kv("from", job.status.phase), kv("to", decision.status.phase),
                            kv("restarts", decision.status.restarts)});
    }
  }
  for (const auto& e : decision.events)
    record(*object, e.type, e.reason, e.message);

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
    const std::string pod_key = job.ns + "/" + pod_name(job.name, slot.rank);
    if (created_pods_->awaited(pod_key, options_.clock->now(), options_.created_pod_wait)) {
      collided = true;  // ours, on its way through the watch: look again shortly
      continue;
    }
    const Json pod = build_pod(job, slot.rank, slot.attempt, options_.pods);
    auto created = client_->create(kube::resources::kPods, pod, job.ns);
    if (!created) {
      if (created.error().already_exists()) {
        collided = true;  // our cache lags, or the old Pod is still terminating
        continue;
      }
      record(*object, "Warning", "PodCreateFailed", created.error().message);
      return kube::ReconcileResult::error("creating pod " +
                                          pod["metadata"]["name"].get<std::string>() + ": " +
                                          created.error().to_string());
    }
    created_pods_->created(pod_key, options_.clock->now(), options_.created_pod_wait);
    if (options_.metrics) options_.metrics->pod_created();
    logger.info("created pod", {kv("pod", pod["metadata"]["name"].get<std::string>()),
                                kv("attempt", slot.attempt)});
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

}  // namespace ascend::op
