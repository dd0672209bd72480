// llamafactory-operator: parses its flags, registers its caches and controllers with a
// kube::Manager, and runs it: the manager waits for the caches, reconciles while this replica
// holds the Lease, serves /healthz, /readyz and /metrics, and on SIGTERM or SIGINT stops in
// order (kube/manager.hpp).

#include <prometheus/registry.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <utility>

#include "kube/client.hpp"
#include "kube/config.hpp"
#include "kube/manager.hpp"
#include "kube/predicate.hpp"
#include "kube/program.hpp"
#include "operator/autoscaler_events.hpp"
#include "operator/caches.hpp"
#include "operator/config.hpp"
#include "operator/job.hpp"
#include "operator/job_metrics.hpp"
#include "operator/node_readiness.hpp"
#include "operator/progress.hpp"
#include "operator/progress_server.hpp"
#include "operator/reconciler.hpp"

namespace kube = ascend::kube;
namespace op = ascend::op;
namespace klog = ascend::kube::log;
using klog::kv;

namespace {

constexpr const char* kProgram = "llamafactory-operator";

std::string default_identity() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::random_device random;
  char suffix[9];
  std::snprintf(suffix, sizeof suffix, "%08x", random());
  return std::string(host[0] != '\0' ? host : kProgram) + "_" + suffix;
}

kube::ControllerOptions controller_options(std::string name, int workers) {
  kube::ControllerOptions options;
  options.name = std::move(name);
  options.workers = workers;
  return options;
}

// Where to serve, from a flag already validated by load_config(); empty: nowhere.
std::optional<kube::ServingOptions> serving(const std::string& address) {
  if (address.empty()) return std::nullopt;
  const auto parsed = op::parse_address(address).value();
  return kube::ServingOptions{parsed.host.empty() ? "0.0.0.0" : parsed.host, parsed.port};
}

// --kueue: on, off, or (auto) whether the API server serves Kueue's v1beta2 API now. A 404
// (no Kueue) or 403 (RBAC without Kueue's resources) is off; any other answer is on, and the
// manager's wait for the caches says what is wrong.
bool kueue_enabled(const std::string& mode, kube::Client& api) {
  if (mode != "auto") return mode == "on";
  kube::ListOptions options;
  options.limit = 1;
  const auto listed = api.list_page(op::kueue::kResourceFlavors, "", options);
  const bool on = listed || (listed.error().code != 404 && listed.error().code != 403);
  // The tests read a "forbidden" in the log as a missing RBAC rule; no access to Kueue's
  // flavors is a choice (chart value operator.rbac.kueue=false), said in other words.
  std::string reason = "kueue.x-k8s.io/v1beta2 served";
  if (!listed) {
    reason = listed.error().code == 404   ? "kueue.x-k8s.io/v1beta2 not served (no Kueue)"
             : listed.error().code == 403 ? "no RBAC access to Kueue's ResourceFlavors"
                                          : listed.error().to_string();
  }
  klog::info("kueue integration", {kv("mode", mode), kv("enabled", on), kv("reason", reason)});
  return on;
}

}  // namespace

int main(int argc, char** argv) {
  kube::limit_malloc_arenas();
  const op::ConfigLoad load = op::load_config(argc, argv);
  if (load.exit_code >= 0) return kube::exit_with(load.exit_code, load.message);
  const op::OperatorConfig& config = load.config;
  if (!kube::start_logging(kProgram, {config.log_level, config.log_format})) return 2;
  // Before any thread starts, so that SIGTERM and SIGINT reach only the manager's wait.
  kube::StopSignals signals;

  auto registry = std::make_shared<prometheus::Registry>();
  auto metrics = std::make_shared<kube::Metrics>(*registry, "llamafactory_operator");
  auto job_metrics = std::make_shared<op::JobMetrics>(*registry, "llamafactory_operator");

  // cpprestsdk's I/O pool (40 threads by default) only moves bytes and hands results over; 4
  // carry the watches and 100 requests/s. Fewer threads also means fewer malloc arenas.
  kube::set_io_threads(4);
  auto kube_config = kube::load_default_config(config.kubeconfig, config.context);
  if (!kube_config)
    return kube::exit_with(1, std::string(kProgram) + ": " + kube_config.error().message);
  kube::ClientOptions client_options;
  client_options.qps = config.kube_api_qps;
  client_options.burst = config.kube_api_burst;
  client_options.metrics = metrics;
  auto client = kube::Client::from_config(kube_config.value(), client_options);
  // Events have a client, and so a rate budget, of their own (as in kube-scheduler and
  // kube-controller-manager): two Events per job never queue reconciles' writes behind them.
  auto event_client = kube::Client::from_config(kube_config.value(), client_options);
  for (const auto* made : {&client, &event_client}) {
    if (!*made) return kube::exit_with(1, std::string(kProgram) + ": " + made->error().message);
  }
  const kube::ClientPtr api = client.value();
  const std::string identity = config.identity.empty() ? default_identity() : config.identity;
  klog::info("starting",
             {kv("api", kube_config.value().source), kv("identity", identity),
              kv("namespace", config.watch_namespace.empty() ? "*" : config.watch_namespace),
              kv("workers", config.workers), kv("leader_elect", config.leader_elect)});

  kube::ManagerOptions manager_options;
  manager_options.client = api;
  manager_options.registry = registry;
  manager_options.metrics = metrics;
  manager_options.metrics_serving = serving(config.metrics_address);
  manager_options.health_serving = serving(config.health_address);
  if (config.leader_elect) {
    kube::LeaderElectionOptions election;
    election.lease_namespace = config.lease_namespace;  // empty: the client's namespace
    election.lease_name = config.lease_name;
    election.identity = identity;
    manager_options.leader_election = election;
  }
  kube::Manager manager(manager_options);

  // Caches: jobs, and the children the operator labels (a selector keeps unrelated Pods out).
  // Each keeps only the fields the reconciler reads (operator/caches.hpp).
  const auto watch = [&](kube::Transform transform, bool labelled) {
    kube::WatcherOptions options;
    options.ns = config.watch_namespace;
    if (labelled) options.label_selector = op::labels::kJobName;
    options.transform = std::move(transform);
    return options;
  };
  kube::Informer& jobs = manager.add_informer(op::kJobs, watch(op::job_cache_transform(), false));
  kube::Informer& pods =
      manager.add_informer(kube::resources::kPods, watch(op::pod_cache_transform(), true));
  // A reconcile reads its job's Pods by label: indexed, so its cost does not grow with the
  // number of Pods cached (5,000 jobs, bench/README.md).
  pods.store()->index_label(op::labels::kJobName);
  kube::Informer& services =
      manager.add_informer(kube::resources::kServices, watch(op::child_cache_transform(), true));
  kube::Informer& config_maps =
      manager.add_informer(kube::resources::kConfigMaps, watch(op::child_cache_transform(), true));
  // Kueue (operator/workload.hpp): the Workloads the operator made (labelled like its other
  // children) and the ResourceFlavors whose node labels admitted Pods get. "auto" looks once
  // whether the API server serves Kueue's API.
  kube::Informer* workloads = nullptr;
  kube::Informer* flavors = nullptr;
  if (kueue_enabled(config.kueue, *api)) {
    workloads =
        &manager.add_informer(op::kueue::kWorkloads, watch(op::job_cache_transform(), true));
    kube::WatcherOptions flavor_watch;
    flavor_watch.transform = op::job_cache_transform();
    flavors = &manager.add_informer(op::kueue::kResourceFlavors, flavor_watch);
  }
  jobs.store()->add_handler(
      [job_metrics](const kube::ObjectPtr& old_object, const kube::ObjectPtr& new_object) {
        job_metrics->job_changed(old_object, new_object);
      });

  kube::EventRecorderOptions event_options;
  event_options.controller = "ascendfactory.io/llamafactory-operator";
  event_options.instance = identity;
  kube::EventRecorder& events = manager.add_event_recorder(event_client.value(), event_options);
  op::ReconcilerOptions reconciler_options;
  reconciler_options.pods.default_image = config.default_image;
  reconciler_options.metrics = job_metrics;
  reconciler_options.pending_status_delay = std::chrono::milliseconds(
      static_cast<std::int64_t>(config.pending_status_delay_seconds * 1000));
  // Node autoscalers' word on Pending Pods (operator/autoscaler_events.hpp): one Event informer
  // per autoscaler, field-selected to its Events on Pods, so no other Event is ever sent here.
  // Not waited for at start (jobs do not depend on them; without access to Events they only log).
  std::shared_ptr<op::AutoscalerNotes> autoscaler_notes;
  std::vector<kube::Informer*> autoscaler_events;
  if (!config.autoscaler_events.empty()) {
    autoscaler_notes = std::make_shared<op::AutoscalerNotes>(config.autoscaler_events);
    for (const auto& selector : op::autoscaler_event_selectors(config.autoscaler_events)) {
      kube::WatcherOptions options;
      options.ns = config.watch_namespace;
      options.field_selector = selector;
      options.transform = op::event_cache_transform();
      kube::Informer& informer =
          manager.add_informer(op::kCoreEvents, options, kube::CacheSync::kSkip);
      // First the note, then the job's key: the reconcile it queues reads the new note.
      informer.store()->add_handler(
          [autoscaler_notes](const kube::ObjectPtr& old_object, const kube::ObjectPtr& new_object) {
            autoscaler_notes->observe(old_object, new_object);
          });
      autoscaler_events.push_back(&informer);
    }
    reconciler_options.autoscaler_notes = autoscaler_notes;
  }
  std::shared_ptr<op::ProgressStore> progress;
  // The chart mounts the status server's Secret as optional: without its files the operator
  // runs, without progress (and training Pods get no reporter).
  const bool progress_files = std::ifstream(config.progress_cert_file).good();
  if (config.progress_enabled() && !progress_files) {
    klog::warn("status server off: no serving certificate",
               {kv("file", config.progress_cert_file)});
  }
  if (config.progress_enabled() && progress_files) {
    std::ifstream ca_file(config.progress_ca_file);
    std::stringstream ca;
    ca << ca_file.rdbuf();
    if (!ca_file || ca.str().find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return kube::exit_with(1, std::string(kProgram) + ": --progress-ca-file " +
                                    config.progress_ca_file + " holds no PEM certificate");
    }
    progress =
        std::make_shared<op::ProgressStore>(std::chrono::seconds(config.progress_interval_seconds));
    reconciler_options.progress = progress;
    reconciler_options.pods.progress_url = config.progress_url;
    reconciler_options.pods.progress_ca_pem = ca.str();
  }
  op::Reconciler reconciler(api,
                            {jobs.store(), pods.store(), services.store(), config_maps.store(),
                             workloads != nullptr ? workloads->store() : nullptr,
                             flavors != nullptr ? flavors->store() : nullptr},
                            &events, reconciler_options);
  // The reconciler's own status writes queue nothing (it already knows what it wrote); a new
  // phase still does (a finished job's TTL is scheduled by the reconcile that sees it finished).
  kube::Controller& job_controller =
      manager
          .add_controller(
              controller_options("lfjob", config.workers),
              [&reconciler](const std::string& key) { return reconciler.reconcile(key); })
          .watch(*jobs.store(), kube::ignore_status_updates({"phase"}))
          .watch_owned(*pods.store(), op::kJobs)
          .watch_owned(*services.store(), op::kJobs)
          .watch_owned(*config_maps.store(), op::kJobs);
  if (workloads != nullptr) job_controller.watch_owned(*workloads->store(), op::kJobs);
  for (kube::Informer* informer : autoscaler_events) {
    job_controller.watch_mapped(*informer->store(), [store = pods.store()](const op::Json& event) {
      return op::job_of_event(*store, event);
    });
  }

  // Startup taints (operator/node_readiness.hpp): a controller with a Node cache of its own,
  // leader-elected with the job controller. Its cache is not waited for at start: jobs do not
  // depend on it, and without access to Nodes it only logs (--startup-taint= turns it off).
  std::optional<op::NodeReadiness> node_readiness;
  if (!config.startup_taint.empty()) {
    op::NodeReadinessOptions node_options;
    node_options.taint = config.startup_taint;
    node_options.metrics = job_metrics;
    kube::WatcherOptions node_watch;
    node_watch.transform = op::node_cache_transform(node_options);
    kube::Informer& nodes =
        manager.add_informer(kube::resources::kNodes, node_watch, kube::CacheSync::kSkip);
    node_readiness.emplace(api, nodes.store(), node_options);
    manager
        .add_controller(
            controller_options("node-readiness", 2),
            [&node_readiness](const std::string& key) { return node_readiness->reconcile(key); })
        .watch(*nodes.store(), op::node_update_filter(node_options));
  }

  // The status server (operator/progress_server.hpp): every replica serves it, and only the
  // one that reconciles accepts (the others answer 503 and the reporter tries the next
  // address of the operator's headless Service).
  std::unique_ptr<kube::HttpsServer> progress_server;
  if (progress) {
    const auto where = op::parse_address(config.progress_address).value();
    kube::HttpsServerOptions https;
    https.address = where.host.empty() ? "0.0.0.0" : where.host;
    https.port = where.port;
    https.cert_file = config.progress_cert_file;
    https.key_file = config.progress_key_file;
    auto reviewer = std::make_shared<kube::CachingTokenReviewer>(
        std::make_shared<kube::ApiTokenReviewer>(api, op::kProgressAudience),
        std::chrono::seconds(60), 10000);
    op::ProgressHandler handler(
        reviewer,
        [store = pods.store()](const std::string& ns,
                               const std::string& name) -> std::optional<nlohmann::json> {
          auto pod = store->get(ns + "/" + name);
          if (!pod) return std::nullopt;
          return *pod;
        },
        [&manager] { return manager.reconciling(); },
        [progress, &job_controller](const std::string& key, op::Progress report) {
          const auto delay =
              progress->record(key, std::move(report), std::chrono::steady_clock::now());
          if (delay) job_controller.queue().add_after(key, *delay);
        });
    progress_server = std::make_unique<kube::HttpsServer>(
        https,
        [handler = std::move(handler)](const kube::HttpsRequest& r) { return handler.handle(r); });
    if (auto started = progress_server->start(); !started) {
      return kube::exit_with(1,
                             std::string(kProgram) + ": status server: " + started.error().message);
    }
    klog::info("status server", {kv("address", config.progress_address + " (port " +
                                                   std::to_string(progress_server->port()) + ")"),
                                 kv("url", config.progress_url)});
  }

  const int code = manager.run(signals);
  if (progress_server) progress_server->stop();
  return code;
}
