#include "plugin/server.hpp"

#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

#include "api/deviceplugin.grpc.pb.h"
#include "plugin/log.hpp"

namespace ascend::plugin {
namespace {

constexpr std::chrono::milliseconds kStreamPoll{1000};  // how often a stream checks its client

grpc::StatusCode ToGrpc(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case ErrorCode::kFailedPrecondition:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case ErrorCode::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case ErrorCode::kInternal:
      break;
  }
  return grpc::StatusCode::INTERNAL;
}

void Fill(const InventorySnapshot& snapshot, v1beta1::ListAndWatchResponse& out) {
  for (const ChipStatus& chip : snapshot.chips) {
    v1beta1::Device* device = out.add_devices();
    device->set_id(DeviceId(chip.chip.physical_id));
    device->set_health(chip.healthy ? "Healthy" : "Unhealthy");
  }
}

std::string JoinIds(const google::protobuf::RepeatedPtrField<std::string>& ids) {
  std::string out;
  for (const auto& id : ids)
    out += (out.empty() ? "" : ",") + id;
  return out;
}

// Parses kubelet device IDs into physical ids; nullopt names the first bad one in *bad.
std::optional<std::vector<int>> ParseIds(const google::protobuf::RepeatedPtrField<std::string>& ids,
                                         std::string* bad) {
  std::vector<int> out;
  for (const auto& id : ids) {
    const auto physical = PhysicalIdFromDeviceId(id);
    if (!physical) {
      *bad = id;
      return std::nullopt;
    }
    out.push_back(*physical);
  }
  return out;
}

}  // namespace

class PluginServer::Service final : public v1beta1::DevicePlugin::Service {
 public:
  Service(PluginServer& owner, std::stop_token stop) : owner_(owner), stop_(std::move(stop)) {}

  grpc::Status GetDevicePluginOptions(grpc::ServerContext* /*context*/,
                                      const v1beta1::Empty* /*request*/,
                                      v1beta1::DevicePluginOptions* response) override {
    response->set_pre_start_required(false);
    response->set_get_preferred_allocation_available(true);
    return grpc::Status::OK;
  }

  // Sends the full list at once and again on every change, until the client or Stop() ends it.
  grpc::Status ListAndWatch(grpc::ServerContext* context, const v1beta1::Empty* /*request*/,
                            grpc::ServerWriter<v1beta1::ListAndWatchResponse>* writer) override {
    owner_.events_.StreamOpened();
    InventorySnapshot snapshot = owner_.inventory_.Snapshot();
    log::Info("list-and-watch opened",
              {log::kv("devices", snapshot.chips.size()), log::kv("version", snapshot.version)});
    for (;;) {
      v1beta1::ListAndWatchResponse response;
      Fill(snapshot, response);
      if (!writer->Write(response)) break;
      std::optional<InventorySnapshot> next;
      while (!next && !stop_.stop_requested() && !context->IsCancelled()) {
        next = owner_.inventory_.WaitForChange(snapshot.version, kStreamPoll, stop_);
      }
      if (!next) break;
      snapshot = std::move(*next);
    }
    log::Info("list-and-watch closed", {log::kv("stopping", stop_.stop_requested())});
    return grpc::Status::OK;
  }

  grpc::Status GetPreferredAllocation(grpc::ServerContext* /*context*/,
                                      const v1beta1::PreferredAllocationRequest* request,
                                      v1beta1::PreferredAllocationResponse* response) override {
    for (const auto& container : request->container_requests()) {
      std::string bad;
      auto available = ParseIds(container.available_deviceids(), &bad);
      auto must = ParseIds(container.must_include_deviceids(), &bad);
      if (!available || !must) {
        return {grpc::StatusCode::INVALID_ARGUMENT,
                "device ID \"" + bad + "\" is not of the form Ascend910-<physical id>"};
      }
      auto choice = owner_.allocator_.Choose(
          PreferredRequest{std::move(*available), std::move(*must), container.allocation_size()});
      if (!choice.ok()) {
        log::Warn("preferred allocation refused", {log::kv("size", container.allocation_size()),
                                                   log::kv("error", choice.error().message)});
        return {ToGrpc(choice.error().code), choice.error().message};
      }
      auto* out = response->add_container_responses();
      for (int id : choice.value().chips)
        out->add_deviceids(DeviceId(id));
      owner_.events_.PreferredAnswered(choice.value().within_domains);
      if (!choice.value().within_domains || !choice.value().valid_size) {
        log::Warn("preferred allocation outside HCCS rules",
                  {log::kv("size", container.allocation_size()),
                   log::kv("topology", owner_.allocator_.topology().Name()),
                   log::kv("valid_size", choice.value().valid_size),
                   log::kv("devices", JoinIds(out->deviceids()))});
      } else {
        log::Debug("preferred allocation", {log::kv("size", container.allocation_size()),
                                            log::kv("devices", JoinIds(out->deviceids()))});
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status Allocate(grpc::ServerContext* /*context*/, const v1beta1::AllocateRequest* request,
                        v1beta1::AllocateResponse* response) override {
    const InventorySnapshot snapshot = owner_.inventory_.Snapshot();
    for (const auto& container : request->container_requests()) {
      const std::vector<std::string> ids(container.devices_ids().begin(),
                                         container.devices_ids().end());
      auto spec = owner_.specs_.Build(ids, snapshot);
      if (!spec.ok()) {
        owner_.events_.AllocateRefused();
        log::Warn("allocate refused", {log::kv("devices", JoinIds(container.devices_ids())),
                                       log::kv("error", spec.error().message)});
        return {ToGrpc(spec.error().code), spec.error().message};
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
      owner_.events_.Allocated(ids.size());
      log::Info("allocate", {log::kv("devices", JoinIds(container.devices_ids())),
                             log::kv("visible", spec.value().envs.at("ASCEND_VISIBLE_DEVICES")),
                             log::kv("mounts", spec.value().mounts.size())});
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
  Stop();
}

Status PluginServer::Start(const std::filesystem::path& socket_path) {
  const std::lock_guard lock(mu_);
  StopLocked();
  std::error_code ec;
  std::filesystem::remove(socket_path, ec);  // a stale socket from an earlier run

  streams_stop_ = std::stop_source();
  auto service = std::make_unique<Service>(*this, streams_stop_.get_token());
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + socket_path.string(), grpc::InsecureServerCredentials());
  builder.RegisterService(service.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    return Error{ErrorCode::kUnavailable, "cannot serve on unix:" + socket_path.string() +
                                              " (does the directory exist and is it writable?)"};
  }
  service_ = std::move(service);
  grpc_server_ = std::move(server);
  socket_path_ = socket_path;
  log::Info("serving device plugin", {log::kv("socket", socket_path.string())});
  return Ok{};
}

void PluginServer::Stop() {
  const std::lock_guard lock(mu_);
  StopLocked();
}

void PluginServer::StopLocked() {
  if (!grpc_server_) return;
  streams_stop_.request_stop();
  grpc_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  grpc_server_->Wait();
  grpc_server_.reset();
  service_.reset();
  std::error_code ec;
  std::filesystem::remove(socket_path_, ec);
  log::Info("stopped serving", {log::kv("socket", socket_path_.string())});
}

bool PluginServer::serving() const {
  const std::lock_guard lock(mu_);
  return grpc_server_ != nullptr;
}

}  // namespace ascend::plugin
