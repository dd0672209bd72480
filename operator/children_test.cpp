#include "operator/children.hpp"

#include <gtest/gtest.h>

namespace ascend::op {
namespace {

Job job_named(const std::string& ns, const std::string& name) {
  Job job;
  job.ns = ns;
  job.name = name;
  job.uid = "uid-7";
  return job;
}

TEST(Children, NamesDeriveFromTheJobName) {
  EXPECT_EQ(pod_name("sft", 0), "sft-worker-0");
  EXPECT_EQ(pod_name("sft", 12), "sft-worker-12");
  EXPECT_EQ(headless_service_name("sft"), "sft-workers");
  EXPECT_EQ(service_name("sft"), "sft");
  EXPECT_EQ(config_map_name("sft"), "sft-config");
}

TEST(Children, AddressesResolveThroughTheServices) {
  Job job = job_named("team", "sft");
  job.spec.nodes = 2;
  EXPECT_EQ(master_address(job), "sft-worker-0.sft-workers.team.svc")
      << "rank 0 as hostname.subdomain.namespace.svc";
  job.spec.nodes = 1;
  EXPECT_EQ(master_address(job), "127.0.0.1") << "one rank meets itself, no Service needed";
  EXPECT_EQ(service_url(job, workload::kWebuiPort), "http://sft.team.svc:7860");
  EXPECT_EQ(service_url(job, workload::kApiPort), "http://sft.team.svc:8000");
}

TEST(Children, OnlyTheServicesAJobUses) {
  Job job = job_named("team", "sft");
  struct Case {
    Mode mode;
    int nodes;
    bool rendezvous;
    bool serving;
  };
  for (const Case c : {Case{Mode::kTrain, 1, false, false}, Case{Mode::kTrain, 2, true, false},
                       Case{Mode::kTrain, 8, true, false}, Case{Mode::kExport, 1, false, false},
                       Case{Mode::kWebui, 1, false, true}, Case{Mode::kApi, 1, false, true},
                       Case{Mode::kWebchat, 1, false, true}}) {
    job.spec.mode = c.mode;
    job.spec.nodes = c.nodes;
    EXPECT_EQ(needs_rendezvous_service(job), c.rendezvous) << mode_name(c.mode) << " " << c.nodes;
    EXPECT_EQ(needs_serving_service(job), c.serving) << mode_name(c.mode) << " " << c.nodes;
  }
}

TEST(Children, OwnerReferenceMakesTheJobTheController) {
  EXPECT_EQ(owner_reference(job_named("team", "sft")), Json::parse(R"({
    "apiVersion": "ascendfactory.io/v1alpha1", "kind": "LlamaFactoryJob", "name": "sft",
    "uid": "uid-7", "controller": true, "blockOwnerDeletion": true})"));
}

TEST(Children, MetadataCarriesTheCommonLabelsAndOneOwner) {
  const Job job = job_named("team", "sft");
  const Json m = child_metadata(job, "sft-config");
  EXPECT_EQ(m["name"], "sft-config");
  EXPECT_EQ(m["namespace"], "team");
  EXPECT_EQ(m["labels"], Json::parse(R"({"ascendfactory.io/job-name": "sft",
                                         "app.kubernetes.io/managed-by": "llamafactory-operator"})"));
  EXPECT_EQ(m["labels"], child_labels(job));
  EXPECT_EQ(m["ownerReferences"], Json::array({owner_reference(job)}));
}

}  // namespace
}  // namespace ascend::op
