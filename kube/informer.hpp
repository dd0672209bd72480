// An informer: a Store kept current by a Watcher on a thread of its own.
#pragma once

#include <chrono>
#include <memory>
#include <thread>

#include "kube/store.hpp"
#include "kube/watcher.hpp"

namespace ascend::kube {

/// One resource (with optional namespace, label and field selectors) cached locally.
/// Typical use: make it, add handlers to store(), start(), wait_for_sync(), and read store()
/// from reconcilers.
class Informer final {
 public:
  Informer(ClientPtr client, Resource type, WatcherOptions options = {});
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  /// Starts the watcher thread. Idempotent.
  void start();
  /// Stops and joins the watcher thread. Idempotent.
  void stop();
  /// Blocks until the first list is in the store or the timeout passes.
  bool wait_for_sync(std::chrono::milliseconds timeout) const;

  [[nodiscard]] const std::shared_ptr<Store>& store() const { return store_; }
  [[nodiscard]] const Resource& type() const { return type_; }
  [[nodiscard]] const Watcher& watcher() const { return *watcher_; }

 private:
  Resource type_;
  std::shared_ptr<Store> store_;
  std::unique_ptr<Watcher> watcher_;
  std::thread thread_;
};

}  // namespace ascend::kube
