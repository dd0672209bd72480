// ascend-device-plugin: parses its configuration, wires the parts together, and on SIGTERM or
// SIGINT shuts them down in order (stop registering, stop serving and remove the socket, stop
// watching health).

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "kube/object_meta.hpp"
#include "kube/program.hpp"
#include "kube/serving.hpp"
#include "plugin/allocator.hpp"
#include "plugin/config.hpp"
#include "plugin/container_spec.hpp"
#include "plugin/discovery/dcmi.hpp"
#include "plugin/discovery/devfs.hpp"
#include "plugin/events.hpp"
#include "plugin/fault_reporter.hpp"
#include "plugin/health.hpp"
#include "plugin/inventory.hpp"
#include "plugin/metrics.hpp"
#include "plugin/pod_annotator.hpp"
#include "plugin/registration.hpp"
#include "plugin/server.hpp"
#include "plugin/topology.hpp"

namespace ap = ascend::plugin;
using ascend::kube::log::kv;

namespace {

std::optional<std::string> get_env(const std::string& name) {
  // Read before any thread starts, so the environment cannot change underneath.
  const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
  return value != nullptr ? std::optional<std::string>(value) : std::nullopt;
}

// The backend the configuration asks for; in auto mode DCMI when it loads, else device files.
ap::DiscoveryPtr choose_discovery(const ap::PluginConfig& config) {
  const ap::DevfsOptions devfs{config.device_root, config.allow_regular_device_files};
  if (config.discovery == ap::DiscoveryMode::kDevfs) {
    return std::make_unique<ap::DevfsDiscovery>(devfs);
  }
  auto dcmi = std::make_unique<ap::DcmiDiscovery>(
      ap::DcmiOptions{config.driver_lib_dirs, true, config.dcmi_faults});
  const ap::Status loaded = dcmi->load();
  if (loaded.ok()) {
    ap::logger().info("discovery", {kv("backend", "dcmi"), kv("library", dcmi->library_path())});
    return dcmi;
  }
  if (config.discovery == ap::DiscoveryMode::kDcmi) {
    ap::logger().error("DCMI not available; serving no chips until it loads",
                       {kv("error", loaded.error().message)});
    return dcmi;
  }
  ap::logger().warn(
      "DCMI not available, using device files",
      {kv("error", loaded.error().message), kv("device_root", config.device_root.string())});
  return std::make_unique<ap::DevfsDiscovery>(devfs);
}

}  // namespace

int main(int argc, char** argv) {
  // Two malloc arenas: the plugin allocates little, on about a dozen threads (gRPC's and ours);
  // ~0.2 MiB less RSS at idle (bench/README.md).
  ascend::kube::limit_malloc_arenas();

  const ap::ConfigLoad load = ap::load_config(argc, argv, get_env);
  if (load.exit_code >= 0) return ascend::kube::exit_with(load.exit_code, load.message);
  const ap::PluginConfig& config = load.config;
  if (!ascend::kube::start_logging("ascend-device-plugin", {config.log_level, "text"})) return 2;
  // Before any thread starts, so that SIGTERM and SIGINT reach only signals.wait().
  ascend::kube::StopSignals signals;

  // Fault reports: which Pod a failed chip hurt (kubelet PodResources), annotated through the
  // API server when --annotate-faults is on and a client can be made, else logged only.
  std::unique_ptr<ap::PodAnnotator> annotator;
  if (config.annotate_faults) {
    auto client = ap::make_api_client(config.kubeconfig);
    if (client.ok()) {
      annotator = std::make_unique<ap::ApiPodAnnotator>(client.value());
      ap::logger().info("fault annotations on",
                        {kv("node", config.node_name), kv("annotation", ap::kNpuFaultAnnotation)});
    } else {
      ap::logger().error("no API access for fault annotations; faults are only logged",
                         {kv("error", client.error().message)});
    }
  }
  ap::FaultReporter faults(
      ap::FaultReporterOptions{config.pod_resources_socket, config.resource_name, config.node_name},
      annotator.get());

  auto metrics = std::make_shared<ap::PluginMetrics>();
  ap::DiscoveryPtr discovery = choose_discovery(config);
  ap::Inventory inventory;
  ap::HealthMonitor monitor(*discovery, inventory,
                            ap::HealthOptions{config.device_root, config.health_interval, true,
                                              config.allow_regular_device_files},
                            metrics.get());
  monitor.on_unhealthy([&faults](const ap::ChipStatus& status) {
    faults.chip_unhealthy(status.chip.physical_id, status.reason,
                          ascend::kube::format_time(std::chrono::system_clock::now()));
  });
  monitor.check_now();

  const ap::InventorySnapshot first = inventory.snapshot();
  const ap::ChipModel model = ap::resolve_chip_model(config.chip_model, first.chips);
  std::vector<int> ids;
  for (const auto& chip : first.chips)
    ids.push_back(chip.chip.physical_id);
  const ap::Topology topology(config.topology.value_or(ap::infer_topology(model, ids)));
  ap::logger().info("inventory",
                    {kv("chips", first.chips.size()), kv("model", ap::chip_model_name(model)),
                     kv("topology", topology.name()), kv("backend", discovery->name())});

  const ap::Allocator allocator(topology);
  const ap::ContainerSpecBuilder specs(
      ap::ContainerSpecOptions{config.device_root, config.shared_devices, config.driver_mounts,
                               config.ascend_runtime, config.allow_regular_device_files});
  ap::PluginServer server(inventory, allocator, specs, metrics.get());
  const auto socket_path = config.socket_dir / config.socket_name;
  ap::Registrar registrar(
      ap::RegistrationOptions{config.socket_dir, config.kubelet_socket, config.socket_name,
                              config.resource_name},
      [&] { return server.start(socket_path); }, metrics.get());

  std::unique_ptr<ascend::kube::ServingServer> http;
  if (!config.http_address.empty()) {
    http = std::make_unique<ascend::kube::ServingServer>(
        ascend::kube::ServingOptions{config.http_host, config.http_port}, metrics->registry());
    const auto stale_after = config.health_interval * 3 + std::chrono::seconds(5);
    http->add_health_check("health-monitor",
                           [metrics, stale_after]() -> std::optional<std::string> {
                             if (metrics->since_last_health_check() <= stale_after)
                               return std::nullopt;
                             return "no health check completed recently";
                           });
    http->add_ready_check("kubelet-registration", [&registrar]() -> std::optional<std::string> {
      if (registrar.registered()) return std::nullopt;
      return "not registered with the kubelet";
    });
    if (const auto started = http->start(); !started) {
      ap::logger().error(
          "cannot serve /healthz and /metrics; continuing without them",
          {kv("address", config.http_address), kv("error", started.error().message)});
      http.reset();
    }
  }

  faults.start();
  monitor.start();
  registrar.start();

  const std::string signal = signals.wait();
  ap::logger().info("shutting down", {kv("signal", signal)});
  registrar.stop();
  server.stop();
  monitor.stop();
  faults.stop();
  if (http) http->stop();
  ap::logger().info("stopped");
  return 0;
}
