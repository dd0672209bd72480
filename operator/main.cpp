// llamafactory-operator: parses its flags, wires informers, the reconciler, the controller, leader
// election and the serving endpoints, and on SIGTERM or SIGINT shuts them down in order (stop
// reconciling, give up the lease, flush events, stop watching, stop serving).

#include <malloc.h>
#include <prometheus/registry.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "kube/client.hpp"
#include "kube/config.hpp"
#include "kube/controller.hpp"
#include "kube/events.hpp"
#include "kube/informer.hpp"
#include "kube/leader_election.hpp"
#include "kube/logging.hpp"
#include "kube/metrics.hpp"
#include "kube/serving.hpp"
#include "operator/caches.hpp"
#include "operator/config.hpp"
#include "operator/job.hpp"
#include "operator/job_metrics.hpp"
#include "operator/node_readiness.hpp"
#include "operator/reconciler.hpp"

namespace kube = ascend::kube;
namespace op = ascend::op;
namespace klog = ascend::kube::log;
using klog::kv;

namespace {

std::string default_identity() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::random_device random;
  char suffix[9];
  std::snprintf(suffix, sizeof suffix, "%08x", random());
  return std::string(host[0] != '\0' ? host : "llamafactory-operator") + "_" + suffix;
}

// A serving server on `address`, or null when the address is empty or cannot be bound (the
// operator keeps running without it, and says so).
std::unique_ptr<kube::ServingServer> serve(const std::string& address, const char* what,
                                           std::shared_ptr<prometheus::Registry> registry) {
  if (address.empty()) return nullptr;
  const auto parsed = op::parse_address(address).value();  // validated in load_config()
  auto server = std::make_unique<kube::ServingServer>(
      kube::ServingOptions{parsed.host.empty() ? "0.0.0.0" : parsed.host, parsed.port},
      std::move(registry));
  if (auto started = server->start(); !started) {
    klog::error("cannot serve; continuing without it",
                {kv("what", what), kv("address", address), kv("error", started.error().message)});
    return nullptr;
  }
  klog::info("serving", {kv("what", what), kv("address", address), kv("port", server->port())});
  return server;
}

}  // namespace

int main(int argc, char** argv) {
  // glibc gives each thread that allocates an arena of its own, up to 8 per core, and memory
  // freed in one is not reused by another: with ~30 threads that was ~5 MiB of the peak RSS
  // on the bench (bench/README.md). Two arenas are plenty for a process that mostly waits.
  // MALLOC_ARENA_MAX in the environment still decides when set. Done before any thread
  // starts, so getenv and mallopt race with nothing.
  // NOLINTNEXTLINE(concurrency-mt-unsafe)
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
  const op::ConfigLoad load = op::load_config(argc, argv);
  if (load.exit_code >= 0) {
    (load.exit_code == 0 ? std::cout : std::cerr) << load.message << '\n';
    return load.exit_code;
  }
  const op::OperatorConfig& config = load.config;
  if (auto logging = kube::setup_logging({config.log_level, config.log_format}); !logging) {
    std::cerr << "llamafactory-operator: " << logging.error().message << '\n';
    return 2;
  }

  // Signals go to this thread's sigwait() only: block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto registry = std::make_shared<prometheus::Registry>();
  auto metrics = std::make_shared<kube::Metrics>(*registry, "llamafactory_operator");
  auto job_metrics = std::make_shared<op::JobMetrics>(*registry, "llamafactory_operator");

  // cpprestsdk's I/O pool (40 threads by default) only moves bytes and hands results over; 4
  // carry the watches and 100 requests/s. Fewer threads also means fewer malloc arenas.
  kube::set_io_threads(4);
  auto kube_config = kube::load_default_config(config.kubeconfig, config.context);
  if (!kube_config) {
    std::cerr << "llamafactory-operator: " << kube_config.error().message << '\n';
    return 1;
  }
  kube::ClientOptions client_options;
  client_options.qps = config.kube_api_qps;
  client_options.burst = config.kube_api_burst;
  client_options.metrics = metrics;
  auto client = kube::Client::from_config(kube_config.value(), client_options);
  if (!client) {
    std::cerr << "llamafactory-operator: " << client.error().message << '\n';
    return 1;
  }
  kube::ClientPtr api = client.value();
  const std::string identity = config.identity.empty() ? default_identity() : config.identity;
  klog::info("starting",
             {kv("api", kube_config.value().source), kv("identity", identity),
              kv("namespace", config.watch_namespace.empty() ? "*" : config.watch_namespace),
              kv("workers", config.workers), kv("leader_elect", config.leader_elect)});

  // Caches: jobs, and the children the operator labels (a selector keeps unrelated Pods out).
  // Each keeps only the fields the reconciler reads (operator/caches.hpp).
  kube::WatcherOptions all;
  all.ns = config.watch_namespace;
  all.metrics = metrics;
  kube::WatcherOptions ours = all;
  ours.label_selector = op::labels::kJobName;
  const auto with = [](kube::WatcherOptions options, kube::Transform transform) {
    options.transform = std::move(transform);
    return options;
  };
  kube::Informer jobs(api, op::kJobs, with(all, op::job_cache_transform()));
  kube::Informer pods(api, kube::resources::kPods, with(ours, op::pod_cache_transform()));
  kube::Informer services(api, kube::resources::kServices, with(ours, op::child_cache_transform()));
  kube::Informer config_maps(api, kube::resources::kConfigMaps,
                             with(ours, op::child_cache_transform()));

  kube::EventRecorderOptions event_options;
  event_options.controller = "ascendfactory.io/llamafactory-operator";
  event_options.instance = identity;
  event_options.metrics = metrics;
  // Events have a client, and so a rate budget, of their own (as in kube-scheduler and
  // kube-controller-manager): two Events per job never queue reconciles' writes behind them.
  auto event_client = kube::Client::from_config(kube_config.value(), client_options);
  if (!event_client) {
    std::cerr << "llamafactory-operator: " << event_client.error().message << '\n';
    return 1;
  }
  kube::EventRecorder events(event_client.value(), event_options);
  op::ReconcilerOptions reconciler_options;
  reconciler_options.pods.default_image = config.default_image;
  reconciler_options.metrics = job_metrics;
  op::Reconciler reconciler(api,
                            {jobs.store(), pods.store(), services.store(), config_maps.store()},
                            &events, reconciler_options);
  kube::ControllerOptions controller_options;
  controller_options.name = "lfjob";
  controller_options.workers = config.workers;
  controller_options.metrics = metrics;
  kube::Controller controller(controller_options,
                              [&](const std::string& key) { return reconciler.reconcile(key); });
  controller.watch(*jobs.store());
  jobs.store()->add_handler(
      [job_metrics](const kube::ObjectPtr& old_object, const kube::ObjectPtr& new_object) {
        job_metrics->job_changed(old_object, new_object);
      });
  controller.watch_owned(*pods.store(), op::kJobs);
  controller.watch_owned(*services.store(), op::kJobs);
  controller.watch_owned(*config_maps.store(), op::kJobs);

  // Startup taints (operator/node_readiness.hpp): a controller with a Node cache of its own,
  // leader-elected with the job controller. Its cache is not waited for at start: jobs do not
  // depend on it, and without access to Nodes it only logs (--startup-taint= turns it off).
  std::unique_ptr<kube::Informer> nodes;
  std::unique_ptr<op::NodeReadiness> node_readiness;
  std::unique_ptr<kube::Controller> node_controller;
  if (!config.startup_taint.empty()) {
    op::NodeReadinessOptions node_options;
    node_options.taint = config.startup_taint;
    node_options.metrics = job_metrics;
    kube::WatcherOptions node_watch;
    node_watch.metrics = metrics;
    node_watch.transform = op::node_cache_transform(node_options);
    nodes = std::make_unique<kube::Informer>(api, kube::resources::kNodes, node_watch);
    node_readiness = std::make_unique<op::NodeReadiness>(api, nodes->store(), node_options);
    kube::ControllerOptions node_controller_options;
    node_controller_options.name = "node-readiness";
    node_controller_options.workers = 2;
    node_controller_options.metrics = metrics;
    node_controller = std::make_unique<kube::Controller>(
        node_controller_options,
        [&node_readiness](const std::string& key) { return node_readiness->reconcile(key); });
    node_controller->watch(*nodes->store());
  }
  const auto start_controllers = [&controller, &node_controller] {
    controller.start();
    if (node_controller) node_controller->start();
  };

  std::atomic<bool> synced{false};
  std::atomic<bool> lost{false};
  auto metrics_server = serve(config.metrics_address, "metrics", registry);
  auto health_server = serve(config.health_address, "health", nullptr);
  if (health_server) {
    health_server->add_ready_check("informers", [&]() -> std::optional<std::string> {
      if (synced.load()) return std::nullopt;
      return "caches not synced yet";
    });
    health_server->add_health_check("leader-election", [&]() -> std::optional<std::string> {
      if (!lost.load()) return std::nullopt;
      return "lost the lease";
    });
  }

  for (kube::Informer* informer : {&jobs, &pods, &services, &config_maps})
    informer->start();
  if (nodes) nodes->start();
  // Reconciling from a partial cache would see running Pods as missing: wait for every list.
  for (kube::Informer* informer : {&jobs, &pods, &services, &config_maps}) {
    while (!informer->wait_for_sync(std::chrono::seconds(10))) {
      klog::warn("waiting for the cache", {kv("resource", informer->type().plural)});
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1) break;
    }
  }
  synced = true;
  klog::info("caches synced", {kv("jobs", jobs.store()->size()), kv("pods", pods.store()->size())});

  std::unique_ptr<kube::LeaderElector> elector;
  std::thread election;
  if (config.leader_elect) {
    kube::LeaderElectionOptions le;
    le.lease_namespace =
        config.lease_namespace.empty() ? api->default_namespace() : config.lease_namespace;
    le.lease_name = config.lease_name;
    le.identity = identity;
    le.metrics = metrics;
    le.on_started_leading = [&start_controllers, lease = le.lease_namespace + "/" + le.lease_name] {
      klog::info("leading; reconciling", {kv("lease", lease)});
      start_controllers();
    };
    // Stop acting at once; main joins the workers.
    le.on_stopped_leading = [&controller, &node_controller] {
      controller.queue().shutdown();
      if (node_controller) node_controller->queue().shutdown();
    };
    le.on_new_leader = [](const std::string& holder) {
      klog::info("leader", {kv("holder", holder)});
    };
    elector = std::make_unique<kube::LeaderElector>(api, le);
    election = std::thread([&] {
      if (elector->run() == kube::LeaderElector::Outcome::kLost) {
        klog::error("lost the lease; exiting so that nothing acts as a second leader", {});
        lost = true;
        kill(getpid(), SIGTERM);
      }
    });
  } else {
    start_controllers();
  }

  int signal = 0;
  sigwait(&signals, &signal);
  klog::info("shutting down", {kv("signal", signal == SIGTERM ? "SIGTERM" : "SIGINT")});
  controller.stop();  // finish reconciles in progress before another replica may lead
  if (node_controller) node_controller->stop();
  if (elector) {
    elector->stop();  // releases the lease
    election.join();
  }
  events.stop();
  for (kube::Informer* informer : {&jobs, &pods, &services, &config_maps})
    informer->stop();
  if (nodes) nodes->stop();
  api->shutdown();
  event_client.value()->shutdown();
  if (health_server) health_server->stop();
  if (metrics_server) metrics_server->stop();
  klog::info("stopped", {});
  return lost ? 1 : 0;
}
