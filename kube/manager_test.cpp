#include "kube/manager.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "kube/testing/fake_apiserver.hpp"

namespace ascend::kube {
namespace {

using std::chrono::milliseconds;
using testing::FakeApiServer;
using testing::FakeRequest;
using testing::FakeResponse;

const Resource kJobs{"ascendfactory.io", "v1alpha1", "llamafactoryjobs", "LlamaFactoryJob", true};
const std::string kJobsPath = "/apis/ascendfactory.io/v1alpha1/llamafactoryjobs";
const std::string kPodsPath = "/api/v1/pods";
const std::string kLeases = "/apis/coordination.k8s.io/v1/namespaces/sys/leases";
const std::string kLease = kLeases + "/operator";

Json job(const std::string& name, const std::string& rv) {
  return {{"apiVersion", "ascendfactory.io/v1alpha1"},
          {"kind", "LlamaFactoryJob"},
          {"metadata", {{"namespace", "team"}, {"name", name}, {"resourceVersion", rv}}}};
}

// The status line of GET path on 127.0.0.1:port, e.g. "HTTP/1.1 200 OK".
std::string status_of(std::uint16_t port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {  // NOLINT
    ::close(fd);
    return "connect failed";
  }
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  for (ssize_t n = 0; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out.substr(0, out.find("\r\n"));
}

bool eventually(const std::function<bool()>& f) {
  for (int i = 0; i < 2500; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(milliseconds(4));
  }
  return false;
}

// Reconciled keys, counted.
struct Reconciles {
  std::mutex mutex;
  std::multiset<std::string> keys;  // guarded by mutex
  ReconcileResult operator()(const std::string& key) {
    const std::lock_guard lock(mutex);
    keys.insert(key);
    return ReconcileResult::done();
  }
  std::size_t count(const std::string& key = "") {
    const std::lock_guard lock(mutex);
    return key.empty() ? keys.size() : keys.count(key);
  }
};

class ManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.start().ok());
    // Jobs: listed when `jobs_listable_`, then watches that stay open and silent.
    server_.route("GET", kJobsPath, [this](const FakeRequest& r) {
      if (r.param("watch") == "1") return FakeResponse::watch({}, FakeResponse::End::Stall);
      if (!jobs_listable_) return FakeResponse::failure(500, "InternalError", "etcd down");
      return FakeResponse::json({{"kind", "LlamaFactoryJobList"},
                                 {"metadata", {{"resourceVersion", "10"}}},
                                 {"items", {job("a", "5"), job("b", "6")}}});
    });
    // Pods: never listable (as a Node cache without RBAC would be).
    server_.route("GET", kPodsPath, [](const FakeRequest&) {
      return FakeResponse::failure(403, "Forbidden", "pods is forbidden");
    });
    server_.route("GET", kLease, [this](const FakeRequest&) {
      const std::lock_guard lock(mutex_);
      if (lease_failing_) return FakeResponse::failure(500, "InternalError", "etcd down");
      if (lease_.is_null()) return FakeResponse::failure(404, "NotFound", "no lease");
      return FakeResponse::json(lease_);
    });
    server_.route("POST", kLeases, [this](const FakeRequest& r) {
      const std::lock_guard lock(mutex_);
      lease_ = Json::parse(r.body);
      lease_["metadata"]["resourceVersion"] = std::to_string(++lease_rv_);
      return FakeResponse::json(lease_, 201);
    });
    server_.route("PUT", kLease, [this](const FakeRequest& r) {
      const std::lock_guard lock(mutex_);
      if (lease_failing_) return FakeResponse::failure(500, "InternalError", "etcd down");
      lease_ = Json::parse(r.body);
      lease_["metadata"]["resourceVersion"] = std::to_string(++lease_rv_);
      return FakeResponse::json(lease_);
    });
    Config config;
    config.server = server_.url();
    ClientOptions co;
    co.qps = 0;
    co.max_retries = 0;
    co.initial_backoff = milliseconds(1);
    client_ = Client::from_config(config, co).value();
  }
  void TearDown() override { server_.stop(); }

  ManagerOptions options() {
    ManagerOptions o;
    o.client = client_;
    o.health_serving = ServingOptions{"127.0.0.1", 0};
    o.sync_log_interval = milliseconds(50);
    return o;
  }
  LeaderElectionOptions election() {
    LeaderElectionOptions le;
    le.lease_namespace = "sys";
    le.lease_name = "operator";
    le.identity = "me";
    le.lease_duration = milliseconds(1500);
    le.renew_deadline = milliseconds(600);
    le.retry_period = milliseconds(100);
    return le;
  }
  // Registers the jobs cache, a pods cache not waited for, and a controller on jobs.
  void wire(Manager& manager, Reconciles& reconciles) {
    Informer& jobs = manager.add_informer(kJobs);
    manager.add_informer(resources::kPods, {}, CacheSync::kSkip);
    ControllerOptions lfjob;
    lfjob.name = "lfjob";
    manager.add_controller(lfjob, std::ref(reconciles)).watch(*jobs.store());
  }
  std::string holder() {
    const std::lock_guard lock(mutex_);
    return lease_.is_null() ? "<none>" : lease_["spec"].value("holderIdentity", "");
  }

  FakeApiServer server_;
  ClientPtr client_;
  std::atomic<bool> jobs_listable_{true};
  std::mutex mutex_;
  Json lease_;                  // guarded by mutex_
  int lease_rv_ = 0;            // guarded by mutex_
  bool lease_failing_ = false;  // guarded by mutex_
};

TEST_F(ManagerTest, ReconcilesOnceCachesSyncedWithoutWaitingForSkippedOnes) {
  Manager manager(options());
  Reconciles reconciles;
  wire(manager, reconciles);
  ManualStop stop;
  auto run = std::async(std::launch::async, [&] { return manager.run(stop); });

  ASSERT_TRUE(eventually([&] { return reconciles.count() == 2; }));
  EXPECT_EQ(reconciles.count("team/a"), 1U);
  EXPECT_TRUE(manager.synced());
  EXPECT_EQ(status_of(manager.health_port(), "/readyz"), "HTTP/1.1 200 OK");
  EXPECT_EQ(status_of(manager.health_port(), "/healthz"), "HTTP/1.1 200 OK");
  EXPECT_EQ(manager.metrics_port(), 0) << "no metrics server was asked for";

  stop.request("test");
  EXPECT_EQ(run.get(), 0);
  EXPECT_EQ(status_of(manager.health_port(), "/healthz"), "connect failed") << "servers stopped";
  EXPECT_FALSE(client_->get(kJobs, "team", "a")) << "the client was shut down";
}

TEST_F(ManagerTest, StopWhileCachesSyncStartsNoController) {
  jobs_listable_ = false;
  Manager manager(options());
  Reconciles reconciles;
  wire(manager, reconciles);
  ManualStop stop;
  auto run = std::async(std::launch::async, [&] { return manager.run(stop); });

  ASSERT_TRUE(eventually([&] { return manager.health_port() != 0; }));
  ASSERT_TRUE(eventually([&] { return server_.count("GET", kJobsPath) >= 2; }));
  EXPECT_EQ(status_of(manager.health_port(), "/readyz"), "HTTP/1.1 500 Internal Server Error");
  stop.request("test");
  EXPECT_EQ(run.get(), 0);
  EXPECT_FALSE(manager.synced());
  EXPECT_EQ(reconciles.count(), 0U);
}

TEST_F(ManagerTest, StopWhileTheApiServerFailsIsHonouredAtOnce) {
  // Before: the sync wait looked at the stop only between its log lines, and stop() joined
  // informers whose lists were still in the client's retry backoff: ~40 s for the operator,
  // past the kubelet's 30 s grace period. Here both would take a minute.
  jobs_listable_ = false;
  Config config;
  config.server = server_.url();
  ClientOptions co;
  co.qps = 0;
  co.max_retries = 100;
  co.initial_backoff = std::chrono::seconds(60);
  co.max_backoff = std::chrono::seconds(60);
  ManagerOptions o = options();
  o.client = Client::from_config(config, co).value();
  o.sync_log_interval = std::chrono::seconds(60);
  Manager manager(o);
  Reconciles reconciles;
  wire(manager, reconciles);
  ManualStop stop;
  auto run = std::async(std::launch::async, [&] { return manager.run(stop); });
  ASSERT_TRUE(eventually([&] { return server_.count("GET", kJobsPath) >= 1; }));
  stop.request("test");
  ASSERT_EQ(run.wait_for(std::chrono::seconds(5)), std::future_status::ready)
      << "the manager did not stop within 5 s";
  EXPECT_EQ(run.get(), 0);
  EXPECT_EQ(reconciles.count(), 0U);
}

TEST_F(ManagerTest, LeaderElectionGatesControllersAndStopReleasesTheLease) {
  ManagerOptions o = options();
  o.leader_election = election();
  Manager manager(o);
  Reconciles reconciles;
  wire(manager, reconciles);
  ManualStop stop;
  auto run = std::async(std::launch::async, [&] { return manager.run(stop); });

  ASSERT_TRUE(eventually([&] { return reconciles.count() == 2; }));
  EXPECT_EQ(holder(), "me");
  stop.request("test");
  EXPECT_EQ(run.get(), 0);
  EXPECT_EQ(holder(), "") << "released on stop";
}

TEST_F(ManagerTest, NoControllerRunsWhileAnotherReplicaLeads) {
  {
    const std::lock_guard lock(mutex_);
    lease_ = {{"metadata", {{"name", "operator"}, {"namespace", "sys"}, {"resourceVersion", "1"}}},
              {"spec", {{"holderIdentity", "other"}, {"leaseDurationSeconds", 60}}}};
  }
  ManagerOptions o = options();
  o.leader_election = election();
  Manager manager(o);
  Reconciles reconciles;
  wire(manager, reconciles);
  ManualStop stop;
  auto run = std::async(std::launch::async, [&] { return manager.run(stop); });

  ASSERT_TRUE(eventually([&] { return server_.count("GET", kLease) >= 3; }));
  EXPECT_TRUE(manager.synced());
  EXPECT_EQ(status_of(manager.health_port(), "/readyz"), "HTTP/1.1 200 OK") << "ready, idle";
  EXPECT_EQ(reconciles.count(), 0U);
  stop.request("test");
  EXPECT_EQ(run.get(), 0);
  EXPECT_EQ(holder(), "other");
}

TEST_F(ManagerTest, LosingTheLeaseStopsWithExitCodeOne) {
  ManagerOptions o = options();
  o.leader_election = election();
  Manager manager(o);
  Reconciles reconciles;
  wire(manager, reconciles);
  ManualStop stop;
  auto run = std::async(std::launch::async, [&] { return manager.run(stop); });

  ASSERT_TRUE(eventually([&] { return reconciles.count() == 2; }));
  {
    const std::lock_guard lock(mutex_);
    lease_failing_ = true;
  }
  ASSERT_EQ(run.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "the manager stops itself";
  EXPECT_EQ(run.get(), 1);
}

}  // namespace
}  // namespace ascend::kube
