// Typed-enough REST calls on top of a Transport: objects are nlohmann::json, failures are
// Error values decoded from the server's Status objects.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kube/clock.hpp"
#include "kube/config.hpp"
#include "kube/error.hpp"
#include "kube/metrics.hpp"
#include "kube/object_meta.hpp"
#include "kube/rate_limiter.hpp"
#include "kube/resource.hpp"
#include "kube/transport.hpp"

namespace ascend::kube {

using Json = nlohmann::json;

struct ClientOptions {
  /// Client-side token bucket (client-go's defaults are 5 and 10).
  double qps = 5;
  int burst = 10;
  /// Attempts after the first for 429, 5xx on reads, and transport errors on reads.
  int max_retries = 5;
  /// First 5xx/transport backoff; doubles per attempt up to max_backoff.
  Duration initial_backoff = std::chrono::milliseconds(200);
  Duration max_backoff = std::chrono::seconds(10);
  /// Longest Retry-After we honour; a larger value is clamped.
  Duration max_retry_after = std::chrono::seconds(30);
  ClockPtr clock = system_clock();
  MetricsPtr metrics;
};

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  /// Page size; 0 asks for everything at once.
  int limit = 500;
  /// "" = most recent (quorum read); "0" = any cached version (cheap first list).
  std::string resource_version;
  std::string continue_token;
};

struct ListResult {
  std::vector<Json> items;
  /// The list's `metadata.resourceVersion`: where a watch continues from.
  std::string resource_version;
  /// Non-empty when more pages follow (list_page only).
  std::string continue_token;
};

struct WatchOptions {
  std::string resource_version;
  std::string label_selector;
  std::string field_selector;
  /// Server-side end of the watch; the client allows this plus `idle_margin` of silence.
  int timeout_seconds = 300;
  std::chrono::seconds idle_margin{5};
  bool allow_bookmarks = true;
};

/// One decoded watch event. `type` is ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.
struct WatchEvent {
  std::string type;
  Json object;
};

/// An open watch. Not thread-safe, except cancel().
class WatchStream {
 public:
  explicit WatchStream(std::unique_ptr<LineStream> lines) : lines_(std::move(lines)) {}
  /// Blocks for the next event. std::nullopt: the server closed the stream cleanly (watch
  /// again from the last resourceVersion). An in-stream ERROR event is returned as an event;
  /// use error_from_status() on its object.
  /// Errors: transport failures (reasons as LineStream) and `Decode` for a malformed line.
  Result<std::optional<WatchEvent>> next();
  /// Wakes a blocked next(). Thread-safe.
  void cancel() { lines_->cancel(); }

 private:
  std::unique_ptr<LineStream> lines_;
};

enum class Propagation { kDefault, kForeground, kBackground, kOrphan };

struct DeleteOptions {
  Propagation propagation = Propagation::kDefault;
  /// Preconditions: delete only this incarnation / this version.
  std::string uid;
  std::string resource_version;
};

enum class PatchType {
  kMerge,  ///< application/merge-patch+json (RFC 7386)
  kJson,   ///< application/json-patch+json (RFC 6902), the patch is an array
  kApply,  ///< server-side apply, application/apply-patch+yaml (JSON is valid YAML)
};

struct PatchOptions {
  /// Required for kApply; recorded in managedFields for the others.
  std::string field_manager;
  /// kApply only: take ownership of conflicting fields.
  bool force = false;
  /// e.g. "status".
  std::string subresource;
};

/// Decodes a failed response (a `Status` object or anything else) into an Error.
Error error_from_response(int http_status, const std::string& body);
/// Decodes a `Status` object (as in an ERROR watch event).
Error error_from_status(const Json& status);

/// REST client for one API server.
///
/// Guarantees: thread-safe; every call blocks only its caller. Requests pass the token bucket
/// first. 429 is retried after `Retry-After` (any verb: the server did not act on it). 5xx and
/// transport errors are retried with doubling backoff for reads; for writes only when the server
/// sends Retry-After (otherwise a retried write could apply twice), else returned. 409 is
/// returned at once so a reconciler can requeue. 4xx other than 429 are never retried.
class Client final {
 public:
  Client(TransportPtr transport, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Builds a client from a kubeconfig file (context "" = current): what tests use to point
  /// the runtime at a test bed.
  static Result<std::shared_ptr<Client>> from_kubeconfig(const std::string& path,
                                                         const std::string& context = "",
                                                         ClientOptions options = {},
                                                         const TransportOptions& transport = {});
  /// Builds a client from a loaded Config (in-cluster or kubeconfig).
  static Result<std::shared_ptr<Client>> from_config(const Config& config,
                                                     ClientOptions options = {},
                                                     const TransportOptions& transport = {});

  Result<Json> get(const Resource& type, const std::string& ns, const std::string& name);
  /// One page. Errors: 410 `Expired` when a continue token is too old (list again from the
  /// start).
  Result<ListResult> list_page(const Resource& type, const std::string& ns,
                               const ListOptions& options = {});
  /// Every page, following `continue`; `resource_version` is the first page's. `each`, when
  /// set, rewrites every item as its page arrives (an informer's transform), so a long list
  /// never holds more than one page of untransformed objects.
  Result<ListResult> list(const Resource& type, const std::string& ns,
                          const ListOptions& options = {},
                          const std::function<void(Json&)>& each = {});
  /// POST; `ns` may be "" to take it from the object.
  Result<Json> create(const Resource& type, const Json& object, const std::string& ns = "");
  /// PUT of the whole object (its metadata.resourceVersion makes it optimistic: 409 when stale).
  Result<Json> update(const Resource& type, const Json& object);
  /// PUT to the /status subresource.
  Result<Json> update_status(const Resource& type, const Json& object);
  /// DELETE. A 404 is returned as an error; callers that do not care test not_found().
  Result<Json> remove(const Resource& type, const std::string& ns, const std::string& name,
                      const DeleteOptions& options = {});
  Result<Json> patch(const Resource& type, const std::string& ns, const std::string& name,
                     PatchType patch_type, const Json& patch, const PatchOptions& options = {});
  /// Server-side apply of `object` (which names itself): PATCH with fieldManager and force.
  Result<Json> apply(const Resource& type, const Json& object, const std::string& field_manager,
                     bool force = true, const std::string& subresource = "");
  /// Opens a watch (`watch=1`, bookmarks when asked). A 410 comes back as an Error with
  /// gone() true; the caller lists again.
  Result<std::unique_ptr<WatchStream>> watch(const Resource& type, const std::string& ns,
                                             const WatchOptions& options);

  /// Sends a request through the limiter and the retry policy; the building block above.
  /// Any HTTP status is a successful Result; decode with error_from_response().
  Result<HttpResponse> send(const HttpRequest& request);

  /// The namespace of the config this client came from ("default" otherwise).
  [[nodiscard]] const std::string& default_namespace() const { return default_namespace_; }
  /// Cancels waits (rate limit, retry backoff) and in-flight requests; later calls fail with
  /// `Cancelled`.
  void shutdown();

 private:
  Result<Json> object_call(const HttpRequest& request);
  bool sleep_for(Duration d);

  TransportPtr transport_;
  ClientOptions options_;
  RateLimiter limiter_;
  std::string default_namespace_ = "default";
  std::mutex mutex_;
  std::condition_variable cv_;
  bool shutdown_ = false;  // guarded by mutex_
};

using ClientPtr = std::shared_ptr<Client>;

/// Percent-encodes a query value.
std::string url_encode(const std::string& value);

}  // namespace ascend::kube
