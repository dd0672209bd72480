// A scriptable stand-in for kube-apiserver on loopback (port 0), for unit tests of the client,
// watcher, informer and leader election. Plain sockets, one thread per connection, HTTP/1.1
// keep-alive, optional TLS (server certificate, optional client-certificate requirement).
//
// It can answer with plain bodies, Kubernetes Status objects, chunked watch streams with
// per-chunk delays, and streams that end cleanly, drop the connection, or stall.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kube/error.hpp"

namespace ascend::kube::testing {

/// One request as the fake saw it.
struct FakeRequest {
  std::string method;
  std::string path;                            ///< Without the query.
  std::string query;                           ///< Raw query string.
  std::map<std::string, std::string> params;   ///< Decoded query parameters.
  std::map<std::string, std::string> headers;  ///< Lower-case names.
  std::string body;
  std::string client_cn;  ///< Common name of the TLS client certificate, if one was presented.

  /// A query parameter or "" when absent.
  [[nodiscard]] std::string param(const std::string& name) const;
  /// A header (lower-case name) or "" when absent.
  [[nodiscard]] std::string header(const std::string& name) const;
};

/// One scripted answer.
struct FakeResponse {
  /// How a chunked stream ends after its chunks.
  enum class End {
    Clean,  ///< The terminating zero chunk; the connection stays open for the next request.
    Drop,   ///< Close the socket without the terminating chunk.
    Stall,  ///< Keep the connection open and silent until release_stalls() or stop().
  };
  struct Chunk {
    std::string data;
    std::chrono::milliseconds delay{0};  ///< Pause before this chunk is written.
  };

  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  ///< Sent with Content-Length when `streamed` is false.
  bool streamed = false;
  std::vector<Chunk> chunks;  ///< Sent with chunked transfer encoding when `streamed`.
  End end = End::Clean;
  /// Headers are not sent until this much time passed (to test request timeouts).
  std::chrono::milliseconds delay{0};

  /// 200 (or `status`) with a JSON body.
  static FakeResponse json(const nlohmann::json& body, int status = 200);
  /// A Kubernetes Status object for a failure, e.g. failure(409, "Conflict", "...").
  static FakeResponse failure(int code, const std::string& reason, const std::string& message);
  /// A watch stream: one chunk per event (`{"type":...,"object":...}\n`), then `end`.
  static FakeResponse watch(const std::vector<nlohmann::json>& events, End end = End::Clean,
                            std::chrono::milliseconds delay_each = {});
};

/// Watch event helpers.
nlohmann::json watch_event(const std::string& type, const nlohmann::json& object);
nlohmann::json bookmark_event(const std::string& resource_version);
nlohmann::json gone_event(const std::string& message = "too old resource version");

using FakeHandler = std::function<FakeResponse(const FakeRequest&)>;

struct FakeTlsOptions {
  std::string cert_file;       ///< PEM server certificate.
  std::string key_file;        ///< PEM server key.
  std::string client_ca_file;  ///< When set, clients must present a certificate signed by it.
};

class FakeApiServer final {
 public:
  FakeApiServer() = default;
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  /// Listens on 127.0.0.1 with a kernel-chosen port. Errors: reason `Bind` or `Tls`.
  Status start(std::optional<FakeTlsOptions> tls = std::nullopt);
  /// Drops every connection (stalled ones included) and joins all threads.
  void stop();
  [[nodiscard]] std::uint16_t port() const { return port_; }
  /// `http://127.0.0.1:<port>` or `https://...`.
  [[nodiscard]] std::string url() const;

  /// Answers every `method path` request (exact path) with the handler, unless a script for
  /// it still has answers left.
  void route(const std::string& method, const std::string& path, FakeHandler handler);
  /// Queues answers for `method path`, served in order before any route.
  void script(const std::string& method, const std::string& path,
              std::vector<FakeResponse> responses);
  /// Ends every stalled stream now (by closing its connection).
  void release_stalls();

  /// Every request seen so far, in order of arrival.
  [[nodiscard]] std::vector<FakeRequest> requests() const;
  /// How many `method path` requests arrived.
  [[nodiscard]] std::size_t count(const std::string& method, const std::string& path) const;
  /// Blocks until at least n `method path` requests arrived or the timeout passes.
  bool wait_for_count(const std::string& method, const std::string& path, std::size_t n,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

 private:
  struct Connection;
  void accept_loop();
  void serve(const std::shared_ptr<Connection>& conn);
  FakeResponse dispatch(const FakeRequest& request);
  bool write_response(Connection& conn, const FakeResponse& response);
  bool pause(std::chrono::milliseconds d);

  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  void* ssl_ctx_ = nullptr;  // SSL_CTX*, kept opaque so tests need no OpenSSL headers
  std::thread accept_thread_;

  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  bool stopping_ = false;                                    // guarded by mutex_
  std::uint64_t stall_generation_ = 0;                       // guarded by mutex_
  std::map<std::string, FakeHandler> routes_;                // guarded by mutex_
  std::map<std::string, std::deque<FakeResponse>> scripts_;  // guarded by mutex_
  std::vector<FakeRequest> requests_;                        // guarded by mutex_
  std::vector<std::shared_ptr<Connection>> connections_;     // guarded by mutex_
  std::vector<std::thread> threads_;                         // guarded by mutex_
};

}  // namespace ascend::kube::testing
