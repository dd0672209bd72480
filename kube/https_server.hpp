// A small HTTPS/1.1 server for requests that Pods send the operator (the status server of
// progress reports): OpenSSL over plain sockets, one accepting thread and a fixed pool of
// workers, each request answered and the connection closed. No cpprestsdk: a handler may block
// (it may call the API server) without stalling anyone's callback pool.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kube/error.hpp"

namespace ascend::kube {

struct HttpsServerOptions {
  /// Numeric IPv4 or IPv6 address; "0.0.0.0" or "::" for all interfaces.
  std::string address = "0.0.0.0";
  /// TCP port; 0 asks the kernel for a free one (see HttpsServer::port()).
  std::uint16_t port = 8443;
  /// PEM certificate chain and private key the server presents.
  std::string cert_file;
  std::string key_file;
  /// Requests handled at once; more wait in the accept queue (up to `backlog`).
  std::size_t workers = 4;
  std::size_t backlog = 128;
  /// A client has this long for the TLS handshake and its whole request, and as long again to
  /// read the answer; then the connection is dropped.
  std::chrono::milliseconds timeout{5000};
  /// Larger bodies are refused with 413 unread.
  std::size_t max_body_bytes = std::size_t{64} * 1024;
};

struct HttpsRequest {
  std::string method;
  std::string path;                            ///< Without the query.
  std::map<std::string, std::string> headers;  ///< Lower-case names.
  std::string body;
  std::string peer;  ///< The client's address, for logs.
  /// A header (lower-case name) or "" when absent.
  [[nodiscard]] std::string header(const std::string& name) const;
};

struct HttpsResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

/// Runs on a worker thread; may block briefly. An exception becomes a 500.
using HttpsHandler = std::function<HttpsResponse(const HttpsRequest&)>;

/// Guarantees: start() loads the certificate and binds before it returns (port() is valid at
/// once); stop() (also the destructor) closes the listener, drops queued connections and joins
/// every thread. A silent or slow client holds one worker for at most 2 x `timeout`.
class HttpsServer final {
 public:
  HttpsServer(HttpsServerOptions options, HttpsHandler handler);
  ~HttpsServer();
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  /// Errors: reason `InvalidConfig` (certificate or key unreadable or not matching, naming the
  /// file), `Bind` or `Socket`.
  Status start();
  [[nodiscard]] std::uint16_t port() const { return bound_port_.load(); }
  void stop();

 private:
  void accept_loop();
  void work();
  void serve(int fd, const std::string& peer);

  HttpsServerOptions options_;
  HttpsHandler handler_;
  void* ssl_ctx_ = nullptr;  // SSL_CTX*, kept out of the header
  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};
  std::atomic<std::uint16_t> bound_port_{0};
  std::thread acceptor_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::pair<int, std::string>> queue_;  // guarded by mutex_: accepted fds, peers
  bool stopping_ = false;                          // guarded by mutex_
};

}  // namespace ascend::kube
