#include "kube/testing/fake_apiserver.hpp"

#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <system_error>

namespace ascend::kube::testing {

struct FakeApiServer::Connection {
  int fd = -1;
  SSL* ssl = nullptr;
  std::string buffer;

  // Reads more bytes into buffer; false on EOF or error.
  bool fill() {
    char buf[8192];
    const int n = ssl != nullptr ? SSL_read(ssl, buf, sizeof(buf))
                                 : static_cast<int>(::recv(fd, buf, sizeof(buf), 0));
    if (n <= 0) return false;
    buffer.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  bool send_all(const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      const int n =
          ssl != nullptr
              ? SSL_write(ssl, data.data() + off, static_cast<int>(data.size() - off))
              : static_cast<int>(::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL));
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
};

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string url_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_query(const std::string& q) {
  std::map<std::string, std::string> out;
  std::size_t pos = 0;
  while (pos <= q.size() && !q.empty()) {
    const std::size_t amp = q.find('&', pos);
    const std::string item =
        q.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    const std::size_t eq = item.find('=');
    if (!item.empty()) {
      out[url_decode(item.substr(0, eq))] =
          eq == std::string::npos ? std::string() : url_decode(item.substr(eq + 1));
    }
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return out;
}

std::string reason_phrase(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 404:
      return "Not Found";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

}  // namespace

std::string FakeRequest::param(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? std::string() : it->second;
}

std::string FakeRequest::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

FakeResponse FakeResponse::json(const nlohmann::json& body, int status) {
  FakeResponse r;
  r.status = status;
  r.headers = {{"Content-Type", "application/json"}};
  r.body = body.dump();
  return r;
}

FakeResponse FakeResponse::failure(int code, const std::string& reason,
                                   const std::string& message) {
  return json({{"kind", "Status"},
               {"apiVersion", "v1"},
               {"metadata", nlohmann::json::object()},
               {"status", "Failure"},
               {"message", message},
               {"reason", reason},
               {"code", code}},
              code);
}

FakeResponse FakeResponse::watch(const std::vector<nlohmann::json>& events, End end,
                                 std::chrono::milliseconds delay_each) {
  FakeResponse r;
  r.headers = {{"Content-Type", "application/json"}};
  r.streamed = true;
  r.end = end;
  for (const auto& e : events)
    r.chunks.push_back({e.dump() + "\n", delay_each});
  return r;
}

nlohmann::json watch_event(const std::string& type, const nlohmann::json& object) {
  return {{"type", type}, {"object", object}};
}

nlohmann::json bookmark_event(const std::string& resource_version) {
  return watch_event("BOOKMARK", {{"kind", "Pod"},
                                  {"apiVersion", "v1"},
                                  {"metadata", {{"resourceVersion", resource_version}}}});
}

nlohmann::json gone_event(const std::string& message) {
  return watch_event("ERROR", {{"kind", "Status"},
                               {"apiVersion", "v1"},
                               {"status", "Failure"},
                               {"message", message},
                               {"reason", "Expired"},
                               {"code", 410}});
}

FakeApiServer::~FakeApiServer() {
  stop();
}

std::string FakeApiServer::url() const {
  return std::string(ssl_ctx_ != nullptr ? "https" : "http") +
         "://127.0.0.1:" + std::to_string(port_);
}

Status FakeApiServer::start(std::optional<FakeTlsOptions> tls) {
  // A client that hangs up mid-response must not kill the test process (SSL_write has no
  // MSG_NOSIGNAL).
  ::signal(SIGPIPE, SIG_IGN);  // NOLINT(cert-err33-c)
  if (tls) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (SSL_CTX_use_certificate_chain_file(ctx, tls->cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, tls->key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      SSL_CTX_free(ctx);
      return Error{0, "Tls", "cannot load server certificate " + tls->cert_file};
    }
    if (!tls->client_ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(ctx, tls->client_ca_file.c_str(), nullptr) != 1) {
        SSL_CTX_free(ctx);
        return Error{0, "Tls", "cannot load client CA " + tls->client_ca_file};
      }
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    ssl_ctx_ = ctx;
  }
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||  // NOLINT
      ::listen(listen_fd_, 128) != 0) {
    return Error{0, "Bind",
                 "fake apiserver cannot listen: " + std::system_category().message(errno)};
  }
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);  // NOLINT
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] { accept_loop(); });
  return {};
}

void FakeApiServer::stop() {
  {
    const std::lock_guard lock(mutex_);
    if (stopping_ || listen_fd_ < 0) return;
    stopping_ = true;
    for (const auto& c : connections_)
      ::shutdown(c->fd, SHUT_RDWR);
  }
  cv_.notify_all();
  ::shutdown(listen_fd_, SHUT_RDWR);
  if (accept_thread_.joinable()) accept_thread_.join();
  std::vector<std::thread> threads;
  {
    const std::lock_guard lock(mutex_);
    threads.swap(threads_);
  }
  for (auto& t : threads)
    t.join();
  ::close(listen_fd_);
  if (ssl_ctx_ != nullptr) SSL_CTX_free(static_cast<SSL_CTX*>(ssl_ctx_));
  ssl_ctx_ = nullptr;
}

void FakeApiServer::accept_loop() {
  for (;;) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    const std::lock_guard lock(mutex_);
    if (stopping_) {
      if (fd >= 0) ::close(fd);
      return;
    }
    if (fd < 0) continue;
    auto conn = std::make_shared<Connection>();
    conn->fd = fd;
    connections_.push_back(conn);
    threads_.emplace_back([this, conn] { serve(conn); });
  }
}

void FakeApiServer::route(const std::string& method, const std::string& path, FakeHandler handler) {
  const std::lock_guard lock(mutex_);
  routes_[method + " " + path] = std::move(handler);
}

void FakeApiServer::script(const std::string& method, const std::string& path,
                           std::vector<FakeResponse> responses) {
  const std::lock_guard lock(mutex_);
  auto& q = scripts_[method + " " + path];
  for (auto& r : responses)
    q.push_back(std::move(r));
}

void FakeApiServer::release_stalls() {
  {
    const std::lock_guard lock(mutex_);
    ++stall_generation_;
  }
  cv_.notify_all();
}

std::vector<FakeRequest> FakeApiServer::requests() const {
  const std::lock_guard lock(mutex_);
  return requests_;
}

std::size_t FakeApiServer::count(const std::string& method, const std::string& path) const {
  const std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(
      std::count_if(requests_.begin(), requests_.end(),
                    [&](const FakeRequest& r) { return r.method == method && r.path == path; }));
}

bool FakeApiServer::wait_for_count(const std::string& method, const std::string& path,
                                   std::size_t n, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (count(method, path) < n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

FakeResponse FakeApiServer::dispatch(const FakeRequest& request) {
  FakeHandler handler;
  {
    const std::lock_guard lock(mutex_);
    requests_.push_back(request);
    const std::string key = request.method + " " + request.path;
    if (auto it = scripts_.find(key); it != scripts_.end() && !it->second.empty()) {
      FakeResponse r = std::move(it->second.front());
      it->second.pop_front();
      return r;
    }
    if (auto it = routes_.find(key); it != routes_.end()) handler = it->second;
  }
  cv_.notify_all();
  if (handler) return handler(request);
  return FakeResponse::failure(
      404, "NotFound", "fake apiserver has no answer for " + request.method + " " + request.path);
}

// Sleeps unless the server stops first; false when stopping.
bool FakeApiServer::pause(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  return !cv_.wait_for(lock, d, [this] { return stopping_; });
}

bool FakeApiServer::write_response(Connection& conn, const FakeResponse& r) {
  if (r.delay.count() > 0 && !pause(r.delay)) return false;
  std::string head =
      "HTTP/1.1 " + std::to_string(r.status) + " " + reason_phrase(r.status) + "\r\n";
  for (const auto& [k, v] : r.headers) {
    head += k;
    head += ": ";
    head += v;
    head += "\r\n";
  }
  if (!r.streamed) {
    head += "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n";
    return conn.send_all(head + r.body);
  }
  head += "Transfer-Encoding: chunked\r\n\r\n";
  if (!conn.send_all(head)) return false;
  for (const auto& chunk : r.chunks) {
    if (chunk.delay.count() > 0 && !pause(chunk.delay)) return false;
    std::array<char, 20> size{};
    std::snprintf(size.data(), size.size(), "%zx\r\n", chunk.data.size());
    std::string framed(size.data());
    framed += chunk.data;
    framed += "\r\n";
    if (!conn.send_all(framed)) return false;
  }
  switch (r.end) {
    case FakeResponse::End::Clean:
      return conn.send_all("0\r\n\r\n");
    case FakeResponse::End::Drop:
      return false;
    case FakeResponse::End::Stall: {
      std::unique_lock lock(mutex_);
      const std::uint64_t generation = stall_generation_;
      cv_.wait(lock, [&] { return stopping_ || stall_generation_ != generation; });
      return false;
    }
  }
  return false;
}

void FakeApiServer::serve(const std::shared_ptr<Connection>& conn) {
  SSL* ssl = nullptr;
  if (ssl_ctx_ != nullptr) {
    ssl = SSL_new(static_cast<SSL_CTX*>(ssl_ctx_));
    SSL_set_fd(ssl, conn->fd);
    if (SSL_accept(ssl) != 1) {
      SSL_free(ssl);
      ::close(conn->fd);
      return;
    }
    conn->ssl = ssl;
  }
  std::string client_cn;
  if (ssl != nullptr) {
    if (X509* peer = SSL_get_peer_certificate(ssl); peer != nullptr) {
      std::array<char, 256> cn{};
      X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn.data(),
                                static_cast<int>(cn.size()));
      client_cn = cn.data();
      X509_free(peer);
    }
  }
  for (;;) {
    std::size_t end = std::string::npos;
    while ((end = conn->buffer.find("\r\n\r\n")) == std::string::npos) {
      if (!conn->fill()) goto done;  // NOLINT(cppcoreguidelines-avoid-goto)
    }
    FakeRequest req;
    req.client_cn = client_cn;
    {
      const std::string head = conn->buffer.substr(0, end);
      conn->buffer.erase(0, end + 4);
      std::size_t line_end = head.find("\r\n");
      const std::string line = head.substr(0, line_end);
      const std::size_t sp1 = line.find(' ');
      const std::size_t sp2 = line.find(' ', sp1 + 1);
      req.method = line.substr(0, sp1);
      const std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      const std::size_t q = target.find('?');
      req.path = target.substr(0, q);
      req.query = q == std::string::npos ? std::string() : target.substr(q + 1);
      req.params = parse_query(req.query);
      while (line_end != std::string::npos) {
        const std::size_t next = head.find("\r\n", line_end + 2);
        const std::string h = head.substr(line_end + 2, next - line_end - 2);
        const std::size_t colon = h.find(':');
        if (colon != std::string::npos) {
          std::string value = h.substr(colon + 1);
          value.erase(0, value.find_first_not_of(' '));
          req.headers[lower(h.substr(0, colon))] = value;
        }
        line_end = next;
      }
    }
    const std::size_t length =
        req.headers.contains("content-length") ? std::stoul(req.headers["content-length"]) : 0;
    while (conn->buffer.size() < length) {
      if (!conn->fill()) goto done;  // NOLINT(cppcoreguidelines-avoid-goto)
    }
    req.body = conn->buffer.substr(0, length);
    conn->buffer.erase(0, length);
    if (!write_response(*conn, dispatch(req))) break;
  }
done:
  if (ssl != nullptr) {
    SSL_shutdown(ssl);
    SSL_free(ssl);
  }
  {
    const std::lock_guard lock(mutex_);
    std::erase(connections_, conn);
    ::close(conn->fd);
  }
}

}  // namespace ascend::kube::testing
