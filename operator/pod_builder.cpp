#include "operator/pod_builder.hpp"

#include <utility>

#include "operator/children.hpp"
#include "operator/progress_server.hpp"

namespace ascend::op {

namespace {

Json env_var(const std::string& name, const std::string& value) {
  return Json{{"name", name}, {"value", value}};
}

// Our variables first, then the user's; a user variable with one of our names replaces ours
// in place (Kubernetes would keep both and let the last win, with a warning).
Json merge_env(Json ours, const Json& user) {
  for (const auto& var : user) {
    const std::string name = var.value("name", "");
    bool replaced = false;
    for (auto& mine : ours) {
      if (mine["name"] == name) {
        mine = var;
        replaced = true;
        break;
      }
    }
    if (!replaced) ours.push_back(var);
  }
  return ours;
}

Json volume(const std::string& name, const Json& source) {
  Json v = source.is_null() ? Json{{"emptyDir", Json::object()}} : source;
  v["name"] = name;
  return v;
}

// The reporter sidecar and its token volume (see kProgressContainer).
void add_progress_reporter(const Job& job, const PodBuilderOptions& options, const Json& main,
                           Json& pod_spec) {
  Json env = Json::array();
  env.push_back(env_var("LFJOB_PROGRESS_URL", options.progress_url));
  env.push_back(env_var("LFJOB_PROGRESS_CA", options.progress_ca_pem));
  env.push_back(env_var("LFJOB_PROGRESS_TOKEN_FILE", std::string(kProgressTokenDir) + "/token"));
  env.push_back(env_var("LFJOB_OUTPUT_DIR", output_dir(job.spec)));
  Json sidecar = {
      {"name", kProgressContainer},
      {"image", main["image"]},
      {"restartPolicy", "Always"},
      {"command", {"lfjob-progress"}},
      {"env", env},
      {"resources",
       {{"requests", {{"cpu", "10m"}, {"memory", "16Mi"}}}, {"limits", {{"memory", "64Mi"}}}}},
      {"volumeMounts",
       {{{"name", "output"}, {"mountPath", "/app/output"}, {"readOnly", true}},
        {{"name", "progress-token"}, {"mountPath", kProgressTokenDir}, {"readOnly", true}}}}};
  if (main.contains("imagePullPolicy")) sidecar["imagePullPolicy"] = main["imagePullPolicy"];
  if (main.contains("securityContext")) sidecar["securityContext"] = main["securityContext"];
  pod_spec["initContainers"] = Json::array({sidecar});
  // Bound to this Pod by the kubelet (the token names it), for one audience, short-lived.
  pod_spec["volumes"].push_back({{"name", "progress-token"},
                                 {"projected",
                                  {{"sources",
                                    {{{"serviceAccountToken",
                                       {{"audience", kProgressAudience},
                                        {"expirationSeconds", 3600},
                                        {"path", "token"}}}}}}}}});
}

}  // namespace

std::string output_dir(const JobSpec& spec) {
  std::string dir;
  if (spec.config && spec.config->is_object() && spec.config->contains("output_dir") &&
      (*spec.config)["output_dir"].is_string()) {
    dir = (*spec.config)["output_dir"].get<std::string>();
  }
  for (const auto& arg : spec.args) {
    if (arg.starts_with("output_dir=")) dir = arg.substr(std::string_view("output_dir=").size());
  }
  if (dir.empty()) return "/app/output";
  if (dir.front() != '/') dir = "/app/" + dir;  // the image's working folder
  return dir;
}

Json build_pod(const Job& job, int rank, int attempt, const PodBuilderOptions& options) {
  const JobSpec& spec = job.spec;
  const bool train = spec.mode == Mode::kTrain;
  const std::string name = pod_name(job.name, rank);

  Json labels = Json::object();
  for (const auto& [k, v] : spec.pod_labels)
    labels[k] = v;
  labels.update(child_labels(job));
  labels[labels::kNodeRank] = std::to_string(rank);
  labels[labels::kAttempt] = std::to_string(attempt);

  Json annotations = Json::object();
  for (const auto& [k, v] : spec.pod_annotations)
    annotations[k] = v;
  // A node running a training rank must not be scaled down under it: the whole torchrun group
  // would have to restart. One annotation for each autoscaler.
  if (train) {
    annotations[labels::kSafeToEvict] = "false";
    annotations[labels::kDoNotDisrupt] = "true";
  }

  Json command = {"llamafactory-cli", mode_name(spec.mode)};
  if (spec.has_config() && spec.mode != Mode::kWebui) command.push_back(workload::kConfigPath);
  for (const auto& arg : spec.args)
    command.push_back(arg);

  Json env = Json::array();
  env.push_back(env_var("GRADIO_SERVER_PORT", std::to_string(workload::kWebuiPort)));
  env.push_back(env_var("API_PORT", std::to_string(workload::kApiPort)));
  if (train) {
    // What LLaMA-Factory's launcher reads to start torchrun (not Kubeflow's PET_* names).
    // MASTER_PORT is always set: unset, every node would pick a random port.
    env.push_back(env_var("FORCE_TORCHRUN", "1"));
    env.push_back(env_var("NNODES", std::to_string(spec.nodes)));
    env.push_back(env_var("NODE_RANK", std::to_string(rank)));
    env.push_back(env_var("NPROC_PER_NODE", std::to_string(spec.npus_per_node)));
    env.push_back(env_var("MASTER_ADDR", master_address(job)));
    env.push_back(env_var("MASTER_PORT", std::to_string(spec.master_port)));
  }
  const bool restricted = spec.pod_security == PodSecurity::kRestricted;
  if (restricted) {
    env.push_back(env_var("HOME", workload::kNonRootHome));
    env.push_back(env_var("HF_HOME", workload::kNonRootHuggingfaceCache));
    env.push_back(env_var("MODELSCOPE_CACHE", workload::kNonRootModelscopeCache));
  }
  env = merge_env(std::move(env), spec.env);

  Json resources = spec.resources.is_object() ? spec.resources : Json::object();
  const std::string npus = std::to_string(spec.npus_per_node);
  resources["limits"][kNpuResource] = npus;
  resources["requests"][kNpuResource] = npus;

  Json ports = Json::array();
  ports.push_back({{"name", workload::kWebuiPortName},
                   {"containerPort", workload::kWebuiPort},
                   {"protocol", "TCP"}});
  ports.push_back({{"name", workload::kApiPortName},
                   {"containerPort", workload::kApiPort},
                   {"protocol", "TCP"}});
  if (train) {
    ports.push_back(
        {{"name", "rendezvous"}, {"containerPort", spec.master_port}, {"protocol", "TCP"}});
  }

  Json mounts = {
      {{"name", "huggingface-cache"},
       {"mountPath",
        restricted ? workload::kNonRootHuggingfaceCache : workload::kRootHuggingfaceCache}},
      {{"name", "modelscope-cache"},
       {"mountPath",
        restricted ? workload::kNonRootModelscopeCache : workload::kRootModelscopeCache}},
      {{"name", "data"}, {"mountPath", "/app/data"}},
      {{"name", "output"}, {"mountPath", "/app/output"}},
      {{"name", "dshm"}, {"mountPath", "/dev/shm"}},
  };
  Json volumes = {
      volume("huggingface-cache", spec.storage.huggingface_cache),
      volume("modelscope-cache", spec.storage.modelscope_cache),
      volume("data", spec.storage.data),
      volume("output", spec.storage.output),
      Json{{"name", "dshm"},
           {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", spec.storage.shm_size}}}},
  };
  if (restricted) {
    // A writable home for what else the libraries keep under ~ (the image may not have it).
    mounts.push_back({{"name", "home"}, {"mountPath", workload::kNonRootHome}});
    volumes.push_back(volume("home", nullptr));
  }
  if (spec.has_config()) {
    mounts.push_back({{"name", "config"}, {"mountPath", workload::kConfigDir}, {"readOnly", true}});
    const std::string cm = spec.config ? config_map_name(job.name) : spec.config_map_ref->name;
    const std::string key = spec.config ? workload::kConfigFile : spec.config_map_ref->key;
    volumes.push_back(
        {{"name", "config"},
         {"configMap",
          {{"name", cm}, {"items", {{{"key", key}, {"path", workload::kConfigFile}}}}}}});
  }

  Json container = {{"name", workload::kContainerName},
                    {"image", spec.image.empty() ? options.default_image : spec.image},
                    {"command", command},
                    {"env", env},
                    {"ports", ports},
                    {"resources", resources},
                    {"volumeMounts", mounts}};
  if (!spec.image_pull_policy.empty()) container["imagePullPolicy"] = spec.image_pull_policy;
  if (restricted) {
    // Pod Security "restricted": no escalation, no capabilities (NPUs are device-plugin
    // devices, not capabilities), non-root (also set at Pod level).
    container["securityContext"] = {{"allowPrivilegeEscalation", false},
                                    {"capabilities", {{"drop", {"ALL"}}}},
                                    {"runAsNonRoot", true}};
  }
  if (spec.mode == Mode::kApi || spec.mode == Mode::kWebui || spec.mode == Mode::kWebchat) {
    const char* port = spec.mode == Mode::kApi ? workload::kApiPortName : workload::kWebuiPortName;
    container["readinessProbe"] = {
        {"tcpSocket", {{"port", port}}}, {"periodSeconds", 10}, {"failureThreshold", 3}};
  }

  Json pod_spec = {{"restartPolicy", "Never"},
                   {"hostname", name},
                   {"subdomain", headless_service_name(job.name)},
                   {"enableServiceLinks", false},
                   {"containers", Json::array({container})},
                   {"volumes", volumes}};
  if (restricted) {
    pod_spec["securityContext"] = {{"runAsNonRoot", true},
                                   {"runAsUser", workload::kNonRootId},
                                   {"runAsGroup", workload::kNonRootId},
                                   {"fsGroup", workload::kNonRootId},
                                   {"seccompProfile", {{"type", "RuntimeDefault"}}}};
  }
  if (!spec.node_selector.empty()) pod_spec["nodeSelector"] = spec.node_selector;
  if (!spec.tolerations.empty()) pod_spec["tolerations"] = spec.tolerations;
  if (!spec.affinity.is_null()) pod_spec["affinity"] = spec.affinity;
  if (!spec.image_pull_secrets.empty()) pod_spec["imagePullSecrets"] = spec.image_pull_secrets;
  if (!spec.priority_class_name.empty()) pod_spec["priorityClassName"] = spec.priority_class_name;
  if (!spec.scheduler_name.empty()) pod_spec["schedulerName"] = spec.scheduler_name;
  if (!spec.service_account_name.empty()) {
    pod_spec["serviceAccountName"] = spec.service_account_name;
  } else {
    // LLaMA-Factory never calls the API server: no token unless the user picked an account.
    pod_spec["automountServiceAccountToken"] = false;
  }

  if (train && rank == 0 && !options.progress_url.empty()) {
    add_progress_reporter(job, options, container, pod_spec);
  }

  Json metadata = child_metadata(job, name);
  metadata["labels"] = labels;
  if (!annotations.empty()) metadata["annotations"] = annotations;
  return Json{{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", metadata}, {"spec", pod_spec}};
}

}  // namespace ascend::op
