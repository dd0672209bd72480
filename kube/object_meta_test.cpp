#include "kube/object_meta.hpp"

#include <gtest/gtest.h>

namespace ascend::kube {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

const Resource kJobs{"ascendfactory.io", "v1alpha1", "llamafactoryjobs", "LlamaFactoryJob", true};

Json worker_pod(const std::string& name, const std::string& owner,
                const std::string& api_version = "ascendfactory.io/v1alpha1",
                bool controller = true) {
  return {{"metadata",
           {{"namespace", "ns"},
            {"name", name},
            {"resourceVersion", "1"},
            {"ownerReferences",
             {{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"name", "unrelated"}},
              {{"apiVersion", api_version},
               {"kind", "LlamaFactoryJob"},
               {"name", owner},
               {"uid", "u-" + owner},
               {"controller", controller}}}}}}};
}

TEST(ObjectKey, NamespaceSlashNameOrName) {
  EXPECT_EQ(object_key(Json{{"metadata", {{"name", "n"}}}}), "n");
  EXPECT_EQ(object_key(Json{{"metadata", {{"namespace", "ns"}, {"name", "n"}}}}), "ns/n");
  EXPECT_EQ(object_key(Json::object()), "");
  EXPECT_EQ(object_key(Json{{"metadata", {{"name", 7}}}}), "");
}

TEST(ResourceVersion, ReadsMetadata) {
  EXPECT_EQ(resource_version(Json{{"metadata", {{"resourceVersion", "42"}}}}), "42");
  EXPECT_EQ(resource_version(Json::object()), "");
  EXPECT_EQ(resource_version(Json::array()), "");
}

TEST(ControllerOwner, FindsTheControllerReferenceOfTheRightKindAndGroup) {
  EXPECT_EQ(controller_owner_key(worker_pod("p", "j"), kJobs), "ns/j");
  EXPECT_EQ(controller_owner_key(worker_pod("p", "j", "other.io/v1"), kJobs), "");
  EXPECT_EQ(controller_owner_key(worker_pod("p", "j", "ascendfactory.io/v1alpha1", false), kJobs),
            "");
  EXPECT_EQ(controller_owner_key(Json{{"metadata", {{"name", "j"}}}}, kJobs), "");
  const Resource cluster_scoped{"", "v1", "nodes", "LlamaFactoryJob", false};
  EXPECT_EQ(controller_owner_key(worker_pod("p", "j", "v1"), cluster_scoped), "j");
}

TEST(ControllerOwner, ReferenceIsTheOneMarkedController) {
  const Json pod = worker_pod("p", "j");
  const Json* ref = controller_reference(pod);
  ASSERT_NE(ref, nullptr);
  EXPECT_EQ((*ref)["uid"], "u-j");
  EXPECT_EQ(controller_reference(worker_pod("p", "j", "ascendfactory.io/v1alpha1", false)),
            nullptr);
  EXPECT_EQ(controller_reference(Json::object()), nullptr);
}

TEST(ControllerOwner, BuiltReferenceIsFoundAgain) {
  const Json ref = controller_owner_reference(kJobs, "sft", "uid-1");
  EXPECT_EQ(ref, (Json{{"apiVersion", "ascendfactory.io/v1alpha1"},
                       {"kind", "LlamaFactoryJob"},
                       {"name", "sft"},
                       {"uid", "uid-1"},
                       {"controller", true},
                       {"blockOwnerDeletion", true}}));
  const Json child = {{"metadata", {{"namespace", "team"}, {"ownerReferences", {ref}}}}};
  EXPECT_EQ(controller_owner_key(child, kJobs), "team/sft");
}

TEST(Timestamp, FormatsUtcSeconds) {
  const auto t = std::chrono::system_clock::from_time_t(1700000000) + milliseconds(999);
  EXPECT_EQ(format_time(t), "2023-11-14T22:13:20Z");
}

TEST(Timestamp, ParsesWhatTheApiServerWrites) {
  const auto t = std::chrono::system_clock::from_time_t(1700000000);
  EXPECT_EQ(parse_time("2023-11-14T22:13:20Z"), t);
  EXPECT_EQ(parse_time("2023-11-14T22:13:20.123456Z"), t);
  EXPECT_EQ(parse_time("2023-11-15T00:13:20+02:00"), t);
  EXPECT_EQ(parse_time("2023-11-14T21:13:20-01:00"), t);
  EXPECT_EQ(parse_time(format_time(t)), t);
}

TEST(Timestamp, RejectsOtherText) {
  for (const char* bad :
       {"", "yesterday", "2023-11-14", "2023-11-14T22:13:20", "2023-13-14T22:13:20Z",
        "2023-11-14T22:13:20.Z", "2023-11-14T22:13:20+0200", "2023-11-14 22:13:20Z"}) {
    EXPECT_FALSE(parse_time(bad).has_value()) << bad;
    EXPECT_FALSE(parse_micro_time(bad).has_value()) << bad;
  }
}

TEST(MicroTime, FormatsUtcWithMicroseconds) {
  const WallTime t = WallTime(std::chrono::seconds(1'700'000'000)) + microseconds(6);
  EXPECT_EQ(format_micro_time(t), "2023-11-14T22:13:20.000006Z");
}

TEST(MicroTime, ParsesBackToTheMicrosecond) {
  const WallTime t = WallTime(std::chrono::seconds(1'700'000'000)) + microseconds(123456);
  EXPECT_EQ(parse_micro_time(format_micro_time(t)), t);
  EXPECT_EQ(parse_micro_time("2023-11-14T22:13:20.5Z"),
            WallTime(std::chrono::seconds(1'700'000'000)) + milliseconds(500));
  EXPECT_EQ(parse_micro_time("2023-11-14T22:13:20.1234567Z"),
            WallTime(std::chrono::seconds(1'700'000'000)) + microseconds(123456));
  EXPECT_EQ(parse_micro_time("2023-11-14T22:13:20Z"),
            WallTime(std::chrono::seconds(1'700'000'000)));
}

}  // namespace
}  // namespace ascend::kube
