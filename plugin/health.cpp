#include "plugin/health.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>
#include <system_error>
#include <vector>

#include "plugin/discovery/devfs.hpp"

namespace ascend::plugin {

using kube::log::kv;
namespace {

constexpr std::uint32_t kRootEvents =
    IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;

// Reads every pending inotify event. Returns true if one concerns a davinci node or the watch
// itself went away (*watch_lost is set then); other /dev churn (ttys, loop devices) is ignored.
bool drain_events(int fd, bool* watch_lost) {
  alignas(inotify_event) std::array<char, 8192> buffer{};
  bool relevant = false;
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n <= 0) break;
    for (ssize_t offset = 0; offset < n;) {
      inotify_event event{};
      std::memcpy(&event, buffer.data() + offset, sizeof event);
      const std::string_view name =
          event.len > 0 ? std::string_view(buffer.data() + offset + sizeof event) : "";
      if ((event.mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_Q_OVERFLOW)) != 0) {
        *watch_lost = (event.mask & IN_Q_OVERFLOW) == 0 || *watch_lost;
        relevant = true;
      } else if (name.starts_with("davinci")) {
        relevant = true;
      }
      offset += static_cast<ssize_t>(sizeof event + event.len);
    }
  }
  return relevant;
}

bool reports(const std::vector<ChipFault>& faults, unsigned int code) {
  return std::any_of(faults.begin(), faults.end(),
                     [code](const ChipFault& fault) { return fault.code == code; });
}

// One line per fault code that appeared or cleared since the last check, so a warning that
// leaves the chip Healthy is still on record (its health line would not mention it).
void log_fault_changes(const ChipStatus& now, const ChipStatus* before) {
  static const std::vector<ChipFault> kNone;
  const std::vector<ChipFault>& old_faults = before != nullptr ? before->faults : kNone;
  const std::string device = device_id(now.chip.physical_id);
  for (const ChipFault& fault : now.faults) {
    if (reports(old_faults, fault.code)) continue;
    logger().warn("chip fault reported",
                  {kv("device", device), kv("code", fault_code_text(fault.code)),
                   kv("severity", fault_severity_name(fault.severity)),
                   kv("health", now.healthy ? "Healthy" : "Unhealthy")});
  }
  for (const ChipFault& fault : old_faults) {
    if (reports(now.faults, fault.code)) continue;
    logger().info("chip fault cleared",
                  {kv("device", device), kv("code", fault_code_text(fault.code)),
                   kv("severity", fault_severity_name(fault.severity))});
  }
}

}  // namespace

HealthMonitor::HealthMonitor(Discovery& discovery, Inventory& inventory, HealthOptions options,
                             PluginEvents* events)
    : discovery_(discovery),
      inventory_(inventory),
      options_(std::move(options)),
      events_(events != nullptr ? *events : no_events_) {}

HealthMonitor::~HealthMonitor() {
  stop();
}

bool HealthMonitor::check_now() {
  const std::lock_guard lock(check_mu_);
  const auto started = std::chrono::steady_clock::now();
  const InventorySnapshot before = inventory_.snapshot();

  std::map<int, ChipStatus> now;
  auto scanned = discovery_.scan();
  if (scanned.ok()) {
    if (!last_scan_error_.empty()) {
      logger().info("discovery recovered", {kv("backend", discovery_.name())});
      last_scan_error_.clear();
    }
    for (const ChipStatus& status : scanned.value()) {
      known_[status.chip.physical_id] = status.chip;
      now[status.chip.physical_id] = status;
    }
  } else if (scanned.error().message != last_scan_error_) {
    last_scan_error_ = scanned.error().message;
    logger().warn("discovery failed",
                  {kv("backend", discovery_.name()), kv("error", last_scan_error_)});
  }

  const DevfsOptions devfs{options_.device_root, options_.allow_regular_files};
  std::vector<ChipStatus> published;
  published.reserve(known_.size());
  for (const auto& [id, chip] : known_) {
    ChipStatus status;
    status.chip = chip;
    const auto node = options_.device_root / ("davinci" + std::to_string(id));
    const auto reported = now.find(id);
    if (options_.require_device_nodes && !is_device_node(node, devfs)) {
      // The most direct evidence first: without its node no container can use the chip.
      status.healthy = false;
      status.reason = "device node " + node.string() + " missing";
    } else if (reported != now.end()) {
      status = reported->second;
    } else {
      status.healthy = false;
      status.reason = std::string(discovery_.name()) +
                      (scanned.ok() ? " no longer reports the chip" : " scan failed");
    }
    published.push_back(std::move(status));
  }

  const bool changed = inventory_.update(published);
  if (changed) {
    for (const ChipStatus& status : published) {
      const ChipStatus* old = before.find(status.chip.physical_id);
      log_fault_changes(status, old);
      if (old != nullptr && old->healthy == status.healthy) continue;
      const std::string device = device_id(status.chip.physical_id);
      if (old == nullptr) {
        logger().info("chip discovered", {kv("device", device), kv("name", status.chip.name),
                                          kv("health", status.healthy ? "Healthy" : "Unhealthy"),
                                          kv("reason", status.reason)});
        if (!status.healthy && on_unhealthy_) on_unhealthy_(status);
      } else if (status.healthy) {
        logger().info("chip health changed", {kv("device", device), kv("health", "Healthy")});
      } else {
        logger().warn("chip health changed", {kv("device", device), kv("health", "Unhealthy"),
                                              kv("reason", status.reason)});
        if (on_unhealthy_) on_unhealthy_(status);
      }
    }
  }
  checks_.fetch_add(1);
  events_.health_checked(std::chrono::steady_clock::now() - started, inventory_.snapshot());
  return changed;
}

void HealthMonitor::on_unhealthy(UnhealthyListener listener) {
  const std::lock_guard lock(check_mu_);
  on_unhealthy_ = std::move(listener);
}

void HealthMonitor::start() {
  loop_.start([this](const std::stop_token& stop) { run(stop); });
}

void HealthMonitor::stop() {
  loop_.stop();
}

void HealthMonitor::run(const std::stop_token& stop) {
  const int inotify_fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd < 0) {
    logger().warn("inotify unavailable, polling only",
                  {kv("error", std::error_code(errno, std::system_category()).message())});
  }
  int watch = -1;
  auto next_check = std::chrono::steady_clock::now() + options_.interval;
  while (!stop.stop_requested()) {
    if (inotify_fd >= 0 && watch < 0) {
      // The root may not exist yet (or was replaced); retry every interval until it does.
      watch = ::inotify_add_watch(inotify_fd, options_.device_root.c_str(), kRootEvents);
      if (watch >= 0) check_now();  // catch changes made while unwatched
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        next_check - std::chrono::steady_clock::now());
    const bool events = loop_.wait(inotify_fd, wait);
    if (stop.stop_requested()) break;
    if (events) {
      bool watch_lost = false;
      if (drain_events(inotify_fd, &watch_lost)) check_now();
      if (watch_lost) {
        ::inotify_rm_watch(inotify_fd, watch);
        watch = -1;
      }
    }
    if (std::chrono::steady_clock::now() >= next_check) {
      check_now();
      next_check = std::chrono::steady_clock::now() + options_.interval;
    }
  }
  if (inotify_fd >= 0) ::close(inotify_fd);
}

}  // namespace ascend::plugin
