#include "kube/serving.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

namespace ascend::kube {
namespace {

// Sends one raw request to 127.0.0.1:port and returns the whole response. With a timeout,
// gives up reading after it, as the kubelet's probes do (timeoutSeconds, 1 s by default).
std::string fetch(std::uint16_t port, const std::string& request,
                  std::chrono::seconds timeout = std::chrono::seconds(0)) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (timeout.count() > 0) {
    timeval tv{static_cast<time_t>(timeout.count()), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {  // NOLINT
    ::close(fd);
    return "connect failed";
  }
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  for (ssize_t n = 0; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) {
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string get(std::uint16_t port, const std::string& path) {
  return fetch(port, "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n");
}

// A GET as the kubelet probes: one second to answer.
std::string probe(std::uint16_t port, const std::string& path) {
  return fetch(port, "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n",
               std::chrono::seconds(1));
}

// A connected socket that sends `partial` (maybe nothing) and then stays silent; -1 on failure.
int silent_client(std::uint16_t port, const std::string& partial = "") {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {  // NOLINT
    ::close(fd);
    return -1;
  }
  if (!partial.empty()) ::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL);
  return fd;
}

// True when the server closed `fd` (recv sees the end) within `limit`.
bool closed_by_server(int fd, std::chrono::seconds limit) {
  timeval tv{static_cast<time_t>(limit.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char buf[64];
  return ::recv(fd, buf, sizeof(buf), 0) == 0;
}

// A server whose silent clients would hold it for a minute if it served one at a time.
ServingOptions patient_options() {
  ServingOptions options{"127.0.0.1", 0};
  options.request_timeout = std::chrono::seconds(60);
  return options;
}

TEST(ServingServer, BindsPortZeroAndReportsThePort) {
  ServingServer server({"127.0.0.1", 0}, nullptr);
  EXPECT_EQ(server.port(), 0);
  ASSERT_TRUE(server.start().ok());
  EXPECT_NE(server.port(), 0);
  EXPECT_TRUE(get(server.port(), "/healthz").starts_with("HTTP/1.1 200 OK"));
}

TEST(ServingServer, ReadyzFollowsRegisteredChecks) {
  ServingServer server({"127.0.0.1", 0}, nullptr);
  std::atomic<bool> synced{false};
  server.add_ready_check("informer-sync", [&]() -> std::optional<std::string> {
    if (synced) return std::nullopt;
    return "caches not synced";
  });
  server.add_ready_check("always", [] { return std::optional<std::string>(); });
  ASSERT_TRUE(server.start().ok());

  std::string r = get(server.port(), "/readyz");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 500")) << r;
  EXPECT_NE(r.find("[-]informer-sync failed: caches not synced"), std::string::npos) << r;
  EXPECT_EQ(r.find("[+]always"), std::string::npos) << r;

  synced = true;
  r = get(server.port(), "/readyz?verbose");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 200")) << r;
  EXPECT_NE(r.find("[+]informer-sync ok"), std::string::npos) << r;
  EXPECT_NE(r.find("[+]always ok"), std::string::npos) << r;
  // Liveness checks are separate from readiness.
  EXPECT_TRUE(get(server.port(), "/healthz").starts_with("HTTP/1.1 200")) << r;
}

TEST(ServingServer, ACheckThatThrowsFailsInsteadOfCrashing) {
  ServingServer server({"127.0.0.1", 0}, nullptr);
  server.add_health_check("bad",
                          []() -> std::optional<std::string> { throw std::runtime_error("boom"); });
  ASSERT_TRUE(server.start().ok());
  const std::string r = get(server.port(), "/healthz");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 500")) << r;
  EXPECT_NE(r.find("boom"), std::string::npos) << r;
}

TEST(ServingServer, ServesMetricsInTextFormat) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto& family =
      prometheus::BuildCounter().Name("test_requests_total").Help("requests").Register(*registry);
  family.Add({{"code", "200"}}).Increment(3);
  ServingServer server({"127.0.0.1", 0}, registry);
  ASSERT_TRUE(server.start().ok());
  const std::string r = get(server.port(), "/metrics");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 200")) << r;
  EXPECT_NE(r.find("text/plain; version=0.0.4"), std::string::npos) << r;
  EXPECT_NE(r.find("test_requests_total{code=\"200\"} 3"), std::string::npos) << r;
}

TEST(ServingServer, UnknownPathsMethodsAndGarbage) {
  ServingServer server({"127.0.0.1", 0}, nullptr);
  ASSERT_TRUE(server.start().ok());
  EXPECT_TRUE(get(server.port(), "/nope").starts_with("HTTP/1.1 404"));
  EXPECT_TRUE(fetch(server.port(), "POST /healthz HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
  EXPECT_TRUE(fetch(server.port(), "garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
  const std::string head = fetch(server.port(), "HEAD /healthz HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(head.starts_with("HTTP/1.1 200"));
  EXPECT_EQ(head.find("\r\n\r\nok"), std::string::npos) << head;
}

TEST(ServingServer, ASilentClientDelaysNobodyElse) {
  // Before: one connection at a time, so a probe waited for the silent one's read timeout.
  ServingServer server(patient_options(), nullptr);
  ASSERT_TRUE(server.start().ok());
  const int silent = silent_client(server.port());
  const int half = silent_client(server.port(), "GET /healthz HTTP/1.1\r\n");
  ASSERT_GE(silent, 0);
  ASSERT_GE(half, 0);
  EXPECT_TRUE(probe(server.port(), "/healthz").starts_with("HTTP/1.1 200"));
  EXPECT_TRUE(probe(server.port(), "/metrics").starts_with("HTTP/1.1 200"));
  // The half-sent request is still served when its end arrives.
  ::send(half, "\r\n", 2, MSG_NOSIGNAL);
  std::string out;
  char buf[256];
  for (ssize_t n = 0; (n = ::recv(half, buf, sizeof(buf), 0)) > 0;) {
    out.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_TRUE(out.starts_with("HTTP/1.1 200")) << out;
  ::close(silent);
  ::close(half);
}

TEST(ServingServer, MoreIdleClientsThanSlotsCannotLockAProbeOut) {
  ServingOptions options = patient_options();
  options.max_connections = 4;
  ServingServer server(options, nullptr);
  ASSERT_TRUE(server.start().ok());
  std::vector<int> idle;
  for (int i = 0; i < 10; ++i)
    idle.push_back(silent_client(server.port()));
  EXPECT_TRUE(get(server.port(), "/healthz").starts_with("HTTP/1.1 200"));
  // The oldest idle clients gave way: the first one is closed by the server.
  EXPECT_TRUE(closed_by_server(idle.front(), std::chrono::seconds(5)));
  for (const int fd : idle)
    ::close(fd);
}

TEST(ServingServer, ASilentClientIsClosedAtItsRequestTimeout) {
  ServingOptions options{"127.0.0.1", 0};
  options.request_timeout = std::chrono::milliseconds(200);
  ServingServer server(options, nullptr);
  ASSERT_TRUE(server.start().ok());
  const int fd = silent_client(server.port(), "GET /he");
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(closed_by_server(fd, std::chrono::seconds(10)));
  ::close(fd);
  EXPECT_TRUE(get(server.port(), "/healthz").starts_with("HTTP/1.1 200"));
}

TEST(ServingServer, BindErrorsAreValues) {
  ServingServer first({"127.0.0.1", 0}, nullptr);
  ASSERT_TRUE(first.start().ok());
  ServingServer second({"127.0.0.1", first.port()}, nullptr);
  const Status s = second.start();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().reason, "Bind");
  EXPECT_NE(s.error().message.find(std::to_string(first.port())), std::string::npos);

  ServingServer bad({"not-an-ip", 0}, nullptr);
  const Status b = bad.start();
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("not-an-ip"), std::string::npos);
}

TEST(ServingServer, StopsAndFreesThePort) {
  ServingServer server({"127.0.0.1", 0}, nullptr);
  ASSERT_TRUE(server.start().ok());
  const std::uint16_t port = server.port();
  server.stop();
  server.stop();  // idempotent
  EXPECT_EQ(get(port, "/healthz"), "connect failed");
  ServingServer again({"127.0.0.1", port}, nullptr);
  EXPECT_TRUE(again.start().ok());
}

TEST(ServingServer, ListensOnIpv6Loopback) {
  ServingServer server({"::1", 0}, nullptr);
  const Status s = server.start();
  if (!s.ok()) GTEST_SKIP() << "no IPv6 loopback here: " << s.error().message;
  EXPECT_NE(server.port(), 0);
}

}  // namespace
}  // namespace ascend::kube
