#include "kube/events.hpp"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "kube/testing/fake_apiserver.hpp"

namespace ascend::kube {
namespace {

using testing::FakeApiServer;
using testing::FakeRequest;
using testing::FakeResponse;

const std::string kEvents = "/apis/events.k8s.io/v1/namespaces/ns/events";

const Json kJob = {{"apiVersion", "ascendfactory.io/v1alpha1"},
                   {"kind", "LlamaFactoryJob"},
                   {"metadata", {{"name", "job"}, {"namespace", "ns"}, {"uid", "u-1"}}}};

class EventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.start().ok());
    server_.route("POST", kEvents, [](const FakeRequest& r) {
      return FakeResponse::json(Json::parse(r.body), 201);
    });
    Config config;
    config.server = server_.url();
    ClientOptions co;
    co.qps = 0;
    co.max_retries = 0;
    client_ = Client::from_config(config, co).value();
  }
  EventRecorderOptions options() {
    EventRecorderOptions o;
    o.controller = "ascendfactory.io/llamafactory-operator";
    o.instance = "operator-0";
    o.clock = clock_;
    return o;
  }
  std::vector<FakeRequest> with_method(const std::string& method) {
    std::vector<FakeRequest> out;
    for (auto& r : server_.requests()) {
      if (r.method == method) out.push_back(r);
    }
    return out;
  }
  FakeApiServer server_;
  ClientPtr client_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
};

TEST_F(EventsTest, CreatesAnEventWithTheRequiredFields) {
  EventRecorder recorder(client_, options());
  recorder.record(kJob, "Normal", "PodsCreated", "Reconcile", "created 2 worker pods");
  recorder.flush();
  const auto posts = with_method("POST");
  ASSERT_EQ(posts.size(), 1U);
  const Json e = Json::parse(posts[0].body);
  EXPECT_EQ(e["apiVersion"], "events.k8s.io/v1");
  EXPECT_EQ(e["reportingController"], "ascendfactory.io/llamafactory-operator");
  EXPECT_EQ(e["reportingInstance"], "operator-0");
  EXPECT_EQ(e["reason"], "PodsCreated");
  EXPECT_EQ(e["action"], "Reconcile");
  EXPECT_EQ(e["type"], "Normal");
  EXPECT_TRUE(e["eventTime"].get<std::string>().ends_with("Z"));
  EXPECT_EQ(e["regarding"]["kind"], "LlamaFactoryJob");
  EXPECT_EQ(e["regarding"]["uid"], "u-1");
  EXPECT_EQ(e["metadata"]["namespace"], "ns");
  EXPECT_TRUE(e["metadata"]["name"].get<std::string>().starts_with("job."));
}

TEST_F(EventsTest, RepeatsBecomeASeriesAndOldOnesStartAgain) {
  EventRecorder recorder(client_, options());
  recorder.record(kJob, "Warning", "BackOff", "Reconcile", "pod failed");
  recorder.flush();
  const std::string name = Json::parse(with_method("POST")[0].body)["metadata"]["name"];
  server_.route("PATCH", kEvents + "/" + name,
                [](const FakeRequest& r) { return FakeResponse::json(Json::parse(r.body)); });
  recorder.record(kJob, "Warning", "BackOff", "Reconcile", "pod failed");
  recorder.record(kJob, "Warning", "BackOff", "Reconcile", "pod failed");
  recorder.record(kJob, "Normal", "Running", "Reconcile", "all pods running");  // different
  recorder.flush();
  const auto patches = with_method("PATCH");
  ASSERT_EQ(patches.size(), 2U);
  EXPECT_EQ(Json::parse(patches[0].body)["series"]["count"], 2);
  EXPECT_EQ(Json::parse(patches[1].body)["series"]["count"], 3);
  EXPECT_TRUE(patches[1].header("content-type").starts_with("application/merge-patch+json"));
  EXPECT_EQ(with_method("POST").size(), 2U);

  clock_->advance(std::chrono::minutes(7));  // outside the series window
  recorder.record(kJob, "Warning", "BackOff", "Reconcile", "pod failed");
  recorder.flush();
  EXPECT_EQ(with_method("POST").size(), 3U);
  EXPECT_EQ(with_method("PATCH").size(), 2U);
}

TEST_F(EventsTest, FailuresAreSwallowedAndCounted) {
  server_.route("POST", kEvents, [](const FakeRequest&) {
    return FakeResponse::failure(403, "Forbidden", "cannot create events");
  });
  auto registry = std::make_shared<prometheus::Registry>();
  auto o = options();
  o.metrics = std::make_shared<Metrics>(*registry, "test");
  EventRecorder recorder(client_, o);
  recorder.record(kJob, "Normal", "X", "Y", "z");  // must not throw or block
  recorder.flush();
  EXPECT_EQ(with_method("POST").size(), 1U);
  const std::string text = prometheus::TextSerializer().Serialize(registry->Collect());
  EXPECT_NE(text.find("test_events_dropped_total{reason=\"write_failed\"} 1"), std::string::npos)
      << text;
  recorder.stop();
  recorder.record(kJob, "Normal", "X", "Y", "after stop");  // ignored
  EXPECT_EQ(with_method("POST").size(), 1U);
}

}  // namespace
}  // namespace ascend::kube
