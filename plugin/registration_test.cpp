// The plugin against a fake kubelet: registration, ListAndWatch and Allocate through the
// kubelet's side of the sockets, the kubelet being absent or refusing, and kubelet restarts.

#include "plugin/registration.hpp"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "plugin/discovery/devfs.hpp"
#include "plugin/health.hpp"
#include "plugin/server.hpp"
#include "plugin/testing/fake_host.hpp"
#include "plugin/testing/fake_kubelet.hpp"

namespace ascend::plugin {
namespace {

using namespace std::chrono_literals;
using kube::testing::TempDir;
using testing::FakeKubelet;

// The parts main() wires, on a temp directory and a fake device tree.
class PluginStack {
 public:
  explicit PluginStack(const std::filesystem::path& root)
      : devfs_({root / "dev", true}),
        monitor_(devfs_, inventory_,
                 HealthOptions{root / "dev", std::chrono::hours(1), true, true}),
        specs_(ContainerSpecOptions{root / "dev", {"davinci_manager"}, {}, false, true}),
        server_(inventory_, allocator_, specs_),
        registrar_(RegistrationOptions{root / "plugins"},
                   [this, root] { return server_.start(root / "plugins" / "Ascend910.sock"); }) {
    monitor_.check_now();
  }
  ~PluginStack() {
    registrar_.stop();
    server_.stop();
    monitor_.stop();
  }
  Registrar& registrar() { return registrar_; }
  HealthMonitor& monitor() { return monitor_; }

 private:
  DevfsDiscovery devfs_;
  Inventory inventory_;
  HealthMonitor monitor_;
  Allocator allocator_{Topology(TopologyKind::kModule8)};
  ContainerSpecBuilder specs_;
  PluginServer server_;
  Registrar registrar_;
};

// The fake kubelet records a Register before the plugin sees the reply: wait for the plugin.
bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

class RegistrationTest : public ::testing::Test {
 protected:
  // What the kubelet does after Register: dial the endpoint, read the device list.
  static v1beta1::ListAndWatchResponse first_list(v1beta1::DevicePlugin::Stub& stub) {
    v1beta1::ListAndWatchResponse response = list_once(stub);
    EXPECT_GT(response.devices_size(), 0);
    return response;
  }
  static v1beta1::ListAndWatchResponse list_once(v1beta1::DevicePlugin::Stub& stub) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    auto reader = stub.ListAndWatch(&context, v1beta1::Empty());
    v1beta1::ListAndWatchResponse response;
    if (!reader->Read(&response)) response.Clear();
    context.TryCancel();
    return response;
  }

  testing::FakeHost host_;
};

TEST_F(RegistrationTest, RegistersAndServesTheKubelet) {
  FakeKubelet kubelet(host_.plugins());
  kubelet.start();
  PluginStack plugin(host_.root());
  plugin.registrar().start();

  const auto registration = kubelet.wait_for_registration(1, 20s);
  ASSERT_TRUE(registration.has_value());
  EXPECT_EQ(registration->request.version(), "v1beta1");
  EXPECT_EQ(registration->request.endpoint(), "Ascend910.sock");
  EXPECT_EQ(registration->request.resource_name(), "huawei.com/Ascend910");
  EXPECT_TRUE(registration->request.options().get_preferred_allocation_available());
  EXPECT_EQ(registration->authority, "localhost");
  EXPECT_TRUE(eventually([&] { return plugin.registrar().registered(); }));

  auto stub = kubelet.dial(registration->request.endpoint());
  const auto list = first_list(*stub);
  ASSERT_EQ(list.devices_size(), 8);
  EXPECT_EQ(list.devices(0).id(), "Ascend910-0");
  EXPECT_EQ(list.devices(0).health(), "Healthy");

  v1beta1::AllocateRequest request;
  request.add_container_requests()->add_devices_ids("Ascend910-7");
  grpc::ClientContext context;
  v1beta1::AllocateResponse response;
  ASSERT_TRUE(stub->Allocate(&context, request, &response).ok());
  EXPECT_EQ(response.container_responses(0).envs().at("ASCEND_VISIBLE_DEVICES"), "7");
}

TEST_F(RegistrationTest, WaitsForAnAbsentKubelet) {
  PluginStack plugin(host_.root());
  plugin.registrar().start();
  // No kubelet yet: the plugin serves and keeps retrying.
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(plugin.registrar().registered());
  EXPECT_TRUE(std::filesystem::exists(host_ / "plugins/Ascend910.sock"));

  FakeKubelet kubelet(host_.plugins());
  kubelet.start();
  ASSERT_TRUE(kubelet.wait_for_registration(1, 20s).has_value());
}

TEST_F(RegistrationTest, RetriesWhileTheKubeletRefuses) {
  FakeKubelet kubelet(host_.plugins());
  kubelet.set_reject(true);
  kubelet.start();
  PluginStack plugin(host_.root());
  plugin.registrar().start();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(kubelet.registrations(), 0U);
  kubelet.set_reject(false);
  ASSERT_TRUE(kubelet.wait_for_registration(1, 20s).has_value());
  EXPECT_TRUE(eventually([&] { return plugin.registrar().registrations() == 1U; }));
}

TEST_F(RegistrationTest, KubeletRestartsAreSurvivedWithinTwoSeconds) {
  FakeKubelet kubelet(host_.plugins());
  kubelet.start();
  PluginStack plugin(host_.root());
  plugin.registrar().start();
  ASSERT_TRUE(kubelet.wait_for_registration(1, 20s).has_value());

  for (std::size_t restart = 1; restart <= 3; ++restart) {
    const auto created = kubelet.restart();  // deletes every socket, recreates kubelet.sock
    const auto registration = kubelet.wait_for_registration_since(created, 20s);
    ASSERT_TRUE(registration.has_value()) << "restart " << restart;
    const auto took =
        std::chrono::duration_cast<std::chrono::milliseconds>(registration->at - created);
    // The contract of issue 3: serve again and re-register within 2 s of the restart.
    EXPECT_LT(took, 2s) << "restart " << restart;
    std::printf("restart %zu: re-registered %lld ms after kubelet.sock was created\n", restart,
                static_cast<long long>(took.count()));
    // And the new kubelet reaches a serving plugin. (The plugin may serve once more if the
    // restart deleted a socket it had just made; a real kubelet then gets another Register.)
    EXPECT_TRUE(eventually([&] {
      auto stub = kubelet.dial("Ascend910.sock");
      return list_once(*stub).devices_size() == 8;
    })) << "restart "
        << restart;
  }
}

TEST_F(RegistrationTest, KubeletSeesAVanishedChipAsUnhealthy) {
  FakeKubelet kubelet(host_.plugins());
  kubelet.start();
  PluginStack plugin(host_.root());
  plugin.monitor().start();
  plugin.registrar().start();
  ASSERT_TRUE(kubelet.wait_for_registration(1, 20s).has_value());

  auto stub = kubelet.dial("Ascend910.sock");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 20s);
  auto reader = stub->ListAndWatch(&context, v1beta1::Empty());
  v1beta1::ListAndWatchResponse response;
  ASSERT_TRUE(reader->Read(&response));
  std::filesystem::remove(host_ / "dev/davinci2");
  ASSERT_TRUE(reader->Read(&response));  // pushed by inotify, not the hour-long poll
  for (const auto& device : response.devices()) {
    EXPECT_EQ(device.health(), device.id() == "Ascend910-2" ? "Unhealthy" : "Healthy");
  }
  context.TryCancel();
}

TEST_F(RegistrationTest, RegisterWithoutKubeletIsAClearError) {
  const Status status = register_with_kubelet(RegistrationOptions{host_.plugins()});
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("kubelet.sock"), std::string::npos);
}

}  // namespace
}  // namespace ascend::plugin
