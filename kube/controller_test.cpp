#include "kube/controller.hpp"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/sinks/ostream_sink.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "kube/logging.hpp"

namespace ascend::kube {
namespace {

using std::chrono::milliseconds;

const Resource kJobs{"ascendfactory.io", "v1alpha1", "llamafactoryjobs", "LlamaFactoryJob", true};

nlohmann::json job(const std::string& name, const std::string& rv = "1") {
  return {{"metadata", {{"namespace", "ns"}, {"name", name}, {"resourceVersion", rv}}}};
}

nlohmann::json worker_pod(const std::string& name, const std::string& owner,
                          const std::string& api_version = "ascendfactory.io/v1alpha1",
                          bool controller = true, const std::string& rv = "1") {
  return {{"metadata",
           {{"namespace", "ns"},
            {"name", name},
            {"resourceVersion", rv},
            {"ownerReferences",
             {{{"apiVersion", api_version},
               {"kind", "LlamaFactoryJob"},
               {"name", owner},
               {"controller", controller}}}}}}};
}

// Records reconciles; answers from a script per key.
struct Recorder {
  std::mutex mutex;
  std::map<std::string, int> calls;
  std::map<std::string, ReconcileResult> answers;
  std::set<std::string> in_flight;  // guarded by mutex
  int overlaps = 0;                 // same key reconciled concurrently; guarded by mutex

  ReconcileResult operator()(const std::string& key) {
    {
      const std::lock_guard lock(mutex);
      if (!in_flight.insert(key).second) ++overlaps;
    }
    std::this_thread::sleep_for(milliseconds(5));
    const std::lock_guard lock(mutex);
    in_flight.erase(key);
    ++calls[key];
    if (key == "ns/throws") throw std::runtime_error("boom");
    auto it = answers.find(key);
    return it == answers.end() ? ReconcileResult::done() : it->second;
  }
  int count(const std::string& key) {
    const std::lock_guard lock(mutex);
    return calls[key];
  }
};

bool eventually(const std::function<bool()>& f) {
  for (int i = 0; i < 2500; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return false;
}

TEST(Controller, ReconcilesPrimaryAndOwnerKeysWithNoKeyTwiceAtOnce) {
  auto recorder = std::make_shared<Recorder>();
  ControllerOptions o;
  o.name = "lfjob";
  o.workers = 4;
  Controller c(o, [recorder](const std::string& k) { return (*recorder)(k); });
  Store jobs;
  Store pods;
  c.watch(jobs);
  c.watch_owned(pods, kJobs);
  c.start();
  jobs.apply(job("a"));
  pods.apply(worker_pod("b-worker-0", "b"));
  for (int i = 0; i < 50; ++i)
    jobs.apply(job("hot", std::to_string(i)));
  pods.apply(worker_pod("stray", "x", "other.io/v1"));
  ASSERT_TRUE(eventually([&] {
    return recorder->count("ns/a") >= 1 && recorder->count("ns/b") >= 1 &&
           recorder->count("ns/hot") >= 1;
  }));
  c.stop();
  EXPECT_EQ(recorder->count("ns/x"), 0);
  EXPECT_EQ(recorder->count("ns/b-worker-0"), 0);
  // 50 changes collapse into far fewer reconciles (dedup), never two at once for one key.
  EXPECT_LT(recorder->count("ns/hot"), 50);
  EXPECT_EQ(recorder->overlaps, 0);
}

TEST(Controller, ErrorsBackOffRequeueAfterWaitsTerminalStops) {
  auto clock = std::make_shared<FakeClock>();
  auto recorder = std::make_shared<Recorder>();
  recorder->answers["ns/err"] = ReconcileResult::error("apiserver said 409");
  recorder->answers["ns/later"] = ReconcileResult::requeue_after(std::chrono::seconds(30));
  recorder->answers["ns/bad"] = ReconcileResult::terminal("spec.nodes must be > 0");
  auto registry = std::make_shared<prometheus::Registry>();
  ControllerOptions o;
  o.name = "lfjob";
  o.queue.clock = clock;
  o.metrics = std::make_shared<Metrics>(*registry, "test");
  Controller c(o, [recorder](const std::string& k) { return (*recorder)(k); });
  c.start();
  for (const char* k : {"ns/err", "ns/later", "ns/bad", "ns/throws"})
    c.queue().add(k);
  ASSERT_TRUE(eventually([&] {
    return recorder->count("ns/err") == 1 && recorder->count("ns/later") == 1 &&
           recorder->count("ns/bad") == 1 && recorder->count("ns/throws") == 1;
  }));
  ASSERT_TRUE(eventually([&] {
    return c.queue().failures("ns/err") == 1 && c.queue().failures("ns/throws") == 1 &&
           c.queue().delayed() == 3;  // err, throws (backoff) and later (requeue-after)
  }));
  clock->advance(milliseconds(5));  // first error backoff
  ASSERT_TRUE(eventually([&] { return recorder->count("ns/err") == 2; }));
  // An exception is an error too.
  EXPECT_TRUE(eventually([&] { return recorder->count("ns/throws") == 2; }));
  EXPECT_EQ(recorder->count("ns/later"), 1);
  clock->advance(std::chrono::seconds(30));
  ASSERT_TRUE(eventually([&] { return recorder->count("ns/later") == 2; }));
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(recorder->count("ns/bad"), 1);  // terminal: not retried
  EXPECT_EQ(c.queue().failures("ns/bad"), 0);
  c.stop();
  const std::string text = prometheus::TextSerializer().Serialize(registry->Collect());
  EXPECT_NE(text.find("test_reconcile_total{controller=\"lfjob\",result=\"terminal\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("test_reconcile_errors_total{controller=\"lfjob\"}"), std::string::npos);
}

TEST(Controller, BackoffRetriesWithThePerKeyBackoffAndLogsNothing) {
  auto clock = std::make_shared<FakeClock>();
  auto recorder = std::make_shared<Recorder>();
  recorder->answers["ns/blocked"] = ReconcileResult::backoff("name taken");
  std::ostringstream out;
  ASSERT_TRUE(
      setup_logging({"info", "text"}, std::make_shared<spdlog::sinks::ostream_sink_mt>(out)).ok());
  ControllerOptions o;
  o.name = "lfjob";
  o.queue.clock = clock;
  Controller c(o, [recorder](const std::string& k) { return (*recorder)(k); });
  c.start();
  c.queue().add("ns/blocked");
  ASSERT_TRUE(eventually([&] { return c.queue().failures("ns/blocked") == 1; }));
  clock->advance(milliseconds(5));
  ASSERT_TRUE(eventually([&] { return c.queue().failures("ns/blocked") == 2; }));
  clock->advance(milliseconds(5));  // the second backoff is 10 ms: not due yet
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(recorder->count("ns/blocked"), 2);
  clock->advance(milliseconds(5));
  ASSERT_TRUE(eventually([&] { return recorder->count("ns/blocked") == 3; }));
  c.stop();
  ASSERT_TRUE(setup_logging({"info", "text"}).ok());
  EXPECT_EQ(out.str().find("ns/blocked"), std::string::npos) << out.str();
}

TEST(Controller, MappedWatchQueuesWhatTheMapSays) {
  auto recorder = std::make_shared<Recorder>();
  Controller c({}, [recorder](const std::string& k) { return (*recorder)(k); });
  Store nodes;
  c.watch_mapped(nodes, [](const nlohmann::json&) {
    return std::vector<std::string>{"ns/j1", "ns/j2"};
  });
  c.start();
  nodes.apply({{"metadata", {{"name", "node-1"}}}});
  ASSERT_TRUE(
      eventually([&] { return recorder->count("ns/j1") == 1 && recorder->count("ns/j2") == 1; }));
  c.stop();
}

}  // namespace
}  // namespace ascend::kube
