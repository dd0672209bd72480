#include "plugin/container_spec.hpp"

#include <algorithm>
#include <set>

#include "plugin/comma_list.hpp"
#include "plugin/discovery/devfs.hpp"

namespace ascend::plugin {
namespace {

std::string known_ids(const InventorySnapshot& inventory) {
  const std::string out = join(
      inventory.chips, [](const ChipStatus& c) { return device_id(c.chip.physical_id); }, " ");
  return out.empty() ? "none" : out;
}

}  // namespace

std::vector<HostMount> default_driver_mounts() {
  std::vector<HostMount> mounts;
  for (const char* path : {"/usr/local/Ascend/driver", "/usr/local/dcmi", "/usr/local/bin/npu-smi",
                           "/etc/ascend_install.info", "/etc/hccn.conf"}) {
    mounts.push_back(HostMount{path, path, true});
  }
  return mounts;
}

Result<HostMount> parse_mount(const std::string& text) {
  const auto colon = text.find(':');
  HostMount mount;
  mount.host_path = text.substr(0, colon);
  mount.container_path = colon == std::string::npos ? mount.host_path : text.substr(colon + 1);
  if (!mount.host_path.starts_with('/') || !mount.container_path.starts_with('/')) {
    return invalid_argument("mount \"" + text +
                            "\" must be /abs/path or /host/path:/container/path");
  }
  return mount;
}

Result<ContainerSpec> ContainerSpecBuilder::build(const std::vector<std::string>& device_ids,
                                                  const InventorySnapshot& inventory) const {
  if (device_ids.empty()) {
    return invalid_argument("no devices in the container request");
  }
  std::vector<int> physical;
  std::set<int> seen;
  for (const std::string& id : device_ids) {
    const Result<int> parsed = parse_device_id(id);
    if (!parsed.ok()) return parsed.error();
    const ChipStatus* chip = inventory.find(parsed.value());
    if (chip == nullptr) {
      return invalid_argument("unknown device " + id + "; this node has " + known_ids(inventory));
    }
    if (!chip->healthy) {
      return failed_precondition("device " + id + " is Unhealthy (" + chip->reason +
                                 "); not allocating it");
    }
    if (!seen.insert(parsed.value()).second) {
      return invalid_argument("device " + id + " requested twice");
    }
    physical.push_back(parsed.value());
  }
  std::sort(physical.begin(), physical.end());

  ContainerSpec spec;
  spec.envs["ASCEND_VISIBLE_DEVICES"] = join(physical);
  std::vector<int> runtime_ids(physical.size());
  for (size_t i = 0; i < runtime_ids.size(); ++i)
    runtime_ids[i] = static_cast<int>(i);
  spec.envs["ASCEND_RT_VISIBLE_DEVICES"] = join(runtime_ids);
  if (options_.ascend_runtime) return spec;

  const DevfsOptions devfs{options_.device_root, options_.allow_regular_files};
  for (int id : physical) {
    const std::string name = "davinci" + std::to_string(id);
    spec.devices.push_back(
        DeviceNode{"/dev/" + name, (options_.device_root / name).string(), "rw"});
  }
  for (const std::string& name : options_.shared_devices) {
    const auto host = options_.device_root / name;
    if (is_device_node(host, devfs)) spec.devices.push_back(DeviceNode{"/dev/" + name, host, "rw"});
  }
  for (const HostMount& mount : options_.driver_mounts) {
    std::error_code ec;
    if (std::filesystem::exists(mount.host_path, ec)) spec.mounts.push_back(mount);
  }
  return spec;
}

}  // namespace ascend::plugin
