// The runtime's Prometheus metrics, named `<component>_<noun>_<unit>`. Every object in kube/
// takes an optional std::shared_ptr<Metrics>; null means "do not record".
#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace prometheus {
class Registry;
template <typename T>
class Family;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace ascend::kube {

class Metrics final {
 public:
  /// Registers the families in `registry` with names prefixed by `component`
  /// (e.g. `llamafactory_operator` gives `llamafactory_operator_kube_requests_total`).
  Metrics(prometheus::Registry& registry, const std::string& component);

  /// One API request finished: `code` is the HTTP status, or 0 when none arrived.
  void request(const std::string& verb, int code, std::chrono::duration<double> took);
  /// A watch stream ended and is being re-opened (`reason`: closed, error, expired).
  void watch_restart(const std::string& resource, const std::string& reason);
  /// The informer listed again from scratch.
  void relist(const std::string& resource);
  void queue_depth(const std::string& queue, double depth);
  void queue_add(const std::string& queue);
  void queue_retry(const std::string& queue);
  /// Time a key spent waiting in the queue before a worker took it.
  void queue_latency(const std::string& queue, std::chrono::duration<double> waited);
  /// One reconcile finished; `result` is success, requeue, error or terminal.
  void reconcile(const std::string& controller, const std::string& result,
                 std::chrono::duration<double> took);
  void leader(const std::string& lease, bool leading);
  void event_dropped(const std::string& reason);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& request_duration_;
  prometheus::Family<prometheus::Counter>& watch_restarts_;
  prometheus::Family<prometheus::Counter>& relists_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Family<prometheus::Counter>& queue_adds_;
  prometheus::Family<prometheus::Counter>& queue_retries_;
  prometheus::Family<prometheus::Histogram>& queue_latency_;
  prometheus::Family<prometheus::Counter>& reconciles_;
  prometheus::Family<prometheus::Counter>& reconcile_errors_;
  prometheus::Family<prometheus::Histogram>& reconcile_duration_;
  prometheus::Family<prometheus::Gauge>& leader_;
  prometheus::Family<prometheus::Counter>& events_dropped_;
};

using MetricsPtr = std::shared_ptr<Metrics>;

}  // namespace ascend::kube
