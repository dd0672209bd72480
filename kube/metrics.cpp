#include "kube/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace ascend::kube {
namespace {

prometheus::Histogram::BucketBoundaries latency_buckets() {
  return {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

}  // namespace

Metrics::Metrics(prometheus::Registry& registry, const std::string& component)
    : requests_(prometheus::BuildCounter()
                    .Name(component + "_kube_requests_total")
                    .Help("API requests by verb and HTTP status code (0: no response)")
                    .Register(registry)),
      request_duration_(prometheus::BuildHistogram()
                            .Name(component + "_kube_request_duration_seconds")
                            .Help("API request latency by verb")
                            .Register(registry)),
      watch_restarts_(prometheus::BuildCounter()
                          .Name(component + "_watch_restarts_total")
                          .Help("Watch streams re-opened, by resource and reason")
                          .Register(registry)),
      relists_(prometheus::BuildCounter()
                   .Name(component + "_watch_relists_total")
                   .Help("Full lists after a watch could not resume (410 Gone, errors)")
                   .Register(registry)),
      queue_depth_(prometheus::BuildGauge()
                       .Name(component + "_workqueue_depth")
                       .Help("Keys waiting in the work queue")
                       .Register(registry)),
      queue_adds_(prometheus::BuildCounter()
                      .Name(component + "_workqueue_adds_total")
                      .Help("Keys added to the work queue")
                      .Register(registry)),
      queue_retries_(prometheus::BuildCounter()
                         .Name(component + "_workqueue_retries_total")
                         .Help("Keys requeued with rate-limited backoff")
                         .Register(registry)),
      queue_latency_(prometheus::BuildHistogram()
                         .Name(component + "_workqueue_queue_duration_seconds")
                         .Help("Time a key waited in the queue before a worker took it")
                         .Register(registry)),
      reconciles_(prometheus::BuildCounter()
                      .Name(component + "_reconcile_total")
                      .Help("Reconciles by controller and result")
                      .Register(registry)),
      reconcile_errors_(prometheus::BuildCounter()
                            .Name(component + "_reconcile_errors_total")
                            .Help("Reconciles that returned an error or a terminal error")
                            .Register(registry)),
      reconcile_duration_(prometheus::BuildHistogram()
                              .Name(component + "_reconcile_duration_seconds")
                              .Help("Reconcile latency by controller")
                              .Register(registry)),
      leader_(prometheus::BuildGauge()
                  .Name(component + "_leader_status")
                  .Help("1 while this process holds the lease")
                  .Register(registry)),
      events_dropped_(prometheus::BuildCounter()
                          .Name(component + "_events_dropped_total")
                          .Help("Kubernetes Events that could not be recorded")
                          .Register(registry)) {}

void Metrics::request(const std::string& verb, int code, std::chrono::duration<double> took) {
  requests_.Add({{"verb", verb}, {"code", std::to_string(code)}}).Increment();
  request_duration_.Add({{"verb", verb}}, latency_buckets()).Observe(took.count());
}

void Metrics::watch_restart(const std::string& resource, const std::string& reason) {
  watch_restarts_.Add({{"resource", resource}, {"reason", reason}}).Increment();
}

void Metrics::relist(const std::string& resource) {
  relists_.Add({{"resource", resource}}).Increment();
}

void Metrics::queue_depth(const std::string& queue, double depth) {
  queue_depth_.Add({{"queue", queue}}).Set(depth);
}

void Metrics::queue_add(const std::string& queue) {
  queue_adds_.Add({{"queue", queue}}).Increment();
}

void Metrics::queue_retry(const std::string& queue) {
  queue_retries_.Add({{"queue", queue}}).Increment();
}

void Metrics::queue_latency(const std::string& queue, std::chrono::duration<double> waited) {
  queue_latency_.Add({{"queue", queue}}, latency_buckets()).Observe(waited.count());
}

void Metrics::reconcile(const std::string& controller, const std::string& result,
                        std::chrono::duration<double> took) {
  reconciles_.Add({{"controller", controller}, {"result", result}}).Increment();
  if (result == "error" || result == "terminal") {
    reconcile_errors_.Add({{"controller", controller}}).Increment();
  }
  reconcile_duration_.Add({{"controller", controller}}, latency_buckets()).Observe(took.count());
}

void Metrics::leader(const std::string& lease, bool leading) {
  leader_.Add({{"lease", lease}}).Set(leading ? 1 : 0);
}

void Metrics::event_dropped(const std::string& reason) {
  events_dropped_.Add({{"reason", reason}}).Increment();
}

}  // namespace ascend::kube
