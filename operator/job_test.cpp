#include "operator/job.hpp"

#include <gtest/gtest.h>

namespace ascend::op {
namespace {

Json object(const std::string& spec, const std::string& name = "sft") {
  return Json{{"apiVersion", "ascendfactory.io/v1alpha1"},
              {"kind", "LlamaFactoryJob"},
              {"metadata",
               {{"name", name},
                {"namespace", "team"},
                {"uid", "u"},
                {"generation", 4},
                {"resourceVersion", "77"}}},
              {"spec", Json::parse(spec)}};
}

std::string error_of(const std::string& spec, const std::string& name = "sft") {
  auto job = parse_job(object(spec, name));
  if (job) return "";
  EXPECT_EQ(job.error().reason, "Invalid");
  return job.error().message;
}

TEST(Job, DefaultsMirrorTheCrd) {
  auto parsed = parse_job(object(R"({"mode": "webui"})"));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const Job& job = parsed.value();
  EXPECT_EQ(job.key(), "team/sft");
  EXPECT_EQ(job.generation, 4);
  EXPECT_EQ(job.resource_version, "77");
  EXPECT_EQ(job.spec.mode, Mode::kWebui);
  EXPECT_EQ(job.spec.nodes, 1);
  EXPECT_EQ(job.spec.npus_per_node, 1);
  EXPECT_EQ(job.spec.master_port, 29500);
  EXPECT_EQ(job.spec.service_type, "ClusterIP");
  EXPECT_EQ(job.spec.storage.shm_size, "16Gi");
  EXPECT_TRUE(job.spec.storage.data.is_null());
  EXPECT_EQ(job.spec.run_policy.restart_policy, RestartPolicy::kOnFailure);
  EXPECT_EQ(job.spec.run_policy.max_restarts, 3);
  EXPECT_EQ(job.spec.run_policy.restart_scope, RestartScope::kJob);
  EXPECT_FALSE(job.spec.run_policy.active_deadline_seconds.has_value());
  EXPECT_FALSE(job.spec.run_policy.suspend);
  EXPECT_FALSE(job.spec.has_config());
  EXPECT_EQ(job.status, JobStatus{});
}

TEST(Job, ReadsEveryField) {
  auto parsed = parse_job(object(R"({
    "mode": "train", "image": "img:1", "imagePullPolicy": "IfNotPresent", "nodes": 2, "npusPerNode": 8,
    "configMapRef": {"name": "cfg"}, "args": ["learning_rate=1e-4"],
    "env": [{"name": "HF_ENDPOINT", "value": "https://hf-mirror.com"}],
    "resources": {"requests": {"cpu": "32"}}, "nodeSelector": {"pool": "a2"},
    "tolerations": [{"key": "npu", "operator": "Exists"}], "priorityClassName": "high",
    "schedulerName": "volcano", "serviceAccountName": "trainer", "podLabels": {"team": "nlp"},
    "podAnnotations": {"a": "b"}, "masterPort": 23456,
    "storage": {"data": {"persistentVolumeClaim": {"claimName": "datasets"}}, "shmSize": "64Gi"},
    "service": {"type": "NodePort"},
    "runPolicy": {"restartPolicy": "ExitCode", "maxRestarts": 5, "restartScope": "Pod",
                  "activeDeadlineSeconds": 3600, "ttlSecondsAfterFinished": 0, "suspend": true}
  })"));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const JobSpec& s = parsed.value().spec;
  EXPECT_EQ(s.image, "img:1");
  EXPECT_EQ(s.image_pull_policy, "IfNotPresent");
  EXPECT_EQ(s.nodes, 2);
  EXPECT_EQ(s.npus_per_node, 8);
  ASSERT_TRUE(s.config_map_ref.has_value());
  EXPECT_EQ(s.config_map_ref->name, "cfg");
  EXPECT_EQ(s.config_map_ref->key, "config.yaml");
  EXPECT_EQ(s.args, std::vector<std::string>{"learning_rate=1e-4"});
  EXPECT_EQ(s.env.size(), 1U);
  EXPECT_EQ(s.node_selector.at("pool"), "a2");
  EXPECT_EQ(s.scheduler_name, "volcano");
  EXPECT_EQ(s.pod_labels.at("team"), "nlp");
  EXPECT_EQ(s.master_port, 23456);
  EXPECT_EQ(s.storage.data["persistentVolumeClaim"]["claimName"], "datasets");
  EXPECT_EQ(s.storage.shm_size, "64Gi");
  EXPECT_EQ(s.service_type, "NodePort");
  EXPECT_EQ(s.run_policy.restart_policy, RestartPolicy::kExitCode);
  EXPECT_EQ(s.run_policy.max_restarts, 5);
  EXPECT_EQ(s.run_policy.restart_scope, RestartScope::kPod);
  EXPECT_EQ(s.run_policy.active_deadline_seconds, 3600);
  EXPECT_EQ(s.run_policy.ttl_seconds_after_finished, 0);
  EXPECT_TRUE(s.run_policy.suspend);
}

// The same rules the CRD enforces, each naming its field.
TEST(Job, RejectsWhatTheCrdRejects) {
  EXPECT_EQ(error_of(R"({"mode": "finetune", "config": {}})"),
            "spec.mode: unsupported value \"finetune\": supported values: \"train\", \"webui\", "
            "\"api\", \"webchat\", \"export\"");
  EXPECT_EQ(error_of(R"({"nodes": 0, "config": {}})").rfind("spec.nodes: must be between 1", 0),
            0U);
  EXPECT_EQ(
      error_of(R"({"mode": "api", "nodes": 2})").rfind("spec.nodes: greater than 1 is only", 0),
      0U);
  EXPECT_EQ(error_of(R"({"npusPerNode": 17, "config": {}})").rfind("spec.npusPerNode:", 0), 0U);
  EXPECT_EQ(error_of(R"({"npusPerNode": 0, "config": {}})").rfind("spec.npusPerNode:", 0), 0U);
  EXPECT_EQ(error_of(R"({"mode": "train"})"),
            "spec: spec.config or spec.configMapRef is required when spec.mode is train or export");
  EXPECT_EQ(error_of(R"({"mode": "export"})").rfind("spec: spec.config or", 0), 0U);
  EXPECT_EQ(
      error_of(R"({"config": {}, "configMapRef": {"name": "x"}})").rfind("spec.configMapRef:", 0),
      0U);
  EXPECT_EQ(
      error_of(
          R"({"config": {}, "storage": {"output": {"emptyDir": {}, "hostPath": {"path": "/x"}}}})"),
      "spec.storage.output: set at most one volume source: persistentVolumeClaim, hostPath or "
      "emptyDir");
  EXPECT_EQ(error_of(R"({"config": {}, "args": ["--lr 1"]})").rfind("spec.args[0]:", 0), 0U);
  EXPECT_EQ(error_of(R"({"config": {}, "runPolicy": {"restartPolicy": "Always"}})")
                .rfind("spec.runPolicy.restartPolicy:", 0),
            0U);
  EXPECT_EQ(error_of(R"({"config": {}, "runPolicy": {"maxRestarts": -1}})")
                .rfind("spec.runPolicy.maxRestarts:", 0),
            0U);
  EXPECT_EQ(error_of(R"({"config": {}, "service": {"type": "ExternalName"}})")
                .rfind("spec.service.type:", 0),
            0U);
  EXPECT_EQ(error_of(R"({"config": "stage: sft"})").rfind("spec.config: must be an object", 0), 0U);
  EXPECT_EQ(error_of(R"({"config": {}, "nodes": "2"})"), "spec.nodes: must be an integer");
  EXPECT_EQ(error_of(R"({"config": {}})", "Bad_Name").rfind("metadata.name:", 0), 0U);
  EXPECT_EQ(error_of(R"({"config": {}})", std::string(46, 'a')).rfind("metadata.name:", 0), 0U);
  EXPECT_EQ(error_of(R"({"config": {}})", std::string(45, 'a')), "");
  EXPECT_EQ(error_of(R"({"config": {}, "env": [{"value": "x"}]})"),
            "spec.env[0].name: is required");
}

TEST(Job, MissingSpecIsAnError) {
  Json o = object("{}");
  o.erase("spec");
  auto job = parse_job(o);
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.error().message, "spec: is required");
}

TEST(Job, StatusRoundTrips) {
  JobStatus s;
  s.phase = Phase::kRestarting;
  s.conditions.push_back(
      {"Restarting", "True", 3, "2024-05-06T07:08:09Z", "RetryableExitCode", "m"});
  s.observed_generation = 3;
  s.restarts = 2;
  s.rank_attempts = {2, 2};
  s.start_time = "2024-05-06T07:00:00Z";
  s.active = 1;
  s.failed = 1;
  s.webui_endpoint = "http://x:7860";
  s.api_endpoint = "http://x:8000";
  s.last_failure = LastFailure{"sft-worker-1", 1, 137, "OOMKilled", "", "2024-05-06T07:08:09Z"};
  const Json json = status_to_json(s);
  EXPECT_EQ(json["ranks"]["failed"], 1);
  EXPECT_EQ(json["lastFailure"]["exitCode"], 137);
  EXPECT_EQ(json["endpoints"]["api"], "http://x:8000");
  EXPECT_EQ(status_from_json(json), s);
  LastFailure no_code = *s.last_failure;
  no_code.exit_code.reset();
  s.last_failure = no_code;
  EXPECT_FALSE(status_to_json(s)["lastFailure"].contains("exitCode"));
  EXPECT_EQ(status_from_json(status_to_json(s)), s);
}

TEST(Job, PhaseNamesAreTheStatusFieldsText) {
  for (const Phase phase : {Phase::kPending, Phase::kRunning, Phase::kRestarting, Phase::kSucceeded,
                            Phase::kFailed, Phase::kSuspended}) {
    EXPECT_EQ(phase_from_name(phase_name(phase)), phase) << phase;
  }
  EXPECT_EQ(phase_name(Phase::kSuspended), "Suspended");
  EXPECT_EQ(phase_name(Phase::kNone), "");
  EXPECT_EQ(phase_from_name(""), Phase::kNone);
  EXPECT_EQ(phase_from_name("running"), Phase::kNone) << "the API's names are case-sensitive";
  EXPECT_FALSE(status_to_json(JobStatus{}).contains("phase")) << "no phase before the first write";
  EXPECT_EQ(status_from_json(Json::parse(R"({"phase": "Done"})")).phase, Phase::kNone);
}

TEST(Job, MalformedStatusIsIgnoredFieldByField) {
  const JobStatus s = status_from_json(Json::parse(
      R"({"phase": 3, "restarts": 2, "conditions": [7, {"type": "Running"}], "rankAttempts": ["a", 1]})"));
  EXPECT_EQ(s.phase, Phase::kNone);
  EXPECT_EQ(s.restarts, 2);
  ASSERT_EQ(s.conditions.size(), 1U);
  EXPECT_EQ(s.conditions[0].type, "Running");
  EXPECT_EQ(s.rank_attempts, (std::vector<int>{0, 1}));
}

}  // namespace
}  // namespace ascend::op
