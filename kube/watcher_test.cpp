#include "kube/watcher.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <thread>

#include "kube/informer.hpp"
#include "kube/testing/fake_apiserver.hpp"

namespace ascend::kube {
namespace {

using std::chrono::milliseconds;
using testing::FakeApiServer;
using testing::FakeRequest;
using testing::FakeResponse;
using testing::watch_event;

const std::string kPath = "/api/v1/namespaces/ns/pods";

Json pod(const std::string& name, const std::string& rv) {
  return {{"kind", "Pod"},
          {"apiVersion", "v1"},
          {"metadata", {{"name", name}, {"namespace", "ns"}, {"resourceVersion", rv}}}};
}

FakeResponse list_of(const std::string& rv, const std::vector<Json>& items) {
  return FakeResponse::json(
      {{"kind", "PodList"}, {"metadata", {{"resourceVersion", rv}}}, {"items", items}});
}

FakeResponse stall() {
  return FakeResponse::watch({}, FakeResponse::End::Stall);
}

// Lists and watches share a path; this splits them into two scripts.
class WatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.start().ok());
    server_.route("GET", kPath, [this](const FakeRequest& r) {
      const std::lock_guard lock(mutex_);
      auto& q = r.param("watch") == "1" ? watches_ : lists_;
      if (q.empty()) return FakeResponse::failure(500, "InternalError", "script exhausted");
      FakeResponse next = q.front();
      if (q.size() > 1) q.pop_front();  // the last answer repeats
      return next;
    });
    Config config;
    config.server = server_.url();
    ClientOptions co;
    co.qps = 0;
    co.initial_backoff = milliseconds(1);
    client_ = Client::from_config(config, co).value();
  }
  void TearDown() override {
    client_->shutdown();
    server_.stop();
  }
  void script(std::vector<FakeResponse> lists, std::vector<FakeResponse> watches) {
    const std::lock_guard lock(mutex_);
    lists_.assign(lists.begin(), lists.end());
    watches_.assign(watches.begin(), watches.end());
  }
  std::vector<FakeRequest> requests(bool watch) const {
    std::vector<FakeRequest> out;
    for (auto& r : server_.requests()) {
      if ((r.param("watch") == "1") == watch) out.push_back(r);
    }
    return out;
  }
  bool wait_watches(std::size_t n) const {
    for (int i = 0; i < 5000; ++i) {
      if (requests(true).size() >= n) return true;
      std::this_thread::sleep_for(milliseconds(2));
    }
    return false;
  }
  WatcherOptions options(ClockPtr clock = system_clock()) const {
    WatcherOptions o;
    o.ns = "ns";
    o.label_selector = "app=lf";
    o.min_timeout_seconds = 60;
    o.max_timeout_seconds = 120;
    o.clock = std::move(clock);
    return o;
  }

  FakeApiServer server_;
  ClientPtr client_;
  std::mutex mutex_;
  std::deque<FakeResponse> lists_;    // guarded by mutex_
  std::deque<FakeResponse> watches_;  // guarded by mutex_
};

TEST_F(WatcherTest, ListsThenWatchesAndRewatchesFromTheLastVersionAfterACleanEnd) {
  script({list_of("10", {pod("a", "9"), pod("b", "8")})},
         {FakeResponse::watch(
              {watch_event("ADDED", pod("c", "11")), watch_event("MODIFIED", pod("a", "12")),
               watch_event("DELETED", pod("b", "13")), testing::bookmark_event("14")}),
          stall()});
  Informer informer(client_, resources::kPods, options());
  std::vector<std::string> seen;
  std::mutex seen_mutex;
  informer.store()->add_handler([&](const ObjectPtr& o, const ObjectPtr& n) {
    const std::lock_guard lock(seen_mutex);
    seen.push_back(std::string(o ? "update/delete " : "add ") + object_key(n ? *n : *o));
  });
  informer.start();
  ASSERT_TRUE(informer.wait_for_sync(milliseconds(5000)));
  ASSERT_TRUE(wait_watches(2));
  informer.stop();

  const auto lists = requests(false);
  const auto watches = requests(true);
  ASSERT_EQ(lists.size(), 1U);
  EXPECT_EQ(lists[0].param("resourceVersion"), "0");
  EXPECT_EQ(lists[0].param("labelSelector"), "app=lf");
  EXPECT_EQ(lists[0].param("limit"), "500");
  EXPECT_EQ(watches[0].param("resourceVersion"), "10");
  EXPECT_EQ(watches[0].param("allowWatchBookmarks"), "true");
  EXPECT_EQ(watches[0].param("labelSelector"), "app=lf");
  const int timeout = std::stoi(watches[0].param("timeoutSeconds"));
  EXPECT_GE(timeout, 60);
  EXPECT_LE(timeout, 120);
  EXPECT_EQ(watches[1].param("resourceVersion"), "14");  // the bookmark's version

  auto& store = *informer.store();
  EXPECT_EQ(store.size(), 2U);
  EXPECT_EQ((*store.get("ns/a"))["metadata"]["resourceVersion"], "12");
  EXPECT_NE(store.get("ns/c"), nullptr);
  EXPECT_EQ(store.get("ns/b"), nullptr);
  EXPECT_EQ(informer.watcher().lists(), 1);
  EXPECT_EQ(seen.size(), 5U);  // add a, add b, add c, update a, delete b
}

TEST_F(WatcherTest, TransformRewritesListedAndWatchedObjectsBeforeTheStore) {
  auto fat = [](const std::string& name, const std::string& rv) {
    Json p = pod(name, rv);
    p["metadata"]["managedFields"] = Json::array({{{"manager", "m"}}});
    p["spec"] = {{"big", std::string(100, 'x')}};
    return p;
  };
  script({list_of("10", {fat("a", "9")})},
         {FakeResponse::watch({watch_event("ADDED", fat("b", "11")),
                               watch_event("MODIFIED", fat("a", "12")),
                               watch_event("DELETED", fat("b", "13"))}),
          stall()});
  WatcherOptions o = options();
  o.transform = [](Json& object) {
    strip_managed_fields(object);
    object.erase("spec");
  };
  Informer informer(client_, resources::kPods, o);
  std::vector<Json> handed;  // every object handlers saw
  std::mutex handed_mutex;
  informer.store()->add_handler([&](const ObjectPtr& old_object, const ObjectPtr& new_object) {
    const std::lock_guard lock(handed_mutex);
    for (const auto& obj : {old_object, new_object}) {
      if (obj) handed.push_back(*obj);
    }
  });
  informer.start();
  ASSERT_TRUE(informer.wait_for_sync(milliseconds(5000)));
  ASSERT_TRUE(wait_watches(2));
  informer.stop();
  EXPECT_EQ(*informer.store()->get("ns/a"), pod("a", "12"));
  EXPECT_EQ(informer.store()->get("ns/b"), nullptr);
  const std::lock_guard lock(handed_mutex);
  EXPECT_EQ(handed.size(), 5U);  // add a, add b, a 9 -> 12, delete b
  for (const auto& obj : handed) {
    EXPECT_FALSE(obj.contains("spec")) << obj.dump();
    EXPECT_FALSE(obj["metadata"].contains("managedFields")) << obj.dump();
  }
}

TEST_F(WatcherTest, GoneAsHttpStatusRelistsWithAConsistentRead) {
  script({list_of("10", {pod("a", "9")}), list_of("20", {pod("b", "19")})},
         {FakeResponse::failure(410, "Expired", "too old resource version"), stall()});
  Informer informer(client_, resources::kPods, options());
  informer.start();
  ASSERT_TRUE(wait_watches(2));
  informer.stop();
  const auto lists = requests(false);
  ASSERT_EQ(lists.size(), 2U);
  EXPECT_EQ(lists[1].param("resourceVersion"), "");
  EXPECT_EQ(requests(true)[1].param("resourceVersion"), "20");
  EXPECT_EQ(informer.store()->get("ns/a"), nullptr);
  EXPECT_NE(informer.store()->get("ns/b"), nullptr);
}

TEST_F(WatcherTest, GoneInStreamRelists) {
  script({list_of("10", {pod("a", "9")}), list_of("30", {})},
         {FakeResponse::watch({watch_event("ADDED", pod("c", "11")), testing::gone_event()}),
          stall()});
  Informer informer(client_, resources::kPods, options());
  informer.start();
  ASSERT_TRUE(wait_watches(2));
  informer.stop();
  EXPECT_EQ(requests(false).size(), 2U);
  EXPECT_EQ(requests(true)[1].param("resourceVersion"), "30");
  EXPECT_EQ(informer.store()->size(), 0U);
}

TEST_F(WatcherTest, FailuresBackOffOnTheClockDoublingFrom800ms) {
  auto clock = std::make_shared<FakeClock>();
  script({list_of("10", {})}, {FakeResponse::failure(500, "InternalError", "x"),
                               FakeResponse::failure(500, "InternalError", "y"), stall()});
  Informer informer(client_, resources::kPods, options(clock));
  informer.start();
  ASSERT_TRUE(wait_watches(1));
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(requests(true).size(), 1U);  // waiting 800 ms of fake time
  clock->advance(milliseconds(800));
  ASSERT_TRUE(wait_watches(2));
  std::this_thread::sleep_for(milliseconds(50));
  clock->advance(milliseconds(800));
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(requests(true).size(), 2U);  // the second wait is 1600 ms
  clock->advance(milliseconds(800));
  ASSERT_TRUE(wait_watches(3));
  EXPECT_EQ(requests(false).size(), 1U);  // never relisted: the version was still good
  informer.stop();
}

TEST_F(WatcherTest, DroppedStreamResumesFromTheLastVersion) {
  auto clock = std::make_shared<FakeClock>();
  // A blank keep-alive line a second later gives the watcher time to read the event first,
  // even on a loaded machine: cpprestsdk may discard received-but-unread lines when the
  // connection drops (harmless, the version only advances for events processed, so they are
  // delivered again, but then this test could not see the resume from "11").
  FakeResponse dropped =
      FakeResponse::watch({watch_event("ADDED", pod("a", "11"))}, FakeResponse::End::Drop);
  dropped.chunks.push_back({"\n", milliseconds(1000)});
  script({list_of("10", {})}, {dropped, stall()});
  Informer informer(client_, resources::kPods, options(clock));
  informer.start();
  std::atomic<bool> done{false};
  std::thread ticker([&] {
    while (!done) {
      clock->advance(milliseconds(100));
      std::this_thread::sleep_for(milliseconds(2));
    }
  });
  const bool rewatched = wait_watches(2);
  done = true;
  ticker.join();
  informer.stop();
  ASSERT_TRUE(rewatched);
  EXPECT_EQ(requests(true)[1].param("resourceVersion"), "11");
  EXPECT_EQ(requests(false).size(), 1U);
}

TEST_F(WatcherTest, FailedListIsRetriedAfterBackoff) {
  auto clock = std::make_shared<FakeClock>();
  script({FakeResponse::failure(403, "Forbidden", "no list"), list_of("5", {pod("a", "4")})},
         {stall()});
  Informer informer(client_, resources::kPods, options(clock));
  informer.start();
  ASSERT_TRUE(server_.wait_for_count("GET", kPath, 1));
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_FALSE(informer.store()->synced());
  clock->advance(milliseconds(800));
  ASSERT_TRUE(informer.wait_for_sync(milliseconds(5000)));
  EXPECT_EQ(informer.store()->size(), 1U);
  informer.stop();
}

TEST_F(WatcherTest, StopEndsABackoffWait) {
  auto clock = std::make_shared<FakeClock>();
  script({list_of("10", {})}, {FakeResponse::failure(500, "InternalError", "x")});
  Informer informer(client_, resources::kPods, options(clock));
  informer.start();
  ASSERT_TRUE(wait_watches(1));
  informer.stop();  // would hang here if the wait ignored stop()
  EXPECT_EQ(informer.watcher().state(), Watcher::State::kStopped);
}

}  // namespace
}  // namespace ascend::kube
