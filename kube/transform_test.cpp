#include "kube/transform.hpp"

#include <gtest/gtest.h>

namespace ascend::kube {
namespace {

using Json = nlohmann::json;

Json pod() {
  return Json::parse(R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {
      "name": "p", "namespace": "ns", "uid": "u1", "resourceVersion": "7", "generation": 1,
      "labels": {"app": "a"},
      "annotations": {"example.com/hash": "abc", "other": "x"},
      "ownerReferences": [{"kind": "Job", "name": "j", "uid": "j1", "controller": true}],
      "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}]
    },
    "spec": {"containers": [{"name": "c", "image": "i", "env": [{"name": "A", "value": "1"}]}]},
    "status": {
      "phase": "Running", "podIP": "10.0.0.1",
      "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": null}],
      "containerStatuses": [{"name": "c", "image": "i", "imageID": "sha",
                             "state": {"running": {"startedAt": "t"}}, "lastState": {}}]
    }
  })");
}

TEST(StripManagedFields, RemovesOnlyManagedFields) {
  Json p = pod();
  strip_managed_fields(p);
  EXPECT_FALSE(p["metadata"].contains("managedFields"));
  Json expected = pod();
  expected["metadata"].erase("managedFields");
  EXPECT_EQ(p, expected);
}

TEST(StripManagedFields, ToleratesOddObjects) {
  Json none = Json::object();
  strip_managed_fields(none);
  EXPECT_EQ(none, Json::object());
  Json scalar = 3;
  strip_managed_fields(scalar);
  EXPECT_EQ(scalar, 3);
  Json bad_meta = {{"metadata", "x"}};
  strip_managed_fields(bad_meta);
  EXPECT_EQ(bad_meta, (Json{{"metadata", "x"}}));
}

TEST(KeepOnly, KeepsIdentityAndTheListedPaths) {
  Json p = pod();
  keep_only({{"metadata", "labels"},
             {"metadata", "ownerReferences"},
             {"metadata", "annotations", "example.com/hash"},
             {"status", "phase"},
             {"status", "conditions", "type"},
             {"status", "containerStatuses", "state"}})(p);
  const Json expected = Json::parse(R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {
      "name": "p", "namespace": "ns", "uid": "u1", "resourceVersion": "7",
      "labels": {"app": "a"},
      "annotations": {"example.com/hash": "abc"},
      "ownerReferences": [{"kind": "Job", "name": "j", "uid": "j1", "controller": true}]
    },
    "status": {
      "phase": "Running",
      "conditions": [{"type": "Ready"}],
      "containerStatuses": [{"state": {"running": {"startedAt": "t"}}}]
    }
  })");
  EXPECT_EQ(p, expected) << p.dump(2);
}

TEST(KeepOnly, AShorterPathKeepsEverythingBelowIt) {
  Json p = pod();
  keep_only({{"status", "conditions", "type"}, {"status"}})(p);
  EXPECT_EQ(p["status"], pod()["status"]);
  EXPECT_FALSE(p.contains("spec"));
}

TEST(KeepOnly, MissingPathsAndScalarsInTheWay) {
  Json p = pod();
  keep_only({{"spec", "nothing", "here"}, {"status", "phase", "deeper"}})(p);
  EXPECT_EQ(p["spec"], Json::object());  // spec existed; nothing under it matched
  EXPECT_EQ(p["status"], (Json{{"phase", "Running"}}));
  Json empty = Json::object();
  keep_only({{"metadata", "labels"}})(empty);
  EXPECT_EQ(empty, Json::object());
}

TEST(KeepOnly, WithNoPathsKeepsIdentityOnly) {
  Json p = pod();
  keep_only({})(p);
  EXPECT_EQ(p, Json::parse(R"({"apiVersion": "v1", "kind": "Pod", "metadata":
      {"name": "p", "namespace": "ns", "uid": "u1", "resourceVersion": "7"}})"));
}

}  // namespace
}  // namespace ascend::kube
