#include "kube/controller.hpp"

#include "kube/client.hpp"
#include "kube/logging.hpp"

namespace ascend::kube {

Controller::Controller(ControllerOptions options, Reconciler reconciler)
    : options_(std::move(options)), reconciler_(std::move(reconciler)), queue_([this] {
        WorkQueueOptions q = options_.queue;
        q.name = options_.name;
        if (!q.metrics) q.metrics = options_.metrics;
        return q;
      }()) {}

Controller::~Controller() {
  stop();
}

Controller& Controller::watch(Store& store, Predicate filter) {
  store.add_handler(
      [this, filter = std::move(filter)](const ObjectPtr& old_object, const ObjectPtr& new_object) {
        if (filter && !filter(old_object, new_object)) return;
        const ObjectPtr& o = new_object ? new_object : old_object;
        if (o) queue_.add(object_key(*o));
      });
  return *this;
}

Controller& Controller::watch_owned(Store& store, const Resource& owner, Predicate filter) {
  store.add_handler([this, owner, filter = std::move(filter)](const ObjectPtr& old_object,
                                                              const ObjectPtr& new_object) {
    if (filter && !filter(old_object, new_object)) return;
    std::string previous;
    if (old_object) {
      previous = controller_owner_key(*old_object, owner);
      if (!previous.empty()) queue_.add(previous);
    }
    if (new_object) {
      const std::string current = controller_owner_key(*new_object, owner);
      if (!current.empty() && current != previous) queue_.add(current);
    }
  });
  return *this;
}

Controller& Controller::watch_mapped(
    Store& store, std::function<std::vector<std::string>(const nlohmann::json&)> map) {
  store.add_handler(
      [this, map = std::move(map)](const ObjectPtr& old_object, const ObjectPtr& new_object) {
        const ObjectPtr& o = new_object ? new_object : old_object;
        if (!o) return;
        for (const auto& key : map(*o))
          queue_.add(key);
      });
  return *this;
}

void Controller::start() {
  if (!workers_.empty()) return;
  const int n = std::max(1, options_.workers);
  for (int i = 0; i < n; ++i)
    workers_.emplace_back([this] { work(); });
}

void Controller::stop() {
  queue_.shutdown();
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
  workers_.clear();
}

void Controller::work() {
  while (auto key = queue_.get()) {
    run_one(*key);
    queue_.done(*key);
  }
}

void Controller::run_one(const std::string& key) {
  const auto started = std::chrono::steady_clock::now();
  ReconcileResult result;
  try {
    result = reconciler_(key);
  } catch (const std::exception& e) {
    result = ReconcileResult::error(std::string("reconcile threw: ") + e.what());
  } catch (...) {
    result = ReconcileResult::error("reconcile threw an unknown exception");
  }
  const auto took = std::chrono::steady_clock::now() - started;
  std::string label;
  switch (result.kind) {
    case ReconcileResult::Kind::kDone:
      queue_.forget(key);
      label = "success";
      break;
    case ReconcileResult::Kind::kRequeueAfter:
      queue_.forget(key);
      queue_.add_after(key, result.after);
      label = "requeue";
      break;
    case ReconcileResult::Kind::kError:
      log::warn("reconcile failed",
                {log::kv("controller", options_.name), log::kv("key", key),
                 log::kv("error", result.message), log::kv("failures", queue_.failures(key) + 1)});
      queue_.add_rate_limited(key);
      label = "error";
      break;
    case ReconcileResult::Kind::kBackoff:
      queue_.add_rate_limited(key);
      label = "backoff";
      break;
    case ReconcileResult::Kind::kTerminal:
      log::error("reconcile failed for good; waiting for a change",
                 {log::kv("controller", options_.name), log::kv("key", key),
                  log::kv("error", result.message)});
      queue_.forget(key);
      label = "terminal";
      break;
  }
  if (options_.metrics) options_.metrics->reconcile(options_.name, label, took);
}

}  // namespace ascend::kube
