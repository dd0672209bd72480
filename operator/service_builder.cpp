#include "operator/service_builder.hpp"

#include "operator/pod_builder.hpp"

namespace ascend::op {

namespace {

Json metadata(const Job& job, const std::string& name) {
  return Json{
      {"name", name},
      {"namespace", job.ns},
      {"labels", {{labels::kJobName, job.name}, {labels::kManagedBy, labels::kManagedByValue}}},
      {"ownerReferences", Json::array({owner_reference(job)})}};
}

}  // namespace

Json build_headless_service(const Job& job) {
  Json spec = {{"clusterIP", "None"},
               {"publishNotReadyAddresses", true},
               {"selector", {{labels::kJobName, job.name}}},
               {"ports",
                {{{"name", "rendezvous"},
                  {"port", job.spec.master_port},
                  {"targetPort", job.spec.master_port},
                  {"protocol", "TCP"}}}}};
  return Json{{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", metadata(job, headless_service_name(job.name))},
              {"spec", spec}};
}

Json build_service(const Job& job) {
  Json spec = {{"type", job.spec.service_type},
               {"selector", {{labels::kJobName, job.name}, {labels::kNodeRank, "0"}}},
               {"ports",
                {{{"name", "webui"},
                  {"port", workload::kWebuiPort},
                  {"targetPort", "webui"},
                  {"protocol", "TCP"}},
                 {{"name", "api"},
                  {"port", workload::kApiPort},
                  {"targetPort", "api"},
                  {"protocol", "TCP"}}}}};
  return Json{{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", metadata(job, job.name)},
              {"spec", spec}};
}

}  // namespace ascend::op
