#pragma once

// The plugin's configuration: flags, environment (ASCEND_DP_<KEY>) and an optional YAML file
// with the same keys, parsed and validated once into a plain struct.
// Precedence: flag > environment > file > default.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "plugin/chip.hpp"
#include "plugin/container_spec.hpp"
#include "plugin/discovery/dcmi_faults.hpp"
#include "plugin/topology.hpp"

namespace ascend::plugin {

/// Which discovery backend to use.
enum class DiscoveryMode {
  kAuto,   ///< DCMI when libdcmi.so loads, device files otherwise
  kDcmi,   ///< DCMI only: the plugin serves no chips while the library cannot be loaded
  kDevfs,  ///< device files only
};

/// Everything the plugin reads from the outside world, validated.
struct PluginConfig {
  std::filesystem::path socket_dir = "/var/lib/kubelet/device-plugins";
  std::string kubelet_socket = "kubelet.sock";
  std::string socket_name = "Ascend910.sock";
  std::string resource_name = "huawei.com/Ascend910";
  std::filesystem::path device_root = "/dev";
  DiscoveryMode discovery = DiscoveryMode::kAuto;
  std::vector<std::filesystem::path> driver_lib_dirs = {"/usr/local/Ascend/driver/lib64",
                                                        "/usr/local/Ascend/driver/lib64/driver",
                                                        "/usr/local/Ascend/driver/lib64/common"};
  std::optional<ChipModel> chip_model;   ///< nullopt: from discovery
  std::optional<TopologyKind> topology;  ///< nullopt: from the chip model and count
  std::chrono::milliseconds health_interval{5000};
  /// DCMI fault codes by severity (--dcmi-warning-codes, --dcmi-critical-codes).
  DcmiFaultTable dcmi_faults = DcmiFaultTable::defaults();
  bool ascend_runtime = false;  ///< env only in Allocate answers
  std::vector<HostMount> driver_mounts = default_driver_mounts();
  std::vector<std::string> shared_devices = {"davinci_manager", "devmm_svm", "hisi_hdc"};
  bool allow_regular_device_files = false;
  std::string log_level = "info";
  std::string http_address = "0.0.0.0:9110";  ///< /healthz and /metrics; empty: none
  std::string http_host;              ///< http_address's host, unbracketed (set by validation)
  std::uint16_t http_port = 0;        ///< http_address's port (set by validation)
  std::filesystem::path config_file;  ///< the YAML file read, if any
  /// The kubelet's PodResources v1 socket: who holds a chip that went Unhealthy.
  std::filesystem::path pod_resources_socket = "/var/lib/kubelet/pod-resources/kubelet.sock";
  /// Annotate a Pod holding a chip that went Unhealthy (ascendfactory.io/npu-fault) through the
  /// API server; off: the fault and its Pod are only logged.
  bool annotate_faults = false;
  std::string node_name;   ///< this node (the downward API's spec.nodeName); for annotate_faults
  std::string kubeconfig;  ///< empty: in-cluster (the Pod's ServiceAccount token)
};

/// Looks up an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

/// The result of reading the configuration.
struct ConfigLoad {
  /// -1: run with `config`. Otherwise exit with this code after printing `message`
  /// (0 for --help/--version to stdout, 2 for a bad flag or file to stderr, one line).
  int exit_code = -1;
  std::string message;
  PluginConfig config;
};

/// Reads flags (argv[0] is the program name), environment and the YAML file named by --config
/// or ASCEND_DP_CONFIG. Errors are values: exit_code 2 and a one-line message naming the key,
/// the source and what is accepted.
ConfigLoad load_config(int argc, const char* const* argv, const EnvLookup& env);

/// Parses a duration: "5s", "500ms", "2m", or a bare number of seconds ("1.5").
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text);

}  // namespace ascend::plugin
