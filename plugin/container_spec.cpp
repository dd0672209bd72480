#include "plugin/container_spec.hpp"

#include <algorithm>
#include <set>

#include "plugin/discovery/devfs.hpp"

namespace ascend::plugin {
namespace {

std::string JoinIds(const std::vector<int>& ids) {
  std::string out;
  for (int id : ids)
    out += (out.empty() ? "" : ",") + std::to_string(id);
  return out;
}

std::string KnownIds(const InventorySnapshot& inventory) {
  std::string out;
  for (const ChipStatus& c : inventory.chips) {
    out += (out.empty() ? "" : " ") + DeviceId(c.chip.physical_id);
  }
  return out.empty() ? "none" : out;
}

}  // namespace

std::vector<HostMount> DefaultDriverMounts() {
  std::vector<HostMount> mounts;
  for (const char* path : {"/usr/local/Ascend/driver", "/usr/local/dcmi", "/usr/local/bin/npu-smi",
                           "/etc/ascend_install.info", "/etc/hccn.conf"}) {
    mounts.push_back(HostMount{path, path, true});
  }
  return mounts;
}

Result<HostMount> ParseMount(const std::string& text) {
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

Result<ContainerSpec> ContainerSpecBuilder::Build(const std::vector<std::string>& device_ids,
                                                  const InventorySnapshot& inventory) const {
  if (device_ids.empty()) {
    return invalid_argument("no devices in the container request");
  }
  std::vector<int> physical;
  std::set<int> seen;
  for (const std::string& id : device_ids) {
    const auto parsed = PhysicalIdFromDeviceId(id);
    if (!parsed) {
      return invalid_argument("device ID \"" + id +
                              "\" is not of the form Ascend910-<physical id>");
    }
    const ChipStatus* chip = inventory.Find(*parsed);
    if (chip == nullptr) {
      return invalid_argument("unknown device " + id + "; this node has " + KnownIds(inventory));
    }
    if (!chip->healthy) {
      return failed_precondition("device " + id + " is Unhealthy (" + chip->reason +
                                 "); not allocating it");
    }
    if (!seen.insert(*parsed).second) {
      return invalid_argument("device " + id + " requested twice");
    }
    physical.push_back(*parsed);
  }
  std::sort(physical.begin(), physical.end());

  ContainerSpec spec;
  spec.envs["ASCEND_VISIBLE_DEVICES"] = JoinIds(physical);
  std::vector<int> runtime_ids(physical.size());
  for (size_t i = 0; i < runtime_ids.size(); ++i)
    runtime_ids[i] = static_cast<int>(i);
  spec.envs["ASCEND_RT_VISIBLE_DEVICES"] = JoinIds(runtime_ids);
  if (options_.ascend_runtime) return spec;

  const DevfsOptions devfs{options_.device_root, options_.allow_regular_files};
  for (int id : physical) {
    const std::string name = "davinci" + std::to_string(id);
    spec.devices.push_back(
        DeviceNode{"/dev/" + name, (options_.device_root / name).string(), "rw"});
  }
  for (const std::string& name : options_.shared_devices) {
    const auto host = options_.device_root / name;
    if (IsDeviceNode(host, devfs)) spec.devices.push_back(DeviceNode{"/dev/" + name, host, "rw"});
  }
  for (const HostMount& mount : options_.driver_mounts) {
    std::error_code ec;
    if (std::filesystem::exists(mount.host_path, ec)) spec.mounts.push_back(mount);
  }
  return spec;
}

}  // namespace ascend::plugin
