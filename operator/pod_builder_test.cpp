#include "operator/pod_builder.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace ascend::op {
namespace {

Job train_job(int nodes = 2) {
  auto parsed = parse_job(Json::parse(R"({
    "metadata": {"name": "sft", "namespace": "team", "uid": "uid-9"},
    "spec": {"mode": "train", "nodes": 2, "npusPerNode": 8, "config": {"stage": "sft"},
             "args": ["learning_rate=1e-4", "num_train_epochs=2"],
             "env": [{"name": "MASTER_PORT", "value": "1234"}, {"name": "HF_ENDPOINT", "value": "m"}],
             "resources": {"requests": {"cpu": "32", "memory": "256Gi"}, "limits": {"memory": "512Gi"}},
             "nodeSelector": {"accelerator": "huawei-Ascend910"},
             "tolerations": [{"key": "npu", "operator": "Exists", "effect": "NoSchedule"}],
             "priorityClassName": "training", "schedulerName": "volcano",
             "serviceAccountName": "trainer", "podLabels": {"ascendfactory.io/job-name": "evil", "team": "nlp"},
             "podAnnotations": {"testbed.ascendfactory.io/exit-code": "0"},
             "storage": {"huggingfaceCache": {"persistentVolumeClaim": {"claimName": "hf"}},
                         "data": {"hostPath": {"path": "/data"}}, "shmSize": "64Gi"}}
  })"));
  EXPECT_TRUE(parsed.ok()) << parsed.error().message;
  Job job = parsed.value();
  job.spec.nodes = nodes;
  return job;
}

const Json* find_named(const Json& list, const std::string& name) {
  for (const auto& item : list) {
    if (item.value("name", "") == name) return &item;
  }
  return nullptr;
}

std::string env_of(const Json& pod, const std::string& name) {
  const Json* var = find_named(pod["spec"]["containers"][0]["env"], name);
  return var != nullptr ? var->value("value", "<valueFrom>") : "<unset>";
}

TEST(PodBuilder, NamesLabelsAndOwner) {
  const Json pod = build_pod(train_job(), 1, 3, {"default:img", "", ""});
  const Json& m = pod["metadata"];
  EXPECT_EQ(m["name"], "sft-worker-1");
  EXPECT_EQ(m["namespace"], "team");
  EXPECT_EQ(m["labels"]["ascendfactory.io/job-name"], "sft") << "user labels cannot override ours";
  EXPECT_EQ(m["labels"]["ascendfactory.io/node-rank"], "1");
  EXPECT_EQ(m["labels"]["ascendfactory.io/attempt"], "3");
  EXPECT_EQ(m["labels"]["app.kubernetes.io/managed-by"], "llamafactory-operator");
  EXPECT_EQ(m["labels"]["team"], "nlp");
  ASSERT_EQ(m["ownerReferences"].size(), 1U);
  const Json& owner = m["ownerReferences"][0];
  EXPECT_EQ(owner["apiVersion"], "ascendfactory.io/v1alpha1");
  EXPECT_EQ(owner["kind"], "LlamaFactoryJob");
  EXPECT_EQ(owner["name"], "sft");
  EXPECT_EQ(owner["uid"], "uid-9");
  EXPECT_EQ(owner["controller"], true);
  EXPECT_EQ(m["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"], "false");
  EXPECT_EQ(m["annotations"]["karpenter.sh/do-not-disrupt"], "true");
  EXPECT_EQ(m["annotations"]["testbed.ascendfactory.io/exit-code"], "0");
  EXPECT_EQ(pod["spec"]["hostname"], "sft-worker-1");
  EXPECT_EQ(pod["spec"]["subdomain"], "sft-workers");
  EXPECT_EQ(pod["spec"]["restartPolicy"], "Never");
}

TEST(PodBuilder, CommandRunsTheModeWithConfigAndOverrides) {
  const Json pod = build_pod(train_job(), 0, 0, {"default:img", "", ""});
  EXPECT_EQ(pod["spec"]["containers"][0]["command"],
            Json::parse(R"(["llamafactory-cli", "train", "/etc/llamafactory/config.yaml",
                            "learning_rate=1e-4", "num_train_epochs=2"])"));
  Job webui = train_job(1);
  webui.spec.mode = Mode::kWebui;
  webui.spec.args.clear();
  EXPECT_EQ(build_pod(webui, 0, 0, {})["spec"]["containers"][0]["command"],
            Json::parse(R"(["llamafactory-cli", "webui"])"));
  Job api = webui;
  api.spec.mode = Mode::kApi;
  EXPECT_EQ(build_pod(api, 0, 0, {})["spec"]["containers"][0]["command"],
            Json::parse(R"(["llamafactory-cli", "api", "/etc/llamafactory/config.yaml"])"));
}

TEST(PodBuilder, DistributedEnvForEachRank) {
  const Job job = train_job(2);
  for (int rank = 0; rank < 2; ++rank) {
    const Json pod = build_pod(job, rank, 0, {});
    EXPECT_EQ(env_of(pod, "FORCE_TORCHRUN"), "1");
    EXPECT_EQ(env_of(pod, "NNODES"), "2");
    EXPECT_EQ(env_of(pod, "NODE_RANK"), std::to_string(rank));
    EXPECT_EQ(env_of(pod, "NPROC_PER_NODE"), "8");
    EXPECT_EQ(env_of(pod, "MASTER_ADDR"), "sft-worker-0.sft-workers.team.svc");
    EXPECT_EQ(env_of(pod, "MASTER_PORT"), "1234") << "the user's value replaces ours";
    EXPECT_EQ(env_of(pod, "GRADIO_SERVER_PORT"), "7860");
    EXPECT_EQ(env_of(pod, "API_PORT"), "8000");
    EXPECT_EQ(env_of(pod, "HF_ENDPOINT"), "m");
    int master_ports = 0;
    for (const auto& var : pod["spec"]["containers"][0]["env"])
      master_ports += var["name"] == "MASTER_PORT";
    EXPECT_EQ(master_ports, 1);
  }
  Job fixed = job;
  fixed.spec.env = Json::array();
  EXPECT_EQ(env_of(build_pod(fixed, 0, 0, {}), "MASTER_PORT"), "29500") << "always set";
}

TEST(PodBuilder, ServersGetNoTorchrunEnvButAProbe) {
  Job api = train_job(1);
  api.spec.mode = Mode::kApi;
  api.spec.env = Json::array();
  const Json pod = build_pod(api, 0, 0, {});
  EXPECT_EQ(env_of(pod, "FORCE_TORCHRUN"), "<unset>");
  EXPECT_EQ(env_of(pod, "MASTER_ADDR"), "<unset>");
  EXPECT_EQ(env_of(pod, "API_PORT"), "8000");
  EXPECT_EQ(pod["spec"]["containers"][0]["readinessProbe"]["tcpSocket"]["port"], "api");
  EXPECT_FALSE(
      pod["metadata"]["annotations"].contains("cluster-autoscaler.kubernetes.io/safe-to-evict"));
  EXPECT_FALSE(pod["metadata"]["annotations"].contains("karpenter.sh/do-not-disrupt"));
  Job webui = api;
  webui.spec.mode = Mode::kWebui;
  EXPECT_EQ(
      build_pod(webui, 0, 0, {})["spec"]["containers"][0]["readinessProbe"]["tcpSocket"]["port"],
      "webui");
  EXPECT_FALSE(
      build_pod(train_job(1), 0, 0, {})["spec"]["containers"][0].contains("readinessProbe"));
}

TEST(PodBuilder, WebchatServesGradioWithItsConfig) {
  // webchat is LLaMA Board's chat tab alone: a Gradio server on GRADIO_SERVER_PORT that, unlike
  // webui, loads its model from the config file.
  auto parsed = parse_job(Json::parse(R"({
    "metadata": {"name": "chat", "namespace": "team", "uid": "uid-3"},
    "spec": {"mode": "webchat", "npusPerNode": 1,
             "config": {"model_name_or_path": "Qwen/Qwen2.5-7B-Instruct", "template": "qwen"},
             "args": ["infer_backend=huggingface"]}
  })"));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const Json pod = build_pod(parsed.value(), 0, 0, {"default:img", "", ""});
  const Json& c = pod["spec"]["containers"][0];
  EXPECT_EQ(c["command"], Json::parse(R"(["llamafactory-cli", "webchat",
                                          "/etc/llamafactory/config.yaml",
                                          "infer_backend=huggingface"])"));
  EXPECT_EQ(env_of(pod, "GRADIO_SERVER_PORT"), "7860");
  EXPECT_EQ(env_of(pod, "API_PORT"), "8000");
  for (const char* var :
       {"FORCE_TORCHRUN", "NNODES", "NODE_RANK", "NPROC_PER_NODE", "MASTER_ADDR", "MASTER_PORT"}) {
    EXPECT_EQ(env_of(pod, var), "<unset>") << var << ": one node, no torchrun";
  }
  ASSERT_EQ(c["ports"].size(), 2U) << "no rendezvous port";
  EXPECT_EQ((*find_named(c["ports"], "webui"))["containerPort"], 7860);
  EXPECT_EQ((*find_named(c["ports"], "api"))["containerPort"], 8000);
  EXPECT_EQ(c["readinessProbe"]["tcpSocket"]["port"], "webui");
  EXPECT_EQ(c["resources"]["limits"]["huawei.com/Ascend910"], "1");
  EXPECT_EQ((*find_named(pod["spec"]["volumes"], "config"))["configMap"]["name"], "chat-config");
  EXPECT_FALSE(pod["metadata"].contains("annotations")) << "a server may be moved";
}

TEST(PodBuilder, PortsResourcesAndScheduling) {
  const Json pod = build_pod(train_job(), 0, 0, {"default:img", "", ""});
  const Json& c = pod["spec"]["containers"][0];
  EXPECT_EQ(c["image"], "default:img");
  const Json* webui = find_named(c["ports"], "webui");
  const Json* api = find_named(c["ports"], "api");
  ASSERT_NE(webui, nullptr);
  ASSERT_NE(api, nullptr);
  EXPECT_EQ((*webui)["containerPort"], 7860);
  EXPECT_EQ((*api)["containerPort"], 8000);
  EXPECT_EQ(c["resources"]["limits"]["huawei.com/Ascend910"], "8");
  EXPECT_EQ(c["resources"]["requests"]["huawei.com/Ascend910"], "8");
  EXPECT_EQ(c["resources"]["requests"]["cpu"], "32");
  EXPECT_EQ(c["resources"]["limits"]["memory"], "512Gi");
  const Json& s = pod["spec"];
  EXPECT_EQ(s["nodeSelector"]["accelerator"], "huawei-Ascend910");
  EXPECT_EQ(s["tolerations"][0]["key"], "npu");
  EXPECT_EQ(s["priorityClassName"], "training");
  EXPECT_EQ(s["schedulerName"], "volcano");
  EXPECT_EQ(s["serviceAccountName"], "trainer");
  EXPECT_FALSE(s.contains("automountServiceAccountToken"))
      << "the user's account, the user's choice";
  Job plain = train_job();
  plain.spec.service_account_name.clear();
  EXPECT_EQ(build_pod(plain, 0, 0, {})["spec"]["automountServiceAccountToken"], false);
  Job own_image = train_job();
  own_image.spec.image = "mine:1";
  EXPECT_EQ(build_pod(own_image, 0, 0, {"default:img", "", ""})["spec"]["containers"][0]["image"],
            "mine:1");
}

TEST(PodBuilder, MountsAndVolumes) {
  const Json pod = build_pod(train_job(), 0, 0, {});
  const Json& mounts = pod["spec"]["containers"][0]["volumeMounts"];
  const Json& volumes = pod["spec"]["volumes"];
  const std::vector<std::pair<std::string, std::string>> want = {
      {"huggingface-cache", "/root/.cache/huggingface"},
      {"modelscope-cache", "/root/.cache/modelscope"},
      {"data", "/app/data"},
      {"output", "/app/output"},
      {"dshm", "/dev/shm"},
      {"config", "/etc/llamafactory"}};
  for (const auto& [name, path] : want) {
    const Json* mount = find_named(mounts, name);
    ASSERT_NE(mount, nullptr) << name;
    EXPECT_EQ((*mount)["mountPath"], path);
    EXPECT_NE(find_named(volumes, name), nullptr) << name;
  }
  EXPECT_EQ((*find_named(volumes, "huggingface-cache"))["persistentVolumeClaim"]["claimName"],
            "hf");
  EXPECT_EQ((*find_named(volumes, "data"))["hostPath"]["path"], "/data");
  EXPECT_EQ((*find_named(volumes, "output"))["emptyDir"], Json::object()) << "default emptyDir";
  EXPECT_EQ((*find_named(volumes, "dshm"))["emptyDir"]["medium"], "Memory");
  EXPECT_EQ((*find_named(volumes, "dshm"))["emptyDir"]["sizeLimit"], "64Gi");
  const Json& config = (*find_named(volumes, "config"))["configMap"];
  EXPECT_EQ(config["name"], "sft-config");
  EXPECT_EQ(config["items"][0]["key"], "config.yaml");
  EXPECT_EQ(config["items"][0]["path"], "config.yaml");
}

TEST(PodBuilder, ConfigMapRefMountsTheUsersKey) {
  Job job = train_job();
  job.spec.config.reset();
  job.spec.config_map_ref = ConfigMapRef{"theirs", "llama3_full_sft.yaml"};
  const Json pod = build_pod(job, 0, 0, {});
  const Json& config = (*find_named(pod["spec"]["volumes"], "config"))["configMap"];
  EXPECT_EQ(config["name"], "theirs");
  EXPECT_EQ(config["items"][0]["key"], "llama3_full_sft.yaml");
  EXPECT_EQ(config["items"][0]["path"], "config.yaml");
}

TEST(PodBuilder, NoConfigNoConfigVolume) {
  Job job = train_job(1);
  job.spec.mode = Mode::kWebui;
  job.spec.config.reset();
  const Json pod = build_pod(job, 0, 0, {});
  EXPECT_EQ(find_named(pod["spec"]["volumes"], "config"), nullptr);
  EXPECT_EQ(find_named(pod["spec"]["containers"][0]["volumeMounts"], "config"), nullptr);
}

// The Pod Security Standards' checks that a Pod like ours could trip (kubernetes.io/docs/
// concepts/security/pod-security-standards), as a list of what is wrong; empty passes.
std::vector<std::string> baseline_violations(const Json& pod) {
  std::vector<std::string> out;
  const Json& spec = pod["spec"];
  for (const char* host : {"hostNetwork", "hostPID", "hostIPC"}) {
    if (spec.value(host, false)) out.push_back(host);
  }
  for (const auto& v : spec["volumes"]) {
    if (v.contains("hostPath")) out.push_back("hostPath volume " + v.value("name", ""));
  }
  for (const auto& c : spec["containers"]) {
    const Json sc = c.value("securityContext", Json::object());
    if (sc.value("privileged", false)) out.push_back("privileged");
    if (sc.contains("capabilities") && sc["capabilities"].contains("add")) {
      out.push_back("capabilities added");
    }
    for (const auto& p : c.value("ports", Json::array())) {
      if (p.value("hostPort", 0) != 0) out.push_back("hostPort");
    }
    if (sc.contains("seccompProfile") && sc["seccompProfile"]["type"] == "Unconfined") {
      out.push_back("seccomp Unconfined");
    }
  }
  return out;
}

std::vector<std::string> restricted_violations(const Json& pod) {
  std::vector<std::string> out = baseline_violations(pod);
  const Json& spec = pod["spec"];
  const Json psc = spec.value("securityContext", Json::object());
  for (const auto& c : spec["containers"]) {
    const Json sc = c.value("securityContext", Json::object());
    if (sc.value("allowPrivilegeEscalation", true)) out.push_back("allowPrivilegeEscalation");
    if (!sc.value("runAsNonRoot", psc.value("runAsNonRoot", false))) out.push_back("runAsNonRoot");
    if (sc.value("runAsUser", psc.value("runAsUser", 0)) == 0) out.push_back("runAsUser 0");
    const Json drop = sc.contains("capabilities") ? sc["capabilities"].value("drop", Json::array())
                                                  : Json::array();
    if (std::find(drop.begin(), drop.end(), "ALL") == drop.end()) out.push_back("drop ALL");
    const Json seccomp = sc.value("seccompProfile", psc.value("seccompProfile", Json::object()));
    if (seccomp.value("type", "") != "RuntimeDefault" && seccomp.value("type", "") != "Localhost") {
      out.push_back("seccompProfile");
    }
  }
  return out;
}

Job job_without_host_path(PodSecurity level) {
  Job job = train_job(2);
  job.spec.storage.data = nullptr;
  job.spec.pod_security = level;
  return job;
}

TEST(PodBuilder, EveryModePassesBaselineWithoutHostPath) {
  for (const Mode mode : {Mode::kTrain, Mode::kWebui, Mode::kApi, Mode::kWebchat, Mode::kExport}) {
    Job job = job_without_host_path(PodSecurity::kBaseline);
    job.spec.mode = mode;
    const Json pod = build_pod(job, 0, 0, {});
    EXPECT_EQ(baseline_violations(pod), std::vector<std::string>{}) << mode_name(mode);
    EXPECT_FALSE(pod["spec"].contains("securityContext")) << "baseline: the image's own user";
  }
  EXPECT_EQ(baseline_violations(build_pod(train_job(), 0, 0, {})),
            std::vector<std::string>{"hostPath volume data"})
      << "hostPath is the author's choice, refused by Pod Security where it applies";
}

TEST(PodBuilder, RestrictedRunsAsNonRootWithTheCachesUnderItsHome) {
  const Json pod = build_pod(job_without_host_path(PodSecurity::kRestricted), 1, 0, {});
  EXPECT_EQ(restricted_violations(pod), std::vector<std::string>{});
  const Json& psc = pod["spec"]["securityContext"];
  EXPECT_EQ(psc["runAsUser"], 1000);
  EXPECT_EQ(psc["runAsGroup"], 1000);
  EXPECT_EQ(psc["fsGroup"], 1000);
  const Json& mounts = pod["spec"]["containers"][0]["volumeMounts"];
  EXPECT_EQ((*find_named(mounts, "huggingface-cache"))["mountPath"],
            "/home/llamafactory/.cache/huggingface");
  EXPECT_EQ((*find_named(mounts, "modelscope-cache"))["mountPath"],
            "/home/llamafactory/.cache/modelscope");
  EXPECT_EQ((*find_named(mounts, "home"))["mountPath"], "/home/llamafactory");
  EXPECT_EQ((*find_named(mounts, "data"))["mountPath"], "/app/data");
  EXPECT_EQ((*find_named(mounts, "output"))["mountPath"], "/app/output");
  EXPECT_EQ(env_of(pod, "HOME"), "/home/llamafactory");
  EXPECT_EQ(env_of(pod, "HF_HOME"), "/home/llamafactory/.cache/huggingface");
  EXPECT_EQ(env_of(pod, "MODELSCOPE_CACHE"), "/home/llamafactory/.cache/modelscope");
  EXPECT_EQ(env_of(pod, "NODE_RANK"), "1") << "torchrun env as before";
  EXPECT_EQ(pod["spec"]["containers"][0]["resources"]["limits"]["huawei.com/Ascend910"], "8");

  const Json baseline = build_pod(job_without_host_path(PodSecurity::kBaseline), 1, 0, {});
  EXPECT_FALSE(restricted_violations(baseline).empty());
  EXPECT_EQ(env_of(baseline, "HF_HOME"), "<unset>");
}

TEST(PodBuilder, PodSecurityIsParsedAndChecked) {
  const auto parse = [](const std::string& level) {
    return parse_job(Json{{"metadata", {{"name", "a"}, {"namespace", "n"}}},
                          {"spec", {{"mode", "webui"}, {"podSecurity", level}}}});
  };
  ASSERT_TRUE(parse("restricted").ok());
  EXPECT_EQ(parse("restricted").value().spec.pod_security, PodSecurity::kRestricted);
  EXPECT_EQ(parse("baseline").value().spec.pod_security, PodSecurity::kBaseline);
  const auto bad = parse("privileged");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("spec.podSecurity"), std::string::npos);
}

TEST(PodBuilder, RankZeroOfATrainingJobGetsTheProgressReporter) {
  const PodBuilderOptions options{"default:img", "https://op-progress.af.svc:9443/v1/progress",
                                  "-----BEGIN CERTIFICATE-----\nx\n"};
  const Json pod = build_pod(train_job(), 0, 0, options);
  const Json& spec = pod["spec"];
  ASSERT_TRUE(spec.contains("initContainers"));
  ASSERT_EQ(spec["initContainers"].size(), 1U);
  const Json& sidecar = spec["initContainers"][0];
  EXPECT_EQ(sidecar["name"], kProgressContainer);
  EXPECT_EQ(sidecar["restartPolicy"], "Always") << "a sidecar: never holds the Pod open";
  EXPECT_EQ(sidecar["command"], Json::array({"lfjob-progress"}));
  EXPECT_EQ(sidecar["image"], spec["containers"][0]["image"]);
  std::map<std::string, std::string> env;
  for (const auto& e : sidecar["env"])
    env[e["name"]] = e["value"];
  EXPECT_EQ(env["LFJOB_PROGRESS_URL"], "https://op-progress.af.svc:9443/v1/progress");
  EXPECT_EQ(env["LFJOB_PROGRESS_CA"], "-----BEGIN CERTIFICATE-----\nx\n");
  EXPECT_EQ(env["LFJOB_PROGRESS_TOKEN_FILE"], "/var/run/secrets/ascendfactory.io/progress/token");
  EXPECT_EQ(env["LFJOB_OUTPUT_DIR"], "/app/output");
  Json token;
  for (const auto& v : spec["volumes"]) {
    if (v["name"] == "progress-token") token = v;
  }
  ASSERT_FALSE(token.is_null());
  const Json& source = token["projected"]["sources"][0]["serviceAccountToken"];
  EXPECT_EQ(source["audience"], "ascendfactory.io/progress");
  EXPECT_EQ(source["path"], "token");
  EXPECT_EQ(spec["containers"].size(), 1U) << "the workload container is unchanged";
  EXPECT_FALSE(spec.contains("automountServiceAccountToken")) << "the job names its own account";

  EXPECT_FALSE(build_pod(train_job(), 1, 0, options)["spec"].contains("initContainers"))
      << "only rank 0 reports";
  EXPECT_FALSE(
      build_pod(train_job(), 0, 0, {"default:img", "", ""})["spec"].contains("initContainers"))
      << "no status server, no reporter";
}

TEST(PodBuilder, OutputDirFollowsTheConfigAndItsOverrides) {
  JobSpec spec;
  EXPECT_EQ(output_dir(spec), "/app/output");
  spec.config = Json{{"output_dir", "/app/output/qwen"}};
  EXPECT_EQ(output_dir(spec), "/app/output/qwen");
  spec.config = Json{{"output_dir", "saves/qwen"}};
  EXPECT_EQ(output_dir(spec), "/app/saves/qwen") << "relative to the image's /app";
  spec.args = {"output_dir=/app/output/other", "logging_steps=1"};
  EXPECT_EQ(output_dir(spec), "/app/output/other");
}

}  // namespace
}  // namespace ascend::op
