#include "operator/autoscaler_events.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "kube/object_meta.hpp"

namespace ascend::op {
namespace {

const std::vector<std::string> kBoth = {kClusterAutoscaler, kKarpenter};

// A core v1 Event as the autoscalers' legacy recorders write it.
Json event(const std::string& name, const std::string& source, const std::string& reason,
           const std::string& message, const std::string& last = "2026-01-01T10:00:00Z",
           const std::string& pod = "sft-worker-0", const std::string& uid = "pod-uid-1") {
  return Json{
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", {{"name", name}, {"namespace", "team"}, {"resourceVersion", "1"}}},
      {"involvedObject",
       {{"kind", "Pod"}, {"namespace", "team"}, {"name", pod}, {"uid", uid}, {"apiVersion", "v1"}}},
      {"reason", reason},
      {"message", message},
      {"source", {{"component", source}}},
      {"firstTimestamp", "2026-01-01T09:00:00Z"},
      {"lastTimestamp", last},
      {"count", 1},
      {"type", "Normal"}};
}

kube::ObjectPtr ptr(Json j) {
  return std::make_shared<const Json>(std::move(j));
}

TEST(AutoscalerNote, ReadsTheFourReasonsOfTheirOwnSources) {
  const auto up = autoscaler_note(
      event("e1", "cluster-autoscaler", "TriggeredScaleUp", "pod triggered scale-up: [{g 0->2}]"),
      kBoth);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->verdict, AutoscalerVerdict::kScaleUp);
  EXPECT_EQ(up->source, "cluster-autoscaler");
  EXPECT_EQ(up->pod_namespace, "team");
  EXPECT_EQ(up->pod_name, "sft-worker-0");
  EXPECT_EQ(up->pod_uid, "pod-uid-1");
  EXPECT_EQ(up->event_key, "team/e1");
  EXPECT_EQ(up->time, *kube::parse_time("2026-01-01T10:00:00Z")) << "the newest time";

  EXPECT_EQ(
      autoscaler_note(event("e", "cluster-autoscaler", "NotTriggerScaleUp", "m"), kBoth)->verdict,
      AutoscalerVerdict::kNoFit);
  EXPECT_EQ(autoscaler_note(event("e", "karpenter", "Nominated", "m"), kBoth)->verdict,
            AutoscalerVerdict::kScaleUp);
  EXPECT_EQ(autoscaler_note(event("e", "karpenter", "FailedScheduling", "m"), kBoth)->verdict,
            AutoscalerVerdict::kNoFit);
}

TEST(AutoscalerNote, IgnoresEverythingElse) {
  // The scheduler's FailedScheduling is not Karpenter's.
  EXPECT_FALSE(autoscaler_note(event("e", "default-scheduler", "FailedScheduling", "m"), kBoth));
  // Reasons of one autoscaler are not the other's.
  EXPECT_FALSE(autoscaler_note(event("e", "karpenter", "TriggeredScaleUp", "m"), kBoth));
  EXPECT_FALSE(autoscaler_note(event("e", "cluster-autoscaler", "Nominated", "m"), kBoth));
  EXPECT_FALSE(autoscaler_note(event("e", "cluster-autoscaler", "ScaleDown", "m"), kBoth));
  // A source not listed.
  EXPECT_FALSE(autoscaler_note(event("e", "karpenter", "Nominated", "m"), {kClusterAutoscaler}));
  // Not about a Pod.
  Json node_event = event("e", "cluster-autoscaler", "TriggeredScaleUp", "m");
  node_event["involvedObject"]["kind"] = "Node";
  EXPECT_FALSE(autoscaler_note(node_event, kBoth));
  EXPECT_FALSE(autoscaler_note(Json::object(), kBoth));
  EXPECT_FALSE(autoscaler_note(Json("text"), kBoth));
}

TEST(AutoscalerNote, ReadsEventsK8sIoStyleSourcesAndTimes) {
  Json e = event("e", "", "Nominated", "m", "");
  e.erase("source");
  e.erase("firstTimestamp");
  e["reportingComponent"] = "karpenter";
  e["eventTime"] = "2026-01-01T10:00:00.000000Z";
  e["series"] = {{"count", 3}, {"lastObservedTime", "2026-01-01T11:00:00.500000Z"}};
  const auto n = autoscaler_note(e, kBoth);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->source, "karpenter");
  EXPECT_EQ(n->time, *kube::parse_micro_time("2026-01-01T11:00:00.500000Z"));
}

TEST(AutoscalerEventSelectors, OneFieldSelectorPerSource) {
  EXPECT_EQ(autoscaler_event_selectors(kBoth),
            (std::vector<std::string>{"involvedObject.kind=Pod,source=cluster-autoscaler",
                                      "involvedObject.kind=Pod,source=karpenter"}));
  EXPECT_TRUE(autoscaler_event_selectors({}).empty());
}

TEST(EventCache, KeepsWhatTheNoteNeeds) {
  Json e = event("e1", "cluster-autoscaler", "NotTriggerScaleUp", "no group fits");
  e["metadata"]["managedFields"] = Json::array({Json::object()});
  const auto before = autoscaler_note(e, kBoth);
  event_cache_transform()(e);
  EXPECT_FALSE(e["metadata"].contains("managedFields"));
  EXPECT_FALSE(e.contains("count"));
  EXPECT_EQ(autoscaler_note(e, kBoth), before) << "the cached Event reads the same";
}

TEST(AutoscalerNotes, TheNewestWordPerPodWins) {
  AutoscalerNotes notes(kBoth);
  notes.observe(nullptr, ptr(event("no", "cluster-autoscaler", "NotTriggerScaleUp", "max reached",
                                   "2026-01-01T10:00:00Z")));
  ASSERT_TRUE(notes.for_pod("team", "sft-worker-0", "pod-uid-1"));
  EXPECT_EQ(notes.for_pod("team", "sft-worker-0", "pod-uid-1")->verdict, AutoscalerVerdict::kNoFit);

  notes.observe(nullptr, ptr(event("up", "cluster-autoscaler", "TriggeredScaleUp", "0->1",
                                   "2026-01-01T10:00:05Z")));
  EXPECT_EQ(notes.for_pod("team", "sft-worker-0", "pod-uid-1")->reason, "TriggeredScaleUp");

  // An older Event arriving late (a relist) does not undo the newer word.
  notes.observe(nullptr, ptr(event("old", "cluster-autoscaler", "NotTriggerScaleUp", "old",
                                   "2026-01-01T09:59:00Z")));
  EXPECT_EQ(notes.for_pod("team", "sft-worker-0", "pod-uid-1")->reason, "TriggeredScaleUp");

  // The same NotTriggerScaleUp Event counted again (aggregated, later lastTimestamp) wins.
  notes.observe(ptr(event("no", "cluster-autoscaler", "NotTriggerScaleUp", "max reached")),
                ptr(event("no", "cluster-autoscaler", "NotTriggerScaleUp", "max reached",
                          "2026-01-01T10:01:00Z")));
  EXPECT_EQ(notes.for_pod("team", "sft-worker-0", "pod-uid-1")->reason, "NotTriggerScaleUp");
  EXPECT_EQ(notes.size(), 1U);

  // Unrelated Events change nothing.
  notes.observe(nullptr, ptr(event("sched", "default-scheduler", "FailedScheduling", "m",
                                   "2026-01-01T12:00:00Z")));
  EXPECT_EQ(notes.for_pod("team", "sft-worker-0", "pod-uid-1")->reason, "NotTriggerScaleUp");
}

TEST(AutoscalerNotes, MatchesThePodsUidAndForgetsDeletedEvents) {
  AutoscalerNotes notes(kBoth);
  const Json e = event("up", "karpenter", "Nominated", "nodeclaim/x");
  notes.observe(nullptr, ptr(e));
  EXPECT_TRUE(notes.for_pod("team", "sft-worker-0", "pod-uid-1"));
  EXPECT_FALSE(notes.for_pod("team", "sft-worker-0", "pod-uid-2")) << "a new Pod of that name";
  EXPECT_FALSE(notes.for_pod("other", "sft-worker-0", "pod-uid-1"));
  EXPECT_FALSE(notes.for_pod("team", "sft-worker-1", "pod-uid-1"));

  // Deleting an Event that is not the one the note came from forgets nothing.
  notes.observe(ptr(event("other", "karpenter", "Nominated", "m")), nullptr);
  EXPECT_TRUE(notes.for_pod("team", "sft-worker-0", "pod-uid-1"));
  notes.observe(ptr(e), nullptr);
  EXPECT_FALSE(notes.for_pod("team", "sft-worker-0", "pod-uid-1"));
  EXPECT_EQ(notes.size(), 0U);
}

TEST(JobOfEvent, ThePodsJobFromThePodCache) {
  kube::Store pods;
  pods.apply(Json{{"metadata",
                   {{"name", "sft-worker-0"},
                    {"namespace", "team"},
                    {"resourceVersion", "1"},
                    {"labels", {{"ascendfactory.io/job-name", "sft"}}}}}});
  pods.apply(
      Json{{"metadata", {{"name", "other"}, {"namespace", "team"}, {"resourceVersion", "1"}}}});
  EXPECT_EQ(job_of_event(pods, event("e", "karpenter", "Nominated", "m")),
            std::vector<std::string>{"team/sft"});
  EXPECT_TRUE(
      job_of_event(pods, event("e", "karpenter", "Nominated", "m", "2026-01-01T10:00:00Z", "other"))
          .empty())
      << "not one of the operator's Pods";
  EXPECT_TRUE(
      job_of_event(pods, event("e", "karpenter", "Nominated", "m", "2026-01-01T10:00:00Z", "gone"))
          .empty());
}

}  // namespace
}  // namespace ascend::op
