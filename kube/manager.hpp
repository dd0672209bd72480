// A manager (controller-runtime's pkg/manager): owns one program's informers, controllers,
// event recorders and API clients, and runs them: waits for the caches, gates the controllers
// on leadership, serves /healthz, /readyz and /metrics, and stops everything in order.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kube/client.hpp"
#include "kube/controller.hpp"
#include "kube/events.hpp"
#include "kube/informer.hpp"
#include "kube/leader_election.hpp"
#include "kube/metrics.hpp"
#include "kube/program.hpp"
#include "kube/serving.hpp"

namespace prometheus {
class Registry;
}

namespace ascend::kube {

struct ManagerOptions {
  /// Lists, watches and the Lease go through it; shut down after the informers.
  ClientPtr client;
  /// Lease leader election; std::nullopt starts the controllers as soon as the caches synced.
  /// The manager sets the callbacks; an empty `lease_namespace` means the client's default
  /// namespace; unset `metrics` means the manager's.
  std::optional<LeaderElectionOptions> leader_election;
  /// Where /metrics (from `registry`) is served; std::nullopt: nowhere.
  std::optional<ServingOptions> metrics_serving;
  /// Where /healthz and /readyz are served; std::nullopt: nowhere. Checks: readyz `informers`
  /// (the waited-for caches synced), healthz `leader-election` (the lease was not lost).
  std::optional<ServingOptions> health_serving;
  std::shared_ptr<prometheus::Registry> registry;
  /// For informers, controllers and the elector whose own options set none.
  MetricsPtr metrics;
  /// How often the wait for the caches says which one it waits for.
  std::chrono::milliseconds sync_log_interval = std::chrono::seconds(10);
};

/// Whether Manager::run() waits for an informer's first list before starting controllers.
enum class CacheSync {
  kWait,  ///< Reconciling from a partial cache would see existing objects as missing.
  kSkip,  ///< Controllers that merely may use it (and work without it, e.g. no RBAC for it).
};

/// Runs what is registered with it, once.
///
/// Guarantees of run(): servers start first (a failed bind is logged and the program runs
/// without that server); then every informer starts, and controllers start only after every
/// kWait informer synced, and, with leader election, only while this replica leads (on losing
/// the lease their queues shut down at once). A stop requested while the caches sync skips
/// the controllers. On a stop the order is: controllers (reconciles in progress finish), the
/// lease (released), event recorders (flushed), informers, clients, servers.
/// Assumptions: everything is registered before run(); the manager outlives nothing it runs
/// (objects a reconciler uses are declared before the manager, or outlive run()).
class Manager final {
 public:
  explicit Manager(ManagerOptions options);
  /// Stops whatever still runs, in the order above.
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  /// An informer on the manager's client; `options.metrics` defaults to the manager's.
  Informer& add_informer(const Resource& type, WatcherOptions options = {},
                         CacheSync sync = CacheSync::kWait);
  /// A controller; what it watches is said on the returned controller (watch(),
  /// watch_owned()). `options.metrics` defaults to the manager's.
  Controller& add_controller(ControllerOptions options, Reconciler reconciler);
  /// An event recorder writing through `client` (its own rate budget, say); flushed on stop.
  EventRecorder& add_event_recorder(ClientPtr client, EventRecorderOptions options);
  /// Another client to shut down with the manager's own.
  void add_client(ClientPtr client);

  /// Runs until `stop` is requested (a signal, or the manager itself when the lease is lost),
  /// then stops in order. Returns the exit code: 1 when the lease was lost, else 0.
  int run(StopSource& stop);

  /// True once every kWait informer synced.
  [[nodiscard]] bool synced() const { return synced_.load(); }
  /// True while the controllers run: the caches synced and, with leader election, this
  /// replica leads. Requests that only the acting replica may take (progress reports) ask it.
  [[nodiscard]] bool reconciling() const { return reconciling_.load(); }
  /// The health server's port (0 when there is none): tests bind port 0.
  [[nodiscard]] std::uint16_t health_port() const;
  /// The metrics server's port (0 when there is none).
  [[nodiscard]] std::uint16_t metrics_port() const;

 private:
  struct Cache {
    std::unique_ptr<Informer> informer;
    CacheSync sync;
  };
  std::unique_ptr<ServingServer> serve(const ServingOptions& where, const char* what,
                                       std::shared_ptr<prometheus::Registry> registry);
  bool wait_for_caches(StopSource& stop);
  void start_controllers();
  void elect(StopSource& stop);
  void shutdown();

  ManagerOptions options_;
  std::vector<Cache> caches_;
  std::vector<std::unique_ptr<Controller>> controllers_;
  std::vector<std::unique_ptr<EventRecorder>> recorders_;
  std::vector<ClientPtr> clients_;
  std::unique_ptr<ServingServer> metrics_server_;
  std::unique_ptr<ServingServer> health_server_;
  std::unique_ptr<LeaderElector> elector_;
  std::thread election_;
  std::atomic<bool> synced_{false};
  std::atomic<bool> lost_{false};
  std::atomic<bool> reconciling_{false};
  std::mutex mutex_;
  bool stopping_ = false;  // guarded by mutex_: no controller starts once set
  bool stopped_ = false;   // only the thread in run() or the destructor touches it
};

}  // namespace ascend::kube
