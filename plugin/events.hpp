#pragma once

// What the plugin reports as it works: events for metrics (and tests), and its log lines.

#include <chrono>
#include <cstddef>

#include "kube/logging.hpp"
#include "plugin/inventory.hpp"

namespace ascend::plugin {

/// The plugin's structured logger: kube/'s, with component=plugin bound first on every line:
///   2026-01-02T03:04:05.678Z info registered with kubelet component=plugin resource=...
inline const kube::log::Logger& logger() {
  static const kube::log::Logger log =
      kube::log::Logger().with({kube::log::kv("component", "plugin")});
  return log;
}

/// Events for metrics. Every method is a no-op by default; implementations must be
/// thread-safe and quick (they run on gRPC and monitor threads).
class PluginEvents {
 public:
  virtual ~PluginEvents() = default;

  /// A container was given `chips` chips by Allocate.
  virtual void allocated(std::size_t chips) { static_cast<void>(chips); }
  /// An Allocate call was refused (unknown or unhealthy chips, malformed IDs).
  virtual void allocate_refused() {}
  /// A GetPreferredAllocation container answer; false when no HCCS-respecting choice existed.
  virtual void preferred_answered(bool within_domains) { static_cast<void>(within_domains); }
  /// A ListAndWatch stream was opened by the kubelet.
  virtual void stream_opened() {}
  /// Register with the kubelet succeeded.
  virtual void registered() {}
  /// A health check finished in `duration` and the inventory is now `snapshot`.
  virtual void health_checked(std::chrono::nanoseconds duration,
                              const InventorySnapshot& snapshot) {
    static_cast<void>(duration);
    static_cast<void>(snapshot);
  }
};

}  // namespace ascend::plugin
