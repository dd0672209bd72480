// The cache transforms keep what the operator reads: every reader gives the same answer on a
// Pod, Service, ConfigMap or job as the API server sends it and on its cached form.
#include "operator/caches.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kube/controller.hpp"
#include "operator/config_map_builder.hpp"
#include "operator/contract.hpp"
#include "operator/job_status.hpp"
#include "operator/pod_builder.hpp"
#include "operator/service_builder.hpp"

namespace ascend::op {
namespace {

Json job_object() {
  return Json::parse(R"({
    "apiVersion": "ascendfactory.io/v1alpha1", "kind": "LlamaFactoryJob",
    "metadata": {"name": "sft", "namespace": "team", "uid": "uid-9", "generation": 2,
                 "resourceVersion": "41", "labels": {"team": "nlp"},
                 "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"big\":1}",
                                 "note": "kept"},
                 "managedFields": [{"manager": "kubectl", "operation": "Apply",
                                    "fieldsV1": {"f:spec": {"f:nodes": {}}}}]},
    "spec": {"mode": "train", "nodes": 2, "npusPerNode": 8, "config": {"stage": "sft"},
             "podAnnotations": {"a": "b"}},
    "status": {"phase": "Running", "restarts": 1, "rankAttempts": [1, 1]}
  })");
}

Job job() {
  auto parsed = parse_job(job_object());
  EXPECT_TRUE(parsed.ok()) << parsed.error().message;
  return parsed.value();
}

// What the API server holds for a Pod the operator created: the built Pod, the server's
// defaults, managedFields of the operator, the scheduler and the kubelet, and `status`.
Json served_pod(const Json& status, bool deleting = false) {
  Json pod = build_pod(job(), 1, 2, {"img:1", "", ""});
  pod["metadata"]["uid"] = "pod-uid";
  pod["metadata"]["resourceVersion"] = "77";
  pod["metadata"]["creationTimestamp"] = "2026-11-28T10:00:00Z";
  if (deleting) pod["metadata"]["deletionTimestamp"] = "2026-11-28T10:05:00Z";
  pod["metadata"]["managedFields"] = Json::array();
  for (const char* manager : {"llamafactory-operator", "kube-scheduler", "kubelet"}) {
    pod["metadata"]["managedFields"].push_back(
        {{"manager", manager},
         {"operation", "Update"},
         {"fieldsV1", {{"f:metadata", {{"f:labels", {{"f:a", Json::object()}}}}}}}});
  }
  pod["spec"]["nodeName"] = "kwok-node-3";
  pod["spec"]["dnsPolicy"] = "ClusterFirst";
  pod["status"] = status;
  pod["status"]["hostIP"] = "10.0.0.3";
  pod["status"]["podIP"] = "10.244.0.9";
  pod["status"]["qosClass"] = "Burstable";
  return pod;
}

Json cached(Json object, const kube::Transform& transform) {
  transform(object);
  return object;
}

TEST(PodCache, ObservePodSeesTheSameThroughTheTransform) {
  const std::vector<Json> statuses = {
      Json::object(),
      Json::parse(R"({"phase": "Pending", "conditions": [{"type": "PodScheduled",
        "status": "False", "reason": "Unschedulable", "message": "0/3 nodes",
        "lastProbeTime": null, "lastTransitionTime": "t"}]})"),
      Json::parse(R"({"phase": "Pending", "containerStatuses": [{"name": "llamafactory",
        "image": "img:1", "imageID": "", "ready": false, "restartCount": 0,
        "state": {"waiting": {"reason": "ImagePullBackOff", "message": "back-off"}}}]})"),
      Json::parse(R"({"phase": "Running", "startTime": "t", "conditions": [
        {"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
        "containerStatuses": [{"name": "llamafactory", "image": "img:1", "ready": true,
        "state": {"running": {"startedAt": "t"}}, "lastState": {}}]})"),
      Json::parse(R"({"phase": "Failed", "containerStatuses": [{"name": "llamafactory",
        "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "message": "m",
                                 "startedAt": "t", "finishedAt": "t"}}}]})"),
      Json::parse(R"({"phase": "Failed", "reason": "Evicted", "message": "low on memory"})"),
      Json::parse(R"({"phase": "Succeeded", "containerStatuses": [{"name": "llamafactory",
        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]})"),
  };
  for (const bool faulted : {false, true}) {
    for (const bool deleting : {false, true}) {
      for (const Json& status : statuses) {
        Json full = served_pod(status, deleting);
        // The device plugin's chip-fault annotation survives the transform.
        if (faulted) {
          full["metadata"]["annotations"][labels::kNpuFault] =
              R"({"chips":["Ascend910-3"],"node":"kwok-node-3","reason":"r","time":"t"})";
        }
        const Json small = cached(full, pod_cache_transform());
        EXPECT_EQ(observe_pod(small), observe_pod(full)) << status.dump();
        EXPECT_EQ(kube::controller_owner_key(small, kJobs), "team/sft");
        EXPECT_EQ(kube::object_key(small), kube::object_key(full));
        EXPECT_EQ(kube::resource_version(small), "77");
        EXPECT_EQ(small["metadata"]["labels"], full["metadata"]["labels"]);
        EXPECT_EQ(small["metadata"]["ownerReferences"], full["metadata"]["ownerReferences"]);
        EXPECT_FALSE(small.contains("spec"));
        EXPECT_FALSE(small["metadata"].contains("managedFields"));
        // What is left is a fraction of the object.
        EXPECT_LT(small.dump().size() * 3, full.dump().size()) << small.dump(2);
        EXPECT_EQ(observe_pod(small).fault.has_value(), faulted);
        // Of the Pod's annotations only that one is cached.
        EXPECT_EQ(small["metadata"].value("annotations", Json::object()).size(), faulted ? 1U : 0U)
            << small.dump(2);
      }
    }
  }
}

TEST(ChildCache, KeepsTheOwnerAndTheSpecHash) {
  std::vector<Json> children = {build_headless_service(job()), build_service(job())};
  if (auto cm = build_config_map(job())) children.push_back(*cm);
  for (Json full : children) {
    full["metadata"]["annotations"][labels::kSpecHash] = "0123456789abcdef";
    full["metadata"]["annotations"]["other"] = "x";
    full["metadata"]["uid"] = "child-uid";
    full["metadata"]["resourceVersion"] = "5";
    full["metadata"]["managedFields"] = Json::array({{{"manager", "llamafactory-operator"}}});
    const Json small = cached(full, child_cache_transform());
    EXPECT_EQ(small["metadata"]["annotations"], (Json{{labels::kSpecHash, "0123456789abcdef"}}));
    EXPECT_EQ(small["metadata"]["ownerReferences"], full["metadata"]["ownerReferences"]);
    EXPECT_EQ(small["metadata"]["labels"], full["metadata"]["labels"]);
    EXPECT_EQ(kube::controller_owner_key(small, kJobs), "team/sft");
    EXPECT_EQ(kube::object_key(small), kube::object_key(full));
    EXPECT_FALSE(small.contains("spec"));
    EXPECT_FALSE(small.contains("data"));
    EXPECT_FALSE(small["metadata"].contains("managedFields"));
  }
}

TEST(JobCache, KeepsSpecAndStatusDropsManagedFieldsAndLastApplied) {
  const Json full = job_object();
  const Json small = cached(full, job_cache_transform());
  Json expected = full;
  expected["metadata"].erase("managedFields");
  expected["metadata"]["annotations"].erase("kubectl.kubernetes.io/last-applied-configuration");
  EXPECT_EQ(small, expected);
  const auto parsed = parse_job(small);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed.value().spec.nodes, 2);
  EXPECT_EQ(parsed.value().status.restarts, 1);
  EXPECT_EQ(parsed.value().resource_version, "41");

  Json only_last_applied = full;
  only_last_applied["metadata"]["annotations"].erase("note");
  EXPECT_FALSE(
      cached(only_last_applied, job_cache_transform())["metadata"].contains("annotations"));
}

}  // namespace
}  // namespace ascend::op
