#pragma once

// Keeps the inventory's health current: polls the discovery backend at an interval and reacts
// at once (inotify) when a davinci<N> node appears or vanishes under the device root. A chip
// that comes back is Healthy again; unlike the plugins this one replaces, nothing is sticky.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <stop_token>
#include <string>

#include "plugin/discovery/discovery.hpp"
#include "plugin/events.hpp"
#include "plugin/inventory.hpp"
#include "plugin/wake_loop.hpp"

namespace ascend::plugin {

/// How the monitor checks.
struct HealthOptions {
  std::filesystem::path device_root = "/dev";
  std::chrono::milliseconds interval{5000};
  /// Also require /dev/davinci<N> for every chip (catches a vanished node even when DCMI
  /// still answers). Turn off only when device nodes are not visible to the plugin.
  bool require_device_nodes = true;
  bool allow_regular_files = false;  ///< see DevfsOptions
};

/// Runs health checks and publishes them to an Inventory.
class HealthMonitor final {
 public:
  /// discovery, inventory and events (may be null) must outlive the monitor.
  HealthMonitor(Discovery& discovery, Inventory& inventory, HealthOptions options,
                PluginEvents* events = nullptr);
  ~HealthMonitor();
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  /// One check now: scan, merge with the chips seen before, publish. Returns true if the
  /// inventory changed. A chip once seen stays listed: missing or failing, it is Unhealthy.
  /// Thread-safe (checks are serialized).
  bool check_now();

  /// Called (under the check's lock: it must return quickly) for each chip that goes
  /// Unhealthy, and for each chip first seen Unhealthy. Set before start().
  using UnhealthyListener = std::function<void(const ChipStatus& status)>;
  void on_unhealthy(UnhealthyListener listener);

  /// Starts the background thread (inotify on the device root, plus the polling interval).
  void start();
  /// Stops and joins the thread. Idempotent.
  void stop();

  /// Checks completed so far.
  std::uint64_t checks() const { return checks_.load(); }

 private:
  void run(const std::stop_token& stop);

  Discovery& discovery_;
  Inventory& inventory_;
  const HealthOptions options_;
  PluginEvents no_events_;
  PluginEvents& events_;

  std::mutex check_mu_;
  std::map<int, Chip> known_;       // guarded by check_mu_: every chip ever seen
  std::string last_scan_error_;     // guarded by check_mu_: to log a failing backend once
  UnhealthyListener on_unhealthy_;  // guarded by check_mu_
  std::atomic<std::uint64_t> checks_{0};

  WakeLoop loop_;  // the background thread; its stop() wakes run() at once
};

}  // namespace ascend::plugin
