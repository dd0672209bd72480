// The startup-taint controller: the patch it computes, and what it sends to kube's fake API
// server, alone and wired to an informer the way main.cpp wires it.
#include "operator/node_readiness.hpp"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kube/informer.hpp"
#include "kube/testing/fake_apiserver.hpp"

namespace ascend::op {
namespace {

using kube::testing::FakeApiServer;
using kube::testing::FakeRequest;
using kube::testing::FakeResponse;

const std::string kNodePath = "/api/v1/nodes/n1";

Json taint(const std::string& key, const std::string& effect = "NoSchedule") {
  return {{"key", key}, {"value", "true"}, {"effect", effect}};
}

Json node(const Json& taints, const Json& chips) {
  Json n = {{"apiVersion", "v1"},
            {"kind", "Node"},
            {"metadata", {{"name", "n1"}, {"uid", "u1"}, {"resourceVersion", "5"}}},
            {"spec", {{"taints", taints}}},
            {"status",
             {{"allocatable", {{"cpu", "96"}, {"memory", "1Ti"}}},
              {"capacity", {{"cpu", "96"}}},
              {"images", Json::array({{{"names", {"a"}}, {"sizeBytes", 1}}})}}}};
  if (!chips.is_null()) n["status"]["allocatable"]["huawei.com/Ascend910"] = chips;
  return n;
}

TEST(PositiveQuantity, ReadsKubernetesQuantities) {
  for (const char* yes : {"8", "1", "0.5", "500m", "1k", "+2", "16Mi", "1e3"})
    EXPECT_TRUE(positive_quantity(yes)) << yes;
  for (const char* no : {"0", "0.0", "-1", "", "0k", "k", "abc"})
    EXPECT_FALSE(positive_quantity(no)) << no;
  EXPECT_FALSE(positive_quantity(8)) << "quantities are strings";
  EXPECT_FALSE(positive_quantity(nullptr));
}

TEST(StartupTaintPatch, OnlyOnceTheChipsAreAllocatable) {
  const NodeReadinessOptions o;
  const Json taints = Json::array({taint("other"), taint(kStartupTaint)});
  EXPECT_FALSE(startup_taint_patch(node(taints, nullptr), o)) << "plugin not registered yet";
  EXPECT_FALSE(startup_taint_patch(node(taints, "0"), o)) << "registered, no healthy chip";
  const auto patch = startup_taint_patch(node(taints, "8"), o);
  ASSERT_TRUE(patch);
  EXPECT_EQ(*patch, Json::parse(R"([
    {"op": "test", "path": "/spec/taints/1/key",
     "value": "startup-taint.cluster-autoscaler.kubernetes.io/ascend-npu"},
    {"op": "remove", "path": "/spec/taints/1"}])"));
}

TEST(StartupTaintPatch, NothingWithoutTheTaint) {
  const NodeReadinessOptions o;
  EXPECT_FALSE(startup_taint_patch(node(Json::array({taint("other")}), "8"), o));
  EXPECT_FALSE(startup_taint_patch(node(Json::array(), "8"), o));
  Json untainted = node(nullptr, "8");
  untainted["spec"].erase("taints");
  EXPECT_FALSE(startup_taint_patch(untainted, o));
  EXPECT_FALSE(startup_taint_patch(Json::object(), o));
}

TEST(StartupTaintPatch, EveryEffectLastIndexFirst) {
  const NodeReadinessOptions o;
  const Json taints = Json::array(
      {taint(kStartupTaint, "NoSchedule"), taint("other"), taint(kStartupTaint, "NoExecute")});
  const auto patch = startup_taint_patch(node(taints, "16"), o);
  ASSERT_TRUE(patch);
  ASSERT_EQ(patch->size(), 4U);
  EXPECT_EQ((*patch)[0]["path"], "/spec/taints/2/key");
  EXPECT_EQ((*patch)[1]["path"], "/spec/taints/2");
  EXPECT_EQ((*patch)[2]["path"], "/spec/taints/0/key");
  EXPECT_EQ((*patch)[3]["path"], "/spec/taints/0");
}

TEST(StartupTaintPatch, TheTaintAndResourceAreConfigurable) {
  NodeReadinessOptions o;
  o.taint = "example.com/not-ready";
  o.resource = "example.com/npu";
  Json n = node(Json::array({taint(kStartupTaint), taint("example.com/not-ready")}), "8");
  EXPECT_FALSE(startup_taint_patch(n, o)) << "example.com/npu is not allocatable";
  n["status"]["allocatable"]["example.com/npu"] = "2";
  const auto patch = startup_taint_patch(n, o);
  ASSERT_TRUE(patch);
  EXPECT_EQ((*patch)[1]["path"], "/spec/taints/1");
}

TEST(NodeCache, KeepsWhatThePatchNeeds) {
  const NodeReadinessOptions o;
  Json n = node(Json::array({taint(kStartupTaint)}), "8");
  const Json full = n;
  node_cache_transform(o)(n);
  EXPECT_EQ(startup_taint_patch(n, o), startup_taint_patch(full, o));
  EXPECT_EQ(n["status"], (Json{{"allocatable", {{"huawei.com/Ascend910", "8"}}}}));
  EXPECT_EQ(kube::object_key(n), "n1");
}

TEST(NodeCache, HeartbeatsQueueNoReconcile) {
  // What the store holds (transformed) is what the filter compares, as main.cpp wires them.
  const NodeReadinessOptions o;
  const auto cached = [&](Json n, const std::string& rv) {
    n["metadata"]["resourceVersion"] = rv;
    node_cache_transform(o)(n);
    return std::make_shared<const Json>(std::move(n));
  };
  const kube::Predicate filter = node_update_filter(o);
  const Json tainted = node(Json::array({taint(kStartupTaint)}), nullptr);
  Json heartbeat = tainted;
  heartbeat["status"]["conditions"] = {{{"type", "Ready"}, {"lastHeartbeatTime", "t2"}}};
  heartbeat["status"]["allocatable"]["cpu"] = "95";
  heartbeat["metadata"]["labels"] = {{"kwok", "x"}};
  EXPECT_FALSE(filter(cached(tainted, "5"), cached(heartbeat, "6")));
  EXPECT_TRUE(filter(cached(tainted, "5"), cached(node(tainted["spec"]["taints"], "8"), "7")))
      << "the chips showed";
  EXPECT_TRUE(filter(cached(node(Json::array(), "8"), "5"), cached(tainted, "6")))
      << "the taint came back";
  EXPECT_TRUE(filter(nullptr, cached(tainted, "5")));
}

class NodeReadinessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.start().ok());
    kube::Config config;
    config.server = server_.url();
    kube::ClientOptions client_options;
    client_options.qps = 0;
    client_options.initial_backoff = std::chrono::milliseconds(1);
    client_ = kube::Client::from_config(config, client_options).value();
    options_.metrics = std::make_shared<JobMetrics>(registry_, "test");
  }
  void TearDown() override {
    client_->shutdown();
    server_.stop();
  }
  std::vector<FakeRequest> patches() const {
    std::vector<FakeRequest> out;
    for (const auto& r : server_.requests()) {
      if (r.method == "PATCH") out.push_back(r);
    }
    return out;
  }

  FakeApiServer server_;
  kube::ClientPtr client_;
  prometheus::Registry registry_;
  NodeReadinessOptions options_;
  std::shared_ptr<kube::Store> nodes_ = std::make_shared<kube::Store>();
};

TEST_F(NodeReadinessTest, PatchesOnceTheChipsShowAndNotBefore) {
  server_.route("PATCH", kNodePath,
                [](const FakeRequest&) { return FakeResponse::json(node(Json::array(), "8")); });
  NodeReadiness readiness(client_, nodes_, options_);
  EXPECT_EQ(readiness.reconcile("n1").kind, kube::ReconcileResult::Kind::kDone) << "not cached";
  nodes_->apply(node(Json::array({taint(kStartupTaint)}), nullptr));
  EXPECT_EQ(readiness.reconcile("n1").kind, kube::ReconcileResult::Kind::kDone);
  EXPECT_TRUE(patches().empty());

  nodes_->apply(node(Json::array({taint(kStartupTaint)}), "8"));
  EXPECT_EQ(readiness.reconcile("n1").kind, kube::ReconcileResult::Kind::kDone);
  const auto sent = patches();
  ASSERT_EQ(sent.size(), 1U);
  EXPECT_EQ(sent[0].path, kNodePath);
  EXPECT_EQ(sent[0].header("content-type"), "application/json-patch+json");
  EXPECT_EQ(sent[0].param("fieldManager"), "llamafactory-operator");
  EXPECT_EQ(Json::parse(sent[0].body), *startup_taint_patch(*nodes_->get("n1"), options_));
}

TEST_F(NodeReadinessTest, AFailedTestIsRetriedAndAGoneNodeIsNot) {
  server_.script("PATCH", kNodePath,
                 {FakeResponse::failure(422, "Invalid", "testing value /spec/taints/0/key failed"),
                  FakeResponse::failure(404, "NotFound", "nodes \"n1\" not found")});
  nodes_->apply(node(Json::array({taint(kStartupTaint)}), "8"));
  NodeReadiness readiness(client_, nodes_, options_);
  const auto conflict = readiness.reconcile("n1");
  EXPECT_EQ(conflict.kind, kube::ReconcileResult::Kind::kError);
  EXPECT_NE(conflict.message.find("422"), std::string::npos) << conflict.message;
  EXPECT_EQ(readiness.reconcile("n1").kind, kube::ReconcileResult::Kind::kDone);
}

TEST_F(NodeReadinessTest, WiredToAnInformerAndAController) {
  // The list shows the node before its plugin registered; the watch then shows the chips.
  Json before = node(Json::array({taint("other"), taint(kStartupTaint)}), nullptr);
  Json after = node(before["spec"]["taints"], "8");
  after["metadata"]["resourceVersion"] = "6";
  server_.route("GET", "/api/v1/nodes", [&](const FakeRequest& r) {
    if (r.param("watch") != "1") {
      return FakeResponse::json(
          {{"kind", "NodeList"}, {"metadata", {{"resourceVersion", "5"}}}, {"items", {before}}});
    }
    if (r.param("resourceVersion") == "5") {
      return FakeResponse::watch({kube::testing::watch_event("MODIFIED", after)},
                                 FakeResponse::End::Stall, std::chrono::milliseconds(100));
    }
    return FakeResponse::watch({}, FakeResponse::End::Stall);
  });
  std::mutex mutex;
  std::vector<Json> bodies;
  server_.route("PATCH", kNodePath, [&](const FakeRequest& r) {
    const std::lock_guard lock(mutex);
    bodies.push_back(Json::parse(r.body));
    return FakeResponse::json(node(Json::array({taint("other")}), "8"));
  });

  kube::WatcherOptions watch;
  watch.transform = node_cache_transform(options_);
  kube::Informer nodes(client_, kube::resources::kNodes, watch);
  NodeReadiness readiness(client_, nodes.store(), options_);
  kube::ControllerOptions controller_options;
  controller_options.name = "node-readiness";
  kube::Controller controller(controller_options,
                              [&](const std::string& key) { return readiness.reconcile(key); });
  controller.watch(*nodes.store(), node_update_filter(options_));
  nodes.start();
  controller.start();
  ASSERT_TRUE(server_.wait_for_count("PATCH", kNodePath, 1));
  controller.stop();
  nodes.stop();
  server_.release_stalls();

  const std::lock_guard lock(mutex);
  ASSERT_EQ(bodies.size(), 1U) << "no patch before the chips showed";
  EXPECT_EQ(bodies[0], Json::parse(R"([
    {"op": "test", "path": "/spec/taints/1/key",
     "value": "startup-taint.cluster-autoscaler.kubernetes.io/ascend-npu"},
    {"op": "remove", "path": "/spec/taints/1"}])"));
}

}  // namespace
}  // namespace ascend::op
