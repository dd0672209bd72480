#include "kube/manager.hpp"

#include <chrono>
#include <utility>

#include "kube/logging.hpp"

namespace ascend::kube {

Manager::Manager(ManagerOptions options) : options_(std::move(options)) {
  if (options_.client) clients_.push_back(options_.client);
}

Manager::~Manager() {
  shutdown();
}

Informer& Manager::add_informer(const Resource& type, WatcherOptions options, CacheSync sync) {
  if (!options.metrics) options.metrics = options_.metrics;
  caches_.push_back({std::make_unique<Informer>(options_.client, type, std::move(options)), sync});
  return *caches_.back().informer;
}

Controller& Manager::add_controller(ControllerOptions options, Reconciler reconciler) {
  if (!options.metrics) options.metrics = options_.metrics;
  controllers_.push_back(std::make_unique<Controller>(std::move(options), std::move(reconciler)));
  return *controllers_.back();
}

EventRecorder& Manager::add_event_recorder(ClientPtr client, EventRecorderOptions options) {
  if (!options.metrics) options.metrics = options_.metrics;
  add_client(client);
  recorders_.push_back(std::make_unique<EventRecorder>(std::move(client), std::move(options)));
  return *recorders_.back();
}

void Manager::add_client(ClientPtr client) {
  for (const auto& known : clients_) {
    if (known == client) return;
  }
  clients_.push_back(std::move(client));
}

std::uint16_t Manager::health_port() const {
  return health_server_ ? health_server_->port() : 0;
}

std::uint16_t Manager::metrics_port() const {
  return metrics_server_ ? metrics_server_->port() : 0;
}

std::unique_ptr<ServingServer> Manager::serve(const ServingOptions& where, const char* what,
                                              std::shared_ptr<prometheus::Registry> registry) {
  const std::string address = where.address + ":" + std::to_string(where.port);
  auto server = std::make_unique<ServingServer>(where, std::move(registry));
  if (auto started = server->start(); !started) {
    log::error("cannot serve; continuing without it",
               {log::kv("what", what), log::kv("address", address),
                log::kv("error", started.error().message)});
    return nullptr;
  }
  log::info("serving",
            {log::kv("what", what), log::kv("address", address), log::kv("port", server->port())});
  return server;
}

bool Manager::wait_for_caches(StopSource& stop) {
  for (const Cache& cache : caches_) {
    if (cache.sync != CacheSync::kWait) continue;
    // Short slices, so that a stop asked for while the API server is unreachable is honoured
    // at once (the kubelet's grace period is 30 s); the log line comes once per interval.
    auto next_log = std::chrono::steady_clock::now() + options_.sync_log_interval;
    while (!cache.informer->wait_for_sync(std::chrono::milliseconds(100))) {
      if (stop.requested()) return false;
      if (std::chrono::steady_clock::now() >= next_log) {
        log::warn("waiting for the cache", {log::kv("resource", cache.informer->type().plural)});
        next_log += options_.sync_log_interval;
      }
    }
  }
  return true;
}

void Manager::start_controllers() {
  const std::lock_guard lock(mutex_);
  if (stopping_) return;
  for (const auto& controller : controllers_)
    controller->start();
  reconciling_ = true;
}

void Manager::elect(StopSource& stop) {
  LeaderElectionOptions le = *options_.leader_election;
  if (le.lease_namespace.empty() && options_.client) {
    le.lease_namespace = options_.client->default_namespace();
  }
  if (!le.metrics) le.metrics = options_.metrics;
  le.on_started_leading = [this, lease = le.lease_namespace + "/" + le.lease_name] {
    log::info("leading; reconciling", {log::kv("lease", lease)});
    start_controllers();
  };
  // Stop acting at once; shutdown() joins the workers.
  le.on_stopped_leading = [this] {
    reconciling_ = false;
    for (const auto& controller : controllers_)
      controller->queue().shutdown();
  };
  le.on_new_leader = [](const std::string& holder) {
    log::info("leader", {log::kv("holder", holder)});
  };
  elector_ = std::make_unique<LeaderElector>(options_.client, std::move(le));
  election_ = std::thread([this, &stop] {
    if (elector_->run() == LeaderElector::Outcome::kLost) {
      log::error("lost the lease; exiting so that nothing acts as a second leader", {});
      lost_ = true;
      stop.request("lost the lease");
    }
  });
}

int Manager::run(StopSource& stop) {
  if (options_.metrics_serving) {
    metrics_server_ = serve(*options_.metrics_serving, "metrics", options_.registry);
  }
  if (options_.health_serving) {
    health_server_ = serve(*options_.health_serving, "health", nullptr);
  }
  if (health_server_) {
    health_server_->add_ready_check("informers", [this]() -> std::optional<std::string> {
      if (synced_.load()) return std::nullopt;
      return "caches not synced yet";
    });
    health_server_->add_health_check("leader-election", [this]() -> std::optional<std::string> {
      if (!lost_.load()) return std::nullopt;
      return "lost the lease";
    });
  }

  for (const Cache& cache : caches_)
    cache.informer->start();
  if (wait_for_caches(stop)) {
    synced_ = true;
    std::string sizes;  // e.g. llamafactoryjobs:3,pods:6
    for (const Cache& cache : caches_) {
      if (cache.sync != CacheSync::kWait) continue;
      if (!sizes.empty()) sizes += ',';
      sizes +=
          cache.informer->type().plural + ":" + std::to_string(cache.informer->store()->size());
    }
    log::info("caches synced", {log::kv("objects", sizes)});
    if (options_.leader_election) {
      elect(stop);
    } else {
      start_controllers();
    }
  }

  const std::string why = stop.wait();
  log::info("shutting down", {log::kv("signal", why)});
  shutdown();
  log::info("stopped", {});
  return lost_ ? 1 : 0;
}

void Manager::shutdown() {
  if (stopped_) return;
  stopped_ = true;
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
    reconciling_ = false;
  }
  // Reconciles in progress finish before another replica may lead.
  for (const auto& controller : controllers_)
    controller->stop();
  if (elector_) {
    elector_->stop();  // releases the lease
    if (election_.joinable()) election_.join();
  }
  for (const auto& recorder : recorders_)
    recorder->stop();
  // Clients before informers: a list still retrying against an unreachable API server is
  // cancelled at once instead of running out its backoff while stop() joins the thread.
  for (const auto& client : clients_)
    client->shutdown();
  for (const Cache& cache : caches_)
    cache.informer->stop();
  if (health_server_) health_server_->stop();
  if (metrics_server_) metrics_server_->stop();
}

}  // namespace ascend::kube
