// The operational HTTP endpoints every ascend-factory program serves: /healthz, /readyz and
// /metrics. Plain sockets and one thread running a poll loop over every open connection, no
// cpprestsdk, so that any binary can link it cheaply.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kube/error.hpp"

namespace prometheus {
class Registry;
}

namespace ascend::kube {

/// Where the endpoints listen.
struct ServingOptions {
  /// Numeric IPv4 or IPv6 address; "0.0.0.0" or "::" for all interfaces.
  std::string address = "0.0.0.0";
  /// TCP port; 0 asks the kernel for a free one (see ServingServer::port()).
  std::uint16_t port = 8080;
  /// How long a client has, from its connection, to send the request line and headers; then
  /// the connection is closed unanswered. Short, so an idle client holds a slot only briefly.
  std::chrono::milliseconds request_timeout{2000};
  /// How long writing a response may take before the connection is dropped.
  std::chrono::milliseconds response_timeout{5000};
  /// Connections served at once. When all are taken, a new connection closes the oldest one
  /// still waiting for its request, so idle or slow clients can never lock a probe out.
  std::size_t max_connections = 32;
};

/// A named check. Returns std::nullopt when healthy, or the reason it is not.
/// Runs on the serving thread for every probe: it must be quick and must not block on I/O.
using HealthCheck = std::function<std::optional<std::string>()>;

/// HTTP/1.1 server for probes and scraping.
///
/// - `GET /healthz` runs the liveness checks, `GET /readyz` the readiness checks. Both answer
///   200 `ok` when every check passes, else 500 with one `[-]name failed: reason` line per
///   failure (the kube-apiserver's format); `?verbose` lists passing checks as `[+]name ok` too.
///   With no checks registered both answer 200.
/// - `GET /metrics` renders the registry in the Prometheus text format 0.0.4.
/// - Anything else is 404; methods other than GET and HEAD are 405. Every response closes the
///   connection.
///
/// Guarantees: start() binds before it returns, so port() is valid at once; stop() (also run by
/// the destructor) joins the thread. Checks may be added before or after start(). Connections
/// are served concurrently (non-blocking sockets on one poll loop): a client that connects and
/// stays silent, or reads its answer slowly, delays nobody else, and at most max_connections
/// are open at once (the kubelet's probes must never fail because some Pod keeps a socket open).
class ServingServer final {
 public:
  /// The registry may be null (then /metrics answers an empty body).
  ServingServer(ServingOptions options, std::shared_ptr<prometheus::Registry> registry);
  ~ServingServer();
  ServingServer(const ServingServer&) = delete;
  ServingServer& operator=(const ServingServer&) = delete;

  /// Adds a check to /healthz. A name added twice replaces the earlier check.
  void add_health_check(std::string name, HealthCheck check);
  /// Adds a check to /readyz. A name added twice replaces the earlier check.
  void add_ready_check(std::string name, HealthCheck check);

  /// Binds, listens and starts the serving thread.
  /// Errors: reason `Bind` (address in use, bad address) or `Socket`; the server stays stopped.
  Status start();
  /// The bound port (the kernel's choice when options.port was 0); 0 before start().
  [[nodiscard]] std::uint16_t port() const { return bound_port_.load(); }
  /// Stops serving and joins the thread. Idempotent.
  void stop();

 private:
  struct NamedCheck {
    std::string name;
    HealthCheck check;
  };
  struct Connection;
  void run();
  void accept_new(std::vector<Connection>& connections);
  /// The whole response for one complete request.
  std::string answer(const std::string& request);
  std::string render_checks(const std::vector<NamedCheck>& checks, bool verbose, int& code);

  ServingOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::mutex checks_mutex_;
  std::vector<NamedCheck> health_checks_;  // guarded by checks_mutex_
  std::vector<NamedCheck> ready_checks_;   // guarded by checks_mutex_
  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};  // a pipe: writing to [1] wakes the poll loop to stop
  std::atomic<std::uint16_t> bound_port_{0};
  std::thread thread_;
};

}  // namespace ascend::kube
