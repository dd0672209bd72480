#include "plugin/metrics.hpp"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

namespace ascend::plugin {
namespace {

std::string Render(const PluginMetrics& metrics) {
  return prometheus::TextSerializer().Serialize(metrics.registry()->Collect());
}

TEST(Metrics, EventsBecomeSeries) {
  PluginMetrics metrics;
  EXPECT_GT(metrics.SinceLastHealthCheck(), std::chrono::hours(1));  // no check yet

  InventorySnapshot snapshot;
  snapshot.chips.resize(8);
  snapshot.chips[3].healthy = false;
  metrics.HealthChecked(std::chrono::microseconds(250), snapshot);
  metrics.Allocated(4);
  metrics.Allocated(2);
  metrics.AllocateRefused();
  metrics.PreferredAnswered(true);
  metrics.PreferredAnswered(false);
  metrics.Registered();
  metrics.StreamOpened();

  const std::string text = Render(metrics);
  for (const char* line : {
           "ascend_plugin_devices{health=\"Healthy\"} 7",
           "ascend_plugin_devices{health=\"Unhealthy\"} 1",
           "ascend_plugin_allocations_total 2",
           "ascend_plugin_allocated_chips_total 6",
           "ascend_plugin_allocations_refused_total 1",
           "ascend_plugin_preferred_allocations_total{hccs=\"within\"} 1",
           "ascend_plugin_preferred_allocations_total{hccs=\"outside\"} 1",
           "ascend_plugin_registrations_total 1",
           "ascend_plugin_list_watch_streams_total 1",
           "ascend_plugin_health_check_duration_seconds_count 1",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
  EXPECT_LT(metrics.SinceLastHealthCheck(), std::chrono::hours(1));
}

}  // namespace
}  // namespace ascend::plugin
