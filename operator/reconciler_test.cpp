// The reconciler against kube's fake API server: which requests one reconcile sends, in which
// order, and what it does when the server refuses them. The caches are filled by hand, the way
// the informers would fill them.
#include "operator/reconciler.hpp"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <spdlog/sinks/ostream_sink.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "kube/testing/fake_apiserver.hpp"
#include "operator/caches.hpp"

namespace ascend::op {
namespace {

using kube::testing::FakeApiServer;
using kube::testing::FakeRequest;
using kube::testing::FakeResponse;

const std::string kJobPath = "/apis/ascendfactory.io/v1alpha1/namespaces/ns/llamafactoryjobs/j";
const std::string kPods = "/api/v1/namespaces/ns/pods";
const std::string kConfigMaps = "/api/v1/namespaces/ns/configmaps";
const std::string kServices = "/api/v1/namespaces/ns/services";

Json job_object(int nodes, const std::string& rv, const Json& status = nullptr) {
  Json o = {{"apiVersion", "ascendfactory.io/v1alpha1"},
            {"kind", "LlamaFactoryJob"},
            {"metadata",
             {{"name", "j"},
              {"namespace", "ns"},
              {"uid", "job-uid"},
              {"generation", 1},
              {"resourceVersion", rv}}},
            {"spec",
             {{"mode", "train"},
              {"nodes", nodes},
              {"npusPerNode", 8},
              {"config", {{"model_name_or_path", "Qwen/Qwen2.5-7B"}, {"stage", "sft"}}},
              {"runPolicy", {{"restartPolicy", "OnFailure"}, {"maxRestarts", 3}}}}}};
  if (!status.is_null()) o["status"] = status;
  return o;
}

/// A job whose earlier status (written at `t0`) says `phase` and holds `ranks`, with a
/// persistent output (so no emptyDir warning comes on top).
Json job_with_status(const std::string& phase, const std::string& t0, const Json& ranks,
                     const Json& extra = Json::object()) {
  const Json created = {{"type", "Created"},       {"status", "True"},
                        {"reason", "JobCreated"},  {"message", "1 rank(s) of 8 NPU(s), mode train"},
                        {"observedGeneration", 1}, {"lastTransitionTime", t0}};
  Json status = {{"phase", phase}, {"startTime", t0},         {"rankAttempts", {0}},
                 {"ranks", ranks}, {"conditions", {created}}, {"observedGeneration", 1}};
  status.update(extra);
  Json job = job_object(1, "11", status);
  job["spec"]["storage"]["output"] = {{"hostPath", {{"path", "/data/out"}}}};
  return job;
}

/// `pod` as created, with a uid and the given phase (and exit code for a failure).
Json with_state(Json pod, const std::string& uid, const std::string& phase, int exit_code = 0) {
  pod["metadata"]["uid"] = uid;
  pod["metadata"]["resourceVersion"] = "50";
  pod["status"]["phase"] = phase;
  if (phase == "Failed") {
    pod["status"]["containerStatuses"] = {
        {{"name", "llamafactory"},
         {"state", {{"terminated", {{"exitCode", exit_code}, {"reason", "Error"}}}}}}};
  }
  return pod;
}

class ReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.start().ok());
    // Writes answer with what they were sent (the real server adds more, none of it read).
    const auto echo = [](int code) {
      return [code](const FakeRequest& r) {
        Json body = Json::parse(r.body);
        body["metadata"]["resourceVersion"] = "11";
        return FakeResponse::json(body, code);
      };
    };
    server_.route("POST", kConfigMaps, echo(201));
    server_.route("POST", kServices, echo(201));
    server_.route("PATCH", kConfigMaps + "/j-config", echo(200));
    server_.route("PATCH", kServices + "/j-workers", echo(200));
    server_.route("PATCH", kServices + "/j", echo(200));
    server_.route("PUT", kJobPath + "/status", echo(200));
    server_.route("POST", kPods, echo(201));
    for (const char* pod : {"j-worker-0", "j-worker-1"}) {
      server_.route("DELETE", kPods + "/" + pod, [](const FakeRequest&) {
        return FakeResponse::json({{"kind", "Status"}, {"status", "Success"}});
      });
    }

    kube::Config config;
    config.server = server_.url();
    config.token = "t";
    kube::ClientOptions client_options;
    client_options.qps = 0;  // unlimited
    auto client = kube::Client::from_config(config, client_options);
    ASSERT_TRUE(client.ok()) << client.error().to_string();
    client_ = client.value();

    metrics_ = std::make_shared<JobMetrics>(registry_, "llamafactory_operator");
    ReconcilerOptions options;
    options.clock = clock_;
    options.metrics = metrics_;
    options.pods.default_image = "llamafactory:test";
    reconciler_ = std::make_unique<Reconciler>(client_, caches_, nullptr, options);
  }
  void TearDown() override {
    if (client_) client_->shutdown();
    server_.stop();
  }

  /// The requests since the last call, as "METHOD path".
  std::vector<std::string> take_requests() {
    std::vector<std::string> out;
    const auto all = server_.requests();
    for (std::size_t i = seen_; i < all.size(); ++i)
      out.push_back(all[i].method + " " + all[i].path);
    seen_ = all.size();
    return out;
  }
  /// Bodies of the requests to `method path` so far.
  std::vector<Json> bodies(const std::string& method, const std::string& path) const {
    std::vector<Json> out;
    for (const auto& r : server_.requests()) {
      if (r.method == method && r.path == path) out.push_back(Json::parse(r.body));
    }
    return out;
  }
  /// The ConfigMap and Services created so far, as sent.
  std::vector<Json> created_children() const {
    std::vector<Json> out = bodies("POST", kConfigMaps);
    for (auto& s : bodies("POST", kServices))
      out.push_back(std::move(s));
    return out;
  }
  /// Puts into the caches what the first reconcile of a new job wrote, as the watches would.
  void cache_first_writes() {
    for (const Json& body : created_children())
      (body["kind"] == "ConfigMap" ? caches_.config_maps : caches_.services)->apply(body);
  }

  /// A single-rank job after its first reconcile, with everything it wrote in the caches as
  /// the watches would deliver it (the job at resourceVersion 11) except its Pod; the requests
  /// so far are taken. Returns the job as cached.
  Json first_reconcile_cached() {
    caches_.jobs->apply(job_object(1, "10"));
    reconciler_->reconcile("ns/j");
    cache_first_writes();
    Json job = bodies("PUT", kJobPath + "/status").back();
    job["metadata"]["resourceVersion"] = "11";
    caches_.jobs->apply(job);
    take_requests();
    return job;
  }
  /// Puts the last Pod created into the Pod cache, in `phase` (with `exit_code` if Failed).
  void cache_created_pod(const std::string& phase, int exit_code = 0) {
    caches_.pods->apply(with_state(bodies("POST", kPods).back(), "pod-uid", phase, exit_code));
  }

  FakeApiServer server_;
  kube::ClientPtr client_;
  std::shared_ptr<kube::FakeClock> clock_ = std::make_shared<kube::FakeClock>();
  JobCaches caches_{std::make_shared<kube::Store>(), std::make_shared<kube::Store>(),
                    std::make_shared<kube::Store>(), std::make_shared<kube::Store>()};
  prometheus::Registry registry_;
  JobMetricsPtr metrics_;
  std::unique_ptr<Reconciler> reconciler_;
  std::size_t seen_ = 0;
};

TEST_F(ReconcilerTest, ANewJobGetsItsChildrenThenStatusThenOnePodPerRank) {
  caches_.jobs->apply(job_object(2, "10"));
  const auto result = reconciler_->reconcile("ns/j");
  EXPECT_NE(result.kind, kube::ReconcileResult::Kind::kError) << result.message;
  EXPECT_EQ(take_requests(), (std::vector<std::string>{"POST " + kConfigMaps, "POST " + kServices,
                                                       "PUT " + kJobPath + "/status",
                                                       "POST " + kPods, "POST " + kPods}));
  EXPECT_EQ(bodies("POST", kServices).at(0)["metadata"]["name"], "j-workers")
      << "the ranks' rendezvous Service; a train job serves no ports";

  const Json status = bodies("PUT", kJobPath + "/status").at(0);
  // Optimistic: the write carries the cached version, so a decision from a stale job is refused.
  EXPECT_EQ(status["metadata"]["resourceVersion"], "10");
  EXPECT_EQ(status["status"]["phase"], "Pending");
  EXPECT_EQ(status["status"]["rankAttempts"], Json::array({0, 0}));

  const auto pods = bodies("POST", kPods);
  ASSERT_EQ(pods.size(), 2U);
  for (int rank = 0; rank < 2; ++rank) {
    const Json& pod = pods[static_cast<std::size_t>(rank)];
    EXPECT_EQ(pod["metadata"]["name"], "j-worker-" + std::to_string(rank));
    EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["uid"], "job-uid");
    EXPECT_EQ(pod["spec"]["containers"][0]["image"], "llamafactory:test");
  }
  const auto applied = bodies("POST", kConfigMaps);
  ASSERT_EQ(applied.size(), 1U);
  EXPECT_NE(applied[0]["data"]["config.yaml"].get<std::string>().find("Qwen/Qwen2.5-7B"),
            std::string::npos);
}

TEST_F(ReconcilerTest, EveryLogLineNamesTheControllerAndTheJob) {
  std::ostringstream out;
  ASSERT_TRUE(
      kube::setup_logging({"info", "text"}, std::make_shared<spdlog::sinks::ostream_sink_mt>(out))
          .ok());
  caches_.jobs->apply(job_object(1, "10"));
  reconciler_->reconcile("ns/j");
  ASSERT_TRUE(kube::setup_logging({"info", "text"}).ok());  // before `out` goes

  std::istringstream lines(out.str());
  int count = 0;
  for (std::string line; std::getline(lines, line); ++count) {
    EXPECT_NE(line.find(" controller=lfjob key=ns/j"), std::string::npos) << line;
  }
  EXPECT_EQ(count, 2) << out.str();
  EXPECT_NE(out.str().find(" info phase controller=lfjob key=ns/j from=- to=Pending restarts=0\n"),
            std::string::npos)
      << out.str();
  EXPECT_NE(
      out.str().find(" info created pod controller=lfjob key=ns/j pod=j-worker-0 attempt=0\n"),
      std::string::npos)
      << out.str();
}

TEST_F(ReconcilerTest, WaitsWhileTheJobCacheStillHoldsTheVersionItReplaced) {
  caches_.jobs->apply(job_object(1, "10"));
  reconciler_->reconcile("ns/j");
  take_requests();
  // The watch has not delivered the status write yet: deciding again from version 10 could
  // create Pods twice.
  const auto result = reconciler_->reconcile("ns/j");
  EXPECT_EQ(result.kind, kube::ReconcileResult::Kind::kRequeueAfter);
  EXPECT_TRUE(take_requests().empty());
}

TEST_F(ReconcilerTest, OnceConvergedAReconcileWritesNothing) {
  Json job = first_reconcile_cached();
  cache_created_pod("Running");

  // The Pod runs: one status write (Running), nothing else.
  reconciler_->reconcile("ns/j");
  EXPECT_EQ(take_requests(), (std::vector<std::string>{"PUT " + kJobPath + "/status"}));
  job = bodies("PUT", kJobPath + "/status").back();
  EXPECT_EQ(job["status"]["phase"], "Running");
  job["metadata"]["resourceVersion"] = "12";
  caches_.jobs->apply(job);

  // Nothing changed since: no request at all, even after time passed (timestamps alone are
  // not worth a write).
  clock_->advance(std::chrono::minutes(5));
  const auto result = reconciler_->reconcile("ns/j");
  EXPECT_NE(result.kind, kube::ReconcileResult::Kind::kError) << result.message;
  EXPECT_TRUE(take_requests().empty());
}

TEST_F(ReconcilerTest, ConvergesTheSameThroughTheCacheTransforms) {
  // As OnceConvergedAReconcileWritesNothing, with every object cached the way main.cpp's
  // informers cache it (operator/caches.hpp).
  const auto cache = [](const std::shared_ptr<kube::Store>& store, Json object,
                        const kube::Transform& transform) {
    object["metadata"]["managedFields"] = Json::array({{{"manager", "someone"}}});
    transform(object);
    store->apply(std::move(object));
  };
  cache(caches_.jobs, job_object(1, "10"), job_cache_transform());
  reconciler_->reconcile("ns/j");
  for (const Json& body : created_children()) {
    cache(body["kind"] == "ConfigMap" ? caches_.config_maps : caches_.services, body,
          child_cache_transform());
  }
  Json job = bodies("PUT", kJobPath + "/status").back();
  job["metadata"]["resourceVersion"] = "11";
  cache(caches_.jobs, job, job_cache_transform());
  cache(caches_.pods, with_state(bodies("POST", kPods).back(), "pod-uid", "Running"),
        pod_cache_transform());
  ASSERT_FALSE(caches_.pods->list().front()->contains("spec"));
  take_requests();

  reconciler_->reconcile("ns/j");
  EXPECT_EQ(take_requests(), (std::vector<std::string>{"PUT " + kJobPath + "/status"}));
  job = bodies("PUT", kJobPath + "/status").back();
  EXPECT_EQ(job["status"]["phase"], "Running");
  EXPECT_FALSE(job["metadata"].contains("managedFields")) << "a PUT without them keeps them";
  job["metadata"]["resourceVersion"] = "12";
  cache(caches_.jobs, job, job_cache_transform());

  clock_->advance(std::chrono::minutes(5));
  const auto result = reconciler_->reconcile("ns/j");
  EXPECT_NE(result.kind, kube::ReconcileResult::Kind::kError) << result.message;
  EXPECT_TRUE(take_requests().empty());
}

TEST_F(ReconcilerTest, AStatusConflictCreatesNoPods) {
  server_.script("PUT", kJobPath + "/status",
                 {FakeResponse::failure(409, "Conflict", "the object has been modified")});
  caches_.jobs->apply(job_object(2, "10"));
  const auto result = reconciler_->reconcile("ns/j");
  EXPECT_EQ(result.kind, kube::ReconcileResult::Kind::kRequeueAfter);
  const auto sent = take_requests();
  ASSERT_FALSE(sent.empty());
  EXPECT_EQ(sent.back(), "PUT " + kJobPath + "/status");
  EXPECT_TRUE(bodies("POST", kPods).empty());
}

TEST_F(ReconcilerTest, APodThatAlreadyExistsIsNotAnError) {
  server_.script(
      "POST", kPods,
      {FakeResponse::failure(409, "AlreadyExists", "pods \"j-worker-0\" already exists")});
  caches_.jobs->apply(job_object(1, "10"));
  const auto result = reconciler_->reconcile("ns/j");
  EXPECT_EQ(result.kind, kube::ReconcileResult::Kind::kRequeueAfter) << result.message;
}

TEST_F(ReconcilerTest, APodItCreatedIsNotPostedAgainWhileThePodCacheLags) {
  first_reconcile_cached();  // the job cache caught up; the Pod cache has not

  auto result = reconciler_->reconcile("ns/j");
  EXPECT_EQ(result.kind, kube::ReconcileResult::Kind::kRequeueAfter);
  EXPECT_TRUE(take_requests().empty()) << "no POST that could only earn AlreadyExists";

  // Seen, then gone (deleted by someone): the rank is empty for real.
  const Json pod = with_state(bodies("POST", kPods).back(), "pod-uid", "Pending");
  caches_.pods->apply(pod);
  caches_.pods->remove(pod);
  reconciler_->reconcile("ns/j");
  EXPECT_EQ(take_requests(), (std::vector<std::string>{"POST " + kPods}));

  // Never seen: after created_pod_wait it is posted again.
  reconciler_->reconcile("ns/j");
  EXPECT_TRUE(take_requests().empty());
  clock_->advance(std::chrono::seconds(31));
  reconciler_->reconcile("ns/j");
  EXPECT_EQ(take_requests(), (std::vector<std::string>{"POST " + kPods}));
}

TEST_F(ReconcilerTest, AFailedPodIsCountedInStatusBeforeItIsDeleted) {
  first_reconcile_cached();
  cache_created_pod("Failed", 1);

  reconciler_->reconcile("ns/j");
  const auto sent = take_requests();
  ASSERT_GE(sent.size(), 2U);
  EXPECT_EQ(sent[0], "PUT " + kJobPath + "/status");
  EXPECT_EQ(sent[1], "DELETE " + kPods + "/j-worker-0");
  const Json status = bodies("PUT", kJobPath + "/status").back()["status"];
  EXPECT_EQ(status["restarts"], 1);
  EXPECT_EQ(status["rankAttempts"], Json::array({1}));
  EXPECT_EQ(status["lastFailure"]["exitCode"], 1);
  // The UID precondition: a replacement Pod with the same name is never hit.
  const auto deletes = bodies("DELETE", kPods + "/j-worker-0");
  ASSERT_EQ(deletes.size(), 1U);
  EXPECT_EQ(deletes[0]["preconditions"]["uid"], "pod-uid");
}

TEST_F(ReconcilerTest, AStatusWriteThatFailsDeletesNothing) {
  first_reconcile_cached();
  cache_created_pod("Failed", 1);
  server_.script("PUT", kJobPath + "/status",
                 {FakeResponse::failure(422, "Invalid", "status.restarts: Invalid value")});

  const auto result = reconciler_->reconcile("ns/j");
  EXPECT_EQ(result.kind, kube::ReconcileResult::Kind::kError);
  // Without the restart recorded, deleting the Pod would lose the failure.
  EXPECT_EQ(take_requests(), (std::vector<std::string>{"PUT " + kJobPath + "/status"}));
}

/// A Service or ConfigMap someone else made (no owner reference to the job, no labels).
Json foreign(const std::string& kind, const std::string& name) {
  return {
      {"apiVersion", "v1"},
      {"kind", kind},
      {"metadata",
       {{"name", name}, {"namespace", "ns"}, {"uid", "foreign-uid"}, {"resourceVersion", "3"}}}};
}

/// The ChildrenCreated condition of the last status written, or null.
Json children_condition(const std::vector<Json>& statuses) {
  if (statuses.empty()) return nullptr;
  for (const auto& c : statuses.back()["status"].value("conditions", Json::array())) {
    if (c["type"] == "ChildrenCreated") return c;
  }
  return nullptr;
}

bool writes_to(const std::vector<std::string>& requests, const std::string& path) {
  for (const auto& r : requests) {
    if (r.rfind("GET ", 0) == 0) continue;
    if (r.size() >= path.size() && r.compare(r.size() - path.size(), path.size(), path) == 0) {
      return true;
    }
  }
  return false;
}

TEST_F(ReconcilerTest, AServiceNamedLikeAChildThatItDoesNotOwnIsNeverWritten) {
  // The Service `j-workers` exists, unlabelled (so not in the cache), owned by nobody: the
  // create is refused with AlreadyExists and a GET shows whose it is.
  server_.route("POST", kServices, [](const FakeRequest& r) {
    const Json body = Json::parse(r.body);
    if (body["metadata"]["name"] == "j-workers") {
      return FakeResponse::failure(409, "AlreadyExists", "services \"j-workers\" already exists");
    }
    return FakeResponse::json(body, 201);
  });
  server_.route("GET", kServices + "/j-workers", [](const FakeRequest&) {
    return FakeResponse::json(foreign("Service", "j-workers"));
  });
  caches_.jobs->apply(job_object(2, "10"));
  const auto result = reconciler_->reconcile("ns/j");
  EXPECT_EQ(result.kind, kube::ReconcileResult::Kind::kBackoff) << result.message;
  const auto sent = take_requests();
  EXPECT_FALSE(writes_to(sent, "/services/j-workers")) << "no apply, update or delete of it";
  EXPECT_TRUE(bodies("POST", kPods).empty()) << "no Pod without its Services";
  const Json c = children_condition(bodies("PUT", kJobPath + "/status"));
  ASSERT_TRUE(c.is_object());
  EXPECT_EQ(c["status"], "False");
  EXPECT_EQ(c["reason"], "NameConflict");
  EXPECT_NE(c["message"].get<std::string>().find("Service ns/j-workers is not owned by this job"),
            std::string::npos)
      << c;
  EXPECT_EQ(bodies("POST", kConfigMaps).size(), 1U) << "the ConfigMap is still made";
  EXPECT_EQ(bodies("PUT", kJobPath + "/status").back()["status"]["ranks"]["active"], 0)
      << "no Pod was created";
}

TEST_F(ReconcilerTest, EveryChildWhoseNameIsTakenIsNamedInTheCondition) {
  for (const auto& [kind, name] :
       {std::pair<std::string, std::string>{"ConfigMap", "j-config"}, {"Service", "j-workers"}}) {
    const Json object = foreign(kind, name);
    (kind == "ConfigMap" ? caches_.config_maps : caches_.services)->apply(object);
  }
  caches_.jobs->apply(job_object(2, "10"));
  reconciler_->reconcile("ns/j");
  const std::string message =
      children_condition(bodies("PUT", kJobPath + "/status"))["message"].get<std::string>();
  EXPECT_NE(message.find("ConfigMap ns/j-config is not owned by this job"), std::string::npos)
      << message;
  EXPECT_NE(message.find("Service ns/j-workers is not owned by this job"), std::string::npos)
      << message;
}

TEST_F(ReconcilerTest, AConfigMapOfAnEarlierJobOfTheSameNameIsAConflictUntilCollected) {
  Json old = job_object(1, "10");
  old["metadata"]["uid"] = "old-uid";
  Json cm = foreign("ConfigMap", "j-config");
  cm["metadata"]["labels"] = {{"ascendfactory.io/job-name", "j"}};
  cm["metadata"]["ownerReferences"] = {{{"apiVersion", "ascendfactory.io/v1alpha1"},
                                        {"kind", "LlamaFactoryJob"},
                                        {"name", "j"},
                                        {"uid", "old-uid"},
                                        {"controller", true}}};
  caches_.config_maps->apply(cm);
  caches_.jobs->apply(job_object(1, "10"));
  auto result = reconciler_->reconcile("ns/j");
  EXPECT_EQ(result.kind, kube::ReconcileResult::Kind::kBackoff) << result.message;
  for (const auto& r : take_requests()) {
    EXPECT_EQ(r.find("configmaps"), std::string::npos) << r << ": the cache shows it, no request";
  }
  Json c = children_condition(bodies("PUT", kJobPath + "/status"));
  ASSERT_TRUE(c.is_object());
  EXPECT_NE(c["message"].get<std::string>().find("earlier LlamaFactoryJob of the same name"),
            std::string::npos)
      << c;

  // The garbage collector removes it: the job continues, and says so.
  Json job = bodies("PUT", kJobPath + "/status").back();
  job["metadata"]["resourceVersion"] = "11";
  caches_.jobs->apply(job);
  caches_.config_maps->remove(cm);
  result = reconciler_->reconcile("ns/j");
  EXPECT_NE(result.kind, kube::ReconcileResult::Kind::kBackoff) << result.message;
  EXPECT_EQ(bodies("POST", kPods).size(), 1U);
  c = children_condition(bodies("PUT", kJobPath + "/status"));
  EXPECT_EQ(c["status"], "True") << c;
}

TEST_F(ReconcilerTest, APodNameTakenByAPodTheJobDoesNotOwnIsAConditionNotALoop) {
  server_.script(
      "POST", kPods,
      {FakeResponse::failure(409, "AlreadyExists", "pods \"j-worker-0\" already exists")});
  server_.route("GET", kPods + "/j-worker-0", [](const FakeRequest&) {
    return FakeResponse::json(foreign("Pod", "j-worker-0"));
  });
  std::ostringstream out;
  ASSERT_TRUE(
      kube::setup_logging({"info", "text"}, std::make_shared<spdlog::sinks::ostream_sink_mt>(out))
          .ok());
  Json job = first_reconcile_cached();
  ASSERT_TRUE(server_.wait_for_count("POST", kPods, 1));
  // first_reconcile_cached's POST met the foreign Pod.
  auto result = kube::ReconcileResult::backoff("");
  const auto statuses = bodies("PUT", kJobPath + "/status");
  ASSERT_EQ(statuses.size(), 2U) << "the usual status, then the condition";
  Json c = children_condition(statuses);
  ASSERT_TRUE(c.is_object());
  EXPECT_EQ(c["reason"], "NameConflict");
  EXPECT_NE(c["message"].get<std::string>().find("Pod ns/j-worker-0 is not owned by this job"),
            std::string::npos);
  EXPECT_TRUE(server_.count("DELETE", kPods + "/j-worker-0") == 0);

  // Again (after the backoff), with the condition cached: the POST and its GET, nothing else:
  // no status write, no second log line.
  job = statuses.back();
  job["metadata"]["resourceVersion"] = "12";
  caches_.jobs->apply(job);
  server_.script(
      "POST", kPods,
      {FakeResponse::failure(409, "AlreadyExists", "pods \"j-worker-0\" already exists")});
  result = reconciler_->reconcile("ns/j");
  EXPECT_EQ(result.kind, kube::ReconcileResult::Kind::kBackoff) << result.message;
  EXPECT_EQ(take_requests(),
            (std::vector<std::string>{"POST " + kPods, "GET " + kPods + "/j-worker-0"}));
  ASSERT_TRUE(kube::setup_logging({"info", "text"}).ok());
  const std::string log = out.str();
  const auto first = log.find("child not created");
  ASSERT_NE(first, std::string::npos) << log;
  EXPECT_EQ(log.find("child not created", first + 1), std::string::npos) << log;
}

TEST_F(ReconcilerTest, APodRefusedByTheApiServerPutsItsMessageInTheCondition) {
  const std::string psa =
      "pods \"j-worker-0\" is forbidden: violates PodSecurity \"restricted:latest\": "
      "allowPrivilegeEscalation != false";
  server_.route("POST", kPods,
                [psa](const FakeRequest&) { return FakeResponse::failure(403, "Forbidden", psa); });
  caches_.jobs->apply(job_object(1, "10"));
  const auto result = reconciler_->reconcile("ns/j");
  EXPECT_EQ(result.kind, kube::ReconcileResult::Kind::kBackoff) << result.message;
  const Json c = children_condition(bodies("PUT", kJobPath + "/status"));
  ASSERT_TRUE(c.is_object());
  EXPECT_EQ(c["status"], "False");
  EXPECT_EQ(c["reason"], "CreateRefused");
  EXPECT_EQ(c["message"], psa);
}

TEST_F(ReconcilerTest, AConfigMapOverTheSizeLimitPutsTheServersMessageInTheCondition) {
  const std::string too_long =
      "ConfigMap \"j-config\" is invalid: []: Too long: must have at "
      "most 1048576 bytes";
  server_.route("POST", kConfigMaps, [too_long](const FakeRequest&) {
    return FakeResponse::failure(422, "Invalid", too_long);
  });
  caches_.jobs->apply(job_object(1, "10"));
  const auto result = reconciler_->reconcile("ns/j");
  EXPECT_EQ(result.kind, kube::ReconcileResult::Kind::kBackoff) << result.message;
  const Json c = children_condition(bodies("PUT", kJobPath + "/status"));
  ASSERT_TRUE(c.is_object());
  EXPECT_EQ(c["reason"], "CreateRefused");
  EXPECT_EQ(c["message"], too_long);
  EXPECT_TRUE(bodies("POST", kPods).empty());
}

/// Names of the Services created so far.
std::vector<std::string> service_names(const std::vector<Json>& bodies) {
  std::vector<std::string> out;
  for (const auto& b : bodies)
    out.push_back(b["metadata"]["name"].get<std::string>());
  return out;
}

TEST_F(ReconcilerTest, ASingleRankTrainJobGetsNoService) {
  caches_.jobs->apply(job_object(1, "10"));
  reconciler_->reconcile("ns/j");
  EXPECT_EQ(take_requests(),
            (std::vector<std::string>{"POST " + kConfigMaps, "PUT " + kJobPath + "/status",
                                      "POST " + kPods}))
      << "no rendezvous for one rank, no ports served by training";
  const Json pod = bodies("POST", kPods).at(0);
  bool master_loopback = false;
  for (const auto& var : pod["spec"]["containers"][0]["env"])
    master_loopback |= var["name"] == "MASTER_ADDR" && var["value"] == "127.0.0.1";
  EXPECT_TRUE(master_loopback) << pod["spec"]["containers"][0]["env"];
  EXPECT_FALSE(bodies("PUT", kJobPath + "/status").at(0)["status"].contains("endpoints"));
}

TEST_F(ReconcilerTest, AServingJobGetsItsPortServiceAndNoRendezvous) {
  Json job = job_object(1, "10");
  job["spec"]["mode"] = "api";
  job["spec"].erase("runPolicy");
  caches_.jobs->apply(job);
  reconciler_->reconcile("ns/j");
  EXPECT_EQ(service_names(bodies("POST", kServices)), (std::vector<std::string>{"j"}));
  auto statuses = bodies("PUT", kJobPath + "/status");
  ASSERT_FALSE(statuses.empty());
  EXPECT_FALSE(statuses.back()["status"].contains("endpoints")) << "no endpoint before Ready";
  // The serving Pod Running and Ready: now the endpoint is published.
  Json pod = with_state(bodies("POST", kPods).back(), "pod-uid", "Running");
  pod["status"]["conditions"] = {{{"type", "Ready"}, {"status", "True"}}};
  caches_.pods->apply(pod);
  Json written = statuses.back();
  written["metadata"]["resourceVersion"] = "11";
  caches_.jobs->apply(written);
  reconciler_->reconcile("ns/j");
  statuses = bodies("PUT", kJobPath + "/status");
  EXPECT_EQ(statuses.back()["status"]["endpoints"]["api"], "http://j.ns.svc:8000");
}

class DelayedFirstStatusTest : public ReconcilerTest {
 protected:
  void SetUp() override {
    ReconcilerTest::SetUp();
    ReconcilerOptions options;
    options.clock = clock_;
    options.metrics = metrics_;
    options.pods.default_image = "llamafactory:test";
    options.pending_status_delay = std::chrono::seconds(10);
    reconciler_ = std::make_unique<Reconciler>(client_, caches_, nullptr, options);
  }
  /// The last Pod created, cached as the watch shows it, in `phase`.
  void cache_pod(const std::string& phase, const std::string& rv, bool unschedulable = false) {
    Json pod = with_state(bodies("POST", kPods).back(), "pod-uid", phase);
    pod["metadata"]["resourceVersion"] = rv;
    if (unschedulable) {
      pod["status"]["conditions"] = {{{"type", "PodScheduled"},
                                      {"status", "False"},
                                      {"reason", "Unschedulable"},
                                      {"message", "0/3 nodes are available"}}};
    }
    caches_.pods->apply(pod);
  }
};

TEST_F(DelayedFirstStatusTest, AJobRunningWithinTheDelayGetsOneStatusWrite) {
  caches_.jobs->apply(job_object(1, "10"));
  const std::string t0 = kube::format_time(clock_->wall_now());
  auto result = reconciler_->reconcile("ns/j");
  EXPECT_EQ(take_requests(), (std::vector<std::string>{"POST " + kConfigMaps, "POST " + kPods}))
      << "the Pod is made at once, its Pending status held back";
  ASSERT_EQ(result.kind, kube::ReconcileResult::Kind::kRequeueAfter);
  EXPECT_LE(result.after, std::chrono::seconds(10)) << "looked at again when the write is due";
  cache_first_writes();

  clock_->advance(std::chrono::seconds(3));
  cache_pod("Pending", "20");
  reconciler_->reconcile("ns/j");
  EXPECT_TRUE(take_requests().empty()) << "still nothing but Pending to say";

  clock_->advance(std::chrono::seconds(3));
  cache_pod("Running", "21");
  result = reconciler_->reconcile("ns/j");
  EXPECT_EQ(take_requests(), (std::vector<std::string>{"PUT " + kJobPath + "/status"}));
  const Json status = bodies("PUT", kJobPath + "/status").back()["status"];
  EXPECT_EQ(status["phase"], "Running");
  EXPECT_EQ(status["startTime"], t0) << "the first decision's time, not the write's";
  std::vector<std::string> types;
  for (const auto& c : status["conditions"])
    types.push_back(c["type"].get<std::string>());
  EXPECT_EQ(types, (std::vector<std::string>{"Created", "OutputPersistent", "Running"}))
      << "the emptyDir warning waits with the rest";
  EXPECT_EQ(status["ranks"]["active"], 1);
}

TEST_F(DelayedFirstStatusTest, PendingIsWrittenOnceTheDelayPasses) {
  caches_.jobs->apply(job_object(1, "10"));
  reconciler_->reconcile("ns/j");
  cache_first_writes();
  cache_pod("Pending", "20");
  take_requests();
  clock_->advance(std::chrono::seconds(10));
  reconciler_->reconcile("ns/j");
  EXPECT_EQ(take_requests(), (std::vector<std::string>{"PUT " + kJobPath + "/status"}));
  EXPECT_EQ(bodies("PUT", kJobPath + "/status").back()["status"]["phase"], "Pending");
}

TEST_F(DelayedFirstStatusTest, AWaitingReasonIsWrittenAtOnce) {
  caches_.jobs->apply(job_object(1, "10"));
  reconciler_->reconcile("ns/j");
  cache_first_writes();
  take_requests();
  cache_pod("Pending", "20", /*unschedulable=*/true);
  reconciler_->reconcile("ns/j");
  EXPECT_EQ(take_requests(), (std::vector<std::string>{"PUT " + kJobPath + "/status"}));
  const Json status = bodies("PUT", kJobPath + "/status").back()["status"];
  EXPECT_EQ(status["phase"], "Pending");
  EXPECT_EQ(status["conditions"].back()["type"], "Running") << status;
  EXPECT_EQ(status["conditions"].back()["reason"], "Unschedulable") << status;
}

TEST_F(DelayedFirstStatusTest, AJobWithAStatusIsNeverHeldBack) {
  // Pending was written earlier (by an operator without the delay, or one restarted after
  // the delay passed): the Pod's progress is written as before.
  const std::string t0 = kube::format_time(clock_->wall_now());
  const Json job = job_with_status("Pending", t0, {{"active", 1}});
  caches_.jobs->apply(job);
  reconciler_->reconcile("ns/j");
  cache_first_writes();
  EXPECT_EQ(take_requests(), (std::vector<std::string>{"POST " + kConfigMaps, "POST " + kPods}))
      << "the written status already counts the Pod";
  cache_pod("Running", "21");
  reconciler_->reconcile("ns/j");
  EXPECT_EQ(take_requests(), (std::vector<std::string>{"PUT " + kJobPath + "/status"}));
  EXPECT_EQ(bodies("PUT", kJobPath + "/status").back()["status"]["phase"], "Running");
}

class ProgressReconcileTest : public ReconcilerTest {
 protected:
  void SetUp() override {
    ReconcilerTest::SetUp();
    ReconcilerOptions options;
    options.clock = clock_;
    options.metrics = metrics_;
    options.pods.default_image = "llamafactory:test";
    options.progress = progress_;
    reconciler_ = std::make_unique<Reconciler>(client_, caches_, nullptr, options);
  }
  std::shared_ptr<ProgressStore> progress_ =
      std::make_shared<ProgressStore>(std::chrono::seconds(5));
};

TEST_F(ProgressReconcileTest, TheLastReportOfAFinishedJobIsStillWritten) {
  // The trainer's last line arrives as the job ends (the sidecar posts it when it is stopped).
  const std::string t0 = kube::format_time(clock_->wall_now());
  const Json job = job_with_status("Succeeded", t0, {{"succeeded", 1}}, {{"completionTime", t0}});
  caches_.jobs->apply(job);
  Progress last;
  last.step = 10;
  last.total_steps = 10;
  last.percent = 100;
  ASSERT_TRUE(progress_->record("ns/j", last, clock_->now()).has_value());
  reconciler_->reconcile("ns/j");
  const auto statuses = bodies("PUT", kJobPath + "/status");
  ASSERT_FALSE(statuses.empty()) << "the finished job's last progress was not written";
  EXPECT_EQ(statuses.back()["status"]["progress"]["step"], 10);
  EXPECT_EQ(statuses.back()["status"]["phase"], "Succeeded");
}

TEST_F(ProgressReconcileTest, AReportThatMustWaitItsTurnIsLookedAtAgainWhenDue) {
  caches_.jobs->apply(job_object(1, "10"));
  reconciler_->reconcile("ns/j");
  cache_first_writes();
  Json job = bodies("PUT", kJobPath + "/status").back();
  job["metadata"]["resourceVersion"] = "11";
  caches_.jobs->apply(job);
  cache_created_pod("Running");
  Progress p;
  p.step = 9;
  p.total_steps = 10;
  ASSERT_TRUE(progress_->record("ns/j", p, clock_->now()).has_value());
  reconciler_->reconcile("ns/j");  // writes step 9
  ASSERT_EQ(bodies("PUT", kJobPath + "/status").back()["status"]["progress"]["step"], 9);
  // Step 10 arrives 1 s later; its own wake-up is spent on a reconcile that cannot write it yet
  // (as when it arrives while step 9 is being written): that reconcile must come back for it.
  clock_->advance(std::chrono::seconds(1));
  p.step = 10;
  progress_->record("ns/j", p, clock_->now());
  Json written = bodies("PUT", kJobPath + "/status").back();
  written["metadata"]["resourceVersion"] = "12";
  caches_.jobs->apply(written);
  take_requests();
  const auto result = reconciler_->reconcile("ns/j");
  EXPECT_TRUE(take_requests().empty()) << "not due yet: one write per 5 s";
  ASSERT_EQ(result.kind, kube::ReconcileResult::Kind::kRequeueAfter);
  EXPECT_LE(result.after, std::chrono::seconds(4));
  clock_->advance(result.after);
  reconciler_->reconcile("ns/j");
  EXPECT_EQ(bodies("PUT", kJobPath + "/status").back()["status"]["progress"]["step"], 10);
}

}  // namespace
}  // namespace ascend::op
