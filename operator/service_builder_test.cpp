#include "operator/service_builder.hpp"

#include <gtest/gtest.h>

namespace ascend::op {
namespace {

Job job() {
  Job j;
  j.ns = "team";
  j.name = "sft";
  j.uid = "u";
  j.spec.master_port = 29501;
  j.spec.service_type = "NodePort";
  return j;
}

TEST(ServiceBuilder, HeadlessRendezvousService) {
  const Json svc = build_headless_service(job());
  EXPECT_EQ(svc["metadata"]["name"], "sft-workers");
  EXPECT_EQ(svc["metadata"]["namespace"], "team");
  EXPECT_EQ(svc["metadata"]["labels"]["ascendfactory.io/job-name"], "sft");
  EXPECT_EQ(svc["metadata"]["ownerReferences"][0]["uid"], "u");
  EXPECT_EQ(svc["spec"]["clusterIP"], "None");
  EXPECT_EQ(svc["spec"]["publishNotReadyAddresses"], true);
  EXPECT_EQ(svc["spec"]["selector"], Json({{"ascendfactory.io/job-name", "sft"}}));
  EXPECT_EQ(svc["spec"]["ports"][0]["port"], 29501);
}

TEST(ServiceBuilder, WorkloadServiceExposesRankZero) {
  const Json svc = build_service(job());
  EXPECT_EQ(svc["metadata"]["name"], "sft");
  EXPECT_EQ(svc["spec"]["type"], "NodePort");
  EXPECT_EQ(svc["spec"]["selector"]["ascendfactory.io/node-rank"], "0");
  ASSERT_EQ(svc["spec"]["ports"].size(), 2U);
  EXPECT_EQ(svc["spec"]["ports"][0]["name"], "webui");
  EXPECT_EQ(svc["spec"]["ports"][0]["port"], 7860);
  EXPECT_EQ(svc["spec"]["ports"][0]["targetPort"], "webui");
  EXPECT_EQ(svc["spec"]["ports"][1]["name"], "api");
  EXPECT_EQ(svc["spec"]["ports"][1]["port"], 8000);
}

}  // namespace
}  // namespace ascend::op
