#include "plugin/health.hpp"

#include <poll.h>
#include <sys/eventfd.h>
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
bool DrainEvents(int fd, bool* watch_lost) {
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

bool Reports(const std::vector<ChipFault>& faults, unsigned int code) {
  return std::any_of(faults.begin(), faults.end(),
                     [code](const ChipFault& fault) { return fault.code == code; });
}

// One line per fault code that appeared or cleared since the last check, so a warning that
// leaves the chip Healthy is still on record (its health line would not mention it).
void LogFaultChanges(const ChipStatus& now, const ChipStatus* before) {
  static const std::vector<ChipFault> kNone;
  const std::vector<ChipFault>& old_faults = before != nullptr ? before->faults : kNone;
  const std::string device = DeviceId(now.chip.physical_id);
  for (const ChipFault& fault : now.faults) {
    if (Reports(old_faults, fault.code)) continue;
    logger().warn("chip fault reported",
                  {kv("device", device), kv("code", FaultCodeText(fault.code)),
                   kv("severity", FaultSeverityName(fault.severity)),
                   kv("health", now.healthy ? "Healthy" : "Unhealthy")});
  }
  for (const ChipFault& fault : old_faults) {
    if (Reports(now.faults, fault.code)) continue;
    logger().info("chip fault cleared",
                  {kv("device", device), kv("code", FaultCodeText(fault.code)),
                   kv("severity", FaultSeverityName(fault.severity))});
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
  Stop();
}

bool HealthMonitor::CheckNow() {
  const std::lock_guard lock(check_mu_);
  const auto started = std::chrono::steady_clock::now();
  const InventorySnapshot before = inventory_.Snapshot();

  std::map<int, ChipStatus> now;
  auto scanned = discovery_.Scan();
  if (scanned.ok()) {
    if (!last_scan_error_.empty()) {
      logger().info("discovery recovered", {kv("backend", discovery_.Name())});
      last_scan_error_.clear();
    }
    for (const ChipStatus& status : scanned.value()) {
      known_[status.chip.physical_id] = status.chip;
      now[status.chip.physical_id] = status;
    }
  } else if (scanned.error().message != last_scan_error_) {
    last_scan_error_ = scanned.error().message;
    logger().warn("discovery failed",
                  {kv("backend", discovery_.Name()), kv("error", last_scan_error_)});
  }

  const DevfsOptions devfs{options_.device_root, options_.allow_regular_files};
  std::vector<ChipStatus> published;
  published.reserve(known_.size());
  for (const auto& [id, chip] : known_) {
    ChipStatus status;
    status.chip = chip;
    const auto node = options_.device_root / ("davinci" + std::to_string(id));
    const auto reported = now.find(id);
    if (options_.require_device_nodes && !IsDeviceNode(node, devfs)) {
      // The most direct evidence first: without its node no container can use the chip.
      status.healthy = false;
      status.reason = "device node " + node.string() + " missing";
    } else if (reported != now.end()) {
      status = reported->second;
    } else {
      status.healthy = false;
      status.reason = std::string(discovery_.Name()) +
                      (scanned.ok() ? " no longer reports the chip" : " scan failed");
    }
    published.push_back(std::move(status));
  }

  const bool changed = inventory_.Update(published);
  if (changed) {
    for (const ChipStatus& status : published) {
      const ChipStatus* old = before.Find(status.chip.physical_id);
      LogFaultChanges(status, old);
      if (old != nullptr && old->healthy == status.healthy) continue;
      const std::string device = DeviceId(status.chip.physical_id);
      if (old == nullptr) {
        logger().info("chip discovered", {kv("device", device), kv("name", status.chip.name),
                                          kv("health", status.healthy ? "Healthy" : "Unhealthy"),
                                          kv("reason", status.reason)});
      } else if (status.healthy) {
        logger().info("chip health changed", {kv("device", device), kv("health", "Healthy")});
      } else {
        logger().warn("chip health changed", {kv("device", device), kv("health", "Unhealthy"),
                                              kv("reason", status.reason)});
      }
    }
  }
  checks_.fetch_add(1);
  events_.HealthChecked(std::chrono::steady_clock::now() - started, inventory_.Snapshot());
  return changed;
}

void HealthMonitor::Start() {
  if (thread_.joinable()) return;
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::jthread([this](const std::stop_token& stop) { Run(stop); });
}

void HealthMonitor::Stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  const std::uint64_t one = 1;
  if (::write(wake_fd_, &one, sizeof one) < 0) {
    // The thread also wakes at its next interval; nothing else to do.
  }
  thread_.join();
  ::close(wake_fd_);
  wake_fd_ = -1;
}

void HealthMonitor::Run(const std::stop_token& stop) {
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
      if (watch >= 0) CheckNow();  // catch changes made while unwatched
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        next_check - std::chrono::steady_clock::now());
    std::array<pollfd, 2> fds{pollfd{wake_fd_, POLLIN, 0}, pollfd{inotify_fd, POLLIN, 0}};
    const int ready = ::poll(fds.data(), inotify_fd >= 0 ? 2 : 1,
                             static_cast<int>(std::max<std::int64_t>(0, wait.count())));
    if (stop.stop_requested()) break;
    if (ready > 0 && (fds[1].revents & POLLIN) != 0) {
      bool watch_lost = false;
      if (DrainEvents(inotify_fd, &watch_lost)) CheckNow();
      if (watch_lost) {
        ::inotify_rm_watch(inotify_fd, watch);
        watch = -1;
      }
    }
    if (std::chrono::steady_clock::now() >= next_check) {
      CheckNow();
      next_check = std::chrono::steady_clock::now() + options_.interval;
    }
  }
  if (inotify_fd >= 0) ::close(inotify_fd);
}

}  // namespace ascend::plugin
