#include "plugin/fault_reporter.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>
#include <vector>

#include "plugin/chip.hpp"
#include "plugin/events.hpp"
#include "plugin/pod_resources.hpp"

namespace ascend::plugin {

using kube::log::kv;

namespace {
std::string joined(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids)
    out += (out.empty() ? "" : ",") + id;
  return out;
}
}  // namespace

FaultReporter::FaultReporter(FaultReporterOptions options, PodAnnotator* annotator)
    : options_(std::move(options)), annotator_(annotator) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

FaultReporter::~FaultReporter() {
  stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

std::string FaultReporter::annotation_value(const std::vector<std::string>& chips,
                                            const std::string& node, const std::string& reason,
                                            const std::string& time) {
  return nlohmann::json{{"chips", chips}, {"node", node}, {"reason", reason}, {"time", time}}
      .dump();
}

void FaultReporter::chip_unhealthy(int physical_id, const std::string& reason,
                                   const std::string& time) {
  {
    const std::lock_guard lock(mu_);
    pending_[device_id(physical_id)] = Pending{reason, time, 0};
  }
  if (wake_fd_ >= 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
  }
}

void FaultReporter::start() {
  loop_.start([this](const std::stop_token& stop) { run(stop); });
}

void FaultReporter::stop() {
  loop_.stop();
}

void FaultReporter::run(const std::stop_token& stop) {
  auto backoff = options_.initial_backoff;
  bool retrying = false;
  while (!stop.stop_requested()) {
    // Idle: sleep until a chip is queued (an hour at most, then look anyway).
    const auto wait = retrying ? backoff : std::chrono::milliseconds(3600 * 1000);
    if (loop_.wait(wake_fd_, wait)) {
      std::uint64_t count = 0;
      [[maybe_unused]] const ssize_t n = ::read(wake_fd_, &count, sizeof count);
    }
    if (stop.stop_requested()) break;
    if (report_pending()) {
      retrying = false;
      backoff = options_.initial_backoff;
    } else {
      if (retrying) backoff = std::min(backoff * 2, options_.max_backoff);
      retrying = true;
    }
  }
}

bool FaultReporter::report_pending() {
  std::map<std::string, Pending> chips;
  {
    const std::lock_guard lock(mu_);
    chips = pending_;
  }
  if (chips.empty()) return true;
  std::set<std::string> ids;
  for (const auto& [id, p] : chips)
    ids.insert(id);

  // Chips handled this round (their holders annotated, or nobody held them): dropped from
  // pending unless they were queued again meanwhile.
  std::set<std::string> done;
  auto holders = list_holders(options_.pod_resources_socket, options_.resource_name, ids,
                              options_.list_timeout);
  if (!holders.ok()) {
    if (holders.error().message != last_error_) {
      last_error_ = holders.error().message;
      logger().error("cannot tell which pod holds the unhealthy chip(s); retrying",
                     {kv("error", last_error_)});
    }
  } else {
    // One annotation per Pod, naming every failed chip it holds.
    std::map<std::pair<std::string, std::string>, std::set<std::string>> by_pod;
    for (const DeviceHolder& h : holders.value()) {
      by_pod[{h.ns, h.pod}].insert(h.device_ids.begin(), h.device_ids.end());
    }
    std::set<std::string> failed;
    for (const auto& [pod, pod_chips] : by_pod) {
      const std::vector<std::string> list(pod_chips.begin(), pod_chips.end());
      const Pending& first = chips.at(list.front());
      std::string reason;
      for (const auto& id : list)
        reason += (reason.empty() ? "" : "; ") + id + ": " + chips.at(id).reason;
      const std::string key = pod.first + "/" + pod.second;
      if (annotator_ == nullptr) {
        logger().warn("unhealthy chip held by pod; not annotated (--annotate-faults is off)",
                      {kv("pod", key), kv("devices", joined(list))});
        continue;
      }
      const std::string value = annotation_value(list, options_.node_name, reason, first.time);
      const Status status = annotator_->annotate(pod.first, pod.second, kNpuFaultAnnotation, value);
      if (status.ok() || status.error().code == 404) {
        if (status.ok()) {
          annotated_.fetch_add(1);
          logger().warn(
              "unhealthy chip held by pod; pod annotated",
              {kv("pod", key), kv("devices", joined(list)), kv("annotation", kNpuFaultAnnotation)});
        } else {
          logger().info("unhealthy chip's pod is gone", {kv("pod", key)});
        }
      } else {
        failed.insert(pod_chips.begin(), pod_chips.end());
        if (status.error().message != last_error_) {
          last_error_ = status.error().message;
          logger().error("cannot annotate the pod holding an unhealthy chip; retrying",
                         {kv("pod", key), kv("error", last_error_)});
        }
      }
    }
    for (const auto& id : ids) {
      if (failed.contains(id)) continue;
      done.insert(id);
      bool held = false;
      for (const auto& [pod, pod_chips] : by_pod)
        held = held || pod_chips.contains(id);
      if (!held) logger().info("unhealthy chip held by no pod", {kv("device", id)});
    }
    if (failed.empty()) last_error_.clear();
  }

  const std::lock_guard lock(mu_);
  for (const auto& [id, before] : chips) {
    auto it = pending_.find(id);
    if (it == pending_.end() || it->second.time != before.time) continue;  // queued again
    if (done.contains(id)) {
      pending_.erase(it);
      handled_.fetch_add(1);
    } else if (++it->second.attempts >= options_.max_attempts) {
      logger().error("giving up reporting the unhealthy chip",
                     {kv("device", id), kv("attempts", it->second.attempts)});
      pending_.erase(it);
    }
  }
  return pending_.empty();
}

}  // namespace ascend::plugin
