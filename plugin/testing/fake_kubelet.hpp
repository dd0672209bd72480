#pragma once

// A fake kubelet for the plugin's tests: it serves Registration on <dir>/kubelet.sock, records
// every Register call with its arrival time, and can restart the way a real kubelet does
// (delete every socket in the directory, then create kubelet.sock anew).

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/deviceplugin.grpc.pb.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace ascend::plugin::testing {

/// One Register call as the fake kubelet saw it.
struct Registration {
  v1beta1::RegisterRequest request;
  std::chrono::steady_clock::time_point at;
  std::string authority;  ///< the :authority the plugin's channel sent
};

class FakeKubelet final {
 public:
  explicit FakeKubelet(std::filesystem::path dir, std::string socket_name = "kubelet.sock");
  ~FakeKubelet();
  FakeKubelet(const FakeKubelet&) = delete;
  FakeKubelet& operator=(const FakeKubelet&) = delete;

  /// Serves Registration; returns when kubelet.sock exists. Returns the time it was created.
  std::chrono::steady_clock::time_point start();
  /// Stops serving and removes kubelet.sock.
  void stop();
  /// What a restarting kubelet does: stop, delete every socket in the directory, start again.
  /// Returns the time just before the new kubelet.sock was created.
  std::chrono::steady_clock::time_point restart();

  /// Makes Register fail with UNAVAILABLE (a kubelet still starting) while set.
  void set_reject(bool reject);

  /// Waits until at least `count` Register calls arrived; returns the count-th (1-based).
  std::optional<Registration> wait_for_registration(std::size_t count,
                                                    std::chrono::milliseconds timeout);
  /// Waits for the first Register call that arrived at or after `since`.
  std::optional<Registration> wait_for_registration_since(
      std::chrono::steady_clock::time_point since, std::chrono::milliseconds timeout);
  std::size_t registrations() const;

  /// A DevicePlugin client on <dir>/<endpoint>, as the kubelet dials it back.
  std::unique_ptr<v1beta1::DevicePlugin::Stub> dial(const std::string& endpoint) const;

 private:
  class Service;
  std::filesystem::path dir_;
  std::string socket_name_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace ascend::plugin::testing
