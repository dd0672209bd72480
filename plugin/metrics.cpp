#include "plugin/metrics.hpp"

#include <set>
#include <string>

namespace ascend::plugin {
namespace {

prometheus::Counter& make_counter(prometheus::Registry& registry, const std::string& name,
                                  const std::string& help, const prometheus::Labels& labels = {}) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add(labels);
}

}  // namespace

PluginMetrics::PluginMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      healthy_(prometheus::BuildGauge()
                   .Name("ascend_plugin_devices")
                   .Help("Chips advertised to the kubelet, by health")
                   .Register(*registry_)
                   .Add({{"health", "Healthy"}})),
      unhealthy_(prometheus::BuildGauge()
                     .Name("ascend_plugin_devices")
                     .Help("Chips advertised to the kubelet, by health")
                     .Register(*registry_)
                     .Add({{"health", "Unhealthy"}})),
      allocations_(make_counter(*registry_, "ascend_plugin_allocations_total",
                                "Containers given chips by Allocate")),
      allocated_chips_(make_counter(*registry_, "ascend_plugin_allocated_chips_total",
                                    "Chips handed out by Allocate")),
      refused_(make_counter(*registry_, "ascend_plugin_allocations_refused_total",
                            "Allocate calls refused (unknown, unhealthy or malformed IDs)")),
      preferred_within_(make_counter(*registry_, "ascend_plugin_preferred_allocations_total",
                                     "GetPreferredAllocation answers by HCCS fit",
                                     {{"hccs", "within"}})),
      preferred_outside_(make_counter(*registry_, "ascend_plugin_preferred_allocations_total",
                                      "GetPreferredAllocation answers by HCCS fit",
                                      {{"hccs", "outside"}})),
      registrations_(make_counter(*registry_, "ascend_plugin_registrations_total",
                                  "Successful Register calls to the kubelet")),
      streams_(make_counter(*registry_, "ascend_plugin_list_watch_streams_total",
                            "ListAndWatch streams opened by the kubelet")),
      check_duration_(
          prometheus::BuildHistogram()
              .Name("ascend_plugin_health_check_duration_seconds")
              .Help("Time one health check (scan and publish) takes")
              .Register(*registry_)
              .Add({}, prometheus::Histogram::BucketBoundaries{0.0001, 0.0005, 0.001, 0.005, 0.01,
                                                               0.05, 0.1, 0.5, 1})),
      faults_family_(prometheus::BuildGauge()
                         .Name("ascend_plugin_chip_faults")
                         .Help("Fault codes chips report now (1 per code), by severity: warning "
                               "(chip stays Healthy), critical, unknown (health value decides)")
                         .Register(*registry_)) {}

std::chrono::steady_clock::duration PluginMetrics::since_last_health_check() const {
  const auto last = last_check_.load();
  if (last == 0) return std::chrono::steady_clock::duration::max();
  return std::chrono::steady_clock::now().time_since_epoch() -
         std::chrono::steady_clock::duration(last);
}

void PluginMetrics::allocated(std::size_t chips) {
  allocations_.Increment();
  allocated_chips_.Increment(static_cast<double>(chips));
}

void PluginMetrics::allocate_refused() {
  refused_.Increment();
}

void PluginMetrics::preferred_answered(bool within_domains) {
  (within_domains ? preferred_within_ : preferred_outside_).Increment();
}

void PluginMetrics::stream_opened() {
  streams_.Increment();
}

void PluginMetrics::registered() {
  registrations_.Increment();
}

void PluginMetrics::health_checked(std::chrono::nanoseconds duration,
                                   const InventorySnapshot& snapshot) {
  int healthy = 0;
  for (const ChipStatus& chip : snapshot.chips)
    healthy += chip.healthy ? 1 : 0;
  healthy_.Set(healthy);
  unhealthy_.Set(static_cast<double>(snapshot.chips.size()) - healthy);
  check_duration_.Observe(std::chrono::duration<double>(duration).count());

  std::set<FaultKey> now;
  for (const ChipStatus& chip : snapshot.chips) {
    for (const ChipFault& fault : chip.faults) {
      now.emplace(device_id(chip.chip.physical_id), fault_code_text(fault.code),
                  std::string(fault_severity_name(fault.severity)));
    }
  }
  const std::lock_guard lock(faults_mu_);
  for (auto it = faults_.begin(); it != faults_.end();) {
    if (now.contains(it->first)) {
      ++it;
    } else {
      faults_family_.Remove(it->second);  // a cleared fault leaves no stale series behind
      it = faults_.erase(it);
    }
  }
  for (const FaultKey& key : now) {
    if (faults_.contains(key)) continue;
    const auto& [device, code, severity] = key;
    prometheus::Gauge& gauge =
        faults_family_.Add({{"device", device}, {"code", code}, {"severity", severity}});
    gauge.Set(1);
    faults_[key] = &gauge;
  }
  last_check_.store(std::chrono::steady_clock::now().time_since_epoch().count());
}

}  // namespace ascend::plugin
