#include "tests/workload/rendezvous.hpp"

#include <gtest/gtest.h>

#include <future>
#include <sstream>

#include "tests/workload/net.hpp"

namespace ascend::standin {
namespace {

using std::chrono::milliseconds;

TEST(StandinRendezvous, ParsesHello) {
  EXPECT_EQ(parse_hello("rank 1 hello"), 1);
  EXPECT_EQ(parse_hello("rank 12 hello"), 12);
  EXPECT_EQ(parse_hello("rank x hello"), -1);
  EXPECT_EQ(parse_hello("hello"), -1);
}

TEST(StandinRendezvous, SingleNodeNeedsNoOne) {
  std::atomic<bool> stop{false};
  std::ostringstream log;
  EXPECT_TRUE(rendezvous(RendezvousOptions{}, stop, log).ok);
  RendezvousOptions bad;
  bad.nnodes = 2;
  bad.rank = 2;
  EXPECT_FALSE(rendezvous(bad, stop, log).ok);
}

// Rank 0 on a socket bound in advance (a free port), ranks 1..n-1 connecting by name
// (localhost) from threads before rank 0 starts accepting.
TEST(StandinRendezvous, AllRanksMeet) {
  constexpr int kNodes = 3;
  std::string error;
  Fd listener = listen_tcp(0, &error);
  ASSERT_TRUE(listener.valid()) << error;
  const int port = bound_port(listener.get());
  std::atomic<bool> stop{false};

  std::vector<std::future<RendezvousResult>> workers;
  std::vector<std::ostringstream> logs(kNodes);
  for (int rank = 1; rank < kNodes; ++rank) {
    workers.push_back(std::async(std::launch::async, [&, rank] {
      RendezvousOptions o;
      o.nnodes = kNodes;
      o.rank = rank;
      o.master_addr = "localhost";
      o.port = port;
      o.timeout = milliseconds(20000);
      return rendezvous(o, stop, logs[rank]);
    }));
  }
  RendezvousOptions o;
  o.nnodes = kNodes;
  o.port = port;
  o.listen_fd = listener.get();
  o.timeout = milliseconds(20000);
  const RendezvousResult master = rendezvous(o, stop, logs[0]);
  EXPECT_TRUE(master.ok) << master.message << logs[0].str();
  EXPECT_EQ(master.lines.size(), 2U);
  for (auto& w : workers) {
    const RendezvousResult r = w.get();
    EXPECT_TRUE(r.ok) << r.message;
    ASSERT_EQ(r.lines.size(), 1U);
    EXPECT_EQ(r.lines[0], "rank 0 hello: 3 ranks ready");
  }
}

TEST(StandinRendezvous, WorkerRetriesUntilTheMasterListens) {
  // Find a free port, close it, start the worker, then listen on it.
  std::string error;
  int port = 0;
  {
    Fd probe = listen_tcp(0, &error);
    ASSERT_TRUE(probe.valid()) << error;
    port = bound_port(probe.get());
  }
  std::atomic<bool> stop{false};
  std::ostringstream wlog;
  auto worker = std::async(std::launch::async, [&] {
    RendezvousOptions o;
    o.nnodes = 2;
    o.rank = 1;
    o.master_addr = "127.0.0.1";
    o.port = port;
    o.timeout = milliseconds(20000);
    return rendezvous(o, stop, wlog);
  });
  std::this_thread::sleep_for(milliseconds(1500));
  RendezvousOptions o;
  o.nnodes = 2;
  o.port = port;
  o.timeout = milliseconds(20000);
  std::ostringstream mlog;
  const RendezvousResult master = rendezvous(o, stop, mlog);
  EXPECT_TRUE(master.ok) << master.message;
  const RendezvousResult w = worker.get();
  EXPECT_TRUE(w.ok) << w.message;
  EXPECT_NE(wlog.str().find("waiting: cannot connect"), std::string::npos) << wlog.str();
}

TEST(StandinRendezvous, MasterTimesOutNamingTheMissingRanks) {
  std::string error;
  Fd listener = listen_tcp(0, &error);
  ASSERT_TRUE(listener.valid()) << error;
  std::atomic<bool> stop{false};
  std::ostringstream log;
  RendezvousOptions o;
  o.nnodes = 3;
  o.listen_fd = listener.get();
  o.timeout = milliseconds(300);
  const RendezvousResult r = rendezvous(o, stop, log);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.message.find("timed out"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("rank(s) 1, 2"), std::string::npos) << r.message;
}

TEST(StandinRendezvous, WorkerTimesOutOnAnUnknownName) {
  std::atomic<bool> stop{false};
  std::ostringstream log;
  RendezvousOptions o;
  o.nnodes = 2;
  o.rank = 1;
  o.master_addr = "no-such-host.invalid";
  o.timeout = milliseconds(1200);
  const RendezvousResult r = rendezvous(o, stop, log);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.message.find("timed out"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("cannot resolve MASTER_ADDR no-such-host.invalid"), std::string::npos)
      << r.message;
}

TEST(StandinRendezvous, StopEndsTheWait) {
  std::string error;
  Fd listener = listen_tcp(0, &error);
  ASSERT_TRUE(listener.valid()) << error;
  std::atomic<bool> stop{true};
  std::ostringstream log;
  RendezvousOptions o;
  o.nnodes = 2;
  o.listen_fd = listener.get();
  const RendezvousResult r = rendezvous(o, stop, log);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.message.find("stopped"), std::string::npos);
}

}  // namespace
}  // namespace ascend::standin
