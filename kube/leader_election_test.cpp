#include "kube/leader_election.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <future>
#include <sstream>
#include <thread>

#include "kube/logging.hpp"
#include "kube/testing/fake_apiserver.hpp"

namespace ascend::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeApiServer;
using testing::FakeRequest;
using testing::FakeResponse;

const std::string kCollection = "/apis/coordination.k8s.io/v1/namespaces/sys/leases";
const std::string kLease = kCollection + "/lfjob-operator";

// An in-memory Lease with optimistic concurrency, like the API server's.
class LeaseServer {
 public:
  explicit LeaseServer(FakeApiServer& server) {
    server.route("GET", kLease, [this](const FakeRequest&) {
      const std::lock_guard lock(mutex_);
      if (failing_) return FakeResponse::failure(500, "InternalError", "etcd down");
      if (lease_.is_null()) return FakeResponse::failure(404, "NotFound", "no lease");
      return FakeResponse::json(lease_);
    });
    server.route("POST", kCollection, [this](const FakeRequest& r) {
      const std::lock_guard lock(mutex_);
      if (failing_) return FakeResponse::failure(500, "InternalError", "etcd down");
      if (!lease_.is_null()) return FakeResponse::failure(409, "AlreadyExists", "exists");
      lease_ = Json::parse(r.body);
      lease_["metadata"]["resourceVersion"] = std::to_string(++rv_);
      return FakeResponse::json(lease_, 201);
    });
    server.route("PUT", kLease, [this](const FakeRequest& r) {
      const std::lock_guard lock(mutex_);
      if (failing_) return FakeResponse::failure(500, "InternalError", "etcd down");
      Json next = Json::parse(r.body);
      if (next["metadata"].value("resourceVersion", "") !=
          lease_["metadata"].value("resourceVersion", "")) {
        return FakeResponse::failure(409, "Conflict", "the object has been modified");
      }
      lease_ = next;
      lease_["metadata"]["resourceVersion"] = std::to_string(++rv_);
      ++updates_;
      return FakeResponse::json(lease_);
    });
  }
  Json lease() {
    const std::lock_guard lock(mutex_);
    return lease_;
  }
  void set_holder(const std::string& holder, const std::string& renew_time) {
    const std::lock_guard lock(mutex_);
    lease_ = {{"metadata",
               {{"name", "lfjob-operator"},
                {"namespace", "sys"},
                {"resourceVersion", std::to_string(++rv_)}}},
              {"spec",
               {{"holderIdentity", holder},
                {"leaseDurationSeconds", 15},
                {"renewTime", renew_time},
                {"acquireTime", "2020-01-01T00:00:00.000000Z"},
                {"leaseTransitions", 3}}}};
  }
  void fail(bool on) {
    const std::lock_guard lock(mutex_);
    failing_ = on;
  }

 private:
  std::mutex mutex_;
  Json lease_;            // guarded by mutex_
  int rv_ = 0;            // guarded by mutex_
  int updates_ = 0;       // guarded by mutex_
  bool failing_ = false;  // guarded by mutex_
};

class LeaderElectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.start().ok());
    Config config;
    config.server = server_.url();
    ClientOptions co;
    co.qps = 0;
    co.max_retries = 0;
    client_ = Client::from_config(config, co).value();
  }
  LeaderElectionOptions options(const std::string& identity) {
    LeaderElectionOptions o;
    o.lease_namespace = "sys";
    o.lease_name = "lfjob-operator";
    o.identity = identity;
    o.clock = clock_;
    return o;
  }
  FakeApiServer server_;
  LeaseServer leases_{server_};
  ClientPtr client_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
};

TEST_F(LeaderElectionTest, CreatesTheLeaseWhenAbsentAndRenewsKeepingAcquireTime) {
  LeaderElector a(client_, options("a"));
  ASSERT_TRUE(a.try_acquire_or_renew());
  Json lease = leases_.lease();
  EXPECT_EQ(lease["spec"]["holderIdentity"], "a");
  EXPECT_EQ(lease["spec"]["leaseDurationSeconds"], 15);
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 0);
  const std::string acquired = lease["spec"]["acquireTime"];
  EXPECT_EQ(acquired.size(), std::string("2023-11-14T22:13:20.000000Z").size());
  EXPECT_TRUE(acquired.ends_with("Z"));

  clock_->advance(seconds(2));
  ASSERT_TRUE(a.try_acquire_or_renew());
  lease = leases_.lease();
  EXPECT_EQ(lease["spec"]["acquireTime"], acquired);
  EXPECT_NE(lease["spec"]["renewTime"], acquired);
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 0);
}

TEST_F(LeaderElectionTest, ALeaseNamespaceThatDoesNotExistIsSaidOnce) {
  // Before: the create's 404 was dropped, so such a replica never led and never said why.
  std::ostringstream out;
  ASSERT_TRUE(
      setup_logging({"info", "text"}, std::make_shared<spdlog::sinks::ostream_sink_mt>(out)).ok());
  server_.route("POST", kCollection, [](const FakeRequest&) {
    return FakeResponse::failure(404, "NotFound", "namespaces \"sys\" not found");
  });
  LeaderElector a(client_, options("a"));
  EXPECT_FALSE(a.try_acquire_or_renew());
  EXPECT_FALSE(a.try_acquire_or_renew());  // the same error again: no second line
  const std::string logs = out.str();
  EXPECT_NE(logs.find("leader election: cannot create the Lease; retrying"), std::string::npos)
      << logs;
  EXPECT_NE(logs.find("lease=sys/lfjob-operator"), std::string::npos) << logs;
  EXPECT_NE(logs.find("--leader-election-namespace"), std::string::npos) << logs;
  EXPECT_EQ(logs.find("cannot create the Lease"), logs.rfind("cannot create the Lease")) << logs;
  ASSERT_TRUE(setup_logging({"info", "text"}).ok());
}

TEST_F(LeaderElectionTest, ExpiryIsJudgedByOurClockSinceTheRecordLastChanged) {
  // The other holder's renewTime is years old by the server's clock; that must not matter.
  leases_.set_holder("other", "2001-01-01T00:00:00.000000Z");
  LeaderElector b(client_, options("b"));
  EXPECT_FALSE(b.try_acquire_or_renew());  // first sight starts our timer
  EXPECT_EQ(b.observed_holder(), "other");
  clock_->advance(seconds(10));
  leases_.set_holder("other", "2001-01-01T00:00:10.000000Z");  // the holder renews
  EXPECT_FALSE(b.try_acquire_or_renew());
  clock_->advance(seconds(14));
  EXPECT_FALSE(b.try_acquire_or_renew());  // 14 s since the change
  clock_->advance(seconds(1));
  EXPECT_TRUE(b.try_acquire_or_renew());  // 15 s: expired, take over
  const Json lease = leases_.lease();
  EXPECT_EQ(lease["spec"]["holderIdentity"], "b");
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 4);
  EXPECT_NE(lease["spec"]["acquireTime"], "2020-01-01T00:00:00.000000Z");
}

TEST_F(LeaderElectionTest, ALostRaceIsAConflictNotALeader) {
  LeaderElector a(client_, options("a"));
  ASSERT_TRUE(a.try_acquire_or_renew());
  leases_.set_holder("", "2001-01-01T00:00:00.000000Z");  // released
  // Script one stale read: b sees an older version and its update must fail with 409.
  const Json current = leases_.lease();
  Json stale = current;
  stale["metadata"]["resourceVersion"] = "0";
  server_.script("GET", kLease, {FakeResponse::json(stale)});
  LeaderElector b(client_, options("b"));
  EXPECT_FALSE(b.try_acquire_or_renew());
  EXPECT_EQ(leases_.lease()["spec"]["holderIdentity"], "");
}

TEST_F(LeaderElectionTest, RunLeadsReleasesOnStopAndTheNextTakesOverWithoutWaiting) {
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};
  auto oa = options("a");
  oa.on_started_leading = [&] { ++started; };
  oa.on_stopped_leading = [&] { ++stopped; };
  LeaderElector a(client_, oa);
  auto ra = std::async(std::launch::async, [&] { return a.run(); });
  // is_leader() turns true just before the callback runs, so wait for the callback itself.
  for (int i = 0; i < 2000 && started == 0; ++i)
    std::this_thread::sleep_for(milliseconds(2));
  ASSERT_TRUE(a.is_leader());
  EXPECT_EQ(started, 1);

  LeaderElector b(client_, options("b"));
  EXPECT_FALSE(b.try_acquire_or_renew());
  a.stop();
  EXPECT_EQ(ra.get(), LeaderElector::Outcome::kStopped);
  EXPECT_FALSE(a.is_leader());
  EXPECT_EQ(stopped, 1);
  EXPECT_EQ(leases_.lease()["spec"]["holderIdentity"], "");
  EXPECT_TRUE(b.try_acquire_or_renew());  // no 15 s wait after a release
}

TEST_F(LeaderElectionTest, FailedRenewalStopsLeadingBeforeAnyoneElseMayTakeOver) {
  std::atomic<int> stopped{0};
  auto oa = options("a");
  oa.on_stopped_leading = [&] { ++stopped; };
  LeaderElector a(client_, oa);
  LeaderElector b(client_, options("b"));
  auto ra = std::async(std::launch::async, [&] { return a.run(); });
  for (int i = 0; i < 2000 && !a.is_leader(); ++i)
    std::this_thread::sleep_for(milliseconds(2));
  ASSERT_TRUE(a.is_leader());
  EXPECT_FALSE(b.try_acquire_or_renew());  // b starts its timer now

  leases_.fail(true);  // the API server stops answering for a while
  int steps = 0;
  for (; steps < 60 && a.is_leader(); ++steps) {  // 500 ms steps, 30 s of fake time at most
    clock_->advance(milliseconds(500));
    std::this_thread::sleep_for(milliseconds(15));
  }
  ASSERT_FALSE(a.is_leader());
  // Renew deadline 10 s, checked every 2 s retry: gone by 12 s of fake time, well inside the
  // 15 s another candidate must wait.
  EXPECT_LE(steps, 24);
  EXPECT_EQ(ra.get(), LeaderElector::Outcome::kLost);
  EXPECT_EQ(stopped, 1);
  // a gave up within the renew deadline, before b's lease-duration timer can run out.
  leases_.fail(false);
  EXPECT_FALSE(b.try_acquire_or_renew());
  clock_->advance(seconds(15));
  EXPECT_TRUE(b.try_acquire_or_renew());
}

}  // namespace
}  // namespace ascend::kube
