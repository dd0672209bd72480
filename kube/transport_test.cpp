#include "kube/transport.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "kube/testing/fake_apiserver.hpp"
#include "kube/testing/test_certs.hpp"

namespace ascend::kube {
namespace {

using std::chrono::milliseconds;
using testing::FakeApiServer;
using testing::FakeRequest;
using testing::FakeResponse;
using testing::TestCerts;

// Every test here runs on a 2-thread I/O pool (the operator uses 4): cpprestsdk's threads
// never block, so streams, stalls and cancellations must all work on a small pool.
const bool kSmallPool = set_io_threads(2);

class TransportTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.start().ok()); }
  TransportPtr make(Config config = {}) {
    config.server = server_.url();
    config.source = "test";
    auto t = make_transport(config);
    EXPECT_TRUE(t.ok()) << t.error().message;
    return t.ok() ? t.value() : nullptr;
  }
  FakeApiServer server_;
};

TEST_F(TransportTest, SendsAuthAndReadsTheWholeResponse) {
  server_.route("GET", "/api/v1/namespaces/a/pods/p", [](const FakeRequest&) {
    auto r = FakeResponse::json({{"kind", "Pod"}});
    r.headers.emplace_back("X-Test", "yes");
    return r;
  });
  Config config;
  config.token = "secret-token";
  auto t = make(config);
  auto r = t->send({"GET", "/api/v1/namespaces/a/pods/p?x=1", "", "", {}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value().status, 200);
  EXPECT_EQ(r.value().body, R"({"kind":"Pod"})");
  EXPECT_EQ(r.value().header("x-test"), "yes");
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].header("authorization"), "Bearer secret-token");
  EXPECT_EQ(reqs[0].param("x"), "1");
  EXPECT_EQ(reqs[0].header("user-agent"), "ascend-factory");
}

TEST_F(TransportTest, TheIoPoolIsSizedOnlyBeforeItExists) {
  EXPECT_TRUE(kSmallPool);
  server_.route("GET", "/x", [](const FakeRequest&) { return FakeResponse::json({}); });
  ASSERT_TRUE(make()->send({"GET", "/x", "", "", {}}).ok());
  EXPECT_FALSE(set_io_threads(8));
}

TEST_F(TransportTest, SendsTheBodyWithItsContentType) {
  server_.route("PATCH", "/x", [](const FakeRequest& r) {
    return FakeResponse::json({{"ct", r.header("content-type")}, {"body", r.body}});
  });
  auto t = make();
  auto r = t->send({"PATCH", "/x", "application/apply-patch+yaml", R"({"a":1})", {}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto j = nlohmann::json::parse(r.value().body);
  EXPECT_TRUE(j["ct"].get<std::string>().starts_with("application/apply-patch+yaml")) << j;
  EXPECT_EQ(j["body"], R"({"a":1})");
}

TEST_F(TransportTest, ErrorStatusesAreResponsesNotErrors) {
  server_.script("GET", "/y", {FakeResponse::failure(409, "Conflict", "modified")});
  auto t = make();
  auto r = t->send({"GET", "/y", "", "", {}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().status, 409);
}

TEST_F(TransportTest, RequestTimeoutIsAnError) {
  FakeResponse slow = FakeResponse::json({});
  slow.delay = milliseconds(3000);
  server_.script("GET", "/slow", {slow});
  auto t = make();
  auto r = t->send({"GET", "/slow", "", "", milliseconds(300)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "Timeout") << r.error().message;
}

TEST_F(TransportTest, ConnectionRefusedIsATransportError) {
  Config config;
  config.server = "http://127.0.0.1:1";
  auto t = make_transport(config);
  ASSERT_TRUE(t.ok());
  auto r = t.value()->send({"GET", "/", "", "", {}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 0);
}

TEST_F(TransportTest, StreamsLinesAsChunksArriveThenEndsCleanly) {
  FakeResponse w;
  w.streamed = true;
  w.chunks = {{"{\"a\":1}\n{\"b\"", milliseconds(0)},
              {":2}\n", milliseconds(50)},
              {"\n{\"c\":3}\n", milliseconds(50)}};
  server_.script("GET", "/watch", {w});
  auto t = make();
  auto s = t->stream({"GET", "/watch", "", "", milliseconds(5000)});
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_EQ(s.value().status, 200);
  auto& lines = *s.value().lines;
  EXPECT_EQ(lines.next_line().value().value(), R"({"a":1})");
  EXPECT_EQ(lines.next_line().value().value(), R"({"b":2})");
  EXPECT_EQ(lines.next_line().value().value(), R"({"c":3})");
  auto end = lines.next_line();
  ASSERT_TRUE(end.ok()) << end.error().message;
  EXPECT_FALSE(end.value().has_value());
}

TEST_F(TransportTest, StreamWithErrorStatusCarriesTheBody) {
  server_.script("GET", "/watch", {FakeResponse::failure(410, "Expired", "too old")});
  auto t = make();
  auto s = t->stream({"GET", "/watch", "", "", {}});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s.value().status, 410);
  EXPECT_EQ(s.value().lines, nullptr);
  EXPECT_NE(s.value().error_body.find("too old"), std::string::npos);
}

TEST_F(TransportTest, DroppedStreamEndsWithoutHanging) {
  FakeResponse dropped = FakeResponse::watch({{{"type", "ADDED"}}}, FakeResponse::End::Drop);
  // Give the reader time to take the line: cpprestsdk may discard received-but-unread data
  // when the connection drops.
  dropped.chunks.push_back({"\n", milliseconds(100)});
  server_.script("GET", "/watch", {dropped});
  auto t = make();
  auto s = t->stream({"GET", "/watch", "", "", milliseconds(5000)});
  ASSERT_TRUE(s.ok());
  auto& lines = *s.value().lines;
  auto first = lines.next_line();
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  EXPECT_TRUE(first.value().has_value());
  // cpprestsdk may report a dropped chunked stream as an error or as an end; either way the
  // call returns and the watcher re-watches.
  auto after = lines.next_line();
  EXPECT_TRUE(!after.ok() || !after.value().has_value());
}

TEST_F(TransportTest, StalledStreamTimesOutOnTheIdleTimer) {
  server_.script("GET", "/watch",
                 {FakeResponse::watch({{{"type", "ADDED"}}}, FakeResponse::End::Stall)});
  auto t = make();
  auto s = t->stream({"GET", "/watch", "", "", milliseconds(400)});
  ASSERT_TRUE(s.ok());
  auto& lines = *s.value().lines;
  EXPECT_TRUE(lines.next_line().value().has_value());
  const auto started = std::chrono::steady_clock::now();
  auto after = lines.next_line();
  EXPECT_FALSE(after.ok());
  // Loose bound: only proves the stall did not hang until the server went away.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
}

TEST_F(TransportTest, CancelWakesABlockedRead) {
  server_.script("GET", "/watch", {FakeResponse::watch({}, FakeResponse::End::Stall)});
  auto t = make();
  auto s = t->stream({"GET", "/watch", "", "", milliseconds(60000)});
  ASSERT_TRUE(s.ok());
  LineStream* lines = s.value().lines.get();
  std::thread canceller([lines] {
    std::this_thread::sleep_for(milliseconds(100));
    lines->cancel();
  });
  auto r = lines->next_line();
  canceller.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "Cancelled") << r.error().to_string();
  server_.release_stalls();
}

TEST_F(TransportTest, ShutdownCancelsLaterCalls) {
  auto t = make();
  t->shutdown();
  auto r = t->send({"GET", "/", "", "", {}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "Cancelled");
}

class TransportTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = TestCerts::generate();
    if (certs_.dir.empty()) GTEST_SKIP() << "openssl CLI unavailable";
    ASSERT_TRUE(
        server_.start(testing::FakeTlsOptions{certs_.server_crt, certs_.server_key, certs_.ca_crt})
            .ok());
    server_.route("GET", "/version", [](const FakeRequest& r) {
      return FakeResponse::json({{"cn", r.client_cn}});
    });
  }
  Config base() const {
    Config c;
    c.server = server_.url();
    c.source = "tls-test";
    c.ca_pem = TestCerts::read(certs_.ca_crt);
    c.client_cert_pem = TestCerts::read(certs_.client_crt);
    c.client_key_pem = TestCerts::read(certs_.client_key);
    return c;
  }
  TestCerts certs_;
  FakeApiServer server_;
};

TEST_F(TransportTlsTest, VerifiesTheServerWithTheClusterCaAndPresentsTheClientCert) {
  auto t = make_transport(base());
  ASSERT_TRUE(t.ok()) << t.error().message;
  auto r = t.value()->send({"GET", "/version", "", "", {}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(nlohmann::json::parse(r.value().body)["cn"], "ascend-test-client");
}

TEST_F(TransportTlsTest, WrongCaIsRefused) {
  Config c = base();
  c.ca_pem = TestCerts::read(certs_.other_ca_crt);
  auto t = make_transport(c);
  ASSERT_TRUE(t.ok());
  auto r = t.value()->send({"GET", "/version", "", "", {}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(server_.count("GET", "/version"), 0U);
}

TEST_F(TransportTlsTest, InsecureSkipVerifyOnlyWhenConfigured) {
  Config c = base();
  c.ca_pem = TestCerts::read(certs_.other_ca_crt);
  c.insecure_skip_tls_verify = true;
  auto t = make_transport(c);
  ASSERT_TRUE(t.ok());
  auto r = t.value()->send({"GET", "/version", "", "", {}});
  EXPECT_TRUE(r.ok()) << r.error().message;
}

TEST_F(TransportTlsTest, MissingClientCertIsRejectedByTheServer) {
  Config c = base();
  c.client_cert_pem.clear();
  c.client_key_pem.clear();
  auto t = make_transport(c);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t.value()->send({"GET", "/version", "", "", {}}).ok());
}

TEST_F(TransportTlsTest, BadPemIsAConfigError) {
  Config c = base();
  c.ca_pem = "not a certificate";
  auto t = make_transport(c);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().reason, "InvalidConfig");
  Config k = base();
  k.client_key_pem = TestCerts::read(certs_.ca_key);  // a key that does not match
  auto mismatch = make_transport(k);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.error().message.find("does not match"), std::string::npos);
}

}  // namespace
}  // namespace ascend::kube
