#pragma once

// The one interface every discovery backend implements (DCMI, device files).

#include <memory>
#include <string_view>
#include <vector>

#include "plugin/chip.hpp"
#include "plugin/error.hpp"

namespace ascend::plugin {

/// Finds the chips of this host and tells their health. Backends are not required to be
/// thread-safe: the health monitor is their only caller after start-up.
class Discovery {
 public:
  virtual ~Discovery() = default;

  /// Backend name for logs and metrics: "dcmi" or "devfs".
  virtual std::string_view name() const = 0;

  /// Every chip the backend sees now, each with its health. A chip the backend cannot see at
  /// all is left out (the caller decides what a missing chip means).
  /// Errors: kUnavailable when nothing can be enumerated (no device root, driver call failed).
  virtual Result<std::vector<ChipStatus>> scan() = 0;
};

using DiscoveryPtr = std::unique_ptr<Discovery>;

}  // namespace ascend::plugin
