#include "tests/workload/http.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/workload/net.hpp"

namespace ascend::standin {
namespace {

using Json = nlohmann::json;

HttpRequest get(const std::string& path, const std::string& method = "GET") {
  HttpRequest r;
  r.method = method;
  r.target = path;
  r.path = path;
  return r;
}

TEST(StandinHttp, ParsesRequests) {
  HttpRequest r;
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\nHost: x\r\n", r), ParseStatus::kIncomplete);
  ASSERT_EQ(parse_request("GET /v1/models?x=1 HTTP/1.1\r\nHost: x\r\nAccept:  */* \r\n\r\n", r),
            ParseStatus::kOk);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/v1/models?x=1");
  EXPECT_EQ(r.path, "/v1/models");
  EXPECT_EQ(r.headers["host"], "x");
  EXPECT_EQ(r.headers["accept"], "*/*");

  const std::string post =
      "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
  EXPECT_EQ(parse_request(post.substr(0, post.size() - 2), r), ParseStatus::kIncomplete);
  ASSERT_EQ(parse_request(post, r), ParseStatus::kOk);
  EXPECT_EQ(r.body, "{\"a\":1}");

  EXPECT_EQ(parse_request("garbage\r\n\r\n", r), ParseStatus::kBad);
  EXPECT_EQ(parse_request("GET x HTTP/1.1\r\n\r\n", r), ParseStatus::kBad);
  EXPECT_EQ(parse_request("GET / SPDY/3\r\n\r\n", r), ParseStatus::kBad);
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\nbad header\r\n\r\n", r), ParseStatus::kBad);
  EXPECT_EQ(parse_request("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", r), ParseStatus::kBad);
  EXPECT_EQ(parse_request("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", r),
            ParseStatus::kBad);
}

TEST(StandinHttp, Serializes) {
  const std::string wire = serialize(HttpResponse{404, "application/json", "{}"});
  EXPECT_EQ(wire.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0U);
  EXPECT_NE(wire.find("Content-Length: 2\r\n"), std::string::npos);
  EXPECT_NE(wire.find("Connection: close\r\n\r\n{}"), std::string::npos);
  const std::string head = serialize(HttpResponse{200, "text/plain", "abc"}, true);
  EXPECT_NE(head.find("Content-Length: 3\r\n"), std::string::npos);
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");
}

TEST(StandinHttp, ApiAnswers) {
  const ServeInfo info{ServeMode::kApi, "api", "meta-llama/Meta-Llama-3-8B-Instruct", 8000};
  HttpResponse r = respond(info, get("/"));
  EXPECT_EQ(r.status, 200);
  Json j = Json::parse(r.body);
  EXPECT_EQ(j["standin"], true);
  EXPECT_NE(j["what"].get<std::string>().find("stand-in"), std::string::npos);

  r = respond(info, get("/v1/models"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  j = Json::parse(r.body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 1U);
  EXPECT_EQ(j["data"][0]["id"], "meta-llama/Meta-Llama-3-8B-Instruct");
  EXPECT_EQ(j["data"][0]["object"], "model");

  HttpRequest chat = get("/v1/chat/completions", "POST");
  chat.body = R"({"model":"m","messages":[{"role":"user","content":"hello there"}]})";
  r = respond(info, chat);
  EXPECT_EQ(r.status, 200);
  j = Json::parse(r.body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_NE(j["choices"][0]["message"]["content"].get<std::string>().find("hello there"),
            std::string::npos);
  chat.body = "not json";
  EXPECT_EQ(respond(info, chat).status, 400);
  chat.body = R"({"messages":[]})";
  EXPECT_EQ(respond(info, chat).status, 400);

  EXPECT_EQ(respond(info, get("/v1/chat/completions")).status, 405);
  EXPECT_EQ(respond(info, get("/v1/models", "POST")).status, 405);
  EXPECT_EQ(respond(info, get("/nope")).status, 404);
  EXPECT_EQ(respond(info, get("/v1/models", "HEAD")).status, 200);
}

TEST(StandinHttp, WebuiAnswers) {
  const ServeInfo info{ServeMode::kWebui, "webui", "m<1>", 7860};
  const HttpResponse r = respond(info, get("/"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("LLaMA Board (ascend-factory stand-in)"), std::string::npos);
  EXPECT_NE(r.body.find("m&lt;1&gt;"), std::string::npos);
  EXPECT_EQ(respond(info, get("/v1/models")).status, 404);
  EXPECT_EQ(respond(info, get("/", "POST")).status, 405);
}

// Sends raw bytes to 127.0.0.1:port and reads the whole answer; with `hang_up`, closes
// right after connecting, as a TCP readiness probe does.
std::string exchange(int port, const std::string& request, bool hang_up = false) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {  // NOLINT
    ::close(fd);
    return "connect failed";
  }
  if (hang_up) {
    ::close(fd);
    return "";
  }
  send_all(fd, request);
  std::string out;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0)
    out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

TEST(StandinHttp, ServesOverTcpUntilStopped) {
  std::string error;
  Fd fd = listen_tcp(0, &error);
  ASSERT_TRUE(fd.valid()) << error;
  const int port = bound_port(fd.get());
  const ServeInfo info{ServeMode::kApi, "api", "model-x", port};
  std::atomic<bool> stop{false};
  std::ostringstream log;
  std::thread server([&] {
    serve(
        fd.get(), [&](const HttpRequest& r) { return respond(info, r); }, stop, log);
  });

  std::string answer = exchange(port, "GET /v1/models HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0U) << answer;
  const Json j = Json::parse(answer.substr(answer.find("\r\n\r\n") + 4));
  EXPECT_EQ(j["data"][0]["id"], "model-x");

  answer = exchange(port, "BROKEN\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 400 ", 0), 0U) << answer;
  // A TCP probe (connect, then close) gets nothing and does not disturb the server.
  exchange(port, "", /*hang_up=*/true);
  answer = exchange(port, "GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0U) << answer;

  stop = true;
  server.join();
  EXPECT_NE(log.str().find("GET /v1/models 200"), std::string::npos) << log.str();
}

}  // namespace
}  // namespace ascend::standin
