#include "kube/client.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

namespace ascend::kube {
namespace {

std::string default_reason(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "Unknown";
  }
}

bool is_read(const std::string& method) {
  return method == "GET";
}

std::string query_join(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string q;
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    q += (q.empty() ? "?" : "&") + k + "=" + url_encode(v);
  }
  return q;
}

std::string meta(const Json& object, const char* field) {
  const auto m = object.find("metadata");
  if (m == object.end() || !m->is_object()) return {};
  const auto f = m->find(field);
  if (f == m->end() || !f->is_string()) return {};
  return f->get<std::string>();
}

}  // namespace

std::string url_encode(const std::string& value) {
  std::string out;
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      std::array<char, 4> buf{};
      std::snprintf(buf.data(), buf.size(), "%%%02X", u);
      out += buf.data();
    }
  }
  return out;
}

Error error_from_status(const Json& status) {
  Error e;
  e.code = status.value("code", 0);
  e.reason = status.value("reason", std::string());
  e.message = status.value("message", std::string());
  if (e.reason.empty()) e.reason = default_reason(e.code);
  return e;
}

Error error_from_response(int http_status, const std::string& body) {
  const Json j = Json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.value("kind", std::string()) == "Status") {
    Error e = error_from_status(j);
    if (e.code == 0) e.code = http_status;
    if (e.reason.empty() || e.reason == "Unknown") e.reason = default_reason(http_status);
    return e;
  }
  std::string text = body.substr(0, 300);
  if (text.empty()) text = "HTTP " + std::to_string(http_status) + " with an empty body";
  return Error{http_status, default_reason(http_status), text};
}

Result<std::optional<WatchEvent>> WatchStream::next() {
  auto line = lines_->next_line();
  if (!line) return line.error();
  if (!line.value()) return std::optional<WatchEvent>();
  Json j = Json::parse(*line.value(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    return Error{0, "Decode", "malformed watch event: " + line.value()->substr(0, 200)};
  }
  WatchEvent event{j["type"].get<std::string>(), std::move(j["object"])};
  return std::optional<WatchEvent>(std::move(event));
}

Client::Client(TransportPtr transport, ClientOptions options)
    : transport_(std::move(transport)),
      options_(std::move(options)),
      limiter_(options_.qps, options_.burst, options_.clock) {}

Client::~Client() {
  shutdown();
}

Result<std::shared_ptr<Client>> Client::from_kubeconfig(const std::string& path,
                                                        const std::string& context,
                                                        ClientOptions options,
                                                        const TransportOptions& transport) {
  auto config = load_kubeconfig(path, context);
  if (!config) return config.error();
  return from_config(config.value(), std::move(options), transport);
}

Result<std::shared_ptr<Client>> Client::from_config(const Config& config, ClientOptions options,
                                                    const TransportOptions& transport) {
  auto t = make_transport(config, transport);
  if (!t) return t.error();
  auto client = std::make_shared<Client>(t.value(), std::move(options));
  client->default_namespace_ = config.default_namespace;
  return client;
}

void Client::shutdown() {
  {
    const std::lock_guard lock(mutex_);
    if (shutdown_) return;
    shutdown_ = true;
  }
  cv_.notify_all();
  limiter_.shutdown();
  transport_->shutdown();
}

bool Client::sleep_for(Duration d) {
  std::unique_lock lock(mutex_);
  const SteadyTime deadline = options_.clock->now() + d;
  while (!shutdown_ && options_.clock->now() < deadline) {
    options_.clock->wait_until(cv_, lock, deadline);
  }
  return !shutdown_;
}

Result<HttpResponse> Client::send(const HttpRequest& request) {
  Duration backoff = options_.initial_backoff;
  for (int attempt = 0;; ++attempt) {
    if (!limiter_.acquire()) return Error{0, "Cancelled", "client shut down"};
    const auto started = std::chrono::steady_clock::now();
    auto response = transport_->send(request);
    const auto took = std::chrono::steady_clock::now() - started;
    if (options_.metrics) {
      options_.metrics->request(request.method, response ? response.value().status : 0, took);
    }
    const bool last = attempt >= options_.max_retries;
    if (!response) {
      if (response.error().reason == "Cancelled" || last || !is_read(request.method)) {
        return response;
      }
    } else {
      const int status = response.value().status;
      const std::string retry_after = response.value().header("retry-after");
      const bool retry =
          status == 429 || (status >= 500 && (is_read(request.method) || !retry_after.empty()));
      if (!retry || last) return response;
      if (!retry_after.empty()) {
        Duration wait = std::chrono::seconds(1);
        try {
          wait = std::chrono::seconds(std::max(0, std::stoi(retry_after)));
        } catch (const std::exception&) {
          // An HTTP-date: the API server never sends one; wait a second.
        }
        if (!sleep_for(std::min(wait, options_.max_retry_after))) {
          return Error{0, "Cancelled", "client shut down"};
        }
        continue;
      }
    }
    if (!sleep_for(backoff)) return Error{0, "Cancelled", "client shut down"};
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

Result<Json> Client::object_call(const HttpRequest& request) {
  auto response = send(request);
  if (!response) return response.error();
  const HttpResponse& r = response.value();
  if (r.status < 200 || r.status >= 300) return error_from_response(r.status, r.body);
  if (r.body.empty()) return Json::object();
  Json j = Json::parse(r.body, nullptr, false);
  if (j.is_discarded()) {
    return Error{r.status, "Decode", "response is not JSON: " + r.body.substr(0, 200)};
  }
  return j;
}

Result<Json> Client::get(const Resource& type, const std::string& ns, const std::string& name) {
  return object_call({"GET", type.path(ns, name), "", "", {}});
}

Result<ListResult> Client::list_page(const Resource& type, const std::string& ns,
                                     const ListOptions& options) {
  const std::string query = query_join({
      {"labelSelector", options.label_selector},
      {"fieldSelector", options.field_selector},
      {"limit", options.limit > 0 ? std::to_string(options.limit) : ""},
      {"continue", options.continue_token},
      // A version and a continue token are mutually exclusive.
      {"resourceVersion", options.continue_token.empty() ? options.resource_version : ""},
  });
  auto j = object_call({"GET", type.path(ns) + query, "", "", {}});
  if (!j) return j.error();
  ListResult out;
  Json& body = j.value();
  if (body.contains("items") && body["items"].is_array()) {
    out.items.reserve(body["items"].size());
    for (auto& item : body["items"]) {
      // Items in a list carry no kind/apiVersion; restore them so handlers see whole objects.
      if (!item.contains("kind") && !type.kind.empty()) item["kind"] = type.kind;
      if (!item.contains("apiVersion")) item["apiVersion"] = type.api_version();
      out.items.push_back(std::move(item));
    }
  }
  if (body.contains("metadata") && body["metadata"].is_object()) {
    out.resource_version = body["metadata"].value("resourceVersion", std::string());
    out.continue_token = body["metadata"].value("continue", std::string());
  }
  return out;
}

Result<ListResult> Client::list(const Resource& type, const std::string& ns,
                                const ListOptions& options,
                                const std::function<void(Json&)>& each) {
  ListResult all;
  ListOptions page = options;
  for (bool first = true;; first = false) {
    auto r = list_page(type, ns, page);
    if (!r) return r.error();
    if (first) all.resource_version = r.value().resource_version;
    for (auto& item : r.value().items) {
      if (each) each(item);
      all.items.push_back(std::move(item));
    }
    if (r.value().continue_token.empty()) return all;
    page.continue_token = r.value().continue_token;
  }
}

Result<Json> Client::create(const Resource& type, const Json& object, const std::string& ns) {
  const std::string n = ns.empty() ? meta(object, "namespace") : ns;
  return object_call({"POST", type.path(n), "application/json", object.dump(), {}});
}

Result<Json> Client::update(const Resource& type, const Json& object) {
  return object_call({"PUT",
                      type.path(meta(object, "namespace"), meta(object, "name")),
                      "application/json",
                      object.dump(),
                      {}});
}

Result<Json> Client::update_status(const Resource& type, const Json& object) {
  return object_call({"PUT",
                      type.path(meta(object, "namespace"), meta(object, "name"), "status"),
                      "application/json",
                      object.dump(),
                      {}});
}

Result<Json> Client::remove(const Resource& type, const std::string& ns, const std::string& name,
                            const DeleteOptions& options) {
  Json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  switch (options.propagation) {
    case Propagation::kForeground:
      body["propagationPolicy"] = "Foreground";
      break;
    case Propagation::kBackground:
      body["propagationPolicy"] = "Background";
      break;
    case Propagation::kOrphan:
      body["propagationPolicy"] = "Orphan";
      break;
    case Propagation::kDefault:
      break;
  }
  if (!options.uid.empty()) body["preconditions"]["uid"] = options.uid;
  if (!options.resource_version.empty()) {
    body["preconditions"]["resourceVersion"] = options.resource_version;
  }
  return object_call({"DELETE", type.path(ns, name), "application/json", body.dump(), {}});
}

Result<Json> Client::patch(const Resource& type, const std::string& ns, const std::string& name,
                           PatchType patch_type, const Json& patch, const PatchOptions& options) {
  std::string content_type;
  switch (patch_type) {
    case PatchType::kMerge:
      content_type = "application/merge-patch+json";
      break;
    case PatchType::kJson:
      content_type = "application/json-patch+json";
      break;
    case PatchType::kApply:
      content_type = "application/apply-patch+yaml";
      if (options.field_manager.empty()) {
        return Error{0, "Invalid", "server-side apply needs a field manager"};
      }
      break;
  }
  const std::string query =
      query_join({{"fieldManager", options.field_manager},
                  {"force", patch_type == PatchType::kApply && options.force ? "true" : ""}});
  return object_call(
      {"PATCH", type.path(ns, name, options.subresource) + query, content_type, patch.dump(), {}});
}

Result<Json> Client::apply(const Resource& type, const Json& object,
                           const std::string& field_manager, bool force,
                           const std::string& subresource) {
  Json body = object;
  if (!body.contains("apiVersion")) body["apiVersion"] = type.api_version();
  if (!body.contains("kind")) body["kind"] = type.kind;
  return patch(type, meta(object, "namespace"), meta(object, "name"), PatchType::kApply, body,
               {field_manager, force, subresource});
}

Result<std::unique_ptr<WatchStream>> Client::watch(const Resource& type, const std::string& ns,
                                                   const WatchOptions& options) {
  if (!limiter_.acquire()) return Error{0, "Cancelled", "client shut down"};
  const std::string query =
      query_join({{"watch", "1"},
                  {"resourceVersion", options.resource_version},
                  {"labelSelector", options.label_selector},
                  {"fieldSelector", options.field_selector},
                  {"timeoutSeconds", std::to_string(options.timeout_seconds)},
                  {"allowWatchBookmarks", options.allow_bookmarks ? "true" : ""}});
  HttpRequest request{"GET", type.path(ns) + query, "", "", {}};
  // cpprestsdk's timeout is an idle timer: a quiet watch must outlive the server's own end.
  request.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::seconds(options.timeout_seconds) + options.idle_margin);
  const auto started = std::chrono::steady_clock::now();
  auto s = transport_->stream(request);
  if (options_.metrics) {
    options_.metrics->request("WATCH", s ? s.value().status : 0,
                              std::chrono::steady_clock::now() - started);
  }
  if (!s) return s.error();
  if (s.value().status < 200 || s.value().status >= 300) {
    return error_from_response(s.value().status, s.value().error_body);
  }
  return std::make_unique<WatchStream>(std::move(s.value().lines));
}

}  // namespace ascend::kube
