#include "plugin/pod_resources.hpp"

#include <grpcpp/grpcpp.h>

#include <system_error>

#include "api/podresources.grpc.pb.h"

namespace ascend::plugin {

std::vector<DeviceHolder> holders_of(const v1::ListPodResourcesResponse& response,
                                     const std::string& resource_name,
                                     const std::set<std::string>& device_ids) {
  std::vector<DeviceHolder> holders;
  for (const auto& pod : response.pod_resources()) {
    for (const auto& container : pod.containers()) {
      DeviceHolder holder{pod.namespace_(), pod.name(), container.name(), {}};
      for (const auto& devices : container.devices()) {
        if (devices.resource_name() != resource_name) continue;
        for (const auto& id : devices.device_ids()) {
          if (device_ids.contains(id)) holder.device_ids.push_back(id);
        }
      }
      if (!holder.device_ids.empty()) holders.push_back(std::move(holder));
    }
  }
  return holders;
}

Result<std::vector<DeviceHolder>> list_holders(const std::filesystem::path& socket,
                                               const std::string& resource_name,
                                               const std::set<std::string>& device_ids,
                                               std::chrono::milliseconds timeout) {
  std::error_code ec;
  if (!std::filesystem::exists(socket, ec)) {
    return unavailable("the kubelet's pod-resources socket " + socket.string() +
                       " does not exist (kubelet not running, or its pod-resources folder not "
                       "mounted into the plugin)");
  }
  grpc::ChannelArguments args;
  args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, "localhost");
  auto channel = grpc::CreateCustomChannel("unix:" + socket.string(),
                                           grpc::InsecureChannelCredentials(), args);
  auto stub = v1::PodResourcesLister::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  const v1::ListPodResourcesRequest request;
  v1::ListPodResourcesResponse response;
  const grpc::Status status = stub->List(&context, request, &response);
  if (!status.ok()) {
    return unavailable("PodResourcesLister.List at " + socket.string() +
                       " failed: " + status.error_message() + " (code " +
                       std::to_string(status.error_code()) + ")");
  }
  return holders_of(response, resource_name, device_ids);
}

}  // namespace ascend::plugin
