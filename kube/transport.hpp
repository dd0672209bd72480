// The HTTP seam. Nothing outside transport.cpp sees cpprestsdk; a libcurl transport (or a test
// double) can replace it behind this interface.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "kube/config.hpp"
#include "kube/error.hpp"

namespace ascend::kube {

/// One request. `target` is the path and already-encoded query, e.g. `/api/v1/pods?limit=500`.
struct HttpRequest {
  std::string method = "GET";
  std::string target;
  std::string content_type;  ///< Sent only with a body.
  std::string body;
  /// For send(): the whole exchange. For stream(): the longest silence allowed between bytes
  /// (cpprestsdk's timeout is an idle timer), so a watch passes `timeoutSeconds` plus a margin.
  /// Zero means the transport's default.
  std::chrono::milliseconds timeout{0};
};

/// A complete response. Header names are lower case.
struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;

  /// A header (lower-case name) or "".
  [[nodiscard]] std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

/// The body of a streaming response, read one line at a time (watch events are one JSON
/// object per line).
class LineStream {
 public:
  virtual ~LineStream() = default;
  /// Blocks the calling thread (never a cpprestsdk thread) for the next line, without its
  /// newline. std::nullopt: the server ended the stream cleanly.
  /// Errors: reason `Transport` (connection dropped, reset), `Timeout` (idle longer than the
  /// request's timeout), `Cancelled` (cancel() or transport shutdown).
  virtual Result<std::optional<std::string>> next_line() = 0;
  /// Makes a blocked or later next_line() return `Cancelled` promptly. Thread-safe.
  virtual void cancel() = 0;
};

/// A streaming response: headers now, body later. When `status` is not 2xx, `lines` is null
/// and `error_body` holds the whole body (a Status object, usually).
struct HttpStream {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::unique_ptr<LineStream> lines;
  std::string error_body;
};

/// Sends requests to one API server with its credentials.
/// Guarantees: thread-safe; every call blocks only the calling thread; no exception escapes.
/// Destroying the transport cancels every stream it opened: keep it alive while reading.
class Transport {
 public:
  virtual ~Transport() = default;
  /// Sends a request and reads the whole response. Any HTTP status is a successful Result.
  /// Errors: reason `Transport`, `Timeout`, `Cancelled` or `Tls` (code 0).
  virtual Result<HttpResponse> send(const HttpRequest& request) = 0;
  /// Sends a request and returns once the response headers arrived.
  virtual Result<HttpStream> stream(const HttpRequest& request) = 0;
  /// Cancels everything in flight and makes later calls fail with `Cancelled`.
  virtual void shutdown() = 0;
};

using TransportPtr = std::shared_ptr<Transport>;

struct TransportOptions {
  /// Default whole-request timeout for send().
  std::chrono::milliseconds request_timeout = std::chrono::seconds(30);
  /// Sent as User-Agent.
  std::string user_agent = "ascend-factory";
};

/// Sizes cpprestsdk's process-wide I/O thread pool, 40 threads unless told otherwise. Every
/// request and watch of every transport runs its socket work and callbacks there, and none of
/// them block (transport.cpp's rule), so a few threads carry a controller. Call before the
/// first transport is made. Returns false, changing nothing, once the pool exists.
bool set_io_threads(std::size_t threads);

/// The cpprestsdk transport for a Config: TLS verified against `ca_pem` only (the system store
/// is not consulted when a CA is given), client certificate and key, bearer token (re-read
/// from its file as it rotates), `insecure_skip_tls_verify` honoured only as configured.
/// Errors: reason `InvalidConfig` when the CA, certificate or key is not valid PEM.
Result<TransportPtr> make_transport(const Config& config, const TransportOptions& options = {});

}  // namespace ascend::kube
