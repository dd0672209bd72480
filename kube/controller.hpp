// A level-based controller: keys from a work queue, N workers, reconcile(key) -> action
// (controller-runtime's Reconciler, kube-rs's Action).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kube/informer.hpp"
#include "kube/metrics.hpp"
#include "kube/object_meta.hpp"
#include "kube/predicate.hpp"
#include "kube/work_queue.hpp"

namespace ascend::kube {

/// What a reconcile asks for next.
struct ReconcileResult {
  enum class Kind {
    kDone,          ///< Converged; wait for the next change.
    kRequeueAfter,  ///< Look again after `after` (polling something outside the API).
    kError,         ///< Failed; retry with the queue's per-key exponential backoff.
    kTerminal,      ///< Failed in a way retrying cannot fix; log it and wait for a change.
    kBackoff,       ///< Blocked by something outside the controller that the reconciler already
                    ///< reported (a condition, an Event): retry with the per-key backoff like
                    ///< kError, without a log line per retry.
  };
  Kind kind = Kind::kDone;
  Duration after{};
  std::string message;

  static ReconcileResult done() { return {}; }
  static ReconcileResult requeue_after(Duration d) { return {Kind::kRequeueAfter, d, {}}; }
  static ReconcileResult error(std::string message) {
    return {Kind::kError, {}, std::move(message)};
  }
  static ReconcileResult terminal(std::string message) {
    return {Kind::kTerminal, {}, std::move(message)};
  }
  static ReconcileResult backoff(std::string message) {
    return {Kind::kBackoff, {}, std::move(message)};
  }
};

/// Reconciles the object at `key` (`namespace/name`) toward its spec, reading current state
/// from informer stores (never from the event that queued it). Must be idempotent; runs on a
/// worker thread; an exception counts as kError.
using Reconciler = std::function<ReconcileResult(const std::string& key)>;

struct ControllerOptions {
  /// Names the controller in logs and metrics, e.g. "lfjob".
  std::string name = "controller";
  int workers = 2;
  WorkQueueOptions queue;
  MetricsPtr metrics;
};

/// Runs `reconciler` for queued keys on `workers` threads. A key is never reconciled by two
/// workers at once (the queue guarantees it).
class Controller final {
 public:
  Controller(ControllerOptions options, Reconciler reconciler);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  /// Queues the key of every object added, changed or deleted in `store` (the primary type)
  /// that passes `filter` (none: every change). Returns this controller, for chaining.
  Controller& watch(Store& store, Predicate filter = {});
  /// Queues the owner's key when an object in `store` changes (and passes `filter`): the owner
  /// reference with `controller: true` whose kind is `owner.kind` and whose apiVersion's group
  /// is `owner.group` (a changed owned Pod queues its LlamaFactoryJob). On updates the old
  /// owner is queued too, so an owner that lost the object also hears of it.
  Controller& watch_owned(Store& store, const Resource& owner, Predicate filter = {});
  /// Queues the keys `map` returns for each change (custom mappings, e.g. Node -> jobs).
  Controller& watch_mapped(Store& store,
                           std::function<std::vector<std::string>(const nlohmann::json&)> map);

  /// The name given in the options (logs, metrics).
  [[nodiscard]] const std::string& name() const { return options_.name; }

  /// Starts the workers. Idempotent.
  void start();
  /// Shuts the queue down and joins the workers (a reconcile in progress finishes first).
  void stop();

  [[nodiscard]] WorkQueue& queue() { return queue_; }

 private:
  void work();
  void run_one(const std::string& key);

  ControllerOptions options_;
  Reconciler reconciler_;
  WorkQueue queue_;
  std::vector<std::thread> workers_;
};

}  // namespace ascend::kube
