#include "kube/client.hpp"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <future>
#include <thread>

#include "kube/testing/fake_apiserver.hpp"

namespace ascend::kube {
namespace {

using std::chrono::milliseconds;
using testing::FakeApiServer;
using testing::FakeRequest;
using testing::FakeResponse;

Json pod(const std::string& name, const std::string& rv = "1") {
  return {{"metadata", {{"name", name}, {"namespace", "ns"}, {"resourceVersion", rv}}}};
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.start().ok());
    Config config;
    config.server = server_.url();
    config.token = "t";
    auto t = make_transport(config);
    ASSERT_TRUE(t.ok());
    transport_ = t.value();
  }
  std::shared_ptr<Client> make(ClientOptions options = {}) {
    options.qps = options.qps == 5 ? 0 : options.qps;  // unlimited unless a test asks
    return std::make_shared<Client>(transport_, options);
  }
  FakeApiServer server_;
  TransportPtr transport_;
};

TEST_F(ClientTest, GetDecodesObjectsAndStatusErrors) {
  server_.script("GET", "/api/v1/namespaces/ns/pods/a", {FakeResponse::json(pod("a"))});
  server_.script("GET", "/api/v1/namespaces/ns/pods/b",
                 {FakeResponse::failure(404, "NotFound", "pods \"b\" not found")});
  server_.script("GET", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/c",
                 {FakeResponse{403, {}, "forbidden text", false, {}, {}, {}}});
  auto c = make();
  auto a = c->get(resources::kPods, "ns", "a");
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  EXPECT_EQ(a.value()["metadata"]["name"], "a");
  auto b = c->get(resources::kPods, "ns", "b");
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(b.error().not_found());
  EXPECT_EQ(b.error().reason, "NotFound");
  EXPECT_EQ(b.error().message, "pods \"b\" not found");
  auto l = c->get(resources::kLeases, "ns", "c");
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().code, 403);
  EXPECT_EQ(l.error().reason, "Forbidden");
  EXPECT_EQ(l.error().message, "forbidden text");
}

TEST_F(ClientTest, ListFollowsContinueTokensWithSelectors) {
  server_.route("GET", "/api/v1/pods", [](const FakeRequest& r) {
    if (r.param("continue").empty()) {
      return FakeResponse::json({{"metadata", {{"resourceVersion", "100"}, {"continue", "tok"}}},
                                 {"items", {pod("a"), pod("b")}}});
    }
    return FakeResponse::json({{"metadata", {{"resourceVersion", "101"}}}, {"items", {pod("c")}}});
  });
  auto c = make();
  ListOptions o;
  o.limit = 2;
  o.label_selector = "app=x,tier!=db";
  o.resource_version = "0";
  auto r = c->list(resources::kPods, "", o);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r.value().items.size(), 3U);
  EXPECT_EQ(r.value().resource_version, "100");
  EXPECT_EQ(r.value().items[2]["metadata"]["name"], "c");
  EXPECT_EQ(r.value().items[0]["kind"], "Pod");
  EXPECT_EQ(r.value().items[0]["apiVersion"], "v1");
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 2U);
  EXPECT_EQ(reqs[0].param("labelSelector"), "app=x,tier!=db");
  EXPECT_EQ(reqs[0].param("limit"), "2");
  EXPECT_EQ(reqs[0].param("resourceVersion"), "0");
  EXPECT_EQ(reqs[1].param("continue"), "tok");
  EXPECT_EQ(reqs[1].param("resourceVersion"), "");  // not allowed with continue
}

TEST_F(ClientTest, WritesUseTheRightVerbsPathsAndBodies) {
  auto echo = [](const FakeRequest& r) {
    return FakeResponse::json({{"method", r.method},
                               {"ct", r.header("content-type")},
                               {"query", r.query},
                               {"body", Json::parse(r.body.empty() ? "{}" : r.body)}});
  };
  const std::string base = "/api/v1/namespaces/ns/pods";
  server_.route("POST", base, echo);
  server_.route("PUT", base + "/a", echo);
  server_.route("PUT", base + "/a/status", echo);
  server_.route("DELETE", base + "/a", echo);
  server_.route("PATCH", base + "/a", echo);
  server_.route("PATCH", base + "/a/status", echo);
  auto c = make();

  EXPECT_EQ(c->create(resources::kPods, pod("a")).value()["body"]["metadata"]["name"], "a");
  EXPECT_EQ(
      c->update(resources::kPods, pod("a", "7")).value()["body"]["metadata"]["resourceVersion"],
      "7");
  EXPECT_EQ(c->update_status(resources::kPods, pod("a")).value()["method"], "PUT");

  DeleteOptions d;
  d.propagation = Propagation::kForeground;
  d.uid = "u1";
  auto del = c->remove(resources::kPods, "ns", "a", d).value();
  EXPECT_EQ(del["body"]["propagationPolicy"], "Foreground");
  EXPECT_EQ(del["body"]["preconditions"]["uid"], "u1");

  auto merge = c->patch(resources::kPods, "ns", "a", PatchType::kMerge,
                        {{"metadata", {{"labels", {{"x", "y"}}}}}})
                   .value();
  EXPECT_TRUE(merge["ct"].get<std::string>().starts_with("application/merge-patch+json"));
  auto jp = c->patch(resources::kPods, "ns", "a", PatchType::kJson,
                     Json::array({{{"op", "add"}, {"path", "/metadata/labels/z"}, {"value", "1"}}}))
                .value();
  EXPECT_TRUE(jp["ct"].get<std::string>().starts_with("application/json-patch+json"));
  EXPECT_EQ(jp["body"][0]["op"], "add");

  auto ssa = c->apply(resources::kPods, pod("a"), "lfjob-operator").value();
  EXPECT_TRUE(ssa["ct"].get<std::string>().starts_with("application/apply-patch+yaml"));
  EXPECT_EQ(ssa["query"], "fieldManager=lfjob-operator&force=true");
  EXPECT_EQ(ssa["body"]["kind"], "Pod");
  EXPECT_EQ(ssa["body"]["apiVersion"], "v1");
  auto status = c->apply(resources::kPods, pod("a"), "m", false, "status").value();
  EXPECT_EQ(status["query"], "fieldManager=m");
  EXPECT_FALSE(c->patch(resources::kPods, "ns", "a", PatchType::kApply, pod("a")).ok());
}

TEST_F(ClientTest, ConflictIsReturnedAtOnce) {
  server_.route("PUT", "/api/v1/namespaces/ns/pods/a", [](const FakeRequest&) {
    return FakeResponse::failure(409, "Conflict", "the object has been modified");
  });
  auto r = make()->update(resources::kPods, pod("a"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().conflict());
  EXPECT_FALSE(r.error().retryable());
  EXPECT_EQ(server_.count("PUT", "/api/v1/namespaces/ns/pods/a"), 1U);
}

TEST_F(ClientTest, TooManyRequestsWaitsForRetryAfterOnTheClock) {
  auto clock = std::make_shared<FakeClock>();
  FakeResponse busy = FakeResponse::failure(429, "TooManyRequests", "slow down");
  busy.headers.emplace_back("Retry-After", "3");
  server_.script("POST", "/api/v1/namespaces/ns/pods", {busy});
  server_.route("POST", "/api/v1/namespaces/ns/pods",
                [](const FakeRequest&) { return FakeResponse::json(pod("a"), 201); });
  ClientOptions o;
  o.clock = clock;
  auto c = make(o);
  auto result =
      std::async(std::launch::async, [&] { return c->create(resources::kPods, pod("a")); });
  ASSERT_TRUE(server_.wait_for_count("POST", "/api/v1/namespaces/ns/pods", 1));
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(server_.count("POST", "/api/v1/namespaces/ns/pods"), 1U);  // waiting on the clock
  clock->advance(std::chrono::seconds(2));
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_EQ(server_.count("POST", "/api/v1/namespaces/ns/pods"), 1U);  // 2 s < Retry-After
  clock->advance(std::chrono::seconds(1));
  auto r = result.get();
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(server_.count("POST", "/api/v1/namespaces/ns/pods"), 2U);
}

TEST_F(ClientTest, ServerErrorsAreRetriedForReadsOnly) {
  auto clock = std::make_shared<FakeClock>();
  server_.script("GET", "/api/v1/namespaces/ns/pods/a",
                 {FakeResponse::failure(500, "InternalError", "etcd"),
                  FakeResponse::failure(503, "ServiceUnavailable", "starting")});
  server_.route("GET", "/api/v1/namespaces/ns/pods/a",
                [](const FakeRequest&) { return FakeResponse::json(pod("a")); });
  server_.route("POST", "/api/v1/namespaces/ns/pods", [](const FakeRequest&) {
    return FakeResponse::failure(500, "InternalError", "etcd");
  });
  ClientOptions o;
  o.clock = clock;
  auto c = make(o);
  std::atomic<bool> stop{false};
  std::thread ticker([&] {
    while (!stop) {
      clock->advance(milliseconds(100));
      std::this_thread::sleep_for(milliseconds(2));
    }
  });
  auto r = c->get(resources::kPods, "ns", "a");
  auto w = c->create(resources::kPods, pod("a"));
  stop = true;
  ticker.join();
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(server_.count("GET", "/api/v1/namespaces/ns/pods/a"), 3U);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, 500);
  EXPECT_TRUE(w.error().retryable());
  EXPECT_EQ(server_.count("POST", "/api/v1/namespaces/ns/pods"), 1U);
}

TEST_F(ClientTest, RetriesStopAtTheLimit) {
  server_.route("GET", "/api/v1/namespaces/ns/pods/a", [](const FakeRequest&) {
    return FakeResponse::failure(503, "ServiceUnavailable", "down");
  });
  ClientOptions o;
  o.max_retries = 2;
  o.initial_backoff = milliseconds(1);
  auto r = make(o)->get(resources::kPods, "ns", "a");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 503);
  EXPECT_EQ(server_.count("GET", "/api/v1/namespaces/ns/pods/a"), 3U);
}

TEST_F(ClientTest, RateLimitHoldsRequestsUntilTokensArrive) {
  auto clock = std::make_shared<FakeClock>();
  server_.route("GET", "/api/v1/namespaces/ns/pods/a",
                [](const FakeRequest&) { return FakeResponse::json(pod("a")); });
  ClientOptions o;
  o.clock = clock;
  o.qps = 1;
  o.burst = 2;
  auto c = std::make_shared<Client>(transport_, o);
  ASSERT_TRUE(c->get(resources::kPods, "ns", "a").ok());
  ASSERT_TRUE(c->get(resources::kPods, "ns", "a").ok());
  auto third = std::async(std::launch::async, [&] { return c->get(resources::kPods, "ns", "a"); });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(server_.count("GET", "/api/v1/namespaces/ns/pods/a"), 2U);
  clock->advance(std::chrono::seconds(1));
  EXPECT_TRUE(third.get().ok());
  EXPECT_EQ(server_.count("GET", "/api/v1/namespaces/ns/pods/a"), 3U);
}

TEST_F(ClientTest, ShutdownInterruptsWaits) {
  auto clock = std::make_shared<FakeClock>();
  FakeResponse busy = FakeResponse::failure(429, "TooManyRequests", "slow down");
  busy.headers.emplace_back("Retry-After", "30");
  server_.route("GET", "/api/v1/namespaces/ns/pods/a", [busy](const FakeRequest&) { return busy; });
  ClientOptions o;
  o.clock = clock;
  auto c = make(o);
  auto r = std::async(std::launch::async, [&] { return c->get(resources::kPods, "ns", "a"); });
  ASSERT_TRUE(server_.wait_for_count("GET", "/api/v1/namespaces/ns/pods/a", 1));
  c->shutdown();
  auto result = r.get();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().reason, "Cancelled");
}

TEST_F(ClientTest, WatchDecodesEventsAndReportsGone) {
  server_.script("GET", "/api/v1/namespaces/ns/pods",
                 {FakeResponse::watch(
                      {testing::watch_event("ADDED", pod("a", "5")), testing::bookmark_event("6")}),
                  FakeResponse::failure(410, "Expired", "too old resource version: 1 (6)")});
  auto c = make();
  WatchOptions o;
  o.resource_version = "4";
  o.timeout_seconds = 7;
  auto w = c->watch(resources::kPods, "ns", o);
  ASSERT_TRUE(w.ok()) << w.error().to_string();
  auto e1 = w.value()->next();
  ASSERT_TRUE(e1.ok() && e1.value());
  EXPECT_EQ(e1.value()->type, "ADDED");
  EXPECT_EQ(e1.value()->object["metadata"]["resourceVersion"], "5");
  auto e2 = w.value()->next();
  EXPECT_EQ(e2.value()->type, "BOOKMARK");
  auto end = w.value()->next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end.value().has_value());
  const auto req = server_.requests().front();
  EXPECT_EQ(req.param("watch"), "1");
  EXPECT_EQ(req.param("allowWatchBookmarks"), "true");
  EXPECT_EQ(req.param("timeoutSeconds"), "7");
  EXPECT_EQ(req.param("resourceVersion"), "4");

  auto gone = c->watch(resources::kPods, "ns", o);
  ASSERT_FALSE(gone.ok());
  EXPECT_TRUE(gone.error().gone());
}

TEST_F(ClientTest, RecordsRequestMetrics) {
  auto registry = std::make_shared<prometheus::Registry>();
  ClientOptions o;
  o.metrics = std::make_shared<Metrics>(*registry, "test");
  server_.route("GET", "/api/v1/namespaces/ns/pods/a",
                [](const FakeRequest&) { return FakeResponse::json(pod("a")); });
  auto c = make(o);
  ASSERT_TRUE(c->get(resources::kPods, "ns", "a").ok());
  (void)c->get(resources::kPods, "ns", "missing");
  const std::string text = prometheus::TextSerializer().Serialize(registry->Collect());
  EXPECT_NE(text.find("test_kube_requests_total{code=\"200\",verb=\"GET\"} 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("test_kube_requests_total{code=\"404\",verb=\"GET\"} 1"), std::string::npos)
      << text;
}

TEST(ClientErrors, DecodesStatusAndPlainBodies) {
  const Error a = error_from_response(
      422, R"({"kind":"Status","code":422,"reason":"Invalid","message":"spec.x: Required"})");
  EXPECT_EQ(a.code, 422);
  EXPECT_EQ(a.reason, "Invalid");
  EXPECT_EQ(a.message, "spec.x: Required");
  const Error b = error_from_response(502, "<html>bad gateway</html>");
  EXPECT_EQ(b.reason, "Unknown");
  EXPECT_EQ(b.code, 502);
  EXPECT_TRUE(b.retryable());
  EXPECT_EQ(url_encode("a=b,c!=d"), "a%3Db%2Cc%21%3Dd");
}

}  // namespace
}  // namespace ascend::kube
