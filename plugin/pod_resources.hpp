#pragma once

// Which Pod holds which chip, from the kubelet's PodResources API (v1, List) on its
// pod-resources socket (/var/lib/kubelet/pod-resources/kubelet.sock). The socket is dialled
// afresh for every question, so a kubelet restart (which recreates it) needs no reconnect.

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "plugin/error.hpp"

namespace v1 {
class ListPodResourcesResponse;
}  // namespace v1

namespace ascend::plugin {

/// A container that holds some of the devices asked about.
struct DeviceHolder {
  std::string ns;
  std::string pod;
  std::string container;
  std::vector<std::string> device_ids;  ///< Only the devices asked about, in the kubelet's order.
  bool operator==(const DeviceHolder&) const = default;
};

/// The containers of `response` holding any of `device_ids` of `resource_name`, in the
/// kubelet's order. Pure: the mapping the tests pin down.
std::vector<DeviceHolder> holders_of(const v1::ListPodResourcesResponse& response,
                                     const std::string& resource_name,
                                     const std::set<std::string>& device_ids);

/// Asks the kubelet's PodResourcesLister.List on `socket` who holds `device_ids`.
/// Errors (reason Unavailable): the socket is missing (the kubelet is not running, or its
/// pod-resources folder is not mounted into the plugin), or the call failed or timed out.
Result<std::vector<DeviceHolder>> list_holders(const std::filesystem::path& socket,
                                               const std::string& resource_name,
                                               const std::set<std::string>& device_ids,
                                               std::chrono::milliseconds timeout);

}  // namespace ascend::plugin
