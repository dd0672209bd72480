#include "plugin/server.hpp"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "api/deviceplugin.grpc.pb.h"
#include "plugin/testing/fake_host.hpp"

namespace ascend::plugin {
namespace {

using kube::testing::TempDir;

std::vector<ChipStatus> make_chips(int n, int sick = -1) {
  std::vector<ChipStatus> out(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    out[static_cast<std::size_t>(i)].chip.physical_id = i;
    out[static_cast<std::size_t>(i)].healthy = i != sick;
    if (i == sick) out[static_cast<std::size_t>(i)].reason = "device node missing";
  }
  return out;
}

std::map<std::string, std::string> health_by_id(const v1beta1::ListAndWatchResponse& response) {
  std::map<std::string, std::string> out;
  for (const auto& d : response.devices())
    out[d.id()] = d.health();
  return out;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::make_device_tree(dir_ / "dev", 8);
    inventory_.update(make_chips(8));
    ContainerSpecOptions options;
    options.device_root = dir_ / "dev";
    options.allow_regular_files = true;
    specs_ = std::make_unique<ContainerSpecBuilder>(options);
    server_ = std::make_unique<PluginServer>(inventory_, allocator_, *specs_, &events_);
    ASSERT_TRUE(server_->start(socket()).ok());
    grpc::ChannelArguments args;
    args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, "localhost");
    stub_ = v1beta1::DevicePlugin::NewStub(grpc::CreateCustomChannel(
        "unix:" + socket().string(), grpc::InsecureChannelCredentials(), args));
  }

  std::filesystem::path socket() const { return dir_ / "Ascend910.sock"; }

  struct Counting : PluginEvents {
    void allocated(std::size_t chips) override { chips_allocated += chips; }
    void allocate_refused() override { ++refused; }
    void preferred_answered(bool within) override { within ? ++within_domains : ++outside; }
    std::atomic<std::size_t> chips_allocated{0};
    std::atomic<int> refused{0};
    std::atomic<int> within_domains{0};
    std::atomic<int> outside{0};
  };

  TempDir dir_;
  Inventory inventory_;
  Allocator allocator_{Topology(TopologyKind::kRing4)};
  Counting events_;
  std::unique_ptr<ContainerSpecBuilder> specs_;
  std::unique_ptr<PluginServer> server_;
  std::unique_ptr<v1beta1::DevicePlugin::Stub> stub_;
};

TEST_F(ServerTest, AdvertisesPreferredAllocation) {
  grpc::ClientContext context;
  v1beta1::DevicePluginOptions options;
  ASSERT_TRUE(stub_->GetDevicePluginOptions(&context, v1beta1::Empty(), &options).ok());
  EXPECT_TRUE(options.get_preferred_allocation_available());
  EXPECT_FALSE(options.pre_start_required());
}

TEST_F(ServerTest, ListAndWatchSendsTheFullListOnEveryChange) {
  grpc::ClientContext context;
  auto reader = stub_->ListAndWatch(&context, v1beta1::Empty());
  v1beta1::ListAndWatchResponse response;
  ASSERT_TRUE(reader->Read(&response));
  ASSERT_EQ(response.devices_size(), 8);
  EXPECT_EQ(health_by_id(response)["Ascend910-3"], "Healthy");

  inventory_.update(make_chips(8, 3));
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.devices_size(), 8);
  EXPECT_EQ(health_by_id(response)["Ascend910-3"], "Unhealthy");
  EXPECT_EQ(health_by_id(response)["Ascend910-2"], "Healthy");

  inventory_.update(make_chips(8));  // the chip recovers
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(health_by_id(response)["Ascend910-3"], "Healthy");

  server_->stop();  // ends the stream rather than hanging the kubelet's reader
  EXPECT_FALSE(reader->Read(&response));
  EXPECT_FALSE(std::filesystem::exists(socket()));
}

TEST_F(ServerTest, AllocateAnswersEveryContainer) {
  v1beta1::AllocateRequest request;
  request.add_container_requests()->add_devices_ids("Ascend910-1");
  auto* second = request.add_container_requests();
  second->add_devices_ids("Ascend910-4");
  second->add_devices_ids("Ascend910-5");
  grpc::ClientContext context;
  v1beta1::AllocateResponse response;
  const grpc::Status status = stub_->Allocate(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.container_responses_size(), 2);
  const auto& one = response.container_responses(0);
  EXPECT_EQ(one.envs().at("ASCEND_VISIBLE_DEVICES"), "1");
  ASSERT_GE(one.devices_size(), 1);
  EXPECT_EQ(one.devices(0).container_path(), "/dev/davinci1");
  EXPECT_EQ(one.devices(0).host_path(), (dir_ / "dev/davinci1").string());
  EXPECT_EQ(one.devices(0).permissions(), "rw");
  const auto& two = response.container_responses(1);
  EXPECT_EQ(two.envs().at("ASCEND_VISIBLE_DEVICES"), "4,5");
  EXPECT_EQ(two.envs().at("ASCEND_RT_VISIBLE_DEVICES"), "0,1");
  EXPECT_EQ(two.devices_size(), 2 + 3);  // two chips and the three shared nodes
  EXPECT_EQ(events_.chips_allocated.load(), 3U);
}

TEST_F(ServerTest, AllocateRefusesUnknownAndUnhealthyChipsAndKeepsServing) {
  inventory_.update(make_chips(8, 6));
  for (const auto& [id, code] : std::vector<std::pair<std::string, grpc::StatusCode>>{
           {"Ascend910-12", grpc::StatusCode::INVALID_ARGUMENT},
           {"Ascend910-6", grpc::StatusCode::FAILED_PRECONDITION},
           {"nvidia0", grpc::StatusCode::INVALID_ARGUMENT}}) {
    v1beta1::AllocateRequest request;
    request.add_container_requests()->add_devices_ids(id);
    grpc::ClientContext context;
    v1beta1::AllocateResponse response;
    const grpc::Status status = stub_->Allocate(&context, request, &response);
    EXPECT_EQ(status.error_code(), code) << id;
    EXPECT_NE(status.error_message().find(id), std::string::npos) << status.error_message();
  }
  EXPECT_EQ(events_.refused.load(), 3);
  v1beta1::AllocateRequest request;
  request.add_container_requests()->add_devices_ids("Ascend910-0");
  grpc::ClientContext context;
  v1beta1::AllocateResponse response;
  EXPECT_TRUE(stub_->Allocate(&context, request, &response).ok());
}

TEST_F(ServerTest, PreferredAllocationFollowsHccsRings) {
  v1beta1::PreferredAllocationRequest request;
  auto* c = request.add_container_requests();
  for (const char* id :
       {"Ascend910-0", "Ascend910-1", "Ascend910-2", "Ascend910-3", "Ascend910-5", "Ascend910-7"}) {
    c->add_available_deviceids(id);
  }
  c->set_allocation_size(2);
  grpc::ClientContext context;
  v1beta1::PreferredAllocationResponse response;
  ASSERT_TRUE(stub_->GetPreferredAllocation(&context, request, &response).ok());
  ASSERT_EQ(response.container_responses_size(), 1);
  const auto& ids = response.container_responses(0).deviceids();
  ASSERT_EQ(ids.size(), 2);
  EXPECT_EQ(ids[0], "Ascend910-5");  // the fuller ring, keeping ring 0 whole
  EXPECT_EQ(ids[1], "Ascend910-7");
  EXPECT_EQ(events_.within_domains.load(), 1);
}

TEST_F(ServerTest, PreferredAllocationRejectsBadRequests) {
  v1beta1::PreferredAllocationRequest request;
  auto* c = request.add_container_requests();
  c->add_available_deviceids("Ascend910-0");
  c->set_allocation_size(4);
  grpc::ClientContext context;
  v1beta1::PreferredAllocationResponse response;
  const grpc::Status status = stub_->GetPreferredAllocation(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("exceeds"), std::string::npos);
}

TEST_F(ServerTest, RestartsOnTheSameSocket) {
  std::filesystem::remove(socket());  // what a restarting kubelet does
  ASSERT_TRUE(server_->start(socket()).ok());
  EXPECT_TRUE(server_->serving());
  grpc::ClientContext context;
  v1beta1::DevicePluginOptions options;
  EXPECT_TRUE(stub_->GetDevicePluginOptions(&context, v1beta1::Empty(), &options).ok());
}

TEST_F(ServerTest, StartFailsClearlyWithoutTheDirectory) {
  PluginServer other(inventory_, allocator_, *specs_);
  const Status status = other.start(dir_ / "missing" / "x.sock");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("cannot serve"), std::string::npos);
  EXPECT_FALSE(other.serving());
}

}  // namespace
}  // namespace ascend::plugin
