// The list-then-watch loop that keeps a Store current, as an explicit state machine
// (client-go's Reflector, kube-rs's watcher).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "kube/client.hpp"
#include "kube/clock.hpp"
#include "kube/metrics.hpp"
#include "kube/resource.hpp"
#include "kube/store.hpp"
#include "kube/transform.hpp"

namespace ascend::kube {

struct WatcherOptions {
  /// "" for all namespaces (or a cluster-scoped resource).
  std::string ns;
  std::string label_selector;
  std::string field_selector;
  int page_size = 500;
  /// Each watch asks the server to end it after a random time in [min, max] seconds.
  int min_timeout_seconds = 300;
  int max_timeout_seconds = 600;
  /// Backoff after a failed list or a broken watch: initial, doubling up to max.
  Duration initial_backoff = std::chrono::milliseconds(800);
  Duration max_backoff = std::chrono::seconds(30);
  /// Applied to every object before it reaches the store (transform.hpp); empty keeps
  /// objects as the server sent them.
  Transform transform;
  ClockPtr clock = system_clock();
  MetricsPtr metrics;
};

/// Keeps `store` equal to the server's view of one resource.
///
/// States: kList (paged list, first with resourceVersion "0", relists with a quorum read) ->
/// kWatch (from the list's version, bookmarks on) -> per stream outcome:
/// - every event (bookmarks included) advances the resourceVersion;
/// - a clean end of the stream: watch again from the last version at once;
/// - 410 Gone, as an HTTP status or an in-stream ERROR event: list again (relist);
/// - a transport error, another ERROR, or a failed list: wait the backoff (800 ms doubling to
///   30 s, reset by the next success), then watch again (or list, if no list succeeded yet).
class Watcher final {
 public:
  enum class State { kList, kWatch, kBackoff, kStopped };

  Watcher(ClientPtr client, Resource type, std::shared_ptr<Store> store,
          WatcherOptions options = {});

  /// Runs the loop on the calling thread until stop(). Never throws.
  void run();
  /// Ends run() promptly: cancels the open watch and any backoff wait. An in-flight list
  /// request finishes (or times out) first. Thread-safe, idempotent.
  void stop();

  [[nodiscard]] State state() const { return state_.load(); }
  /// The last resourceVersion seen.
  [[nodiscard]] std::string resource_version() const;
  /// How many lists ran (the first included).
  [[nodiscard]] int lists() const { return lists_.load(); }
  /// The backoff the next failure will wait.
  [[nodiscard]] Duration next_backoff() const;

 private:
  bool list();
  /// Watches once; returns the next state.
  State watch_once();
  bool wait_backoff();
  void set_rv(const std::string& rv);

  ClientPtr client_;
  Resource type_;
  std::shared_ptr<Store> store_;
  WatcherOptions options_;
  std::mt19937 random_;
  std::atomic<State> state_{State::kList};
  std::atomic<int> lists_{0};
  bool listed_once_ = false;  // only the run() thread touches it

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stopped_ = false;            // guarded by mutex_
  std::string rv_;                  // guarded by mutex_
  Duration backoff_;                // guarded by mutex_
  WatchStream* current_ = nullptr;  // guarded by mutex_
};

}  // namespace ascend::kube
