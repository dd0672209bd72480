#include "plugin/server.hpp"

#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

#include "api/deviceplugin.grpc.pb.h"
#include "plugin/comma_list.hpp"

namespace ascend::plugin {

using kube::log::kv;
namespace {

constexpr std::chrono::milliseconds kStreamPoll{1000};  // how often a stream checks its client

// The plugin's error reasons (plugin/error.hpp) are named after the gRPC codes they stand for.
grpc::StatusCode to_grpc(const Error& error) {
  if (error.reason == kInvalidArgument) return grpc::StatusCode::INVALID_ARGUMENT;
  if (error.reason == kFailedPrecondition) return grpc::StatusCode::FAILED_PRECONDITION;
  if (error.reason == kUnavailable) return grpc::StatusCode::UNAVAILABLE;
  return grpc::StatusCode::INTERNAL;
}

void fill_devices(const InventorySnapshot& snapshot, v1beta1::ListAndWatchResponse& out) {
  for (const ChipStatus& chip : snapshot.chips) {
    v1beta1::Device* device = out.add_devices();
    device->set_id(device_id(chip.chip.physical_id));
    device->set_health(chip.healthy ? "Healthy" : "Unhealthy");
  }
}

// The physical ids inside kubelet device IDs. Errors: parse_device_id's, for the first bad ID.
Result<std::vector<int>> parse_ids(const google::protobuf::RepeatedPtrField<std::string>& ids) {
  std::vector<int> out;
  for (const auto& id : ids) {
    const Result<int> physical = parse_device_id(id);
    if (!physical.ok()) return physical.error();
    out.push_back(physical.value());
  }
  return out;
}

}  // namespace

class PluginServer::Service final : public v1beta1::DevicePlugin::Service {
 public:
  // The overrides below keep the PascalCase names protoc generates from deviceplugin.proto
  // (ListAndWatch, Allocate, ...): gRPC's generated base class fixes them. Every other
  // function in the plugin is snake_case.
  Service(PluginServer& owner, std::stop_token stop) : owner_(owner), stop_(std::move(stop)) {}

  grpc::Status GetDevicePluginOptions(grpc::ServerContext* /*context*/,
                                      const v1beta1::Empty* /*request*/,
                                      v1beta1::DevicePluginOptions* response) override {
    response->set_pre_start_required(false);
    response->set_get_preferred_allocation_available(true);
    return grpc::Status::OK;
  }

  // Sends the full list at once and again on every change, until the client or stop() ends it.
  grpc::Status ListAndWatch(grpc::ServerContext* context, const v1beta1::Empty* /*request*/,
                            grpc::ServerWriter<v1beta1::ListAndWatchResponse>* writer) override {
    owner_.events_.stream_opened();
    InventorySnapshot snapshot = owner_.inventory_.snapshot();
    logger().info("list-and-watch opened",
                  {kv("devices", snapshot.chips.size()), kv("version", snapshot.version)});
    for (;;) {
      v1beta1::ListAndWatchResponse response;
      fill_devices(snapshot, response);
      if (!writer->Write(response)) break;
      std::optional<InventorySnapshot> next;
      while (!next && !stop_.stop_requested() && !context->IsCancelled()) {
        next = owner_.inventory_.wait_for_change(snapshot.version, kStreamPoll, stop_);
      }
      if (!next) break;
      snapshot = std::move(*next);
    }
    logger().info("list-and-watch closed", {kv("stopping", stop_.stop_requested())});
    return grpc::Status::OK;
  }

  grpc::Status GetPreferredAllocation(grpc::ServerContext* /*context*/,
                                      const v1beta1::PreferredAllocationRequest* request,
                                      v1beta1::PreferredAllocationResponse* response) override {
    for (const auto& container : request->container_requests()) {
      auto available = parse_ids(container.available_deviceids());
      if (!available.ok()) return {to_grpc(available.error()), available.error().message};
      auto must = parse_ids(container.must_include_deviceids());
      if (!must.ok()) return {to_grpc(must.error()), must.error().message};
      auto choice = owner_.allocator_.choose(PreferredRequest{
          std::move(available).value(), std::move(must).value(), container.allocation_size()});
      if (!choice.ok()) {
        logger().warn("preferred allocation refused", {kv("size", container.allocation_size()),
                                                       kv("error", choice.error().message)});
        return {to_grpc(choice.error()), choice.error().message};
      }
      auto* out = response->add_container_responses();
      for (int id : choice.value().chips)
        out->add_deviceids(device_id(id));
      owner_.events_.preferred_answered(choice.value().within_domains);
      if (!choice.value().within_domains || !choice.value().valid_size) {
        logger().warn(
            "preferred allocation outside HCCS rules",
            {kv("size", container.allocation_size()),
             kv("topology", owner_.allocator_.topology().name()),
             kv("valid_size", choice.value().valid_size), kv("devices", join(out->deviceids()))});
      } else {
        logger().debug("preferred allocation", {kv("size", container.allocation_size()),
                                                kv("devices", join(out->deviceids()))});
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status Allocate(grpc::ServerContext* /*context*/, const v1beta1::AllocateRequest* request,
                        v1beta1::AllocateResponse* response) override {
    const InventorySnapshot snapshot = owner_.inventory_.snapshot();
    for (const auto& container : request->container_requests()) {
      const std::vector<std::string> ids(container.devices_ids().begin(),
                                         container.devices_ids().end());
      auto spec = owner_.specs_.build(ids, snapshot);
      if (!spec.ok()) {
        owner_.events_.allocate_refused();
        logger().warn("allocate refused", {kv("devices", join(container.devices_ids())),
                                           kv("error", spec.error().message)});
        return {to_grpc(spec.error()), spec.error().message};
      }
      auto* out = response->add_container_responses();
      for (const DeviceNode& node : spec.value().devices) {
        auto* device = out->add_devices();
        device->set_container_path(node.container_path);
        device->set_host_path(node.host_path);
        device->set_permissions(node.permissions);
      }
      for (const HostMount& mount : spec.value().mounts) {
        auto* m = out->add_mounts();
        m->set_container_path(mount.container_path);
        m->set_host_path(mount.host_path);
        m->set_read_only(mount.read_only);
      }
      for (const auto& [name, value] : spec.value().envs)
        (*out->mutable_envs())[name] = value;
      owner_.events_.allocated(ids.size());
      logger().info("allocate", {kv("devices", join(container.devices_ids())),
                                 kv("visible", spec.value().envs.at("ASCEND_VISIBLE_DEVICES")),
                                 kv("mounts", spec.value().mounts.size())});
    }
    return grpc::Status::OK;
  }

  grpc::Status PreStartContainer(grpc::ServerContext* /*context*/,
                                 const v1beta1::PreStartContainerRequest* /*request*/,
                                 v1beta1::PreStartContainerResponse* /*response*/) override {
    return grpc::Status::OK;  // pre_start_required is false; answer anyway, as the API allows
  }

 private:
  PluginServer& owner_;
  std::stop_token stop_;
};

PluginServer::PluginServer(const Inventory& inventory, const Allocator& allocator,
                           const ContainerSpecBuilder& specs, PluginEvents* events)
    : inventory_(inventory),
      allocator_(allocator),
      specs_(specs),
      events_(events != nullptr ? *events : no_events_) {}

PluginServer::~PluginServer() {
  stop();
}

Status PluginServer::start(const std::filesystem::path& socket_path) {
  const std::lock_guard lock(mu_);
  stop_locked();
  std::error_code ec;
  std::filesystem::remove(socket_path, ec);  // a stale socket from an earlier run

  streams_stop_ = std::stop_source();
  auto service = std::make_unique<Service>(*this, streams_stop_.get_token());
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + socket_path.string(), grpc::InsecureServerCredentials());
  builder.RegisterService(service.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    return unavailable("cannot serve on unix:" + socket_path.string() +
                       " (does the directory exist and is it writable?)");
  }
  service_ = std::move(service);
  grpc_server_ = std::move(server);
  socket_path_ = socket_path;
  logger().info("serving device plugin", {kv("socket", socket_path.string())});
  return {};
}

void PluginServer::stop() {
  const std::lock_guard lock(mu_);
  stop_locked();
}

void PluginServer::stop_locked() {
  if (!grpc_server_) return;
  streams_stop_.request_stop();
  grpc_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  grpc_server_->Wait();
  grpc_server_.reset();
  service_.reset();
  std::error_code ec;
  std::filesystem::remove(socket_path_, ec);
  logger().info("stopped serving", {kv("socket", socket_path_.string())});
}

bool PluginServer::serving() const {
  const std::lock_guard lock(mu_);
  return grpc_server_ != nullptr;
}

}  // namespace ascend::plugin
