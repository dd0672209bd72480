#pragma once

// Tells the cluster which Pod a failed chip hurt. When the health monitor marks a chip
// Unhealthy, the reporter asks the kubelet's PodResources API which containers hold it and
// annotates each such Pod with ascendfactory.io/npu-fault (one merge PATCH); the operator
// restarts the Pod's job off the chip (README, "When a chip fails"). Without an annotator (no
// API access) it only logs the Pod. The work runs on the reporter's own thread: the monitor
// only hands it the chip. A failing kubelet or API server is retried with doubling backoff.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>

#include "plugin/error.hpp"
#include "plugin/wake_loop.hpp"

namespace ascend::plugin {

/// The annotation the operator reads (operator/contract.hpp, labels::kNpuFault).
inline constexpr const char* kNpuFaultAnnotation = "ascendfactory.io/npu-fault";

/// Writes one annotation on one Pod: the seam between the reporter and the API server.
class PodAnnotator {
 public:
  virtual ~PodAnnotator() = default;
  /// Sets metadata.annotations[key] = value on Pod ns/name. Errors are values (not found,
  /// forbidden, unreachable); implementations must be thread-safe.
  virtual Status annotate(const std::string& ns, const std::string& name, const std::string& key,
                          const std::string& value) = 0;
};
using PodAnnotatorPtr = std::unique_ptr<PodAnnotator>;

struct FaultReporterOptions {
  std::filesystem::path pod_resources_socket = "/var/lib/kubelet/pod-resources/kubelet.sock";
  std::string resource_name = "huawei.com/Ascend910";
  std::string node_name;
  std::chrono::milliseconds list_timeout{5000};
  std::chrono::milliseconds initial_backoff{250};
  std::chrono::milliseconds max_backoff{10000};
  /// A chip is given up after this many failed rounds (about 3 minutes at the defaults).
  int max_attempts = 25;
};

/// Reports chips gone Unhealthy. Thread-safe.
class FaultReporter final {
 public:
  /// `annotator` may be null: log only. It must outlive the reporter.
  FaultReporter(FaultReporterOptions options, PodAnnotator* annotator);
  ~FaultReporter();
  FaultReporter(const FaultReporter&) = delete;
  FaultReporter& operator=(const FaultReporter&) = delete;

  /// Queues chip `physical_id`, Unhealthy for `reason` since `time` (RFC 3339); returns at once.
  void chip_unhealthy(int physical_id, const std::string& reason, const std::string& time);

  void start();
  /// Stops and joins the thread. Idempotent.
  void stop();

  /// Pods annotated so far (for tests and metrics).
  std::uint64_t annotated() const { return annotated_.load(); }
  /// Chips whose holders were all found and handled, or that nobody held.
  std::uint64_t handled() const { return handled_.load(); }

  /// The annotation's value: {"chips":[...],"node":"...","reason":"...","time":"..."}.
  static std::string annotation_value(const std::vector<std::string>& chips,
                                      const std::string& node, const std::string& reason,
                                      const std::string& time);

 private:
  struct Pending {
    std::string reason;
    std::string time;
    int attempts = 0;
  };
  void run(const std::stop_token& stop);
  /// One round over the pending chips; true when every one was handled.
  bool report_pending();

  const FaultReporterOptions options_;
  PodAnnotator* annotator_;
  int wake_fd_ = -1;  // eventfd: chip_unhealthy() wakes the loop

  std::mutex mu_;
  std::map<std::string, Pending> pending_;  // guarded by mu_: by device ID
  std::string last_error_;                  // only the loop's thread: logged once until it changes

  std::atomic<std::uint64_t> annotated_{0};
  std::atomic<std::uint64_t> handled_{0};
  WakeLoop loop_;
};

}  // namespace ascend::plugin
