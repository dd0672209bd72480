// The stand-in's HTTP: a tiny HTTP/1.1 server (one connection at a time, Connection: close)
// and the answers of `webui` (LLaMA Board's port) and `api` (the OpenAI-style API's port).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <string_view>

namespace ascend::standin {

struct HttpRequest {
  std::string method;
  std::string target;                          // as sent, with any query
  std::string path;                            // without the query
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

enum class ParseStatus { kIncomplete, kOk, kBad };

inline constexpr size_t kMaxRequestBytes = 1 << 20;

// Parses one request from the bytes read so far (headers, then a Content-Length body).
ParseStatus parse_request(std::string_view data, HttpRequest& out);

// The response on the wire; without the body for a HEAD request.
std::string serialize(const HttpResponse& response, bool head = false);

std::string status_text(int status);

enum class ServeMode { kWebui, kApi };

struct ServeInfo {
  ServeMode mode = ServeMode::kApi;
  std::string command;  // webui, webchat or api
  std::string model;    // the id /v1/models reports
  int port = 0;
};

// What the stand-in answers: GET / names it, api adds GET /v1/models and a canned
// POST /v1/chat/completions.
HttpResponse respond(const ServeInfo& info, const HttpRequest& request);

// Accepts and answers connections on listen_fd until `stop` is set (checked every 200 ms).
void serve(int listen_fd, const std::function<HttpResponse(const HttpRequest&)>& handler,
           const std::atomic<bool>& stop, std::ostream& log);

}  // namespace ascend::standin
