#include "plugin/testing/fake_kubelet.hpp"

#include <grpcpp/grpcpp.h>

namespace ascend::plugin::testing {

class FakeKubelet::Service final : public v1beta1::Registration::Service {
 public:
  // Register keeps the name protoc generates from deviceplugin.proto.
  grpc::Status Register(grpc::ServerContext* context, const v1beta1::RegisterRequest* request,
                        v1beta1::Empty* /*response*/) override {
    std::lock_guard lock(mu);
    if (reject) return {grpc::StatusCode::UNAVAILABLE, "fake kubelet is starting"};
    // The kubelet checks the version and refuses anything else; so does the fake.
    if (request->version() != "v1beta1") {
      return {grpc::StatusCode::INVALID_ARGUMENT, "unsupported version " + request->version()};
    }
    const grpc::string_ref authority = context->ExperimentalGetAuthority();
    seen.push_back(Registration{*request, std::chrono::steady_clock::now(),
                                std::string(authority.data(), authority.size())});
    changed.notify_all();
    return grpc::Status::OK;
  }

  std::mutex mu;
  std::condition_variable changed;
  std::vector<Registration> seen;  // guarded by mu
  bool reject = false;             // guarded by mu
};

FakeKubelet::FakeKubelet(std::filesystem::path dir, std::string socket_name)
    : dir_(std::move(dir)),
      socket_name_(std::move(socket_name)),
      service_(std::make_unique<Service>()) {}

FakeKubelet::~FakeKubelet() {
  stop();
}

std::chrono::steady_clock::time_point FakeKubelet::start() {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + (dir_ / socket_name_).string(),
                           grpc::InsecureServerCredentials());
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (!server_) throw std::runtime_error("fake kubelet cannot listen in " + dir_.string());
  return std::chrono::steady_clock::now();
}

void FakeKubelet::stop() {
  if (!server_) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  server_->Wait();
  server_.reset();
  std::error_code ec;
  std::filesystem::remove(dir_ / socket_name_, ec);
}

std::chrono::steady_clock::time_point FakeKubelet::restart() {
  stop();
  // The kubelet's device manager removes every socket in the directory when it starts.
  std::vector<std::filesystem::path> sockets;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    if (entry.is_socket()) sockets.push_back(entry.path());
  }
  for (const auto& socket : sockets)
    std::filesystem::remove(socket);
  return start();
}

void FakeKubelet::set_reject(bool reject) {
  std::lock_guard lock(service_->mu);
  service_->reject = reject;
}

std::optional<Registration> FakeKubelet::wait_for_registration(std::size_t count,
                                                               std::chrono::milliseconds timeout) {
  std::unique_lock lock(service_->mu);
  if (!service_->changed.wait_for(lock, timeout, [&] { return service_->seen.size() >= count; })) {
    return std::nullopt;
  }
  return service_->seen[count - 1];
}

std::optional<Registration> FakeKubelet::wait_for_registration_since(
    std::chrono::steady_clock::time_point since, std::chrono::milliseconds timeout) {
  std::unique_lock lock(service_->mu);
  std::optional<Registration> found;
  service_->changed.wait_for(lock, timeout, [&] {
    for (const Registration& r : service_->seen) {
      if (r.at >= since) {
        found = r;
        return true;
      }
    }
    return false;
  });
  return found;
}

std::size_t FakeKubelet::registrations() const {
  std::lock_guard lock(service_->mu);
  return service_->seen.size();
}

std::unique_ptr<v1beta1::DevicePlugin::Stub> FakeKubelet::dial(const std::string& endpoint) const {
  grpc::ChannelArguments args;
  args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, "localhost");
  return v1beta1::DevicePlugin::NewStub(grpc::CreateCustomChannel(
      "unix:" + (dir_ / endpoint).string(), grpc::InsecureChannelCredentials(), args));
}

}  // namespace ascend::plugin::testing
