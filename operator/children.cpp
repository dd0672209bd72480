#include "operator/children.hpp"

#include "kube/object_meta.hpp"

namespace ascend::op {

std::string pod_name(const std::string& job, int rank) {
  return job + "-worker-" + std::to_string(rank);
}

std::string headless_service_name(const std::string& job) {
  return job + "-workers";
}

std::string service_name(const std::string& job) {
  return job;
}

std::string config_map_name(const std::string& job) {
  return job + "-config";
}

bool needs_rendezvous_service(const Job& job) {
  return job.spec.mode == Mode::kTrain && job.spec.nodes > 1;
}

bool needs_serving_service(const Job& job) {
  return job.spec.mode == Mode::kWebui || job.spec.mode == Mode::kApi ||
         job.spec.mode == Mode::kWebchat;
}

std::string master_address(const Job& job) {
  if (job.spec.nodes <= 1) return "127.0.0.1";
  return pod_name(job.name, 0) + "." + headless_service_name(job.name) + "." + job.ns + ".svc";
}

std::string service_url(const Job& job, int port) {
  return "http://" + service_name(job.name) + "." + job.ns + ".svc:" + std::to_string(port);
}

Json owner_reference(const Job& job) {
  return kube::controller_owner_reference(kJobs, job.name, job.uid);
}

Json child_labels(const Job& job) {
  return Json{{labels::kJobName, job.name}, {labels::kManagedBy, labels::kManagedByValue}};
}

Json child_metadata(const Job& job, const std::string& name) {
  return Json{{"name", name},
              {"namespace", job.ns},
              {"labels", child_labels(job)},
              {"ownerReferences", Json::array({owner_reference(job)})}};
}

}  // namespace ascend::op
