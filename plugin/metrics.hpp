#pragma once

// Prometheus metrics of the plugin, fed by PluginEvents:
//   ascend_plugin_devices{health}                          chips by health (gauge)
//   ascend_plugin_allocations_total                        containers given chips
//   ascend_plugin_allocated_chips_total                    chips handed out
//   ascend_plugin_allocations_refused_total                Allocate calls refused
//   ascend_plugin_preferred_allocations_total{hccs}        answers within/outside HCCS domains
//   ascend_plugin_registrations_total                      successful Register calls
//   ascend_plugin_list_watch_streams_total                 ListAndWatch streams opened
//   ascend_plugin_health_check_duration_seconds            health check latency (histogram)
//   ascend_plugin_health_check_age_seconds                 time since the last check (gauge)
//   ascend_plugin_chip_faults{device,code,severity}        1 per fault code a chip reports now
//                                                          (warnings on Healthy chips included)

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "plugin/events.hpp"

namespace ascend::plugin {

/// PluginEvents recorded into a Prometheus registry. Thread-safe.
class PluginMetrics final : public PluginEvents {
 public:
  PluginMetrics();

  /// The registry to serve on /metrics.
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  /// Time since the last health check (for the liveness probe); large before the first one.
  std::chrono::steady_clock::duration since_last_health_check() const;

  void allocated(std::size_t chips) override;
  void allocate_refused() override;
  void preferred_answered(bool within_domains) override;
  void stream_opened() override;
  void registered() override;
  void health_checked(std::chrono::nanoseconds duration,
                      const InventorySnapshot& snapshot) override;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Gauge& healthy_;
  prometheus::Gauge& unhealthy_;
  prometheus::Counter& allocations_;
  prometheus::Counter& allocated_chips_;
  prometheus::Counter& refused_;
  prometheus::Counter& preferred_within_;
  prometheus::Counter& preferred_outside_;
  prometheus::Counter& registrations_;
  prometheus::Counter& streams_;
  prometheus::Histogram& check_duration_;
  std::atomic<std::chrono::steady_clock::rep> last_check_{0};

  using FaultKey = std::tuple<std::string, std::string, std::string>;  // device, code, severity
  prometheus::Family<prometheus::Gauge>& faults_family_;
  std::mutex faults_mu_;
  std::map<FaultKey, prometheus::Gauge*> faults_;  // guarded by faults_mu_: the series shown now
};

}  // namespace ascend::plugin
