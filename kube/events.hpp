// Kubernetes Events (events.k8s.io/v1), best effort: recording never blocks or fails the
// caller, and repeats of one event are folded into its `series`.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "kube/client.hpp"
#include "kube/clock.hpp"
#include "kube/metrics.hpp"

namespace ascend::kube {

struct EventRecorderOptions {
  /// `reportingController`, e.g. "ascendfactory.io/llamafactory-operator".
  std::string controller;
  /// `reportingInstance`, e.g. the pod name.
  std::string instance;
  /// A repeat within this window updates the series; later it starts a new Event.
  Duration series_window = std::chrono::minutes(6);
  /// Events waiting to be written; more are dropped (and counted).
  std::size_t max_pending = 1000;
  ClockPtr clock = system_clock();
  MetricsPtr metrics;
};

/// Writes Events on a thread of its own.
///
/// Guarantees: record() only queues (it never waits on the API server and never fails); the
/// first occurrence of (object, type, reason, action, note) creates an Event, repeats within
/// the window patch its `series` (count, lastObservedTime); write failures are logged and
/// counted in `<component>_events_dropped_total`, never returned.
class EventRecorder final {
 public:
  EventRecorder(ClientPtr client, EventRecorderOptions options);
  ~EventRecorder();
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  /// Queues an Event about `regarding` (an object with apiVersion, kind and metadata).
  /// `type` is "Normal" or "Warning"; `reason` is UpperCamelCase; `note` is for humans.
  void record(const Json& regarding, const std::string& type, const std::string& reason,
              const std::string& action, const std::string& note);
  /// Blocks until everything queued so far was written or dropped (tests, shutdown).
  void flush();
  /// Writes what is queued, then stops the thread. Idempotent.
  void stop();

 private:
  struct Pending {
    Json regarding;
    std::string type, reason, action, note;
    WallTime when;
    SteadyTime steady;
  };
  struct Series {
    std::string name;
    std::string ns;
    int count = 1;
    SteadyTime last;
  };
  void work();
  void write(const Pending& p);

  ClientPtr client_;
  EventRecorderOptions options_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Pending> pending_;           // guarded by mutex_
  bool busy_ = false;                     // guarded by mutex_
  bool stopping_ = false;                 // guarded by mutex_
  std::map<std::string, Series> series_;  // only the worker thread touches it
  std::uint64_t counter_ = 0;             // only the worker thread touches it
  std::thread thread_;
};

}  // namespace ascend::kube
