#pragma once

// What a container gets for its chips (the Allocate answer, free of gRPC types): the device
// nodes, read-only driver mounts and the environment that makes frameworks see the chips.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "plugin/error.hpp"
#include "plugin/inventory.hpp"

namespace ascend::plugin {

/// A device node made visible in the container.
struct DeviceNode {
  std::string container_path;
  std::string host_path;
  std::string permissions = "rw";

  bool operator==(const DeviceNode&) const = default;
};

/// A host path mounted into the container.
struct HostMount {
  std::string container_path;
  std::string host_path;
  bool read_only = true;

  bool operator==(const HostMount&) const = default;
};

/// The answer for one container.
struct ContainerSpec {
  std::vector<DeviceNode> devices;
  std::vector<HostMount> mounts;
  std::map<std::string, std::string> envs;
};

/// How to build specs on this host.
struct ContainerSpecOptions {
  /// Host directory holding davinci<N> and the shared nodes; they appear at /dev in the container.
  std::filesystem::path device_root = "/dev";
  /// Shared device nodes added when present (file names under device_root).
  std::vector<std::string> shared_devices = {"davinci_manager", "devmm_svm", "hisi_hdc"};
  /// Driver paths mounted read-only when present on the host.
  std::vector<HostMount> driver_mounts;
  /// The Ascend container runtime adds devices and mounts itself: return env only.
  bool ascend_runtime = false;
  /// Accept regular files as device nodes (test beds only; see DevfsOptions).
  bool allow_regular_files = false;
};

/// Builds Allocate answers. Reads only the filesystem (existence checks); thread-safe.
class ContainerSpecBuilder final {
 public:
  explicit ContainerSpecBuilder(ContainerSpecOptions options) : options_(std::move(options)) {}

  /// The spec for a container given chips by kubelet device ID.
  /// Guarantees: one /dev/davinci<N> per chip, in physical-id order, shared nodes and driver
  /// mounts only if they exist, ASCEND_VISIBLE_DEVICES=<physical ids> and
  /// ASCEND_RT_VISIBLE_DEVICES=0..n-1.
  /// Errors: kInvalidArgument for an empty list, a malformed, duplicate or unknown ID;
  /// kFailedPrecondition for a chip that is Unhealthy now.
  Result<ContainerSpec> build(const std::vector<std::string>& device_ids,
                              const InventorySnapshot& inventory) const;

 private:
  ContainerSpecOptions options_;
};

/// The driver mounts Ascend containers need (what LLaMA-Factory's NPU compose file mounts, plus
/// /etc/hccn.conf), each at the same path in the container.
std::vector<HostMount> default_driver_mounts();

/// Parses a mount list entry: "/path" (same path inside) or "/host/path:/container/path".
/// Errors: kInvalidArgument unless both paths are absolute.
Result<HostMount> parse_mount(const std::string& text);

}  // namespace ascend::plugin
