#include "operator/service_builder.hpp"

#include "operator/children.hpp"

namespace ascend::op {

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
              {"metadata", child_metadata(job, headless_service_name(job.name))},
              {"spec", spec}};
}

Json build_service(const Job& job) {
  Json spec = {{"type", job.spec.service_type},
               {"selector", {{labels::kJobName, job.name}, {labels::kNodeRank, "0"}}},
               {"ports",
                {{{"name", workload::kWebuiPortName},
                  {"port", workload::kWebuiPort},
                  {"targetPort", workload::kWebuiPortName},
                  {"protocol", "TCP"}},
                 {{"name", workload::kApiPortName},
                  {"port", workload::kApiPort},
                  {"targetPort", workload::kApiPortName},
                  {"protocol", "TCP"}}}}};
  return Json{{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", child_metadata(job, service_name(job.name))},
              {"spec", spec}};
}

}  // namespace ascend::op
