#include "operator/workload.hpp"

#include <gtest/gtest.h>

#include "operator/pod_builder.hpp"

namespace ascend::op {
namespace {

Job queued_job(int nodes = 2) {
  auto parsed = parse_job(Json::parse(R"({
    "apiVersion": "ascendfactory.io/v1alpha1", "kind": "LlamaFactoryJob",
    "metadata": {"name": "sft", "namespace": "team", "uid": "uid-1", "generation": 1,
                 "labels": {"kueue.x-k8s.io/queue-name": "team-queue"}},
    "spec": {"mode": "train", "image": "lf:1", "npusPerNode": 8,
             "config": {"stage": "sft"}, "nodeSelector": {"pool": "npu"}}})"));
  EXPECT_TRUE(parsed.ok()) << parsed.error().message;
  Job job = parsed.value();
  job.spec.nodes = nodes;
  return job;
}

Json workload_with(const Json& status) {
  Job job = queued_job();
  Json wl = build_workload(job, build_pod(job, 0, 0, {}), std::nullopt);
  wl["metadata"]["uid"] = "wl-uid";
  wl["metadata"]["generation"] = 1;
  wl["status"] = status;
  return wl;
}

Json cond(const std::string& type, const std::string& status, const std::string& reason = "R",
          const std::string& message = "", const std::string& time = "2026-01-01T00:00:00Z") {
  return {{"type", type},
          {"status", status},
          {"reason", reason},
          {"message", message},
          {"lastTransitionTime", time}};
}

Json admitted_status(const Json& flavors) {
  return {{"conditions",
           {cond("QuotaReserved", "True", "QuotaReserved"), cond("Admitted", "True", "Admitted")}},
          {"admission",
           {{"clusterQueue", "cq"},
            {"podSetAssignments", {{{"name", "main"}, {"flavors", flavors}, {"count", 2}}}}}}};
}

TEST(Workload, ParsesQueueAndPriorityLabels) {
  Job job = queued_job();
  EXPECT_EQ(job.queue_name, "team-queue");
  EXPECT_EQ(job.priority_class, "");
}

TEST(Workload, NameIsDeterministicAndDiffersPerIncarnation) {
  Job job = queued_job();
  const std::string name = workload_name(job);
  EXPECT_EQ(name, workload_name(job));
  EXPECT_EQ(name.rfind("sft-", 0), 0U);
  EXPECT_EQ(name.size(), std::string("sft-").size() + 8);
  job.uid = "uid-2";
  EXPECT_NE(workload_name(job), name) << "a job created again under the same name";
}

TEST(Workload, OnePodSetOfNodesPodsShapedLikeARank) {
  const Job job = queued_job(2);
  const Json pod = build_pod(job, 0, 0, {});
  const Json wl = build_workload(job, pod, std::nullopt);
  EXPECT_EQ(wl["apiVersion"], "kueue.x-k8s.io/v1beta2");
  EXPECT_EQ(wl["kind"], "Workload");
  EXPECT_EQ(wl["metadata"]["namespace"], "team");
  EXPECT_EQ(wl["metadata"]["name"], workload_name(job));
  EXPECT_EQ(wl["metadata"]["labels"]["ascendfactory.io/job-name"], "sft");
  const Json& owner = wl["metadata"]["ownerReferences"][0];
  EXPECT_EQ(owner["kind"], "LlamaFactoryJob");
  EXPECT_EQ(owner["uid"], "uid-1");
  EXPECT_EQ(owner["controller"], true);
  EXPECT_EQ(wl["spec"]["queueName"], "team-queue");
  ASSERT_EQ(wl["spec"]["podSets"].size(), 1U);
  const Json& set = wl["spec"]["podSets"][0];
  EXPECT_EQ(set["name"], "main");
  EXPECT_EQ(set["count"], 2);
  EXPECT_EQ(set["template"]["spec"], pod["spec"]);
  EXPECT_EQ(
      set["template"]["spec"]["containers"][0]["resources"]["requests"]["huawei.com/Ascend910"],
      "8");
  EXPECT_EQ(set["template"]["metadata"]["labels"], pod["metadata"]["labels"]);
  EXPECT_FALSE(set["template"]["metadata"].contains("ownerReferences"));
  EXPECT_FALSE(wl["spec"].contains("priorityClassRef"));
  EXPECT_FALSE(wl["spec"].contains("priority"));
  EXPECT_FALSE(workload_hash(wl).empty());
}

TEST(Workload, PriorityClassRefAndValue) {
  Job job = queued_job();
  job.priority_class = "high";
  const Json wl = build_workload(job, build_pod(job, 0, 0, {}), 1000);
  EXPECT_EQ(
      wl["spec"]["priorityClassRef"],
      (Json{{"group", "kueue.x-k8s.io"}, {"kind", "WorkloadPriorityClass"}, {"name", "high"}}));
  EXPECT_EQ(wl["spec"]["priority"], 1000);
}

TEST(Workload, HashFollowsSizeAndQueueButNotPriorityValue) {
  Job job = queued_job(2);
  const std::string h = workload_hash(build_workload(job, build_pod(job, 0, 0, {}), 5));
  EXPECT_EQ(h, workload_hash(build_workload(job, build_pod(job, 0, 0, {}), 7)))
      << "Kueue rewrites spec.priority itself";
  Job bigger = job;
  bigger.spec.nodes = 3;
  EXPECT_NE(h, workload_hash(build_workload(bigger, build_pod(bigger, 0, 0, {}), 5)));
  Job more_npus = job;
  more_npus.spec.npus_per_node = 4;
  EXPECT_NE(h, workload_hash(build_workload(more_npus, build_pod(more_npus, 0, 0, {}), 5)));
  Job other_queue = job;
  other_queue.queue_name = "other";
  EXPECT_NE(h, workload_hash(build_workload(other_queue, build_pod(other_queue, 0, 0, {}), 5)));
}

TEST(Workload, NewWorkloadWaits) {
  const Job job = queued_job();
  const QueueGate gate = queue_gate(job, view_workload(workload_with(Json::object())));
  EXPECT_FALSE(gate.admitted);
  EXPECT_EQ(gate.reason, "Pending");
  EXPECT_EQ(gate.queue, "team-queue");
  EXPECT_EQ(gate.workload, workload_name(job));
  EXPECT_NE(gate.message.find("waits for Kueue"), std::string::npos) << gate.message;
}

TEST(Workload, KueuesOwnReasonWhyItWaits) {
  const Json status = {
      {"conditions",
       {cond("QuotaReserved", "False", "Inadmissible", "LocalQueue team-queue doesn't exist")}}};
  const QueueGate gate = queue_gate(queued_job(), view_workload(workload_with(status)));
  EXPECT_FALSE(gate.admitted);
  EXPECT_EQ(gate.reason, "Inadmissible");
  EXPECT_EQ(gate.message, "LocalQueue team-queue doesn't exist");
}

TEST(Workload, AdmittedWithItsFlavors) {
  const WorkloadView view = view_workload(workload_with(admitted_status(
      {{"huawei.com/Ascend910", "pool-b"}, {"cpu", "pool-b"}, {"memory", "default"}})));
  EXPECT_TRUE(view.admitted);
  EXPECT_TRUE(view.quota_reserved);
  EXPECT_EQ(view.cluster_queue, "cq");
  EXPECT_EQ(view.flavors.size(), 2U);
  const QueueGate gate = queue_gate(queued_job(), view);
  EXPECT_TRUE(gate.admitted);
  EXPECT_EQ(gate.cluster_queue, "cq");
}

TEST(Workload, QuotaReservedButNotAdmittedWaitsForChecks) {
  Json status = admitted_status({{"huawei.com/Ascend910", "a"}});
  status["conditions"][1] = cond("Admitted", "False", "UnsatisfiedChecks", "");
  const QueueGate gate = queue_gate(queued_job(), view_workload(workload_with(status)));
  EXPECT_FALSE(gate.admitted);
  EXPECT_EQ(gate.reason, "QuotaReserved");
}

TEST(Workload, EvictedIsNotAdmittedEvenWhileStillReserved) {
  Json status = admitted_status({{"huawei.com/Ascend910", "a"}});
  status["conditions"].push_back(cond("Evicted", "True", "Preempted",
                                      "Preempted to accommodate a higher priority Workload",
                                      "2026-01-01T00:05:00Z"));
  const QueueGate gate = queue_gate(queued_job(), view_workload(workload_with(status)));
  EXPECT_FALSE(gate.admitted);
  EXPECT_EQ(gate.reason, "Evicted");
  EXPECT_EQ(gate.eviction_time, "2026-01-01T00:05:00Z");
  EXPECT_EQ(gate.eviction_reason, "Preempted");
}

TEST(Workload, FinishedOrDeletingIsNotAdmitted) {
  Json finished = admitted_status({{"huawei.com/Ascend910", "a"}});
  finished["conditions"].push_back(cond("Finished", "True", "Succeeded"));
  EXPECT_FALSE(queue_gate(queued_job(), view_workload(workload_with(finished))).admitted);
  Json deleting = workload_with(admitted_status({{"huawei.com/Ascend910", "a"}}));
  deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  const QueueGate gate = queue_gate(queued_job(), view_workload(deleting));
  EXPECT_FALSE(gate.admitted);
  EXPECT_EQ(gate.reason, "WorkloadDeleted");
}

TEST(Workload, PlacementFromFlavorsAndAdmissionChecks) {
  Json status = admitted_status({{"huawei.com/Ascend910", "pool-b"}});
  status["admissionChecks"] = {{{"name", "check"},
                                {"podSetUpdates",
                                 {{{"name", "main"},
                                   {"labels", {{"l", "v"}}},
                                   {"annotations", {{"a", "b"}}},
                                   {"nodeSelector", {{"zone", "z1"}}},
                                   {"tolerations", {{{"key", "t2"}, {"operator", "Exists"}}}}},
                                  {{"name", "other"}, {"nodeSelector", {{"ignored", "yes"}}}}}}}};
  const WorkloadView view = view_workload(workload_with(status));
  const auto placed = placement(view, [](const std::string& name) -> std::optional<Json> {
    if (name != "pool-b") return std::nullopt;
    return Json{{"spec",
                 {{"nodeLabels", {{"pool", "b"}}},
                  {"tolerations", {{{"key", "npu"}, {"operator", "Exists"}}}}}}};
  });
  ASSERT_TRUE(placed.ok()) << placed.error().message;
  EXPECT_EQ(placed.value().node_selector,
            (std::map<std::string, std::string>{{"pool", "b"}, {"zone", "z1"}}));
  EXPECT_EQ(placed.value().tolerations.size(), 2U);
  EXPECT_EQ(placed.value().labels.at("l"), "v");
  EXPECT_EQ(placed.value().annotations.at("a"), "b");

  Job job = queued_job();
  Json pod = build_pod(job, 1, 0, {});
  apply_placement(pod, placed.value());
  EXPECT_EQ(pod["spec"]["nodeSelector"]["pool"], "b") << "the flavor's label wins over the job's";
  EXPECT_EQ(pod["spec"]["nodeSelector"]["zone"], "z1");
  EXPECT_EQ(pod["spec"]["tolerations"].size(), 2U);
  EXPECT_EQ(pod["metadata"]["labels"]["l"], "v");
  EXPECT_EQ(pod["metadata"]["labels"]["ascendfactory.io/node-rank"], "1");
  apply_placement(pod, placed.value());
  EXPECT_EQ(pod["spec"]["tolerations"].size(), 2U) << "no duplicate tolerations";
}

TEST(Workload, PlacementErrorsNameTheFlavor) {
  const WorkloadView view =
      view_workload(workload_with(admitted_status({{"huawei.com/Ascend910", "gone"}})));
  const auto missing = placement(view, [](const std::string&) { return std::nullopt; });
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, 404);
  EXPECT_NE(missing.error().message.find("ResourceFlavor gone"), std::string::npos);

  const WorkloadView two =
      view_workload(workload_with(admitted_status({{"huawei.com/Ascend910", "a"}, {"cpu", "b"}})));
  const auto clash = placement(two, [](const std::string& name) -> std::optional<Json> {
    return Json{{"spec", {{"nodeLabels", {{"pool", name}}}}}};
  });
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().code, 409);
}

TEST(Workload, FinishedCondition) {
  const Json wl = finished_workload(workload_with(admitted_status({{"x", "a"}})), true,
                                    "all 2 rank(s) completed", "2026-01-02T00:00:00Z");
  const WorkloadView view = view_workload(wl);
  EXPECT_TRUE(view.finished);
  bool found = false;
  for (const auto& c : wl["status"]["conditions"]) {
    if (c["type"] != "Finished") continue;
    found = true;
    EXPECT_EQ(c["reason"], "Succeeded");
    EXPECT_EQ(c["lastTransitionTime"], "2026-01-02T00:00:00Z");
    EXPECT_EQ(c["observedGeneration"], 1);
  }
  EXPECT_TRUE(found);
  EXPECT_TRUE(wl["status"].contains("admission")) << "a finished Workload keeps its admission";
}

TEST(Workload, RequeuedAfterPreemptionHandsAdmissionBack) {
  Json status = admitted_status({{"huawei.com/Ascend910", "a"}});
  status["conditions"].push_back(cond("Evicted", "True", "Preempted", "by a higher priority"));
  const Json wl = requeued_workload(workload_with(status), "2026-01-02T00:00:00Z");
  EXPECT_FALSE(wl["status"].contains("admission"));
  const WorkloadView view = view_workload(wl);
  EXPECT_FALSE(view.quota_reserved);
  EXPECT_FALSE(view.admitted);
  EXPECT_TRUE(view.evicted) << "Kueue itself clears Evicted when it admits the Workload again";
  for (const auto& c : wl["status"]["conditions"]) {
    if (c["type"] == "Requeued") {
      EXPECT_EQ(c["status"], "True");
    }
    if (c["type"] == "QuotaReserved") {
      EXPECT_EQ(c["status"], "False");
      EXPECT_EQ(c["reason"], "Pending");
      EXPECT_EQ(c["message"], "by a higher priority");
    }
    if (c["type"] == "Admitted") {
      EXPECT_EQ(c["reason"], "NoReservation");
    }
  }
}

}  // namespace
}  // namespace ascend::op
