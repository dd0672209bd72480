#include "operator/workload.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "operator/children.hpp"
#include "operator/contract.hpp"
#include "operator/reconciler.hpp"

namespace ascend::op {

namespace {

const Json& member(const Json& object, const char* key) {
  static const Json kNull;
  if (!object.is_object() || !object.contains(key)) return kNull;
  return object.at(key);
}

std::string str(const Json& object, const char* key) {
  const Json& value = member(object, key);
  return value.is_string() ? value.get<std::string>() : std::string();
}

// The condition of `type` in a status' conditions, or null.
const Json& condition(const Json& status, const std::string& type) {
  static const Json kNull;
  for (const auto& c : member(status, "conditions")) {
    if (str(c, "type") == type) return c;
  }
  return kNull;
}

bool is_true(const Json& c) {
  return str(c, "status") == "True";
}

// meta.SetStatusCondition on a JSON status: lastTransitionTime moves only with the status.
void set_condition(Json& status, const std::string& type, const std::string& value,
                   const std::string& reason, const std::string& message, const std::string& now,
                   std::int64_t generation) {
  if (!status.contains("conditions") || !status["conditions"].is_array()) {
    status["conditions"] = Json::array();
  }
  for (auto& c : status["conditions"]) {
    if (str(c, "type") != type) continue;
    if (str(c, "status") != value) c["lastTransitionTime"] = now;
    c["status"] = value;
    c["reason"] = reason;
    c["message"] = message;
    c["observedGeneration"] = generation;
    return;
  }
  status["conditions"].push_back({{"type", type},
                                  {"status", value},
                                  {"reason", reason},
                                  {"message", message},
                                  {"lastTransitionTime", now},
                                  {"observedGeneration", generation}});
}

std::int64_t generation(const Json& workload) {
  const Json& g = member(member(workload, "metadata"), "generation");
  return g.is_number_integer() ? g.get<std::int64_t>() : 0;
}

// Merges the string map `from` into `into` (an object), later values winning.
void merge_strings(Json& into, const Json& from) {
  if (!from.is_object()) return;
  if (!into.is_object()) into = Json::object();
  for (const auto& [k, v] : from.items()) {
    if (v.is_string()) into[k] = v;
  }
}

}  // namespace

std::string workload_name(const Job& job) {
  return job.name + "-" + content_hash(job.uid).substr(0, 8);
}

Json build_workload(const Job& job, const Json& pod, std::optional<std::int32_t> priority) {
  Json template_metadata = Json::object();
  const Json& pod_metadata = member(pod, "metadata");
  if (member(pod_metadata, "labels").is_object()) {
    template_metadata["labels"] = pod_metadata.at("labels");
  }
  if (member(pod_metadata, "annotations").is_object()) {
    template_metadata["annotations"] = pod_metadata.at("annotations");
  }
  Json spec = {{"queueName", job.queue_name},
               {"podSets", Json::array({{{"name", kPodSetName},
                                         {"count", job.spec.nodes},
                                         {"template",
                                          {{"metadata", std::move(template_metadata)},
                                           {"spec", member(pod, "spec")}}}}})}};
  if (!job.priority_class.empty()) {
    spec["priorityClassRef"] = {{"group", kueue::kGroup},
                                {"kind", kueue::kWorkloadPriorityClasses.kind},
                                {"name", job.priority_class}};
  }
  // The hash leaves out spec.priority: Kueue itself rewrites it when the class's value changes.
  const std::string hash = content_hash(spec.dump());
  if (priority) spec["priority"] = *priority;
  Json metadata = child_metadata(job, workload_name(job));
  metadata["annotations"] = {{labels::kSpecHash, hash}};
  return {{"apiVersion", kueue::kWorkloads.api_version()},
          {"kind", kueue::kWorkloads.kind},
          {"metadata", std::move(metadata)},
          {"spec", std::move(spec)}};
}

std::string workload_hash(const Json& workload) {
  return str(member(member(workload, "metadata"), "annotations"), labels::kSpecHash);
}

WorkloadView view_workload(const Json& workload) {
  WorkloadView v;
  const Json& metadata = member(workload, "metadata");
  v.deleting = !member(metadata, "deletionTimestamp").is_null();
  const Json& status = member(workload, "status");
  const Json& admission = member(status, "admission");
  const Json& reserved = condition(status, "QuotaReserved");
  const Json& admitted = condition(status, "Admitted");
  const Json& evicted = condition(status, "Evicted");
  v.quota_reserved = is_true(reserved) && admission.is_object();
  v.admitted = is_true(admitted);
  v.evicted = is_true(evicted);
  v.finished = is_true(condition(status, "Finished"));
  v.cluster_queue = str(admission, "clusterQueue");
  for (const auto& assignment : member(admission, "podSetAssignments")) {
    if (str(assignment, "name") != kPodSetName) continue;
    for (const auto& [resource, flavor] : member(assignment, "flavors").items()) {
      if (!flavor.is_string()) continue;
      const std::string name = flavor.get<std::string>();
      if (std::find(v.flavors.begin(), v.flavors.end(), name) == v.flavors.end()) {
        v.flavors.push_back(name);
      }
    }
  }
  if (v.evicted) {
    v.eviction_time = str(evicted, "lastTransitionTime");
    v.eviction_reason = str(evicted, "reason");
    v.eviction_message = str(evicted, "message");
  }
  // Why it waits: the reservation's condition says it first (no quota, no LocalQueue), then
  // admission's (admission checks).
  for (const Json* c : {&reserved, &admitted}) {
    if (c->is_object() && str(*c, "status") == "False" && !str(*c, "message").empty()) {
      v.waiting_reason = str(*c, "reason");
      v.waiting_message = str(*c, "message");
      break;
    }
  }
  Json updates = {{"labels", Json::object()},
                  {"annotations", Json::object()},
                  {"nodeSelector", Json::object()},
                  {"tolerations", Json::array()}};
  for (const auto& check : member(status, "admissionChecks")) {
    for (const auto& update : member(check, "podSetUpdates")) {
      if (str(update, "name") != kPodSetName) continue;
      merge_strings(updates["labels"], member(update, "labels"));
      merge_strings(updates["annotations"], member(update, "annotations"));
      merge_strings(updates["nodeSelector"], member(update, "nodeSelector"));
      for (const auto& t : member(update, "tolerations"))
        updates["tolerations"].push_back(t);
    }
  }
  v.pod_set_updates = std::move(updates);
  return v;
}

QueueGate queue_gate(const Job& job, const WorkloadView& view) {
  QueueGate gate;
  gate.queue = job.queue_name;
  gate.workload = workload_name(job);
  gate.cluster_queue = view.cluster_queue;
  gate.admitted =
      view.admitted && view.quota_reserved && !view.evicted && !view.deleting && !view.finished;
  if (view.evicted) {
    gate.eviction_time = view.eviction_time;
    gate.eviction_reason = view.eviction_reason;
    gate.eviction_message = view.eviction_message;
  }
  if (gate.admitted) return gate;
  if (view.deleting) {
    gate.reason = "WorkloadDeleted";
    gate.message = "Workload " + gate.workload + " is being deleted; a new one follows";
  } else if (view.evicted && view.quota_reserved) {
    gate.reason = "Evicted";
    gate.message = "evicted (" + view.eviction_reason + "): " + view.eviction_message;
  } else if (!view.waiting_message.empty()) {
    gate.reason = view.waiting_reason.empty() ? "Pending" : view.waiting_reason;
    gate.message = view.waiting_message;
  } else if (view.quota_reserved) {
    gate.reason = "QuotaReserved";
    gate.message = "quota reserved in ClusterQueue " + view.cluster_queue +
                   ", waiting for its admission checks";
  } else {
    gate.reason = "Pending";
    gate.message = "Workload " + gate.workload + " waits for Kueue to reserve quota";
  }
  return gate;
}

kube::Result<Placement> placement(const WorkloadView& view, const FlavorLookup& flavor) {
  Placement p;
  auto add_selector = [&p](const std::string& key, const std::string& value,
                           const std::string& from) -> kube::Status {
    const auto [it, inserted] = p.node_selector.emplace(key, value);
    if (!inserted && it->second != value) {
      return kube::Error{
          409, "Conflict",
          from + " wants node label " + key + "=" + value + ", another " + it->second};
    }
    return {};
  };
  for (const auto& name : view.flavors) {
    const auto found = flavor(name);
    if (!found) {
      return kube::Error{404, "NotFound", "ResourceFlavor " + name + " not found"};
    }
    const Json& spec = member(*found, "spec");
    for (const auto& [k, v] : member(spec, "nodeLabels").items()) {
      if (!v.is_string()) continue;
      if (auto s = add_selector(k, v.get<std::string>(), "ResourceFlavor " + name); !s) {
        return s.error();
      }
    }
    for (const auto& t : member(spec, "tolerations"))
      p.tolerations.push_back(t);
  }
  const Json& updates = view.pod_set_updates;
  for (const auto& [k, v] : member(updates, "nodeSelector").items()) {
    if (auto s = add_selector(k, v.get<std::string>(), "an admission check"); !s) {
      return s.error();
    }
  }
  for (const auto& t : member(updates, "tolerations"))
    p.tolerations.push_back(t);
  for (const auto& [k, v] : member(updates, "labels").items())
    p.labels[k] = v.get<std::string>();
  for (const auto& [k, v] : member(updates, "annotations").items())
    p.annotations[k] = v.get<std::string>();
  return p;
}

void apply_placement(Json& pod, const Placement& placement) {
  Json& spec = pod["spec"];
  for (const auto& [k, v] : placement.node_selector)
    spec["nodeSelector"][k] = v;
  for (const auto& t : placement.tolerations) {
    if (!spec.contains("tolerations")) spec["tolerations"] = Json::array();
    Json& list = spec["tolerations"];
    if (std::find(list.begin(), list.end(), t) == list.end()) list.push_back(t);
  }
  Json& metadata = pod["metadata"];
  // The job's own labels (job-name, rank, attempt) stay: the operator finds its Pods by them.
  for (const auto& [k, v] : placement.labels) {
    if (!metadata["labels"].contains(k)) metadata["labels"][k] = v;
  }
  for (const auto& [k, v] : placement.annotations)
    metadata["annotations"][k] = v;
}

Json finished_workload(Json workload, bool succeeded, const std::string& message,
                       const std::string& now) {
  Json& status = workload["status"];
  if (!status.is_object()) status = Json::object();
  set_condition(status, "Finished", "True", succeeded ? "Succeeded" : "Failed", message, now,
                generation(workload));
  return workload;
}

Json requeued_workload(Json workload, const std::string& now) {
  const std::int64_t g = generation(workload);
  Json& status = workload["status"];
  if (!status.is_object()) status = Json::object();
  const WorkloadView view = view_workload(workload);
  const std::string message =
      view.eviction_message.empty() ? "the job's Pods are gone" : view.eviction_message;
  // Kueue's jobframework: Requeued True only for what will be admitted again by itself.
  const bool requeue =
      view.eviction_reason == "Preempted" || view.eviction_reason == "NodeFailures";
  set_condition(status, "Requeued", requeue ? "True" : "False",
                view.eviction_reason.empty() ? "Evicted" : view.eviction_reason, message, now, g);
  set_condition(status, "QuotaReserved", "False", "Pending", message, now, g);
  if (is_true(condition(status, "Admitted"))) {
    set_condition(status, "Admitted", "False", "NoReservation", "The workload has no reservation",
                  now, g);
  }
  status.erase("admission");
  return workload;
}

}  // namespace ascend::op
