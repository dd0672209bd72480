#include "kube/predicate.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>

#include "kube/controller.hpp"

namespace ascend::kube {
namespace {

using std::chrono::milliseconds;

// A LlamaFactoryJob as the operator's job cache holds it.
Json job(const std::string& rv) {
  Json j = Json::parse(R"({
    "apiVersion": "ascendfactory.io/v1alpha1", "kind": "LlamaFactoryJob",
    "metadata": {"namespace": "team", "name": "sft", "uid": "u1", "generation": 1,
                 "labels": {"app": "sft"}, "annotations": {"note": "a"}},
    "spec": {"nodes": 2},
    "status": {"phase": "Pending", "observedGeneration": 1, "active": 0}
  })");
  j["metadata"]["resourceVersion"] = rv;
  return j;
}

ObjectPtr ptr(Json j) {
  return std::make_shared<const Json>(std::move(j));
}

TEST(OnlyStatusChanged, StatusAndBookkeepingOnly) {
  Json a = job("1");
  Json b = job("2");
  b["status"]["active"] = 2;
  b["metadata"]["managedFields"] = Json::array({{{"manager", "op"}}});
  EXPECT_TRUE(only_status_changed(a, b));
  EXPECT_TRUE(only_status_changed(a, a));

  for (const auto& change : std::vector<Json>{
           {{"metadata", {{"generation", 2}}}, {"spec", {{"nodes", 3}}}},
           {{"metadata", {{"labels", {{"app", "other"}}}}}},
           {{"metadata", {{"annotations", {{"note", "b"}}}}}},
           {{"metadata", {{"deletionTimestamp", "2025-01-02T03:04:05Z"}}}},
           {{"metadata", {{"finalizers", {"x"}}}}},
           {{"metadata", {{"ownerReferences", Json::array({{{"uid", "o"}}})}}}},
       }) {
    Json c = job("3");
    c.merge_patch(change);
    EXPECT_FALSE(only_status_changed(a, c)) << change.dump();
    EXPECT_FALSE(only_status_changed(c, a)) << change.dump();
  }
  Json no_metadata = a;
  no_metadata.erase("metadata");
  EXPECT_FALSE(only_status_changed(a, no_metadata));
  EXPECT_FALSE(only_status_changed(a, Json::array()));
}

TEST(IgnoreStatusUpdates, PassesAddsDeletesAndListedStatusFields) {
  const Predicate filter = ignore_status_updates({"phase"});
  const ObjectPtr a = ptr(job("1"));
  Json b = job("2");
  b["status"]["active"] = 2;
  Json c = b;
  c["metadata"]["resourceVersion"] = "3";
  c["status"]["phase"] = "Running";
  EXPECT_TRUE(filter(nullptr, a)) << "add";
  EXPECT_TRUE(filter(a, nullptr)) << "delete";
  EXPECT_FALSE(filter(a, ptr(b))) << "status only";
  EXPECT_TRUE(filter(ptr(b), ptr(c))) << "phase is listed";
  EXPECT_FALSE(ignore_status_updates()(a, ptr(b))) << "no listed fields";
}

// The measurement: a job the operator writes status to, then changed by users. Each change is
// applied to the store as the watch would, and every reconcile is counted.
int reconciles_for(const Predicate& filter) {
  Store jobs;
  std::atomic<int> reconciles{0};
  ControllerOptions options;
  options.name = "lfjob";
  options.workers = 1;
  Controller controller(options, [&](const std::string&) {
    ++reconciles;
    return ReconcileResult::done();
  });
  controller.watch(jobs, filter);
  controller.start();
  const auto settle = [&](int expected_at_least) {
    for (int i = 0; i < 1000 && reconciles.load() < expected_at_least; ++i)
      std::this_thread::sleep_for(milliseconds(2));
    std::this_thread::sleep_for(milliseconds(30));  // a dropped change must stay dropped
  };

  int rv = 1;
  Json current = job(std::to_string(rv));
  // Waits for the reconcile a change should cause, or a while for one it should not.
  const auto write = [&](const std::function<void(Json&)>& change, bool reconciles_expected) {
    change(current);
    current["metadata"]["resourceVersion"] = std::to_string(++rv);
    const int before = reconciles.load();
    jobs.apply(current);
    settle(reconciles_expected ? before + 1 : before);
  };
  const bool own_writes_reconcile = !filter;
  jobs.apply(current);  // created
  settle(1);
  // Three status writes by the operator itself (conditions, counts, observedGeneration).
  write([](Json& j) { j["status"]["active"] = 1; }, own_writes_reconcile);
  write(
      [](Json& j) {
        j["status"]["conditions"] = Json::array({{{"type", "Created"}}});
      },
      own_writes_reconcile);
  write([](Json& j) { j["status"]["active"] = 2; }, own_writes_reconcile);
  // What must still reconcile: a new phase, a spec change, a label, deletion.
  write([](Json& j) { j["status"]["phase"] = "Running"; }, true);
  write(
      [](Json& j) {
        j["metadata"]["generation"] = 2;
        j["spec"]["nodes"] = 4;
      },
      true);
  write([](Json& j) { j["metadata"]["labels"]["tier"] = "gold"; }, true);
  write([](Json& j) { j["metadata"]["deletionTimestamp"] = "2025-01-02T03:04:05Z"; }, true);
  jobs.remove(current);
  settle(reconciles.load() + 1);
  controller.stop();
  return reconciles.load();
}

TEST(IgnoreStatusUpdates, RemovesTheReconcilesOfOwnStatusWrites) {
  const int unfiltered = reconciles_for({});
  const int filtered = reconciles_for(ignore_status_updates({"phase"}));
  EXPECT_EQ(unfiltered, 9) << "create, 3 status writes, phase, spec, label, deleting, deleted";
  EXPECT_EQ(filtered, 6) << "the 3 status-only writes are dropped";
}

// A Node as kwok and the kubelet keep rewriting it.
Json node(const std::string& rv) {
  Json n = Json::parse(R"({
    "apiVersion": "v1", "kind": "Node",
    "metadata": {"name": "n1", "uid": "u1", "labels": {"zone": "a"}},
    "spec": {"taints": [{"key": "t", "effect": "NoSchedule"}]},
    "status": {"allocatable": {"cpu": "8", "huawei.com/Ascend910": "8"},
               "conditions": [{"type": "Ready", "lastHeartbeatTime": "2026-01-01T00:00:00Z"}]}
  })");
  n["metadata"]["resourceVersion"] = rv;
  return n;
}

TEST(FieldsChanged, DropsHeartbeatsAndPassesWhatIsRead) {
  const Predicate read =
      fields_changed({{"spec", "taints"}, {"status", "allocatable", "huawei.com/Ascend910"}});
  const Json before = node("1");
  EXPECT_TRUE(read(nullptr, ptr(before))) << "add";
  EXPECT_TRUE(read(ptr(before), nullptr)) << "delete";

  Json heartbeat = node("2");
  heartbeat["status"]["conditions"][0]["lastHeartbeatTime"] = "2026-01-01T00:00:40Z";
  heartbeat["metadata"]["labels"]["zone"] = "b";    // not read
  heartbeat["status"]["allocatable"]["cpu"] = "7";  // not the resource read
  EXPECT_FALSE(read(ptr(before), ptr(heartbeat)));
  EXPECT_FALSE(read(ptr(before), ptr(node("3")))) << "only the resourceVersion moved";

  Json chips = node("4");
  chips["status"]["allocatable"]["huawei.com/Ascend910"] = "0";
  EXPECT_TRUE(read(ptr(before), ptr(chips)));
  Json no_chips = node("4");
  no_chips["status"]["allocatable"].erase("huawei.com/Ascend910");
  EXPECT_TRUE(read(ptr(before), ptr(no_chips))) << "a path that disappears is a change";
  Json untainted = node("5");
  untainted["spec"]["taints"] = Json::array();
  EXPECT_TRUE(read(ptr(before), ptr(untainted)));
  Json no_spec = node("5");
  no_spec.erase("spec");
  EXPECT_TRUE(read(ptr(before), ptr(no_spec)));
  Json deleting = node("6");
  deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:01:00Z";
  EXPECT_TRUE(read(ptr(before), ptr(deleting))) << "deletion always passes";
  Json recreated = node("7");
  recreated["metadata"]["uid"] = "u2";
  EXPECT_TRUE(read(ptr(before), ptr(recreated))) << "another object of the same name";
}

TEST(FieldsChanged, ComparesWholeValuesWhereAPathMeetsANonObject) {
  // {"spec", "taints", "key"} meets an array: the array is compared whole (never fewer passes).
  const Predicate read = fields_changed({{"spec", "taints", "key"}});
  Json changed = node("2");
  changed["spec"]["taints"][0]["effect"] = "NoExecute";
  EXPECT_TRUE(read(ptr(node("1")), ptr(changed)));
  EXPECT_FALSE(read(ptr(node("1")), ptr(node("2"))));
}

}  // namespace
}  // namespace ascend::kube
