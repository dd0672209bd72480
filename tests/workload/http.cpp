#include "tests/workload/http.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>

#include "tests/workload/net.hpp"
#include "tests/workload/version.hpp"

namespace ascend::standin {

namespace {

using Json = nlohmann::json;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

HttpResponse json_response(int status, const Json& body) {
  return HttpResponse{status, "application/json", body.dump() + "\n"};
}

HttpResponse not_found() {
  return json_response(404, {{"detail", "Not Found"}});
}

HttpResponse method_not_allowed() {
  return json_response(405, {{"detail", "Method Not Allowed"}});
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

HttpResponse chat_completion(const ServeInfo& info, const HttpRequest& request) {
  const Json body = Json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return json_response(400, {{"detail", "the request body is not a JSON object"}});
  }
  if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty()) {
    return json_response(400, {{"detail", "messages must be a non-empty list"}});
  }
  std::string said;
  for (const auto& m : body["messages"]) {
    if (m.is_object() && m.value("role", "") == "user" && m.contains("content") &&
        m["content"].is_string()) {
      said = m["content"].get<std::string>();
    }
  }
  if (said.size() > 200) said = said.substr(0, 200) + "...";
  const std::string answer =
      "This is the ascend-factory stand-in for LLaMA-Factory: no model is loaded, so it can only "
      "echo. You said: " +
      said;
  const Json reply = {
      {"id", "chatcmpl-standin"},
      {"object", "chat.completion"},
      {"created", now_seconds()},
      {"model", info.model},
      {"choices",
       {{{"index", 0},
         {"message", {{"role", "assistant"}, {"content", answer}}},
         {"finish_reason", "stop"}}}},
      {"usage", {{"prompt_tokens", 0}, {"completion_tokens", 0}, {"total_tokens", 0}}}};
  return json_response(200, reply);
}

}  // namespace

std::string status_text(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 500:
      return "Internal Server Error";
    default:
      return "Unknown";
  }
}

ParseStatus parse_request(std::string_view data, HttpRequest& out) {
  const auto end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    return data.size() > kMaxRequestBytes ? ParseStatus::kBad : ParseStatus::kIncomplete;
  }
  const std::string_view head = data.substr(0, end);
  const auto first_eol = head.find("\r\n");
  const std::string_view request_line = head.substr(0, first_eol);
  const auto sp1 = request_line.find(' ');
  const auto sp2 = request_line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return ParseStatus::kBad;
  HttpRequest r;
  r.method = std::string(request_line.substr(0, sp1));
  r.target = std::string(request_line.substr(sp1 + 1, sp2 - sp1 - 1));
  if (request_line.substr(sp2 + 1).rfind("HTTP/1.", 0) != 0 || r.target.empty() ||
      r.target[0] != '/') {
    return ParseStatus::kBad;
  }
  r.path = r.target.substr(0, r.target.find('?'));
  if (first_eol != std::string_view::npos) {
    std::string_view rest = head.substr(first_eol + 2);
    while (!rest.empty()) {
      const auto eol = rest.find("\r\n");
      const std::string_view line = rest.substr(0, eol);
      const auto colon = line.find(':');
      if (colon == std::string_view::npos || colon == 0) return ParseStatus::kBad;
      r.headers[lower(std::string(line.substr(0, colon)))] = trim(line.substr(colon + 1));
      if (eol == std::string_view::npos) break;
      rest = rest.substr(eol + 2);
    }
  }
  size_t length = 0;
  if (const auto it = r.headers.find("content-length"); it != r.headers.end()) {
    const std::string& v = it->second;
    const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), length);
    if (ec != std::errc() || ptr != v.data() + v.size() || length > kMaxRequestBytes) {
      return ParseStatus::kBad;
    }
  }
  if (r.headers.count("transfer-encoding") != 0) return ParseStatus::kBad;  // not supported
  const size_t body_start = end + 4;
  if (data.size() < body_start + length) return ParseStatus::kIncomplete;
  r.body = std::string(data.substr(body_start, length));
  out = std::move(r);
  return ParseStatus::kOk;
}

std::string serialize(const HttpResponse& response, bool head) {
  std::string out =
      "HTTP/1.1 " + std::to_string(response.status) + " " + status_text(response.status) + "\r\n";
  out += "Content-Type: " + response.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
  out += "Server: llamafactory-standin/" + std::string(kStandinVersion) + "\r\n";
  out += "Connection: close\r\n\r\n";
  if (!head) out += response.body;
  return out;
}

HttpResponse respond(const ServeInfo& info, const HttpRequest& request) {
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (info.mode == ServeMode::kWebui) {
    if (request.path != "/") return not_found();
    if (!get) return method_not_allowed();
    const std::string body =
        "<!DOCTYPE html>\n<html><head><title>LLaMA Board (ascend-factory stand-in)</title></head>"
        "<body><h1>LLaMA Board stand-in</h1>\n<p>" +
        html_escape(kStandinBanner) + ".</p>\n<p>command: " + html_escape(info.command) +
        ", port " + std::to_string(info.port) + ", model: " + html_escape(info.model) +
        "</p>\n<p>The real web UI comes with the LLaMA-Factory NPU image built from deploy/.</p>"
        "</body></html>\n";
    return HttpResponse{200, "text/html; charset=utf-8", body};
  }
  if (request.path == "/") {
    if (!get) return method_not_allowed();
    return json_response(200, {{"standin", true},
                               {"what", kStandinBanner},
                               {"version", kStandinVersion},
                               {"command", info.command},
                               {"model", info.model},
                               {"endpoints", {"/v1/models", "/v1/chat/completions"}}});
  }
  if (request.path == "/v1/models") {
    if (!get) return method_not_allowed();
    return json_response(200, {{"object", "list"},
                               {"data",
                                {{{"id", info.model},
                                  {"object", "model"},
                                  {"created", now_seconds()},
                                  {"owned_by", "owner"}}}}});
  }
  if (request.path == "/v1/chat/completions") {
    if (request.method != "POST") return method_not_allowed();
    return chat_completion(info, request);
  }
  return not_found();
}

void serve(int listen_fd, const std::function<HttpResponse(const HttpRequest&)>& handler,
           const std::atomic<bool>& stop, std::ostream& log) {
  using Clock = std::chrono::steady_clock;
  while (!stop.load()) {
    if (!wait_readable(listen_fd, 200)) continue;
    Fd c(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
    if (!c.valid()) continue;
    std::string data;
    HttpRequest request;
    ParseStatus status = ParseStatus::kIncomplete;
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    bool closed = false;
    while (status == ParseStatus::kIncomplete && !closed && !stop.load() &&
           Clock::now() < deadline) {
      if (!wait_readable(c.get(), 200)) continue;
      char chunk[4096];
      const ssize_t got = ::recv(c.get(), chunk, sizeof(chunk), 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        closed = true;
        break;
      }
      data.append(chunk, static_cast<size_t>(got));
      status = parse_request(data, request);
    }
    if (closed && data.empty()) continue;  // a TCP probe: connected and left
    HttpResponse response;
    if (status == ParseStatus::kOk) {
      response = handler(request);
    } else if (status == ParseStatus::kBad) {
      response = HttpResponse{400, "application/json",
                              R"({"detail":"Bad Request"})"
                              "\n"};
    } else {
      if (closed || stop.load()) continue;
      response = HttpResponse{408, "application/json",
                              R"({"detail":"Request Timeout"})"
                              "\n"};
    }
    send_all(c.get(), serialize(response, request.method == "HEAD"));
    ::shutdown(c.get(), SHUT_WR);
    log << (request.method.empty() ? "-" : request.method) << " "
        << (request.target.empty() ? "-" : request.target) << " " << response.status << std::endl;
  }
}

}  // namespace ascend::standin
