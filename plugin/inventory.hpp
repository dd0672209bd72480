#pragma once

// The chips this plugin advertises and their health: written by the health monitor, read by
// the gRPC server. It is the channel through which health flows from hardware to the kubelet.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stop_token>
#include <vector>

#include "plugin/chip.hpp"

namespace ascend::plugin {

/// A consistent view of the inventory. version grows by one on every change.
struct InventorySnapshot {
  std::uint64_t version = 0;
  std::vector<ChipStatus> chips;  ///< sorted by physical id

  /// The chip with this physical id, or nullptr.
  const ChipStatus* find(int physical_id) const;
};

/// Thread-safe, versioned list of chips. Chips are never removed: a chip that disappears is
/// kept and marked Unhealthy, which lowers the node's allocatable but not its capacity (the
/// kubelet's semantics for unhealthy devices).
class Inventory final {
 public:
  /// Replaces the chip list. Returns true (and bumps the version, waking waiters) if anything
  /// differs from the current list.
  bool update(std::vector<ChipStatus> chips);

  /// The current list.
  InventorySnapshot snapshot() const;

  /// Waits until the version differs from `seen`, `timeout` passes, or `stop` is requested.
  /// Returns the new snapshot, or nullopt on timeout or stop.
  std::optional<InventorySnapshot> wait_for_change(std::uint64_t seen,
                                                   std::chrono::milliseconds timeout,
                                                   std::stop_token stop) const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable_any changed_;
  InventorySnapshot current_;  // guarded by mu_
};

}  // namespace ascend::plugin
