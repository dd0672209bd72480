#include "plugin/metrics.hpp"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

namespace ascend::plugin {
namespace {

std::string render(const PluginMetrics& metrics) {
  return prometheus::TextSerializer().Serialize(metrics.registry()->Collect());
}

TEST(Metrics, EventsBecomeSeries) {
  PluginMetrics metrics;
  EXPECT_GT(metrics.since_last_health_check(), std::chrono::hours(1));  // no check yet

  InventorySnapshot snapshot;
  snapshot.chips.resize(8);
  snapshot.chips[3].healthy = false;
  metrics.health_checked(std::chrono::microseconds(250), snapshot);
  metrics.allocated(4);
  metrics.allocated(2);
  metrics.allocate_refused();
  metrics.preferred_answered(true);
  metrics.preferred_answered(false);
  metrics.registered();
  metrics.stream_opened();

  const std::string text = render(metrics);
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
  EXPECT_LT(metrics.since_last_health_check(), std::chrono::hours(1));
}

TEST(Metrics, ChipFaultsAreSeriesWhileReported) {
  PluginMetrics metrics;
  InventorySnapshot snapshot;
  snapshot.chips.resize(2);
  snapshot.chips[0].chip.physical_id = 0;
  snapshot.chips[1].chip.physical_id = 1;
  snapshot.chips[1].faults = {{0x80E21007, FaultSeverity::kWarning},
                              {0x80CB8009, FaultSeverity::kUnknown}};
  metrics.health_checked(std::chrono::microseconds(100), snapshot);
  std::string text = render(metrics);
  EXPECT_NE(text.find("ascend_plugin_devices{health=\"Healthy\"} 2"), std::string::npos) << text;
  for (const char* line : {
           "ascend_plugin_chip_faults{code=\"0x80E21007\",device=\"Ascend910-1\","
           "severity=\"warning\"} 1",
           "ascend_plugin_chip_faults{code=\"0x80CB8009\",device=\"Ascend910-1\","
           "severity=\"unknown\"} 1",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }

  // The warning clears, a critical code arrives on chip 0: no stale series remain.
  snapshot.chips[1].faults = {{0x80CB8009, FaultSeverity::kUnknown}};
  snapshot.chips[0].healthy = false;
  snapshot.chips[0].faults = {{0x80E3A201, FaultSeverity::kCritical}};
  metrics.health_checked(std::chrono::microseconds(100), snapshot);
  text = render(metrics);
  EXPECT_EQ(text.find("0x80E21007"), std::string::npos) << text;
  EXPECT_NE(text.find("severity=\"unknown\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("ascend_plugin_chip_faults{code=\"0x80E3A201\",device=\"Ascend910-0\","
                      "severity=\"critical\"} 1"),
            std::string::npos)
      << text;

  snapshot.chips[0].faults.clear();
  snapshot.chips[1].faults.clear();
  metrics.health_checked(std::chrono::microseconds(100), snapshot);
  EXPECT_EQ(render(metrics).find("ascend_plugin_chip_faults{"), std::string::npos);
}

}  // namespace
}  // namespace ascend::plugin
