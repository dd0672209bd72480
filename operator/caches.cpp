#include "operator/caches.hpp"

#include "operator/contract.hpp"
#include "operator/job.hpp"

namespace ascend::op {

kube::Transform job_cache_transform() {
  return [](Json& object) {
    kube::strip_managed_fields(object);
    if (!object.is_object() || !object.contains("metadata")) return;
    Json& metadata = object.at("metadata");
    if (!metadata.is_object() || !metadata.contains("annotations")) return;
    Json& annotations = metadata.at("annotations");
    if (!annotations.is_object()) return;
    annotations.erase("kubectl.kubernetes.io/last-applied-configuration");
    if (annotations.empty()) metadata.erase("annotations");
  };
}

kube::Transform pod_cache_transform() {
  return kube::keep_only({{"metadata", "labels"},
                          {"metadata", "ownerReferences"},
                          {"metadata", "deletionTimestamp"},
                          {"metadata", "annotations", labels::kNpuFault},
                          {"status", "phase"},
                          {"status", "reason"},
                          {"status", "message"},
                          {"status", "conditions", "type"},
                          {"status", "conditions", "status"},
                          {"status", "conditions", "reason"},
                          {"status", "conditions", "message"},
                          {"status", "containerStatuses", "name"},
                          {"status", "containerStatuses", "state"}});
}

kube::Transform child_cache_transform() {
  return kube::keep_only({{"metadata", "labels"},
                          {"metadata", "ownerReferences"},
                          {"metadata", "deletionTimestamp"},
                          {"metadata", "annotations", labels::kSpecHash}});
}

}  // namespace ascend::op
