// Which Pod holds a failed chip (the kubelet's PodResources v1 List, served by a fake kubelet
// over a real unix socket) and the annotation the reporter writes (a fake annotator), with the
// kubelet absent, restarting and the annotator failing.

#include "plugin/fault_reporter.hpp"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/podresources.grpc.pb.h"
#include "kube/client.hpp"
#include "kube/testing/fake_apiserver.hpp"
#include "kube/testing/temp_dir.hpp"
#include "kube/transport.hpp"
#include "plugin/discovery/devfs.hpp"
#include "plugin/health.hpp"
#include "plugin/inventory.hpp"
#include "plugin/pod_annotator.hpp"
#include "plugin/pod_resources.hpp"
#include "plugin/testing/fake_host.hpp"

namespace ascend::plugin {
namespace {

using namespace std::chrono_literals;
using kube::testing::TempDir;

// The kubelet's side of PodResourcesLister: answers List with what the test put there.
class FakePodResources final : public v1::PodResourcesLister::Service {
 public:
  grpc::Status List(grpc::ServerContext* /*context*/, const v1::ListPodResourcesRequest* /*req*/,
                    v1::ListPodResourcesResponse* reply) override {
    const std::lock_guard lock(mu_);
    ++calls_;
    *reply = response_;
    return grpc::Status::OK;
  }
  // Pod ns/name, container, resource, device IDs.
  void add(const std::string& ns, const std::string& pod, const std::string& container,
           const std::string& resource, const std::vector<std::string>& ids) {
    const std::lock_guard lock(mu_);
    auto* p = response_.add_pod_resources();
    p->set_namespace_(ns);
    p->set_name(pod);
    auto* c = p->add_containers();
    c->set_name(container);
    auto* d = c->add_devices();
    d->set_resource_name(resource);
    for (const auto& id : ids)
      d->add_device_ids(id);
  }
  int calls() {
    const std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  v1::ListPodResourcesResponse response_;
  int calls_ = 0;
};

class FakeKubeletPodResources {
 public:
  explicit FakeKubeletPodResources(std::filesystem::path socket) : socket_(std::move(socket)) {}
  ~FakeKubeletPodResources() { stop(); }
  void start() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + socket_.string(), grpc::InsecureServerCredentials());
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_);
  }
  void stop() {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + 1s);
    server_.reset();
    std::filesystem::remove(socket_);
  }
  FakePodResources& service() { return service_; }

 private:
  std::filesystem::path socket_;
  FakePodResources service_;
  std::unique_ptr<grpc::Server> server_;
};

struct Call {
  std::string ns, name, key, value;
};

class FakeAnnotator final : public PodAnnotator {
 public:
  Status annotate(const std::string& ns, const std::string& name, const std::string& key,
                  const std::string& value) override {
    const std::lock_guard lock(mu);
    if (failures > 0) {
      --failures;
      return kube::Error{503, "ServiceUnavailable", "the API server is away"};
    }
    if (missing == name) return kube::Error{404, "NotFound", "pods \"" + name + "\" not found"};
    calls.push_back({ns, name, key, value});
    return {};
  }
  std::vector<Call> seen() {
    const std::lock_guard lock(mu);
    return calls;
  }
  std::mutex mu;
  std::vector<Call> calls;
  int failures = 0;
  std::string missing;
};

bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

FaultReporterOptions options(const std::filesystem::path& socket) {
  FaultReporterOptions o;
  o.pod_resources_socket = socket;
  o.node_name = "node-a";
  o.initial_backoff = 20ms;
  o.max_backoff = 100ms;
  o.list_timeout = 2s;
  return o;
}

TEST(PodResources, MapsDeviceIdsOfTheResourceToTheirContainers) {
  v1::ListPodResourcesResponse r;
  auto add = [&](const std::string& ns, const std::string& pod, const std::string& resource,
                 std::vector<std::string> ids) {
    auto* p = r.add_pod_resources();
    p->set_namespace_(ns);
    p->set_name(pod);
    auto* c = p->add_containers();
    c->set_name("main");
    auto* d = c->add_devices();
    d->set_resource_name(resource);
    for (const auto& id : ids)
      d->add_device_ids(id);
  };
  add("team", "a", "huawei.com/Ascend910", {"Ascend910-0", "Ascend910-1"});
  add("team", "b", "huawei.com/Ascend910", {"Ascend910-2", "Ascend910-3"});
  add("other", "c", "example.com/gpu", {"Ascend910-3"});  // same ID, another resource
  const auto holders =
      holders_of(r, "huawei.com/Ascend910", {"Ascend910-1", "Ascend910-3", "Ascend910-7"});
  ASSERT_EQ(holders.size(), 2U);
  EXPECT_EQ(holders[0], (DeviceHolder{"team", "a", "main", {"Ascend910-1"}}));
  EXPECT_EQ(holders[1], (DeviceHolder{"team", "b", "main", {"Ascend910-3"}}));
  EXPECT_TRUE(holders_of(r, "huawei.com/Ascend910", {"Ascend910-5"}).empty());
}

TEST(PodResources, ListsOverTheKubeletSocketAndSaysWhenItIsMissing) {
  TempDir dir;
  const auto socket = dir.path() / "kubelet.sock";
  auto missing = list_holders(socket, "huawei.com/Ascend910", {"Ascend910-1"}, 1s);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("does not exist"), std::string::npos);
  EXPECT_NE(missing.error().message.find(socket.string()), std::string::npos);

  FakeKubeletPodResources kubelet(socket);
  kubelet.service().add("team", "sft-worker-0", "llamafactory", "huawei.com/Ascend910",
                        {"Ascend910-4", "Ascend910-5"});
  kubelet.start();
  auto found = list_holders(socket, "huawei.com/Ascend910", {"Ascend910-5"}, 2s);
  ASSERT_TRUE(found.ok()) << found.error().message;
  ASSERT_EQ(found.value().size(), 1U);
  EXPECT_EQ(found.value()[0],
            (DeviceHolder{"team", "sft-worker-0", "llamafactory", {"Ascend910-5"}}));
}

TEST(FaultReporter, AnnotatesThePodHoldingTheChipOnce) {
  TempDir dir;
  const auto socket = dir.path() / "kubelet.sock";
  FakeKubeletPodResources kubelet(socket);
  kubelet.service().add("team", "sft-worker-0", "llamafactory", "huawei.com/Ascend910",
                        {"Ascend910-2", "Ascend910-3"});
  kubelet.service().add("team", "other-worker-0", "llamafactory", "huawei.com/Ascend910",
                        {"Ascend910-4"});
  kubelet.start();
  FakeAnnotator annotator;
  FaultReporter reporter(options(socket), &annotator);
  reporter.start();
  reporter.chip_unhealthy(3, "device node /dev/davinci3 missing", "2026-11-29T16:00:00Z");
  ASSERT_TRUE(eventually([&] { return reporter.handled() == 1; }));
  const auto calls = annotator.seen();
  ASSERT_EQ(calls.size(), 1U);
  EXPECT_EQ(calls[0].ns, "team");
  EXPECT_EQ(calls[0].name, "sft-worker-0");
  EXPECT_EQ(calls[0].key, "ascendfactory.io/npu-fault");
  const auto value = nlohmann::json::parse(calls[0].value);
  EXPECT_EQ(value["chips"], nlohmann::json({"Ascend910-3"}));
  EXPECT_EQ(value["node"], "node-a");
  EXPECT_EQ(value["time"], "2026-11-29T16:00:00Z");
  EXPECT_NE(value["reason"].get<std::string>().find("/dev/davinci3 missing"), std::string::npos);
  EXPECT_EQ(reporter.annotated(), 1U);

  // A chip nobody holds is handled without a write.
  reporter.chip_unhealthy(6, "gone", "2026-11-29T16:00:01Z");
  ASSERT_TRUE(eventually([&] { return reporter.handled() == 2; }));
  EXPECT_EQ(annotator.seen().size(), 1U);
}

TEST(FaultReporter, RetriesWhileTheKubeletOrTheApiServerIsAway) {
  TempDir dir;
  const auto socket = dir.path() / "kubelet.sock";
  FakeAnnotator annotator;
  annotator.failures = 2;
  FaultReporter reporter(options(socket), &annotator);
  reporter.start();
  reporter.chip_unhealthy(1, "gone", "t");
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(reporter.handled(), 0U) << "no socket yet: nothing to report";

  // The kubelet (re)starts and creates its socket: the next round finds the Pod; the API
  // server refuses twice, then takes the patch.
  FakeKubeletPodResources kubelet(socket);
  kubelet.service().add("team", "p", "c", "huawei.com/Ascend910", {"Ascend910-1"});
  kubelet.start();
  ASSERT_TRUE(eventually([&] { return reporter.handled() == 1; }));
  EXPECT_EQ(annotator.seen().size(), 1U);
  EXPECT_GE(kubelet.service().calls(), 3);
}

TEST(FaultReporter, APodAlreadyGoneIsNotRetriedAndLogOnlyWritesNothing) {
  TempDir dir;
  const auto socket = dir.path() / "kubelet.sock";
  FakeKubeletPodResources kubelet(socket);
  kubelet.service().add("team", "gone", "c", "huawei.com/Ascend910", {"Ascend910-1"});
  kubelet.start();
  FakeAnnotator annotator;
  annotator.missing = "gone";
  {
    FaultReporter reporter(options(socket), &annotator);
    reporter.start();
    reporter.chip_unhealthy(1, "gone", "t");
    ASSERT_TRUE(eventually([&] { return reporter.handled() == 1; }));
    EXPECT_EQ(reporter.annotated(), 0U);
  }
  FaultReporter log_only(options(socket), nullptr);
  log_only.start();
  log_only.chip_unhealthy(1, "gone", "t");
  ASSERT_TRUE(eventually([&] { return log_only.handled() == 1; }));
  EXPECT_EQ(log_only.annotated(), 0U);
}

TEST(FaultReporter, TheHealthMonitorHandsOverAChipWhoseDeviceNodeVanished) {
  testing::FakeHost host(4);
  DevfsDiscovery devfs({host.dev(), true});
  Inventory inventory;
  HealthMonitor monitor(devfs, inventory, HealthOptions{host.dev(), 1h, true, true});
  std::vector<std::pair<int, std::string>> seen;
  monitor.on_unhealthy(
      [&](const ChipStatus& s) { seen.emplace_back(s.chip.physical_id, s.reason); });
  monitor.check_now();
  EXPECT_TRUE(seen.empty());
  std::filesystem::remove(host.dev() / "davinci2");
  monitor.check_now();
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].first, 2);
  EXPECT_NE(seen[0].second.find("davinci2"), std::string::npos);
  monitor.check_now();
  EXPECT_EQ(seen.size(), 1U) << "only the transition is handed over";
}

TEST(ApiPodAnnotator, OneMergePatchOfTheAnnotationAndErrorsAsValues) {
  kube::testing::FakeApiServer api;
  ASSERT_TRUE(api.start().ok());
  api.script(
      "PATCH", "/api/v1/namespaces/team/pods/sft-worker-0",
      {kube::testing::FakeResponse::json({{"metadata", {{"name", "sft-worker-0"}}}}),
       kube::testing::FakeResponse::failure(
           403, "Forbidden", "the device plugin may annotate only Pods bound to its own node")});
  kube::Config config;
  config.server = api.url();
  config.token = "plugin-token";
  auto transport = kube::make_transport(config);
  ASSERT_TRUE(transport.ok());
  ApiPodAnnotator annotator(std::make_shared<kube::Client>(transport.value()));

  const std::string value = FaultReporter::annotation_value({"Ascend910-3"}, "node-a", "gone", "t");
  ASSERT_TRUE(annotator.annotate("team", "sft-worker-0", kNpuFaultAnnotation, value).ok());
  const auto requests = api.requests();
  ASSERT_EQ(requests.size(), 1U) << "no GET first: the plugin may only patch";
  EXPECT_EQ(requests[0].method, "PATCH");
  EXPECT_EQ(requests[0].header("content-type"), "application/merge-patch+json");
  EXPECT_EQ(requests[0].header("authorization"), "Bearer plugin-token");
  EXPECT_EQ(requests[0].param("fieldManager"), "ascend-device-plugin");
  EXPECT_EQ(nlohmann::json::parse(requests[0].body),
            (nlohmann::json{{"metadata", {{"annotations", {{kNpuFaultAnnotation, value}}}}}}));

  const Status refused = annotator.annotate("team", "sft-worker-0", kNpuFaultAnnotation, value);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, 403);
  EXPECT_NE(refused.error().message.find("its own node"), std::string::npos);
}

}  // namespace
}  // namespace ascend::plugin
