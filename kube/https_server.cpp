#include "kube/https_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <system_error>

namespace ascend::kube {
namespace {

std::string errno_text(int err) {
  return std::system_category().message(err);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

const char* reason_phrase(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 202:
      return "Accepted";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return code >= 500 ? "Internal Server Error" : "Error";
  }
}

std::string openssl_error() {
  const unsigned long e = ERR_get_error();  // NOLINT(google-runtime-int): OpenSSL's type
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

void set_timeouts(int fd, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

// Reads one request (head, then Content-Length bytes of body) within the deadline.
// Returns 0 and fills `req`, or the HTTP status to answer with (-1: drop silently).
int read_request(SSL* ssl, const HttpsServerOptions& options,
                 std::chrono::steady_clock::time_point deadline, HttpsRequest& req) {
  std::string in;
  char buf[4096];
  std::size_t head_end = std::string::npos;
  while (head_end == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline) return 408;
    const int n = SSL_read(ssl, buf, sizeof(buf));
    if (n <= 0) return -1;
    in.append(buf, static_cast<std::size_t>(n));
    head_end = in.find("\r\n\r\n");
    if (head_end == std::string::npos && in.size() > 16384) return 400;
  }
  const std::string head = in.substr(0, head_end);
  std::string rest = in.substr(head_end + 4);
  std::size_t line_end = head.find("\r\n");
  const std::string request_line = head.substr(0, line_end);
  const auto sp1 = request_line.find(' ');
  const auto sp2 = request_line.find(' ', sp1 == std::string::npos ? 0 : sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos) return 400;
  req.method = request_line.substr(0, sp1);
  std::string target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  req.path = target.substr(0, target.find('?'));
  while (line_end != std::string::npos && line_end < head.size()) {
    const std::size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string line =
        head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t") + 1);
    req.headers[lower(line.substr(0, colon))] = value;
  }
  if (req.headers.contains("transfer-encoding")) return 411;  // reporters send a length
  std::size_t length = 0;
  if (const auto it = req.headers.find("content-length"); it != req.headers.end()) {
    const std::string& text = it->second;
    if (text.empty() || text.size() > 12 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return 400;
    }
    length = std::stoull(text);
  }
  if (length > options.max_body_bytes) {
    // Read it away (up to 1 MiB) before answering: closing with unread bytes resets the
    // connection, and the client would lose the 413.
    if (length > 1024UL * 1024) return -1;
    std::size_t seen = rest.size();
    while (seen < length && std::chrono::steady_clock::now() <= deadline) {
      const int n = SSL_read(ssl, buf, sizeof(buf));
      if (n <= 0) return -1;
      seen += static_cast<std::size_t>(n);
    }
    return 413;
  }
  while (rest.size() < length) {
    if (std::chrono::steady_clock::now() > deadline) return 408;
    const int n = SSL_read(ssl, buf, sizeof(buf));
    if (n <= 0) return -1;
    rest.append(buf, static_cast<std::size_t>(n));
  }
  rest.resize(length);
  req.body = std::move(rest);
  return 0;
}

void write_response(SSL* ssl, const HttpsResponse& r) {
  const std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason_phrase(r.status) +
                          "\r\nContent-Type: " + r.content_type +
                          "\r\nContent-Length: " + std::to_string(r.body.size()) +
                          "\r\nConnection: close\r\n\r\n" + r.body;
  std::size_t off = 0;
  while (off < out.size()) {
    const int n = SSL_write(ssl, out.data() + off, static_cast<int>(out.size() - off));
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace

std::string HttpsRequest::header(const std::string& name) const {
  const auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

HttpsServer::HttpsServer(HttpsServerOptions options, HttpsHandler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {}

HttpsServer::~HttpsServer() {
  stop();
}

Status HttpsServer::start() {
  // A client that hangs up mid-answer must not kill the process (SSL_write has no
  // MSG_NOSIGNAL).
  std::signal(SIGPIPE, SIG_IGN);
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Error{0, "Socket", "cannot create a TLS context: " + openssl_error()};
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, options_.cert_file.c_str()) != 1) {
    SSL_CTX_free(ctx);
    return Error{
        0, "InvalidConfig",
        "cannot load the serving certificate " + options_.cert_file + ": " + openssl_error()};
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, options_.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    SSL_CTX_free(ctx);
    return Error{0, "InvalidConfig",
                 "cannot load the serving key " + options_.key_file +
                     " (or it does not match the certificate): " + openssl_error()};
  }

  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  int family = AF_INET;
  if (auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
      inet_pton(AF_INET, options_.address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(options_.port);
    addr_len = sizeof(sockaddr_in);
  } else if (auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
             inet_pton(AF_INET6, options_.address.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(options_.port);
    addr_len = sizeof(sockaddr_in6);
  } else {
    SSL_CTX_free(ctx);
    return Error{0, "Bind", "'" + options_.address + "' is not a numeric IP address"};
  }
  const int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    SSL_CTX_free(ctx);
    return Error{0, "Socket", errno_text(errno)};
  }
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0 ||
      listen(fd, static_cast<int>(options_.backlog)) != 0) {
    const int err = errno;
    close(fd);
    SSL_CTX_free(ctx);
    return Error{0, "Bind",
                 options_.address + ":" + std::to_string(options_.port) + ": " + errno_text(err)};
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  bound_port_ = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                        : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  if (pipe2(wake_fds_, O_CLOEXEC) != 0) {
    close(fd);
    SSL_CTX_free(ctx);
    return Error{0, "Socket", errno_text(errno)};
  }
  listen_fd_ = fd;
  ssl_ctx_ = ctx;
  stopping_ = false;
  acceptor_ = std::thread([this] { accept_loop(); });
  for (std::size_t i = 0; i < std::max<std::size_t>(1, options_.workers); ++i) {
    workers_.emplace_back([this] { work(); });
  }
  return {};
}

void HttpsServer::stop() {
  {
    const std::lock_guard lock(mutex_);
    if (stopping_ && listen_fd_ < 0) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (wake_fds_[1] >= 0) {
    const char c = 0;
    (void)!write(wake_fds_[1], &c, 1);
  }
  if (acceptor_.joinable()) acceptor_.join();
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
  workers_.clear();
  for (auto& [fd, peer] : queue_)
    close(fd);
  queue_.clear();
  for (int* fd : {&listen_fd_, &wake_fds_[0], &wake_fds_[1]}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
  if (ssl_ctx_ != nullptr) SSL_CTX_free(static_cast<SSL_CTX*>(ssl_ctx_));
  ssl_ctx_ = nullptr;
}

void HttpsServer::accept_loop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fds_[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if ((fds[1].revents & POLLIN) != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC);
    if (fd < 0) continue;
    char host[INET6_ADDRSTRLEN] = "?";
    if (addr.ss_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, host, sizeof(host));
    } else if (addr.ss_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, host, sizeof(host));
    }
    const std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= options_.backlog) {
      close(fd);  // overloaded: the reporter tries again later
      continue;
    }
    queue_.emplace_back(fd, host);
    cv_.notify_one();
  }
}

void HttpsServer::work() {
  while (true) {
    std::pair<int, std::string> next;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    serve(next.first, next.second);
  }
}

void HttpsServer::serve(int fd, const std::string& peer) {
  set_timeouts(fd, options_.timeout);
  SSL* ssl = SSL_new(static_cast<SSL_CTX*>(ssl_ctx_));
  SSL_set_fd(ssl, fd);
  const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
  if (SSL_accept(ssl) == 1) {
    HttpsRequest req;
    req.peer = peer;
    const int early = read_request(ssl, options_, deadline, req);
    HttpsResponse res;
    if (early == 0) {
      try {
        res = handler_(req);
      } catch (...) {
        res = HttpsResponse{500, std::string(R"({"error":"internal error"})"), "application/json"};
      }
    } else {
      res.status = early;
      res.body = R"({"error":")" + std::string(reason_phrase(early)) + R"("})";
    }
    if (early != -1) write_response(ssl, res);
    SSL_shutdown(ssl);
  }
  SSL_free(ssl);
  ERR_clear_error();
  close(fd);
}

}  // namespace ascend::kube
