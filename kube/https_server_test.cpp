#include "kube/https_server.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "kube/testing/test_certs.hpp"
#include "kube/transport.hpp"

namespace ascend::kube {
namespace {

using testing::TestCerts;

class HttpsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = TestCerts::generate();
    if (certs_.dir.empty()) GTEST_SKIP() << "openssl is not available";
  }
  HttpsServerOptions options() const {
    HttpsServerOptions o;
    o.address = "127.0.0.1";
    o.port = 0;
    o.cert_file = certs_.server_crt;
    o.key_file = certs_.server_key;
    o.timeout = std::chrono::milliseconds(500);
    return o;
  }
  Result<HttpResponse> post(std::uint16_t port, const std::string& body, const std::string& ca_pem,
                            const std::string& token = "tok") {
    Config config;
    config.server = "https://127.0.0.1:" + std::to_string(port);
    config.ca_pem = ca_pem;
    config.token = token;
    auto t = make_transport(config);
    if (!t) return t.error();
    return t.value()->send(
        {"POST", "/v1/progress", "application/json", body, std::chrono::milliseconds(3000)});
  }
  TestCerts certs_;
};

TEST_F(HttpsServerTest, AnswersWithTheHandlersResponseOverTls) {
  HttpsRequest seen;
  std::mutex m;
  HttpsServer server(options(), [&](const HttpsRequest& r) {
    const std::lock_guard lock(m);
    seen = r;
    return HttpsResponse{202, R"({"ok":true})", "application/json"};
  });
  ASSERT_TRUE(server.start().ok());
  ASSERT_NE(server.port(), 0);
  auto r = post(server.port(), R"({"current_steps":1})", TestCerts::read(certs_.ca_crt));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r.value().status, 202);
  EXPECT_EQ(r.value().body, R"({"ok":true})");
  const std::lock_guard lock(m);
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.path, "/v1/progress");
  EXPECT_EQ(seen.body, R"({"current_steps":1})");
  EXPECT_EQ(seen.header("authorization"), "Bearer tok");
  EXPECT_EQ(seen.peer, "127.0.0.1");
}

TEST_F(HttpsServerTest, AClientThatDoesNotTrustTheCaIsRefused) {
  HttpsServer server(options(), [](const HttpsRequest&) { return HttpsResponse{}; });
  ASSERT_TRUE(server.start().ok());
  EXPECT_FALSE(post(server.port(), "{}", TestCerts::read(certs_.other_ca_crt)));
}

TEST_F(HttpsServerTest, LargeBodiesAndThrowingHandlers) {
  HttpsServerOptions o = options();
  o.max_body_bytes = 10;
  HttpsServer server(o, [](const HttpsRequest& r) -> HttpsResponse {
    if (r.body == "boom") throw std::runtime_error("boom");
    return HttpsResponse{};
  });
  ASSERT_TRUE(server.start().ok());
  const std::string ca = TestCerts::read(certs_.ca_crt);
  auto r = post(server.port(), std::string(11, 'x'), ca);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r.value().status, 413);
  r = post(server.port(), "boom", ca);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r.value().status, 500);
  r = post(server.port(), "fine", ca);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r.value().status, 200);
}

TEST_F(HttpsServerTest, SilentClientsDoNotBlockOthers) {
  HttpsServerOptions o = options();
  o.workers = 2;
  HttpsServer server(o, [](const HttpsRequest&) { return HttpsResponse{}; });
  ASSERT_TRUE(server.start().ok());
  // Two silent connections hold both workers until the handshake times out (500 ms).
  std::vector<int> silent;
  for (int i = 0; i < 2; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server.port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    silent.push_back(fd);
  }
  const auto start = std::chrono::steady_clock::now();
  auto r = post(server.port(), "{}", TestCerts::read(certs_.ca_crt));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r.value().status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2500));
  for (int fd : silent)
    close(fd);
}

TEST_F(HttpsServerTest, BadCertificateOrAddressIsAClearError) {
  HttpsServerOptions o = options();
  o.cert_file = certs_.dir + "/missing.crt";
  HttpsServer a(o, [](const HttpsRequest&) { return HttpsResponse{}; });
  auto s = a.start();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().reason, "InvalidConfig");
  EXPECT_NE(s.error().message.find("missing.crt"), std::string::npos);
  o = options();
  o.key_file = certs_.client_key;  // not the certificate's key
  HttpsServer b(o, [](const HttpsRequest&) { return HttpsResponse{}; });
  s = b.start();
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("does not match"), std::string::npos);
  o = options();
  o.address = "localhost";
  HttpsServer c(o, [](const HttpsRequest&) { return HttpsResponse{}; });
  s = c.start();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().reason, "Bind");
}

}  // namespace
}  // namespace ascend::kube
