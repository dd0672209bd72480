// The reconciler's Kueue path against kube's fake API server: which requests a queued job's
// reconciles send (the Workload, no Pods until admitted, the flavor's placement, an eviction,
// a restarted operator), with the caches filled by hand as the informers would.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "kube/testing/fake_apiserver.hpp"
#include "operator/pod_builder.hpp"
#include "operator/reconciler.hpp"

namespace ascend::op {
namespace {

using kube::testing::FakeApiServer;
using kube::testing::FakeRequest;
using kube::testing::FakeResponse;

const std::string kJobPath = "/apis/ascendfactory.io/v1alpha1/namespaces/ns/llamafactoryjobs/j";
const std::string kPods = "/api/v1/namespaces/ns/pods";
const std::string kWorkloads = "/apis/kueue.x-k8s.io/v1beta2/namespaces/ns/workloads";

Json queued_job(const std::string& rv, const Json& status = nullptr) {
  Json o = {{"apiVersion", "ascendfactory.io/v1alpha1"},
            {"kind", "LlamaFactoryJob"},
            {"metadata",
             {{"name", "j"},
              {"namespace", "ns"},
              {"uid", "job-uid"},
              {"generation", 1},
              {"resourceVersion", rv},
              {"labels", {{"kueue.x-k8s.io/queue-name", "team"}}}}},
            {"spec",
             {{"mode", "train"},
              {"nodes", 2},
              {"npusPerNode", 8},
              {"configMapRef", {{"name", "recipe"}}},
              {"runPolicy", {{"restartPolicy", "OnFailure"}, {"maxRestarts", 3}}}}}};
  if (!status.is_null()) o["status"] = status;
  return o;
}

Json condition(const std::string& type, const std::string& status, const std::string& reason,
               const std::string& message = "m") {
  return {{"type", type},
          {"status", status},
          {"reason", reason},
          {"message", message},
          {"lastTransitionTime", "2026-01-01T00:00:00Z"}};
}

class ReconcilerKueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.start().ok());
    const auto echo = [](int code) {
      return [code](const FakeRequest& r) {
        Json body = Json::parse(r.body);
        body["metadata"]["resourceVersion"] = "11";
        body["metadata"]["uid"] = "created-uid";
        return FakeResponse::json(body, code);
      };
    };
    server_.route("POST", "/api/v1/namespaces/ns/services", echo(201));
    server_.route("PUT", kJobPath + "/status", echo(200));
    server_.route("POST", kPods, echo(201));
    server_.route("POST", kWorkloads, echo(201));
    for (const char* pod : {"j-worker-0", "j-worker-1"}) {
      server_.route("DELETE", kPods + "/" + pod, [](const FakeRequest&) {
        return FakeResponse::json({{"kind", "Status"}, {"status", "Success"}});
      });
    }
    kube::Config config;
    config.server = server_.url();
    config.token = "t";
    kube::ClientOptions client_options;
    client_options.qps = 0;
    auto client = kube::Client::from_config(config, client_options);
    ASSERT_TRUE(client.ok()) << client.error().to_string();
    client_ = client.value();
    ReconcilerOptions options;
    options.clock = clock_;
    options.pods.default_image = "llamafactory:test";
    reconciler_ = std::make_unique<Reconciler>(client_, caches_, nullptr, options);
  }
  void TearDown() override {
    if (client_) client_->shutdown();
    server_.stop();
  }
  std::vector<Json> bodies(const std::string& method, const std::string& path) const {
    std::vector<Json> out;
    for (const auto& r : server_.requests()) {
      if (r.method == method && r.path == path) out.push_back(Json::parse(r.body));
    }
    return out;
  }
  int count(const std::string& method, const std::string& path) const {
    int n = 0;
    for (const auto& r : server_.requests())
      n += r.method == method && r.path == path ? 1 : 0;
    return n;
  }
  /// The job after a first reconcile, its status as written, cached at resourceVersion 11;
  /// the Workload it created cached too, with `status`.
  Json cached_after_first_reconcile(const Json& workload_status) {
    caches_.jobs->apply(queued_job("10"));
    reconciler_->reconcile("ns/j");
    Json job = bodies("PUT", kJobPath + "/status").back();
    job["metadata"]["resourceVersion"] = "11";
    caches_.jobs->apply(job);
    Json workload = bodies("POST", kWorkloads).back();
    workload["metadata"]["uid"] = "wl-uid";
    workload["metadata"]["resourceVersion"] = "20";
    workload["status"] = workload_status;
    caches_.workloads->apply(workload);
    return job;
  }
  std::string workload_path() const {
    Job job = parse_job(queued_job("1")).value();
    return kWorkloads + "/" + workload_name(job);
  }

  FakeApiServer server_;
  kube::ClientPtr client_;
  std::shared_ptr<kube::FakeClock> clock_ = std::make_shared<kube::FakeClock>();
  JobCaches caches_{std::make_shared<kube::Store>(), std::make_shared<kube::Store>(),
                    std::make_shared<kube::Store>(), std::make_shared<kube::Store>(),
                    std::make_shared<kube::Store>(), std::make_shared<kube::Store>()};
  std::unique_ptr<Reconciler> reconciler_;
};

TEST_F(ReconcilerKueueTest, AQueuedJobGetsAWorkloadAndNoPods) {
  caches_.jobs->apply(queued_job("10"));
  reconciler_->reconcile("ns/j");
  ASSERT_EQ(count("POST", kWorkloads), 1);
  const Json wl = bodies("POST", kWorkloads).back();
  EXPECT_EQ(wl["spec"]["queueName"], "team");
  EXPECT_EQ(wl["spec"]["podSets"][0]["count"], 2);
  EXPECT_EQ(wl["metadata"]["ownerReferences"][0]["uid"], "job-uid");
  EXPECT_EQ(count("POST", kPods), 0) << "no Pod before admission";
  const Json status = bodies("PUT", kJobPath + "/status").back()["status"];
  EXPECT_EQ(status["phase"], "Queued");
  EXPECT_EQ(status["queue"]["name"], "team");
}

TEST_F(ReconcilerKueueTest, ARestartedOperatorFindsItsWorkloadInsteadOfMakingASecond) {
  // The Workload cache is empty (a new process) but the Workload exists.
  caches_.jobs->apply(queued_job("10"));
  const Job job = parse_job(queued_job("10")).value();
  PodBuilderOptions pods;
  pods.default_image = "llamafactory:test";
  Json existing = build_workload(job, build_pod(job, 0, 0, pods), std::nullopt);
  existing["metadata"]["uid"] = "wl-uid";
  server_.script("POST", kWorkloads,
                 {FakeResponse::failure(409, "AlreadyExists", "workloads already exists")});
  server_.route("GET", workload_path(),
                [existing](const FakeRequest&) { return FakeResponse::json(existing); });
  reconciler_->reconcile("ns/j");
  EXPECT_EQ(count("POST", kWorkloads), 1);
  EXPECT_EQ(count("GET", workload_path()), 1);
  EXPECT_EQ(count("POST", kPods), 0);
  EXPECT_EQ(count("DELETE", workload_path()), 0) << "it is this job's, and fits it";
}

TEST_F(ReconcilerKueueTest, AResizedJobsWorkloadIsMadeAgain) {
  cached_after_first_reconcile(Json::object());
  Json resized = queued_job("12", caches_.jobs->get("ns/j")->at("status"));
  resized["spec"]["nodes"] = 1;
  caches_.jobs->apply(resized);
  server_.route("DELETE", workload_path(), [](const FakeRequest&) {
    return FakeResponse::json({{"kind", "Status"}, {"status", "Success"}});
  });
  reconciler_->reconcile("ns/j");
  EXPECT_EQ(count("DELETE", workload_path()), 1);
  EXPECT_EQ(count("POST", kPods), 0);
  caches_.workloads->remove(
      {{"metadata",
        {{"name", workload_path().substr(kWorkloads.size() + 1)}, {"namespace", "ns"}}}});
  Json written = bodies("PUT", kJobPath + "/status").back();
  written["metadata"]["resourceVersion"] = "13";
  caches_.jobs->apply(written);
  reconciler_->reconcile("ns/j");
  ASSERT_EQ(count("POST", kWorkloads), 2);
  EXPECT_EQ(bodies("POST", kWorkloads).back()["spec"]["podSets"][0]["count"], 1);
}

TEST_F(ReconcilerKueueTest, AdmittedRanksGoToTheFlavorsNodes) {
  caches_.flavors->apply({{"metadata", {{"name", "pool-b"}}},
                          {"spec",
                           {{"nodeLabels", {{"npu-pool", "b"}}},
                            {"tolerations", {{{"key", "npu"}, {"operator", "Exists"}}}}}}});
  cached_after_first_reconcile(
      {{"conditions",
        {condition("QuotaReserved", "True", "QuotaReserved"),
         condition("Admitted", "True", "Admitted")}},
       {"admission",
        {{"clusterQueue", "cq"},
         {"podSetAssignments",
          {{{"name", "main"}, {"flavors", {{"huawei.com/Ascend910", "pool-b"}}}}}}}}});
  reconciler_->reconcile("ns/j");
  const auto pods = bodies("POST", kPods);
  ASSERT_EQ(pods.size(), 2U) << "every rank at once";
  for (const auto& pod : pods) {
    EXPECT_EQ(pod["spec"]["nodeSelector"]["npu-pool"], "b");
    EXPECT_EQ(pod["spec"]["tolerations"][0]["key"], "npu");
  }
  const Json status = bodies("PUT", kJobPath + "/status").back()["status"];
  EXPECT_EQ(status["queue"]["clusterQueue"], "cq");
}

TEST_F(ReconcilerKueueTest, AnEvictionDeletesThePodsThenHandsTheAdmissionBack) {
  Json evicted = {{"conditions",
                   {condition("QuotaReserved", "True", "QuotaReserved"),
                    condition("Admitted", "True", "Admitted"),
                    condition("Evicted", "True", "Preempted", "higher priority")}},
                  {"admission",
                   {{"clusterQueue", "cq"},
                    {"podSetAssignments",
                     {{{"name", "main"}, {"flavors", {{"huawei.com/Ascend910", "a"}}}}}}}}};
  Json job = cached_after_first_reconcile(evicted);
  for (int rank = 0; rank < 2; ++rank) {
    Json pod = {{"metadata",
                 {{"name", "j-worker-" + std::to_string(rank)},
                  {"namespace", "ns"},
                  {"uid", "pod-" + std::to_string(rank)},
                  {"labels",
                   {{"ascendfactory.io/job-name", "j"},
                    {"ascendfactory.io/node-rank", std::to_string(rank)},
                    {"ascendfactory.io/attempt", "0"}}},
                  {"ownerReferences",
                   {{{"kind", "LlamaFactoryJob"}, {"uid", "job-uid"}, {"controller", true}}}}}},
                {"status", {{"phase", "Running"}}}};
    caches_.pods->apply(pod);
  }
  server_.route("PUT", workload_path() + "/status",
                [](const FakeRequest& r) { return FakeResponse::json(Json::parse(r.body)); });
  reconciler_->reconcile("ns/j");
  EXPECT_EQ(count("DELETE", kPods + "/j-worker-0"), 1);
  EXPECT_EQ(count("DELETE", kPods + "/j-worker-1"), 1);
  const Json status = bodies("PUT", kJobPath + "/status").back()["status"];
  EXPECT_EQ(status["phase"], "Queued");
  EXPECT_EQ(status["evictions"], 1);
  EXPECT_EQ(status["restarts"], 0);
  EXPECT_EQ(count("PUT", workload_path() + "/status"), 0) << "not while Pods remain";

  // The Pods are gone and the job cache caught up: the admission is handed back.
  for (const char* pod : {"j-worker-0", "j-worker-1"})
    caches_.pods->remove({{"metadata", {{"name", pod}, {"namespace", "ns"}}}});
  Json queued = bodies("PUT", kJobPath + "/status").back();
  queued["metadata"]["resourceVersion"] = "12";
  caches_.jobs->apply(queued);
  reconciler_->reconcile("ns/j");
  ASSERT_EQ(count("PUT", workload_path() + "/status"), 1);
  const Json handed = bodies("PUT", workload_path() + "/status").back();
  EXPECT_FALSE(handed["status"].contains("admission"));
  EXPECT_EQ(bodies("PUT", kJobPath + "/status").back()["status"]["evictions"], 1)
      << "the same eviction is not counted twice";
}

}  // namespace
}  // namespace ascend::op
