#include "operator/job.hpp"

#include <array>
#include <regex>
#include <utility>

namespace ascend::op {

namespace {

kube::Error invalid(const std::string& field, const std::string& what) {
  return kube::Error{0, "Invalid", field + ": " + what};
}

// The spec parser: each helper reads one field, applies the CRD's default when absent, and
// reports the first violation with the field's path.
class SpecReader {
 public:
  [[nodiscard]] const std::optional<kube::Error>& error() const { return error_; }

  const Json* field(const Json& parent, const std::string& key) {
    if (!parent.is_object()) return nullptr;
    const auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return nullptr;
    return &*it;
  }

  std::string string(const Json& parent, const std::string& key, const std::string& path,
                     const std::string& fallback = "") {
    const Json* value = field(parent, key);
    if (value == nullptr) return fallback;
    if (!value->is_string()) {
      fail(path, "must be a string");
      return fallback;
    }
    return value->get<std::string>();
  }

  std::int64_t integer(const Json& parent, const std::string& key, const std::string& path,
                       std::int64_t fallback, std::int64_t min, std::int64_t max) {
    const Json* value = field(parent, key);
    if (value == nullptr) return fallback;
    if (!value->is_number_integer()) {
      fail(path, "must be an integer");
      return fallback;
    }
    const auto n = value->get<std::int64_t>();
    if (n < min || n > max) {
      fail(path, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                     " (got " + std::to_string(n) + ")");
      return fallback;
    }
    return n;
  }

  bool boolean(const Json& parent, const std::string& key, const std::string& path, bool fallback) {
    const Json* value = field(parent, key);
    if (value == nullptr) return fallback;
    if (!value->is_boolean()) {
      fail(path, "must be true or false");
      return fallback;
    }
    return value->get<bool>();
  }

  Json typed(const Json& parent, const std::string& key, const std::string& path,
             Json::value_t type, Json fallback) {
    const Json* value = field(parent, key);
    if (value == nullptr) return fallback;
    if (value->type() != type) {
      fail(path, type == Json::value_t::array ? "must be a list" : "must be an object");
      return fallback;
    }
    return *value;
  }

  std::map<std::string, std::string> string_map(const Json& parent, const std::string& key,
                                                const std::string& path) {
    std::map<std::string, std::string> out;
    const Json object = typed(parent, key, path, Json::value_t::object, Json::object());
    for (const auto& [k, v] : object.items()) {
      if (!v.is_string()) {
        std::string field = path;
        field += ".";
        field += k;
        fail(field, "must be a string");
        continue;
      }
      out[k] = v.get<std::string>();
    }
    return out;
  }

  template <typename E, std::size_t N>
  E enumeration(const Json& parent, const std::string& key, const std::string& path,
                const std::array<std::pair<const char*, E>, N>& values, E fallback) {
    const std::string text = string(parent, key, path);
    if (text.empty()) return fallback;
    std::string allowed;
    for (const auto& [name, value] : values) {
      if (text == name) return value;
      allowed +=
          allowed.empty() ? std::string("\"") + name + "\"" : std::string(", \"") + name + "\"";
    }
    fail(path, "unsupported value \"" + text + "\": supported values: " + allowed);
    return fallback;
  }

  Json volume(const Json& storage, const std::string& key) {
    const std::string path = "spec.storage." + key;
    Json source = typed(storage, key, path, Json::value_t::object, Json());
    if (source.is_null()) return source;
    int sources = 0;
    for (const char* kind : {"persistentVolumeClaim", "hostPath", "emptyDir"}) {
      if (source.contains(kind) && !source[kind].is_null()) ++sources;
    }
    if (sources > 1) {
      fail(path, "set at most one volume source: persistentVolumeClaim, hostPath or emptyDir");
    }
    if (source.contains("persistentVolumeClaim") &&
        !source["persistentVolumeClaim"].value("claimName", Json()).is_string()) {
      fail(path + ".persistentVolumeClaim.claimName", "is required");
    }
    if (source.contains("hostPath") && !source["hostPath"].value("path", Json()).is_string()) {
      fail(path + ".hostPath.path", "is required");
    }
    return sources == 0 ? Json() : source;
  }

  void fail(const std::string& path, const std::string& what) {
    if (!error_) error_ = invalid(path, what);
  }

 private:
  std::optional<kube::Error> error_;
};

constexpr std::array<std::pair<const char*, Mode>, 5> kModes{{{"train", Mode::kTrain},
                                                              {"webui", Mode::kWebui},
                                                              {"api", Mode::kApi},
                                                              {"webchat", Mode::kWebchat},
                                                              {"export", Mode::kExport}}};
constexpr std::array<std::pair<const char*, RestartPolicy>, 3> kPolicies{
    {{"Never", RestartPolicy::kNever},
     {"OnFailure", RestartPolicy::kOnFailure},
     {"ExitCode", RestartPolicy::kExitCode}}};
constexpr std::array<std::pair<const char*, RestartScope>, 2> kScopes{
    {{"Job", RestartScope::kJob}, {"Pod", RestartScope::kPod}}};
constexpr std::array<std::pair<const char*, Phase>, 7> kPhases{{{"Pending", Phase::kPending},
                                                                {"Running", Phase::kRunning},
                                                                {"Restarting", Phase::kRestarting},
                                                                {"Succeeded", Phase::kSucceeded},
                                                                {"Failed", Phase::kFailed},
                                                                {"Suspended", Phase::kSuspended},
                                                                {"Queued", Phase::kQueued}}};
constexpr std::array<std::pair<const char*, PodSecurity>, 2> kPodSecurityLevels{
    {{"baseline", PodSecurity::kBaseline}, {"restricted", PodSecurity::kRestricted}}};
constexpr std::array<std::pair<const char*, int>, 3> kServiceTypes{
    {{"ClusterIP", 0}, {"NodePort", 1}, {"LoadBalancer", 2}}};
constexpr std::array<std::pair<const char*, int>, 3> kPullPolicies{
    {{"Always", 0}, {"IfNotPresent", 1}, {"Never", 2}}};

// metadata.name feeds Pod hostnames (`<name>-worker-<rank>`, a DNS label of at most 63) and
// Service names (DNS-1035 labels), hence the CRD's 45-character rule.
bool valid_job_name(const std::string& name) {
  static const std::regex kName("^[a-z]([-a-z0-9]*[a-z0-9])?$");
  return name.size() <= 45 && std::regex_match(name, kName);
}

bool valid_arg(const std::string& arg) {
  static const std::regex kArg("^[A-Za-z_][A-Za-z0-9_.\\-]*=.*$");
  return std::regex_match(arg, kArg);
}

JobSpec read_spec(SpecReader& r, const Json& spec) {
  JobSpec s;
  s.mode = r.enumeration(spec, "mode", "spec.mode", kModes, Mode::kTrain);
  s.image = r.string(spec, "image", "spec.image");
  r.enumeration(spec, "imagePullPolicy", "spec.imagePullPolicy", kPullPolicies, 0);
  s.image_pull_policy = r.string(spec, "imagePullPolicy", "spec.imagePullPolicy");
  s.image_pull_secrets = r.typed(spec, "imagePullSecrets", "spec.imagePullSecrets",
                                 Json::value_t::array, Json::array());
  s.nodes = static_cast<int>(r.integer(spec, "nodes", "spec.nodes", 1, 1, 1024));
  s.npus_per_node = static_cast<int>(r.integer(spec, "npusPerNode", "spec.npusPerNode", 1, 1, 16));
  if (const Json* config = r.field(spec, "config")) {
    if (!config->is_object()) {
      r.fail("spec.config", "must be an object (the LLaMA-Factory YAML config)");
    } else {
      s.config = *config;
    }
  }
  if (const Json* ref = r.field(spec, "configMapRef")) {
    ConfigMapRef out;
    out.name = r.string(*ref, "name", "spec.configMapRef.name");
    out.key = r.string(*ref, "key", "spec.configMapRef.key", "config.yaml");
    if (out.name.empty()) r.fail("spec.configMapRef.name", "is required");
    s.config_map_ref = out;
  }
  const Json args = r.typed(spec, "args", "spec.args", Json::value_t::array, Json::array());
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string path = "spec.args[" + std::to_string(i) + "]";
    if (!args[i].is_string() || !valid_arg(args[i].get<std::string>())) {
      r.fail(path, "must be key=value, e.g. learning_rate=1e-4");
      continue;
    }
    s.args.push_back(args[i].get<std::string>());
  }
  s.env = r.typed(spec, "env", "spec.env", Json::value_t::array, Json::array());
  for (std::size_t i = 0; i < s.env.size(); ++i) {
    if (!s.env[i].is_object() || !s.env[i].value("name", Json()).is_string()) {
      r.fail("spec.env[" + std::to_string(i) + "].name", "is required");
    }
  }
  s.resources = r.typed(spec, "resources", "spec.resources", Json::value_t::object, Json::object());
  s.node_selector = r.string_map(spec, "nodeSelector", "spec.nodeSelector");
  s.tolerations =
      r.typed(spec, "tolerations", "spec.tolerations", Json::value_t::array, Json::array());
  s.affinity = r.typed(spec, "affinity", "spec.affinity", Json::value_t::object, Json());
  s.priority_class_name = r.string(spec, "priorityClassName", "spec.priorityClassName");
  s.scheduler_name = r.string(spec, "schedulerName", "spec.schedulerName");
  s.service_account_name = r.string(spec, "serviceAccountName", "spec.serviceAccountName");
  s.pod_labels = r.string_map(spec, "podLabels", "spec.podLabels");
  s.pod_annotations = r.string_map(spec, "podAnnotations", "spec.podAnnotations");
  s.master_port =
      static_cast<int>(r.integer(spec, "masterPort", "spec.masterPort", 29500, 1, 65535));

  const Json storage =
      r.typed(spec, "storage", "spec.storage", Json::value_t::object, Json::object());
  s.storage.huggingface_cache = r.volume(storage, "huggingfaceCache");
  s.storage.modelscope_cache = r.volume(storage, "modelscopeCache");
  s.storage.data = r.volume(storage, "data");
  s.storage.output = r.volume(storage, "output");
  if (const Json* shm = r.field(storage, "shmSize")) {
    if (!shm->is_string() && !shm->is_number_integer()) {
      r.fail("spec.storage.shmSize", "must be a quantity such as 16Gi");
    } else {
      s.storage.shm_size = *shm;
    }
  }

  const Json service =
      r.typed(spec, "service", "spec.service", Json::value_t::object, Json::object());
  r.enumeration(service, "type", "spec.service.type", kServiceTypes, 0);
  s.service_type = r.string(service, "type", "spec.service.type", "ClusterIP");

  s.pod_security = r.enumeration(spec, "podSecurity", "spec.podSecurity", kPodSecurityLevels,
                                 PodSecurity::kBaseline);

  const Json policy =
      r.typed(spec, "runPolicy", "spec.runPolicy", Json::value_t::object, Json::object());
  RunPolicy& p = s.run_policy;
  p.restart_policy = r.enumeration(policy, "restartPolicy", "spec.runPolicy.restartPolicy",
                                   kPolicies, RestartPolicy::kOnFailure);
  p.max_restarts =
      static_cast<int>(r.integer(policy, "maxRestarts", "spec.runPolicy.maxRestarts", 3, 0, 1000));
  p.restart_scope = r.enumeration(policy, "restartScope", "spec.runPolicy.restartScope", kScopes,
                                  RestartScope::kJob);
  if (r.field(policy, "activeDeadlineSeconds") != nullptr) {
    p.active_deadline_seconds = r.integer(policy, "activeDeadlineSeconds",
                                          "spec.runPolicy.activeDeadlineSeconds", 0, 1, INT64_MAX);
  }
  if (r.field(policy, "ttlSecondsAfterFinished") != nullptr) {
    p.ttl_seconds_after_finished =
        r.integer(policy, "ttlSecondsAfterFinished", "spec.runPolicy.ttlSecondsAfterFinished", 0, 0,
                  INT64_MAX);
  }
  p.suspend = r.boolean(policy, "suspend", "spec.runPolicy.suspend", false);

  // The cross-field rules of the CRD's x-kubernetes-validations, same words.
  if (s.nodes > 1 && s.mode != Mode::kTrain) {
    r.fail("spec.nodes", "greater than 1 is only supported with spec.mode train (got " +
                             std::to_string(s.nodes) + " with mode " + mode_name(s.mode) + ")");
  }
  if (s.config && s.config_map_ref) {
    r.fail("spec.configMapRef",
           "spec.config and spec.configMapRef are mutually exclusive: set one of them");
  }
  if ((s.mode == Mode::kTrain || s.mode == Mode::kExport) && !s.has_config()) {
    r.fail("spec",
           "spec.config or spec.configMapRef is required when spec.mode is train or export");
  }
  return s;
}

std::string string_or(const Json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::int64_t int_or(const Json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

}  // namespace

std::string mode_name(Mode mode) {
  for (const auto& [name, value] : kModes) {
    if (value == mode) return name;
  }
  return "train";
}

std::string restart_policy_name(RestartPolicy policy) {
  for (const auto& [name, value] : kPolicies) {
    if (value == policy) return name;
  }
  return "OnFailure";
}

std::string phase_name(Phase phase) {
  for (const auto& [name, value] : kPhases) {
    if (value == phase) return name;
  }
  return "";
}

Phase phase_from_name(std::string_view name) {
  for (const auto& [text, value] : kPhases) {
    if (name == text) return value;
  }
  return Phase::kNone;
}

std::ostream& operator<<(std::ostream& out, Phase phase) {
  return out << (phase == Phase::kNone ? std::string("-") : phase_name(phase));
}

const Condition* JobStatus::condition(const std::string& type) const {
  for (const auto& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

Json status_to_json(const JobStatus& s) {
  Json out = Json::object();
  if (s.phase != Phase::kNone) out["phase"] = phase_name(s.phase);
  if (!s.conditions.empty()) {
    Json conditions = Json::array();
    for (const auto& c : s.conditions) {
      conditions.push_back({{"type", c.type},
                            {"status", c.status},
                            {"observedGeneration", c.observed_generation},
                            {"lastTransitionTime", c.last_transition_time},
                            {"reason", c.reason},
                            {"message", c.message}});
    }
    out["conditions"] = std::move(conditions);
  }
  out["observedGeneration"] = s.observed_generation;
  out["restarts"] = s.restarts;
  if (!s.rank_attempts.empty()) out["rankAttempts"] = s.rank_attempts;
  if (!s.start_time.empty()) out["startTime"] = s.start_time;
  if (!s.completion_time.empty()) out["completionTime"] = s.completion_time;
  out["ranks"] = {{"active", s.active}, {"succeeded", s.succeeded}, {"failed", s.failed}};
  Json endpoints = Json::object();
  if (!s.webui_endpoint.empty()) endpoints["webui"] = s.webui_endpoint;
  if (!s.api_endpoint.empty()) endpoints["api"] = s.api_endpoint;
  if (!endpoints.empty()) out["endpoints"] = std::move(endpoints);
  if (s.last_failure) {
    const LastFailure& f = *s.last_failure;
    Json failure = {{"pod", f.pod}, {"rank", f.rank}, {"reason", f.reason}, {"time", f.time}};
    if (f.exit_code) failure["exitCode"] = *f.exit_code;
    if (!f.message.empty()) failure["message"] = f.message;
    out["lastFailure"] = std::move(failure);
  }
  if (s.evictions > 0) out["evictions"] = s.evictions;
  if (s.faults > 0) out["faults"] = s.faults;
  if (s.last_fault) {
    const LastFault& f = *s.last_fault;
    Json fault = {{"pod", f.pod}, {"node", f.node}, {"chips", f.chips}, {"time", f.time}};
    if (!f.message.empty()) fault["message"] = f.message;
    out["lastFault"] = std::move(fault);
  }
  if (s.queue) {
    Json queue = {{"name", s.queue->name}};
    if (!s.queue->workload.empty()) queue["workload"] = s.queue->workload;
    if (!s.queue->cluster_queue.empty()) queue["clusterQueue"] = s.queue->cluster_queue;
    if (!s.queue->last_eviction_time.empty()) {
      queue["lastEvictionTime"] = s.queue->last_eviction_time;
    }
    out["queue"] = std::move(queue);
  }
  if (s.progress) {
    const Progress& p = *s.progress;
    Json progress = {{"step", p.step},
                     {"totalSteps", p.total_steps},
                     {"percent", p.percent},
                     {"resumedFromStep", p.resumed_from_step}};
    if (p.epoch) progress["epoch"] = *p.epoch;
    if (p.loss) progress["loss"] = *p.loss;
    if (p.learning_rate) progress["learningRate"] = *p.learning_rate;
    if (!p.eta.empty()) progress["eta"] = p.eta;
    if (!p.updated_at.empty()) progress["updatedAt"] = p.updated_at;
    out["progress"] = std::move(progress);
  }
  return out;
}

JobStatus status_from_json(const Json& in) {
  JobStatus s;
  if (!in.is_object()) return s;
  s.phase = phase_from_name(string_or(in, "phase"));
  if (const auto it = in.find("conditions"); it != in.end() && it->is_array()) {
    for (const auto& c : *it) {
      if (!c.is_object()) continue;
      s.conditions.push_back(Condition{
          string_or(c, "type"), string_or(c, "status"), int_or(c, "observedGeneration"),
          string_or(c, "lastTransitionTime"), string_or(c, "reason"), string_or(c, "message")});
    }
  }
  s.observed_generation = int_or(in, "observedGeneration");
  s.restarts = static_cast<int>(int_or(in, "restarts"));
  if (const auto it = in.find("rankAttempts"); it != in.end() && it->is_array()) {
    for (const auto& a : *it)
      s.rank_attempts.push_back(a.is_number_integer() ? a.get<int>() : 0);
  }
  s.start_time = string_or(in, "startTime");
  s.completion_time = string_or(in, "completionTime");
  if (const auto it = in.find("ranks"); it != in.end() && it->is_object()) {
    s.active = static_cast<int>(int_or(*it, "active"));
    s.succeeded = static_cast<int>(int_or(*it, "succeeded"));
    s.failed = static_cast<int>(int_or(*it, "failed"));
  }
  if (const auto it = in.find("endpoints"); it != in.end() && it->is_object()) {
    s.webui_endpoint = string_or(*it, "webui");
    s.api_endpoint = string_or(*it, "api");
  }
  if (const auto it = in.find("lastFailure"); it != in.end() && it->is_object()) {
    LastFailure f;
    f.pod = string_or(*it, "pod");
    f.rank = static_cast<int>(int_or(*it, "rank"));
    if (it->contains("exitCode") && (*it)["exitCode"].is_number_integer()) {
      f.exit_code = (*it)["exitCode"].get<int>();
    }
    f.reason = string_or(*it, "reason");
    f.message = string_or(*it, "message");
    f.time = string_or(*it, "time");
    s.last_failure = f;
  }
  s.evictions = static_cast<int>(int_or(in, "evictions"));
  s.faults = static_cast<int>(int_or(in, "faults"));
  if (const auto it = in.find("lastFault"); it != in.end() && it->is_object()) {
    LastFault f;
    f.pod = string_or(*it, "pod");
    f.node = string_or(*it, "node");
    if (const auto chips = it->find("chips"); chips != it->end() && chips->is_array()) {
      for (const auto& c : *chips) {
        if (c.is_string()) f.chips.push_back(c.get<std::string>());
      }
    }
    f.time = string_or(*it, "time");
    f.message = string_or(*it, "message");
    s.last_fault = f;
  }
  if (const auto it = in.find("queue"); it != in.end() && it->is_object()) {
    s.queue = QueueStatus{string_or(*it, "name"), string_or(*it, "workload"),
                          string_or(*it, "clusterQueue"), string_or(*it, "lastEvictionTime")};
  }
  if (const auto it = in.find("progress"); it != in.end() && it->is_object()) {
    const auto number = [&](const char* key) -> std::optional<double> {
      const auto n = it->find(key);
      if (n == it->end() || !n->is_number()) return std::nullopt;
      return n->get<double>();
    };
    Progress p;
    p.step = int_or(*it, "step");
    p.total_steps = int_or(*it, "totalSteps");
    p.percent = number("percent").value_or(0.0);
    p.epoch = number("epoch");
    p.loss = number("loss");
    p.learning_rate = number("learningRate");
    p.eta = string_or(*it, "eta");
    p.updated_at = string_or(*it, "updatedAt");
    p.resumed_from_step = int_or(*it, "resumedFromStep");
    s.progress = p;
  }
  return s;
}

kube::Result<Job> parse_job(const Json& object) {
  if (!object.is_object()) return invalid("object", "must be a JSON object");
  static const Json kNoMetadata = Json::object();
  const Json& metadata = object.contains("metadata") ? object.at("metadata") : kNoMetadata;
  Job job;
  job.ns = string_or(metadata, "namespace");
  job.name = string_or(metadata, "name");
  job.uid = string_or(metadata, "uid");
  job.generation = int_or(metadata, "generation");
  job.resource_version = string_or(metadata, "resourceVersion");
  job.deleting = metadata.is_object() && metadata.contains("deletionTimestamp") &&
                 !metadata.at("deletionTimestamp").is_null();
  if (const auto labels = metadata.find("labels"); labels != metadata.end()) {
    job.queue_name = string_or(*labels, kueue::kQueueNameLabel);
    job.priority_class = string_or(*labels, kueue::kPriorityClassLabel);
  }
  if (!valid_job_name(job.name)) {
    return invalid("metadata.name",
                   "must start with a letter, hold only lower-case letters, digits and '-', and "
                   "be at most 45 characters (got \"" +
                       job.name + "\")");
  }
  const auto spec = object.find("spec");
  if (spec == object.end() || !spec->is_object()) return invalid("spec", "is required");
  SpecReader reader;
  job.spec = read_spec(reader, *spec);
  if (reader.error()) return *reader.error();
  job.status = status_from_json(object.value("status", Json::object()));
  return job;
}

}  // namespace ascend::op
