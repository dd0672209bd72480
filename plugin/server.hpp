#pragma once

// The DevicePlugin gRPC service on the plugin's unix socket. It knows nothing of hardware: it
// reads the Inventory, asks the Allocator and the ContainerSpecBuilder, and translates.

#include <filesystem>
#include <memory>
#include <mutex>
#include <stop_token>

#include "plugin/allocator.hpp"
#include "plugin/container_spec.hpp"
#include "plugin/error.hpp"
#include "plugin/events.hpp"
#include "plugin/inventory.hpp"

namespace grpc {
class Server;
}  // namespace grpc

namespace ascend::plugin {

/// Serves DevicePlugin on a unix socket; can be stopped and started again (after the kubelet
/// deleted the socket). Thread-safe.
class PluginServer final {
 public:
  /// The arguments must outlive the server; events may be null.
  PluginServer(const Inventory& inventory, const Allocator& allocator,
               const ContainerSpecBuilder& specs, PluginEvents* events = nullptr);
  ~PluginServer();
  PluginServer(const PluginServer&) = delete;
  PluginServer& operator=(const PluginServer&) = delete;

  /// Serves on unix:<socket_path>, replacing a stale file there. Stops a previous serving first.
  /// Errors: kUnavailable when gRPC cannot listen (missing directory, permissions).
  Status start(const std::filesystem::path& socket_path);

  /// Ends open ListAndWatch streams, stops serving and removes the socket file. Idempotent.
  void stop();

  /// True between a successful Start and Stop.
  bool serving() const;

 private:
  class Service;
  void stop_locked();

  const Inventory& inventory_;
  const Allocator& allocator_;
  const ContainerSpecBuilder& specs_;
  PluginEvents no_events_;
  PluginEvents& events_;

  mutable std::mutex mu_;
  std::filesystem::path socket_path_;          // guarded by mu_
  std::stop_source streams_stop_;              // guarded by mu_: ends ListAndWatch streams on Stop
  std::unique_ptr<Service> service_;           // guarded by mu_
  std::unique_ptr<grpc::Server> grpc_server_;  // guarded by mu_
};

}  // namespace ascend::plugin
